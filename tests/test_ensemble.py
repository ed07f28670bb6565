"""The fitted forecaster is chosen on validation: every candidate member forecasts the same
backtest windows, fitted on the rows before each, and greedy ensemble selection weighs them
(`tuner.ensemble`); fit.weights and the weight flags fix shares; model.json keeps each member's
weight and backtest score; `tuner fit` prints how the forecaster was chosen; what-if answers
plans with the members that read them."""

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import tuner

from tuner.config.names import MEMBERS
from tuner.ensemble.forecaster import Forecaster
from tuner.ensemble.modeldir import FORMAT
from tuner.ensemble.selection import greedy_weights, weighted
from tuner.members import KINDS

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

[params]
model = "lstm"
hidden_size = 8
num_layers = 1
dropout = 0.0
lr = 0.0001
epochs = 1

[fit]
seeds = 1
"""


def linear_frame(days: int = DAYS) -> pd.DataFrame:
    """Sales that grow past any earlier level, each day by yesterday's ads and less today's
    (planned) price: what a linear model fits and one epoch of a small network does not."""
    random = np.random.default_rng(5)
    ads, price = random.uniform(0, 10, days + 2), random.uniform(8, 12, days + 2)
    sales = np.empty(days + 2)
    sales[0] = 100.0
    for day in range(1, days + 2):
        sales[day] = sales[day - 1] + 0.5 + 0.3 * ads[day - 1] - 0.2 * (price[day] - 10) + random.normal(0, 0.3)
    dates = pd.date_range("2022-01-01", periods=days + 2, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "ads": ads.round(4), "price": price.round(4), "sales": sales.round(4)})
    frame.loc[days:, ["ads", "sales"]] = np.nan  # two planned days: the price is known, ads and sales are not
    return frame


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The study fitted by default (weights chosen) and with fixed shares."""
    folder = tmp_path_factory.mktemp("ensemble")
    frame = linear_frame()
    frame.iloc[:DAYS].to_csv(folder / "linear.csv", index=False)
    frame.to_csv(folder / "plan.csv", index=False)
    (folder / "study.toml").write_text(STUDY)
    outputs = {}
    for name, flags in (("chosen", []), ("fixed", ["--no-intervals", "--linear-weight", "0", "--boosting-weight", "0.3"])):
        run = tuner("fit", str(folder / "study.toml"), "-o", str(folder / name), *flags)
        assert run.returncode == 0, run.stderr
        outputs[name] = run.stdout
    return folder, outputs


def test_greedy_selection_keeps_the_best_rounds_and_mixes_members_whose_errors_cancel():
    actual = np.zeros((50, 1))

    def score(forecast):
        return float(np.abs(actual - forecast).mean())

    above, below, far = actual + 1.0, actual - 1.0, actual + 5.0
    weights = greedy_weights({"far": far, "above": above, "below": below}, score, rounds=20)
    assert weights == {"above": 0.5, "below": 0.5}  # their mean is exact; "far" never helps
    alone = greedy_weights({"far": far, "above": above}, score, rounds=20)
    assert alone == {"above": 1.0}  # adding "far" only worsens: the rounds after the first are dropped
    random = np.random.default_rng(0)
    forecasts = {f"m{i}": actual + random.normal(i / 3, 1, actual.shape) for i in range(4)}
    mixed = greedy_weights(forecasts, score, rounds=30)
    assert score(weighted(forecasts, mixed)) <= min(score(f) for f in forecasts.values())
    assert sum(mixed.values()) == pytest.approx(1.0)
    share = greedy_weights({"above": above, "below": below}, score, rounds=10, fixed=0.4 * far, share=0.6)
    assert sum(share.values()) == pytest.approx(0.6)


def test_the_weights_are_chosen_on_the_backtest_and_kept_in_model_json(fitted):
    folder, outputs = fitted
    model = Forecaster.load(folder / "chosen")
    manifest = json.loads((folder / "chosen" / "model.json").read_text())
    assert manifest["format"] == FORMAT and set(manifest["members"]) == set(MEMBERS)
    assert sum(model.weights.values()) == pytest.approx(1.0)
    assert max(model.weights, key=model.weights.get) == "linear"  # one epoch of a network is far off here
    scores = {name: entry["backtest"] for name, entry in manifest["members"].items()}
    assert manifest["ensemble"]["backtest"] <= min(scores.values()) + 1e-9  # never worse than its best member there
    test = model.test_forecast()
    np.testing.assert_allclose(test.forecast, weighted(test.members, model.weights))
    assert model.metrics["model"]["test_mae"] < model.metrics["networks"]["test_mae"] / 5
    lines = outputs["chosen"].splitlines()
    assert "members weighed by greedy ensemble selection on val_mae over 1 backtest window (100 rounds)" in lines[0]
    assert "backtest  weight    test MAE" in lines[2]
    linear = next(line for line in lines if line.startswith("  linear "))
    assert f"{scores['linear']:.4g}" in linear and f"{model.weights['linear']:.2f}" in linear
    assert any(line.startswith("Best single member on the test part: ") for line in lines)


def test_fixed_shares_are_kept_and_a_zero_share_leaves_a_member_out(fitted):
    folder, outputs = fitted
    model = Forecaster.load(folder / "fixed")
    assert model.weights["boosting"] == pytest.approx(0.3) and "linear" not in model.weights
    assert "linear" not in model.backtest and sum(model.weights.values()) == pytest.approx(1.0)
    assert "fixed: boosting 0.3, linear 0" in outputs["fixed"].splitlines()[0]
    assert model.calibration is None


def test_predict_on_a_cut_file_forecasts_what_fit_scored_for_every_member_and_the_ensemble(fitted, tmp_path):
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
    inputs = model.read_inputs(tmp_path / "cut.csv")[0]
    for name, values in model.member_values(inputs).items():
        np.testing.assert_allclose(values, test.members[name][-1], rtol=1e-5, err_msg=name)


def test_whatif_answers_a_plan_with_the_members_that_read_plans(fitted):
    folder, _ = fitted
    model = Forecaster.load(folder / "chosen")
    responders = model.responders()
    assert responders and all(KINDS[name].reads_plans for name in responders)
    assert sum(responders.values()) == pytest.approx(1.0)
    inputs = model.read_inputs(folder / "plan.csv")[0]
    halved = inputs.plan.assign(price=inputs.plan["price"] * 0.5)
    lift = model.scenario_values(inputs, halved) - model.forecast_values(inputs)
    changes = {name: model.member_values(inputs, halved, [name])[name] - model.member_values(inputs, None, [name])[name]
               for name in responders}
    np.testing.assert_allclose(lift, weighted(changes, responders))
    assert (lift > 0).all()  # the price's negative coefficient answers a cut
    run = tuner("whatif", str(folder / "chosen"), str(folder / "plan.csv"), "--scale", "price=0.5,1")
    assert run.returncode == 0, run.stderr
    assert "note: the response to the plan comes from " in run.stderr


BAD = [
    (["--set", "fit.members=['networks', 'boostin']"], "fit.members = 'boostin': must be one of"),
    (["--set", "fit.weights={ boosting = 1.5 }"], "fit.weights.boosting = 1.5: must lie between 0 (left out) and 1"),
    (["--set", "fit.weights={ boosting = 0.7, naive = 0.6 }"], "the fixed shares sum to 1.3, more than 1"),
    (["--set", "fit.backtest_windows=40"], "fit.backtest_windows = 40: too many for these rows"),
    (["--set", "fit.members=['networks', 'boosting']", "--set", "fit.weights={ networks = 0.5, boosting = 0.2 }"],
     "fit.weights: the fixed shares sum to 0.7, and no other candidate"),
    (["--set", "train.loss='quantile'", "--boosting-weight", "0.3"],
     "fit.weights.boosting = 0.3: a quantile model (train.loss = \"quantile\") forecasts its networks' own quantiles"),
]


@pytest.mark.parametrize("flags, message", BAD)
def test_bad_recipes_are_one_line_and_exit_2(tmp_path, flags, message):
    frame = linear_frame(160)
    frame.iloc[:160].assign(store="a").to_csv(tmp_path / "linear.csv", index=False)
    (tmp_path / "study.toml").write_text(STUDY)
    run = tuner("fit", str(tmp_path / "study.toml"), "-o", str(tmp_path / "model"), "--no-intervals", *flags)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_older_keys_are_read_with_a_notice(tmp_path):
    (tmp_path / "study.toml").write_text(STUDY.replace("[fit]\nseeds = 1\n", "").replace(
        "threads = 1\n", "threads = 1\nrefit_seeds = 2\n").replace("horizon = 2\n", "horizon = 2\nboosting_scaling = 'level'\n"))
    linear_frame(160).iloc[:160].to_csv(tmp_path / "linear.csv", index=False)
    run = tuner("export", str(tmp_path / "study.toml"), "-o", str(tmp_path / "out.json"), "--storage",
                f"sqlite:///{tmp_path / 'none.db'}")
    assert "train.refit_seeds is an older key; read as fit.seeds" in run.stderr
    assert "data.boosting_scaling is an older key; both forms of gradient boosting are candidate members" in run.stderr
    from tuner.config.loading import load_config

    assert load_config(tmp_path / "study.toml").fit.seeds == 2


def test_a_model_directory_of_an_older_format_is_refused_in_one_line(fitted, tmp_path):
    folder, _ = fitted
    copy = shutil.copytree(folder / "fixed", tmp_path / "old")
    manifest = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**manifest, "format": 6}))
    run = tuner("predict", str(copy), str(folder / "plan.csv"))
    assert run.returncode == 2 and "in model format 6, whose members were mixed at fixed shares" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_damaged_member_state_is_refused_in_one_line(fitted, tmp_path):
    folder, _ = fitted
    copy = shutil.copytree(folder / "chosen", tmp_path / "damaged")
    manifest = json.loads((copy / "model.json").read_text())
    manifest["members"]["linear"]["state"] = {"mean": [1.0]}
    (copy / "model.json").write_text(json.dumps(manifest))
    run = tuner("predict", str(copy), str(folder / "plan.csv"))
    assert run.returncode == 2 and "model.json: its linear member is damaged" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_model_directory_that_names_the_skip_linear_skip_predicts_the_same(fitted, tmp_path):
    """Networks saved when the autoregressive skip was named `linear_skip` load as they did."""
    folder, _ = fitted
    copy = shutil.copytree(folder / "chosen", tmp_path / "older")
    text = (copy / "model.json").read_text()
    assert '"autoregressive_skip"' in text
    (copy / "model.json").write_text(text.replace('"autoregressive_skip"', '"linear_skip"'))
    older = tuner("predict", str(copy), str(folder / "plan.csv"))
    today = tuner("predict", str(folder / "chosen"), str(folder / "plan.csv"))
    assert older.returncode == today.returncode == 0, older.stderr
    assert older.stdout == today.stdout
