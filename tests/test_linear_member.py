"""The linear member: `tuner fit` mixes ridge regression on lags and the same inputs, in the data's
own units, into a one-series model's forecast at the share that erred least on held-out validation
rows (or at `--linear-weight`), keeps its coefficients in model.json, and `predict`, `whatif` and the
report forecast with the mix."""

import io
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import tuner, write_study

from tuner.config import load_config
from tuner.data import Dataset
from tuner.errors import ModelDirError
from tuner.forecaster import Forecaster
from tuner.heldout import SHARES
from tuner.linear import Linear
from tuner.loading import load_frame
from tuner.modeldir import FORMAT
from tuner.testnotes import linear_note

DAYS = 400
STUDY = """
[data]
path = "linear.csv"
features = ["ads", "price"]
known_future = ["price"]
window = 7
horizon = 2

[train]
epochs = 1
batch_size = 32
threads = 1
refit_seeds = 1

[params]
model = "lstm"
hidden_size = 8
num_layers = 1
dropout = 0.0
lr = 0.0001
epochs = 1
"""


def linear_frame(days: int = DAYS) -> pd.DataFrame:
    """Sales that grow past any earlier level, each day by yesterday's ads and less today's
    (planned) price: what a linear model fits and one epoch of a small network does not."""
    random = np.random.default_rng(5)
    ads, price = random.uniform(0, 10, days + 2), random.uniform(8, 12, days + 2)
    sales = np.empty(days + 2)
    sales[0] = 100.0
    for day in range(1, days + 2):  # a recursion; 400 steps
        sales[day] = sales[day - 1] + 0.5 + 0.3 * ads[day - 1] - 0.2 * (price[day] - 10) + random.normal(0, 0.3)
    dates = pd.date_range("2022-01-01", periods=days + 2, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "ads": ads.round(4), "price": price.round(4), "sales": sales.round(4)})
    frame.loc[days:, ["ads", "sales"]] = np.nan  # two planned days: the price is known, ads and sales are not
    return frame


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The study fitted with the default share (chosen on held-out rows) and with none."""
    folder = tmp_path_factory.mktemp("linear")
    frame = linear_frame()
    frame.iloc[:DAYS].to_csv(folder / "linear.csv", index=False)
    frame.to_csv(folder / "plan.csv", index=False)
    (folder / "study.toml").write_text(STUDY)
    outputs = {}
    for name, flags in (("chosen", ["--no-intervals"]), ("without", ["--no-intervals", "--linear-weight", "0"])):
        run = tuner("fit", str(folder / "study.toml"), "-o", str(folder / name), *flags)
        assert run.returncode == 0, run.stderr
        outputs[name] = run.stdout
    return folder, outputs


def test_ridge_on_the_data_s_own_units_recovers_a_linear_series(fitted):
    folder, _ = fitted
    model = Forecaster.load(folder / "chosen")
    dataset = Dataset(load_frame(model.config.data), model.config.data, model.config.split, "train+validation")
    linear = Linear.fit_part(dataset, "train")  # fitted before the test part, on a level it never reached
    errors = np.abs(linear.forecast_part(dataset, "test") - dataset.actuals("test"))
    assert errors.mean() < 1.0 and linear.coef.shape == (2, 7 + 2 + 1)  # lags, ads and price, planned price


def test_the_share_that_erred_least_on_held_out_rows_is_chosen_and_the_test_forecast_is_the_mix(fitted):
    folder, outputs = fitted
    model = Forecaster.load(folder / "chosen")
    scores = model.linear_scores
    assert tuple(scores) == SHARES
    assert model.linear_weight == min(scores, key=scores.get) >= 0.8  # one epoch of a network is far off here
    test = model.test_forecast()
    weight = model.linear_weight
    np.testing.assert_allclose(test.forecast, (1 - weight) * test.parts["without_linear"]
                               + weight * model.linear.forecast_part(test.dataset, "test"))
    without = Forecaster.load(folder / "without")
    np.testing.assert_allclose(test.parts["without_linear"], without.test_forecast().forecast)
    assert model.metrics["model"]["test_mae"] < model.metrics["without_linear"]["test_mae"] / 5
    assert model.label.endswith(f" + linear (weight {weight:g})")
    assert (f"mixed with the linear member (ridge regression in the data's units) at weight {weight:g}, the share that "
            f"erred least on held-out validation rows (val_mae {scores[weight]:.4g}, against {scores[0.0]:.4g} "
            "without it) (--linear-weight)") in outputs["chosen"]
    assert "  without the linear member " in outputs["chosen"]
    assert json.loads((folder / "chosen" / "model.json").read_text())["format"] == FORMAT


def test_a_zero_share_leaves_the_member_out(fitted):
    folder, outputs = fitted
    without = Forecaster.load(folder / "without")
    assert without.linear is None and without.linear_scores == {} and "without_linear" not in without.metrics
    assert "linear member" not in outputs["without"].splitlines()[0]


def test_predict_on_a_cut_file_equals_the_test_forecast_and_whatif_answers_the_plan(fitted, tmp_path):
    folder, _ = fitted
    model = Forecaster.load(folder / "chosen")
    test = model.test_forecast()
    last = test.dataset.windows("test").target_rows[-1]  # the last test sample: forecast from the rows before it
    frame = pd.read_csv(folder / "linear.csv")
    cut = pd.concat([frame.iloc[:last], frame.iloc[last:last + 2].assign(ads=np.nan, sales=np.nan)])
    cut.to_csv(tmp_path / "cut.csv", index=False)
    run = tuner("predict", str(folder / "chosen"), str(tmp_path / "cut.csv"))
    assert run.returncode == 0, run.stderr
    np.testing.assert_allclose(pd.read_csv(io.StringIO(run.stdout))["sales_forecast"], test.forecast[-1], rtol=1e-5)
    run = tuner("whatif", str(folder / "chosen"), str(folder / "plan.csv"), "--scale", "price=0.5,1")
    assert run.returncode == 0, run.stderr
    inputs = model.read_inputs(folder / "plan.csv")[0]
    halved = inputs.plan.assign(price=inputs.plan["price"] * 0.5)
    lift = model.forecast_values(inputs, halved) - model.forecast_values(inputs)
    assert (lift > 0).all()  # the price's negative coefficient answers a cut


def test_the_report_shows_the_mix_without_the_member(fitted):
    from tuner.tuning.report import forecast_section

    folder, _ = fitted
    assert "without the linear member" in forecast_section(folder / "chosen").body


def test_a_model_directory_from_before_the_member_loads_without_it_and_a_damaged_one_is_refused(fitted, tmp_path):
    folder, _ = fitted
    model = Forecaster.load(folder / "without")
    manifest = json.loads((folder / "without" / "model.json").read_text())
    old = {key: value for key, value in manifest.items() if not key.startswith("linear")} | {"format": 5}
    damaged = {**json.loads((folder / "chosen" / "model.json").read_text()), "linear": {"mean": [1.0]}}
    for name, written in (("old", old), ("damaged", damaged)):
        copy = tmp_path / name
        copy.mkdir()
        source = folder / ("without" if name == "old" else "chosen")
        for path in source.iterdir():
            (copy / path.name).write_bytes(path.read_bytes())
        (copy / "model.json").write_text(json.dumps(written))
    loaded = Forecaster.load(tmp_path / "old")
    assert loaded.linear is None and loaded.linear_weight == 0.0
    np.testing.assert_allclose(loaded.test_forecast().forecast, model.test_forecast().forecast)
    with pytest.raises(ModelDirError, match="its linear member is damaged"):
        Forecaster.load(tmp_path / "damaged")


def test_a_quantile_model_and_a_panel_leave_the_member_out(tmp_path):
    config = write_study(tmp_path, days=160, extra=STUDY[STUDY.index("[params]"):])
    pd.read_csv(tmp_path / "sales.csv").assign(store="a").to_csv(tmp_path / "sales.csv", index=False)
    for overrides in (["train.loss='quantile'"], ["data.series=['store']"]):
        fitted, _ = Forecaster.fit(load_config(config, overrides), load_config(config).params, intervals=False)
        assert fitted.linear is None and fitted.linear_scores == {} and "without_linear" not in fitted.metrics


@pytest.mark.parametrize("flags, message", [
    (["--linear-weight", "1.5"], "--linear-weight: must be a number from 0 to 1, got 1.5"),
    (["--linear-weight", "0.3", "--set", "train.loss='quantile'"],
     "--linear-weight 0.3: a quantile model (train.loss = \"quantile\") forecasts its networks' own quantiles"),
    (["--linear-weight", "auto", "--set", "data.series=['store']"],
     "--linear-weight auto: the linear member is fitted on one series' own units, and this model is a panel"),
])
def test_shares_a_model_cannot_take_are_one_line_errors(tmp_path, flags, message):
    config = write_study(tmp_path, days=160, extra=STUDY[STUDY.index("[params]"):])
    pd.read_csv(tmp_path / "sales.csv").assign(store="a").to_csv(tmp_path / "sales.csv", index=False)
    run = tuner("fit", str(config), "-o", str(tmp_path / "model"), "--no-intervals", *flags)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_note_says_when_the_model_did_better_on_the_test_part_without_the_member(fitted):
    model = Forecaster.load(fitted[0] / "chosen")
    assert linear_note(model) is None  # the member helped here
    metrics = {**model.metrics, "without_linear": {"test_mae": 1.0}, "model": {"test_mae": 2.0}}
    assert linear_note(replace(model, metrics=metrics)) == (
        "note: without the linear member the model did better on the test part (test_mae 1 vs 2); "
        "`tuner fit --linear-weight 0` fits it without")
