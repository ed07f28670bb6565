"""The boosting member: `tuner fit` combines the networks' forecast with gradient boosting's
(fitted on train + validation) at `--boosting-weight`, saves it in the model directory without pickle,
and `predict`, `whatif` and `report` forecast with the combination (without exponential smoothing
here, `--ets-weight 0 --linear-weight 0`: tests/test_smoothing_member.py and tests/test_linear_member.py mix
them in)."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
import skops.io

from tuner.baselines import boosting_forecast
from tuner.demo import with_plan
from tuner.forecaster import Forecaster
from tuner.modeldir import BOOSTING, FORMAT
from tuner.testnotes import networks_note
from tuner.tuning.report import forecast_section

from conftest import tuner, write_study

DAYS = 240
PARAMS = """
[params]
model = "lstm"
hidden_size = 16
num_layers = 1
dropout = 0.0
lr = 0.003
epochs = 3
"""


class Untrusted:
    """A type skops does not build unless told to trust it."""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One study folder fitted three times: with the default weight, with the networks alone, and
    with levelled boosting."""
    folder = tmp_path_factory.mktemp("boosting")
    config = write_study(folder, days=DAYS, horizon=2, extra=PARAMS)
    config.write_text(config.read_text().replace("[data]\n", "[data]\nknown_future = ['discount_rate']\n", 1))
    for name, flags in (("combined", []), ("networks", ["--boosting-weight", "0"]),
                        ("levelled", ["--set", "data.boosting_scaling='level'"])):
        run = tuner("fit", str(config), "-o", str(folder / name), "--no-intervals", "--ets-weight", "0",
                    "--linear-weight", "0", *flags)
        assert run.returncode == 0, run.stderr
        assert ("combined with levelled gradient boosting" in run.stdout) == (name == "levelled")
    return folder


def test_the_forecast_is_the_mean_of_the_networks_and_boosting_fitted_on_the_same_rows(fitted):
    combined, networks = Forecaster.load(fitted / "combined"), Forecaster.load(fitted / "networks")
    assert (combined.boosting_weight, networks.boosting_weight) == (0.5, 0.0)
    assert networks.boosting is None and not (fitted / "networks" / BOOSTING).exists()
    test, alone = combined.test_forecast(), networks.test_forecast()
    boosting = boosting_forecast(test.dataset, "test", "train+validation")
    np.testing.assert_allclose(test.forecast, (alone.forecast + boosting) / 2, rtol=1e-5)
    np.testing.assert_allclose(test.baselines["boosting"], boosting)  # the member is the baseline, fitted once
    metrics = json.loads((fitted / "combined" / "metrics.json").read_text())
    assert metrics["networks"]["test_mae"] == pytest.approx(json.loads(
        (fitted / "networks" / "metrics.json").read_text())["model"]["test_mae"])
    assert "networks" not in json.loads((fitted / "networks" / "metrics.json").read_text())
    assert combined.label == "lstm + gradient boosting (weight 0.5)"


def test_fit_prints_the_networks_alone_beside_the_combination(tmp_path):
    config = write_study(tmp_path, days=200, extra=PARAMS.replace("epochs = 3", "epochs = 1"))
    run = tuner("fit", str(config), "-o", str(tmp_path / "model"), "--no-intervals", "--boosting-weight", "0.25",
                "--ets-weight", "0")
    assert run.returncode == 0, run.stderr
    assert "combined with gradient boosting fitted on train + validation at weight 0.25 (--boosting-weight)" in run.stdout
    assert "  networks alone " in run.stdout
    assert Forecaster.load(tmp_path / "model").boosting_weight == 0.25


def test_a_note_says_when_the_networks_alone_did_better_on_the_test_part(fitted):
    forecaster = Forecaster.load(fitted / "combined")
    forecaster.metrics = {"model": {"test_mae": 100.0}, "networks": {"test_mae": 99.0}}
    assert networks_note(forecaster) == ("note: the networks alone did better on the test part than combined with "
                                          "boosting (test_mae 99 vs 100); `tuner fit --boosting-weight 0` fits them alone; "
                                          "on a series that trends past the fitted rows' range, try "
                                          "data.boosting_scaling = \"level\"")
    levelled = Forecaster.load(fitted / "levelled")
    levelled.metrics = forecaster.metrics
    assert networks_note(levelled).endswith("fits them alone")
    forecaster.metrics["networks"]["test_mae"] = 101.0
    assert networks_note(forecaster) is None
    assert networks_note(Forecaster.load(fitted / "networks")) is None


def test_predict_whatif_and_the_report_forecast_with_the_combination(fitted, tmp_path):
    plan = tmp_path / "plan.csv"
    with_plan(days=DAYS, plan_days=2).to_csv(plan, index=False)
    model = str(fitted / "combined")
    run = tuner("predict", model, str(plan))
    assert run.returncode == 0, run.stderr
    forecast = pd.read_csv(io.StringIO(run.stdout))["sales_forecast"].to_numpy()
    run = tuner("whatif", model, str(plan), "--scale", "discount_rate=0.5,1", "-o", str(tmp_path / "w.csv"))
    assert run.returncode == 0, run.stderr
    assert "note: a share of 0.5 of this model's forecast comes from gradient boosting" in run.stderr
    scenarios = pd.read_csv(tmp_path / "w.csv")
    assert scenarios["sales_sum"].iloc[-1] == pytest.approx(forecast.sum(), rel=1e-6)  # factor 1: the plan as given
    assert "networks alone" in forecast_section(fitted / "combined").body


@pytest.mark.parametrize("flags, message", [
    (["--boosting-weight", "1.5"], "--boosting-weight: must be a number from 0 to 1, got 1.5"),
    (["--boosting-weight", "0.5", "--set", "train.loss='quantile'"],
     "a quantile model (train.loss = \"quantile\") forecasts its networks' own quantiles"),
])
def test_a_weight_a_model_cannot_take_is_one_line_and_exit_2(tmp_path, flags, message):
    config = write_study(tmp_path, days=200, extra=PARAMS)
    run = tuner("fit", str(config), "-o", str(tmp_path / "model"), "--no-intervals", *flags)
    assert run.returncode == 2 and message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "model").exists()


def test_a_quantile_model_is_not_combined_by_default(tmp_path):
    config = write_study(tmp_path, days=200, extra=PARAMS.replace("epochs = 3", "epochs = 1"))
    run = tuner("fit", str(config), "-o", str(tmp_path / "model"), "--no-intervals", "--set", "train.loss='quantile'")
    assert run.returncode == 0, run.stderr
    assert Forecaster.load(tmp_path / "model").boosting is None


@pytest.mark.parametrize("damage, message", [
    ("missing", f"incomplete model directory, missing {BOOSTING}"),
    ("changed", "checksum does not match model.json"),
    ("untrusted", "not a boosting member this tuner can read"),
])
def test_a_damaged_or_untrusted_boosting_file_is_refused_in_one_line(fitted, tmp_path, damage, message):
    model = tmp_path / "model"
    model.mkdir()
    for path in (fitted / "combined").iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    if damage == "missing":
        (model / BOOSTING).unlink()
    elif damage == "changed":
        (model / BOOSTING).write_bytes((model / BOOSTING).read_bytes()[:-10])
    else:  # a file with a type skops must not build, and a checksum that matches it
        skops.io.dump({"regressors": [Untrusted()], "window": 28}, model / BOOSTING)
        manifest = json.loads((model / "model.json").read_text())
        manifest["boosting_sha256"] = hashlib.sha256((model / BOOSTING).read_bytes()).hexdigest()
        (model / "model.json").write_text(json.dumps(manifest))
    run = tuner("predict", str(model), str(fitted / "sales.csv"))
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_a_directory_from_before_boosting_members_loads_as_the_networks_alone(fitted, tmp_path):
    model = tmp_path / "format-2"
    model.mkdir()
    for path in (fitted / "networks").iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((model / "model.json").read_text())
    assert manifest["format"] == FORMAT
    del manifest["boosting_weight"]
    (model / "model.json").write_text(json.dumps({**manifest, "format": 2}))
    loaded = Forecaster.load(model)
    assert loaded.boosting is None and loaded.boosting_weight == 0.0
    plan = tmp_path / "plan.csv"
    with_plan(days=DAYS, plan_days=2).to_csv(plan, index=False)
    run = tuner("predict", str(model), str(plan))
    assert run.returncode == 0, run.stderr


def test_levelled_boosting_is_the_member_and_the_baseline_and_survives_a_save(fitted, tmp_path):
    """`data.boosting_scaling = "level"`: the member forecasts relative to each window's mean; the
    boosting baseline beside it is that same member; a member saved without the setting (before it
    existed) loads as the plain one."""
    from tuner.boosting import Boosting

    levelled = Forecaster.load(fitted / "levelled")
    assert levelled.boosting.levelled and not Forecaster.load(fitted / "combined").boosting.levelled
    assert levelled.label == "lstm + levelled gradient boosting (weight 0.5)"
    test = levelled.test_forecast()
    boosting = boosting_forecast(test.dataset, "test", "train+validation")
    np.testing.assert_allclose(test.baselines["boosting"], boosting, rtol=1e-6)
    assert not np.allclose(boosting, Forecaster.load(fitted / "combined").test_forecast().baselines["boosting"])
    path = tmp_path / BOOSTING
    skops.io.dump({"regressors": list(levelled.boosting.regressors), "window": levelled.boosting.window}, path)
    assert not Boosting.load(path).levelled
    levelled.boosting.save(path)
    again = Boosting.load(path)
    assert again.levelled
    windows = test.dataset.windows("test")
    np.testing.assert_allclose(again.predict_windows(windows), levelled.boosting.predict_windows(windows))
    plan = tmp_path / "plan.csv"
    with_plan(days=DAYS, plan_days=2).to_csv(plan, index=False)
    run = tuner("predict", str(fitted / "levelled"), str(plan))
    assert run.returncode == 0, run.stderr
