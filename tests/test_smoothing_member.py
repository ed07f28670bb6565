"""The exponential smoothing member: `tuner fit` mixes each series' ETS forecast into the model's
at the share that erred least on held-out validation rows (by default where the model has no
planned inputs; or at `--ets-weight`), keeps it in model.json, and `predict`, `whatif` and the
report forecast with the mix."""

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tuner.baselines import smoothing_forecast
from tuner.forecaster import Forecaster
from tuner.heldout import SHARES
from tuner.modeldir import FORMAT
from tuner.testnotes import baseline_warning
from tuner.tuning.report import forecast_section

from conftest import tuner

MONTHS = 156
PLANNED = 'frequency = "M"\nfeatures = ["discount"]\nknown_future = ["discount"]\n'
SEASON = np.array([0.8, 0.85, 0.9, 1.0, 1.05, 1.1, 1.2, 1.25, 1.1, 1.0, 0.9, 0.85])
STUDY = """
[data]
path = "monthly.csv"
frequency = "M"
window = 12
horizon = 2

[train]
epochs = 2
batch_size = 16
threads = 1
refit_seeds = 1

[params]
model = "lstm"
hidden_size = 8
num_layers = 1
dropout = 0.0
lr = 0.001
epochs = 2
"""


def write_monthly(folder, months: int = MONTHS) -> None:
    """A growing monthly series whose season swings with its level (what ETS forecasts well and
    two epochs of a small network do not), with a planned discount; and plan.csv: the same rows and
    the discount planned for the next two months."""
    random = np.random.default_rng(3)
    sales = (100 + 1.5 * np.arange(months)) * np.tile(SEASON, months // 12 + 1)[:months] * (1 + random.normal(0, 0.01, months))
    dates = pd.date_range("2008-01-31", periods=months + 2, freq="ME").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "discount": random.uniform(0, 0.2, months + 2), "sales": [*sales, np.nan, np.nan]})
    frame.iloc[:months].to_csv(folder / "monthly.csv", index=False)
    frame.to_csv(folder / "plan.csv", index=False)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A monthly study fitted with the default share (chosen) and with none; and with the discount
    planned, by default (none) and with smoothing alone."""
    folder = tmp_path_factory.mktemp("smoothing")
    write_monthly(folder)
    (folder / "study.toml").write_text(STUDY)
    (folder / "planned.toml").write_text(STUDY.replace('frequency = "M"\n', PLANNED))
    outputs = {}
    for name, study, flags in (("chosen", "study", []), ("without", "study", ["--ets-weight", "0", "--no-intervals"]),
                               ("planned", "planned", ["--no-intervals"]),
                               ("alone", "planned", ["--ets-weight", "1", "--no-intervals"])):
        run = tuner("fit", str(folder / f"{study}.toml"), "-o", str(folder / name), *flags)
        assert run.returncode == 0, run.stderr
        outputs[name] = run.stdout
    return folder, outputs


def test_the_share_that_erred_least_on_held_out_rows_is_chosen_and_the_test_forecast_is_the_mix(fitted):
    folder, outputs = fitted
    model = Forecaster.load(folder / "chosen")
    scores = model.smoothing_scores
    assert tuple(scores) == SHARES
    assert model.smoothing_weight == min(scores, key=scores.get) > 0  # the network alone is far off here
    assert scores[model.smoothing_weight] < scores[0.0]
    test = model.test_forecast()
    smoothed = smoothing_forecast(test.dataset, "test", "train+validation")
    np.testing.assert_allclose(test.baselines["ets"], smoothed)  # the member is the baseline
    weight = model.smoothing_weight
    np.testing.assert_allclose(test.forecast, (1 - weight) * test.parts["without_ets"] + weight * smoothed)
    assert model.metrics["without_ets"]["test_mae"] == pytest.approx(
        np.abs(test.dataset.actuals("test") - test.parts["without_ets"]).mean())
    assert model.label.endswith(f" + exponential smoothing (weight {weight:g})")
    assert (f"mixed with exponential smoothing (each series' ETS form and Theta) at weight {weight:g}, the share that erred "
            f"least on held-out validation rows (val_mae {scores[weight]:.4g}, against {scores[0.0]:.4g} without it)"
            in outputs["chosen"])
    assert "  without exponential smoothing " in outputs["chosen"] and "  exponential smoothing " in outputs["chosen"]
    assert json.loads((folder / "chosen" / "model.json").read_text())["format"] == FORMAT


def test_a_given_share_is_kept_zero_leaves_smoothing_out_and_one_is_smoothing_alone(fitted):
    folder, outputs = fitted
    without, alone = Forecaster.load(folder / "without"), Forecaster.load(folder / "alone")
    assert without.smoothing is None and without.smoothing_scores == {} and "without_ets" not in without.metrics
    assert "exponential smoothing" not in outputs["without"].splitlines()[0]
    assert alone.smoothing_weight == 1.0 and alone.smoothing_scores == {}
    assert alone.metrics["model"]["test_mae"] == pytest.approx(alone.metrics["ets"]["test_mae"])
    assert min(alone.metrics[name]["test_mae"] for name in ("naive", "seasonal_naive", "boosting")) > \
        alone.metrics["model"]["test_mae"]  # else the warning names the baseline that beat it
    expected = "warning: the fitted model is exponential smoothing alone (--ets-weight 1), the same forecast as that baseline"
    assert [line for line in outputs["alone"].splitlines() if line.startswith("warning:")] == [expected]


def test_a_model_that_held_out_rows_made_smoothing_alone_says_the_networks_add_nothing(fitted):
    model = Forecaster.load(fitted[0] / "chosen")
    scores = {weight: 2.0 - weight for weight in SHARES}  # each share better than the one before
    metrics = {**model.metrics, "model": model.metrics["ets"], "seasonal_naive": {"test_mae": float("inf")},
               "naive": {"test_mae": float("inf")}, "boosting": {"test_mae": float("inf")}}
    alone = replace(model, smoothing_weight=1.0, smoothing_scores=scores, metrics=metrics)
    assert baseline_warning(alone) == (
        "warning: the fitted model is exponential smoothing alone, the same forecast as that baseline: no share of "
        "the networks and boosting lowered val_mae on held-out validation rows (1 alone, 2 without smoothing); they "
        "add nothing on this data")
    beaten = replace(alone, metrics={**metrics, "naive": {"test_mae": 0.0}})
    assert baseline_warning(beaten).startswith("warning: the fitted model is not better than naive on test_mae")


def test_predict_forecasts_from_the_state_the_whole_history_reaches(fitted, tmp_path):
    folder, _ = fitted
    model = Forecaster.load(folder / "chosen")
    run = tuner("predict", str(folder / "chosen"), str(folder / "monthly.csv"))
    assert run.returncode == 0, run.stderr
    forecast = pd.read_csv(io.StringIO(run.stdout))["sales_forecast"].to_numpy()
    inputs = model.read_inputs(folder / "monthly.csv")[0]
    assert len(inputs.past) == MONTHS
    without = replace(model, smoothing=None).forecast_values(inputs)
    smoothed = model.smoothing.series[0].forecast(inputs.past, np.array([MONTHS]), 2)[0]
    weight = model.smoothing_weight
    np.testing.assert_allclose(forecast, (1 - weight) * without + weight * smoothed, rtol=1e-6)
    unseen = model.series_smoothing(replace(inputs, fitted=None))  # a panel's new series: fitted on its own history
    assert unseen.params and unseen.params != model.smoothing.series[0].params
    run = tuner("whatif", str(folder / "alone"), str(folder / "plan.csv"), "--scale", "discount=0.5,1")
    assert run.returncode == 0, run.stderr
    assert "which reads the history only, not the plan" in run.stderr
    assert "without exponential smoothing" in forecast_section(folder / "chosen").body


def test_a_history_that_starts_elsewhere_in_the_season_is_smoothed_from_the_fitted_phase(fitted, tmp_path):
    folder, _ = fitted
    assert Forecaster.load(folder / "alone").smoothing.series[0].phase == 0  # monthly: January's place, from 1970
    frame = pd.read_csv(folder / "plan.csv")
    forecasts = []
    for dropped in (5, 12):  # from June, then from the next January: the first 7 rows of the first are passed over
        frame.iloc[dropped:].to_csv(tmp_path / f"from-{dropped}.csv", index=False)
        run = tuner("predict", str(folder / "alone"), str(tmp_path / f"from-{dropped}.csv"))
        assert run.returncode == 0, run.stderr
        forecasts.append(pd.read_csv(io.StringIO(run.stdout))["sales_forecast"].to_numpy())
    np.testing.assert_allclose(forecasts[0], forecasts[1])
    model = Forecaster.load(folder / "alone")
    unaligned = model.smoothing.series[0].forecast(frame["sales"].dropna().to_numpy()[5:], np.array([MONTHS - 5]), 2)[0]
    assert np.abs(unaligned - forecasts[0]).max() > 1  # without it, the season's indices would be 5 months off
    short = np.arange(5.0)  # fewer rows than it would pass over: all are kept
    np.testing.assert_array_equal(model.smoothing.series[0].aligned(short, 5), short)


def test_a_model_with_planned_inputs_leaves_smoothing_out_unless_asked(fitted):
    folder, outputs = fitted
    planned = Forecaster.load(folder / "planned")
    assert planned.smoothing is None and planned.smoothing_scores == {}
    assert ("without exponential smoothing, which does not read the plans of data.known_future (--ets-weight auto "
            "mixes it in)") in outputs["planned"]
    assert Forecaster.load(folder / "alone").smoothing_weight == 1.0  # a share given is kept


def with_manifest(model: Path, copy: Path, change) -> Path:
    """A copy of model directory `model` at `copy`, its model.json changed by `change`."""
    copy.mkdir()
    for path in model.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "model.json").write_text(json.dumps(change(json.loads((model / "model.json").read_text()))))
    return copy


def test_a_model_directory_from_before_smoothing_loads_without_it(fitted, tmp_path):
    folder, _ = fitted
    before = ("smoothing", "smoothing_weight", "smoothing_scores")
    old = with_manifest(folder / "without", tmp_path / "old",
                        lambda manifest: {**{k: v for k, v in manifest.items() if k not in before}, "format": 3})
    loaded = Forecaster.load(old)
    assert loaded.smoothing is None and loaded.smoothing_weight == 0.0
    np.testing.assert_allclose(loaded.test_forecast().forecast, Forecaster.load(folder / "without").test_forecast().forecast)


def test_a_model_directory_of_ets_alone_loads_and_forecasts_without_theta(fitted, tmp_path):
    folder, _ = fitted
    model = Forecaster.load(folder / "alone")
    assert all(series.theta for series in model.smoothing.series) and model.smoothing.series[0].name.endswith(" + Theta")
    old = with_manifest(folder / "alone", tmp_path / "format-4", lambda manifest: {
        **manifest, "format": 4, "smoothing": [{k: v for k, v in entry.items() if k != "theta"}
                                               for entry in manifest["smoothing"]]})
    loaded = Forecaster.load(old)
    assert loaded.smoothing.series[0] == replace(model.smoothing.series[0], theta=None)
    test = loaded.test_forecast()
    ets_alone = replace(model.smoothing.series[0], theta=None).forecast(test.dataset.target, test.dataset.windows(
        "test").target_rows, test.dataset.config.horizon)
    np.testing.assert_allclose(test.forecast, ets_alone)


@pytest.mark.parametrize("smoothing", [[{"error": "add"}], "theta"])
def test_a_damaged_smoothing_member_is_one_line_and_exit_1(fitted, tmp_path, smoothing):
    folder, _ = fitted

    def damage(manifest):
        entries = [{**manifest["smoothing"][0], "theta": {"alpha": "x"}}] if smoothing == "theta" else smoothing
        return {**manifest, "smoothing": entries}

    damaged = with_manifest(folder / "alone", tmp_path / "damaged", damage)
    run = tuner("predict", str(damaged), str(folder / "plan.csv"))
    assert run.returncode != 0 and "its exponential smoothing member is damaged" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, message", [
    (["--ets-weight", "1.5"], "--ets-weight: must be a number from 0 to 1, got 1.5"),
    (["--ets-weight", "0.3", "--set", "train.loss='quantile'"],
     "--ets-weight 0.3: a quantile model (train.loss = \"quantile\") forecasts its networks' own quantiles"),
    (["--ets-weight", "auto", "--set", "train.loss='quantile'"],
     "--ets-weight auto: a quantile model (train.loss = \"quantile\") forecasts its networks' own quantiles"),
])
def test_a_share_a_model_cannot_take_is_one_line_and_exit_2(tmp_path, flags, message):
    write_monthly(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    run = tuner("fit", str(tmp_path / "study.toml"), "-o", str(tmp_path / "model"), "--no-intervals", *flags)
    assert run.returncode == 2 and message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "model").exists()
