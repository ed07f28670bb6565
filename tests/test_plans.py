"""Multi-horizon forecasts, known-future inputs, `tuner whatif` and `tuner best --reseed`."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import write_study

from tuner.cli.parser import main
from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame, load_with_plan
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import DataError, TunerError
from tuner.reports import whatif
from tuner.tuning.evaluation import Evaluator
from tuner.tuning.objective import Objective

HORIZON = 7
KNOWN = ["ad_impressions", "discount_rate", "seasonality_index"]
PLAN_IMPRESSIONS = 40_000.0  # mid-range: 0.5x to 2x stay inside what the model saw
CONFIG = """
[data]
path = "sales.csv"
features = ["ad_impressions", "discount_rate", "seasonality_index"]
known_future = ["ad_impressions", "discount_rate", "seasonality_index"]
window = 14
horizon = 7

[train]
epochs = 25
batch_size = 32
patience = 25
threads = 1

[study]
name = "plans"
seed = 3

[fit]
seeds = 1
"""


def sales_with_a_known_ad_effect(days: int, seed: int = 0) -> pd.DataFrame:
    """Daily rows whose sales rise with the same and the previous day's ad impressions."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    impressions = rng.uniform(15_000, 110_000, days).round()
    discount = np.where(rng.random(days) < 0.15, 0.2, 0.0)
    season = 1 + 0.2 * np.sin(2 * np.pi * dates.day_of_week.to_numpy() / 7)
    carried = np.concatenate([[impressions[0]], impressions[:-1]])
    sales = (300 * season + 0.010 * impressions + 0.005 * carried + 600 * discount
             + rng.normal(0, 15, days))
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "ad_impressions": impressions,
                         "discount_rate": discount, "seasonality_index": season.round(4), "sales": sales.round(2)})


def with_plan(history: pd.DataFrame, impressions: float = PLAN_IMPRESSIONS, drop: str | None = None) -> pd.DataFrame:
    """`history` followed by HORIZON plan rows: known-future values, sales left empty."""
    dates = pd.date_range(pd.Timestamp(history["date"].iloc[-1]) + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    plan = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "ad_impressions": impressions, "discount_rate": 0.0,
                         "seasonality_index": (1 + 0.2 * np.sin(2 * np.pi * dates.day_of_week.to_numpy() / 7)).round(4),
                         "sales": np.nan})
    if drop:
        plan.loc[plan.index[2:], drop] = np.nan
    return pd.concat([history, plan], ignore_index=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plans")
    sales_with_a_known_ad_effect(600).to_csv(folder / "sales.csv", index=False)
    (folder / "study.toml").write_text(CONFIG)
    return folder


@pytest.fixture(scope="module")
def model_dir(folder) -> Path:
    config = load_config(folder / "study.toml")
    params = ParamsConfig(model="lstm", hidden_size=32, num_layers=1, dropout=0.0, lr=2e-3, epochs=25)
    Forecaster.fit(config, params, intervals=False)[0].save(folder / "model")
    return folder / "model"


def test_known_future_windows_hold_the_plan_of_each_forecast_step(folder):
    config = load_config(folder / "study.toml")
    dataset = Dataset.from_config(config.data, config.split)
    windows = dataset.windows("validation")
    assert windows.inputs.shape[1:] == (14, 4) and windows.targets.shape[1] == HORIZON
    assert windows.future.shape == (len(windows), HORIZON, len(KNOWN))
    columns = [config.data.columns.index(c) for c in KNOWN]
    for sample, row in [(0, windows.target_rows[0]), (-1, windows.target_rows[-1])]:
        np.testing.assert_array_equal(windows.future[sample], dataset.scaled[row : row + HORIZON][:, columns])


def test_multi_horizon_trials_store_metrics_per_step(folder):
    config = load_config(folder / "study.toml", ["train.epochs=2"])
    study = optuna.create_study()
    study.optimize(Objective(config, [Dataset.from_config(config.data, config.split)]), n_trials=1)
    attrs = study.trials[0].user_attrs
    assert len(attrs["val_mae_by_step"]) == HORIZON and len(attrs["val_rmse_by_step"]) == HORIZON
    assert attrs["val_mae"] == pytest.approx(np.mean(attrs["val_mae_by_step"]))


def test_fit_scores_every_step_and_predict_writes_the_horizons_dates(folder, model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert len(metrics["by_step"]["model"]["test_mae"]) == HORIZON
    assert metrics["model"]["test_mae"] == pytest.approx(np.mean(metrics["by_step"]["model"]["test_mae"]))
    history = pd.read_csv(folder / "sales.csv")
    with_plan(history).to_csv(folder / "plan.csv", index=False)
    forecast = Forecaster.load(model_dir).forecast(folder / "plan.csv")
    expected = pd.date_range("2025-08-23", periods=HORIZON, freq="D").strftime("%Y-%m-%d").tolist()
    assert history["date"].iloc[-1] == "2025-08-22"
    assert forecast["date"].tolist() == expected and forecast["sales_forecast"].notna().all()


def test_plan_rows_are_not_history_so_one_file_serves_tune_and_predict(folder):
    config = load_config(folder / "study.toml")
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(folder / "plan.csv", index=False)
    history, plan = load_with_plan(replace(config.data, path=folder / "plan.csv"))
    pd.testing.assert_frame_equal(history, load_frame(config.data))
    assert len(plan) == HORIZON and plan["ad_impressions"].eq(PLAN_IMPRESSIONS).all()
    pd.testing.assert_frame_equal(load_frame(replace(config.data, path=folder / "plan.csv")), history)


def test_missing_planned_values_are_refused_naming_column_and_dates(folder, model_dir, capsys):
    history = pd.read_csv(folder / "sales.csv")
    with_plan(history, drop="discount_rate").to_csv(folder / "gaps.csv", index=False)
    with pytest.raises(DataError, match=r"gaps.csv: .*missing: discount_rate on 2025-08-25, 2025-08-26, 2025-08-27 "
                                        r"\.\.\. 2025-08-29 \(add rows for those dates"):
        Forecaster.load(model_dir).forecast(folder / "gaps.csv")
    assert main(["predict", str(model_dir), str(folder / "sales.csv")]) == 2  # no plan rows at all
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "missing: ad_impressions on 2025-08-23" in error


def test_what_if_sales_rise_with_the_planned_ad_budget(folder, model_dir):
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(folder / "plan.csv", index=False)
    loaded = Forecaster.load(model_dir)
    inputs = loaded.read_inputs(folder / "plan.csv")
    result = whatif.run(loaded, inputs, "ad_impressions", [0.5, 1, 1.5, 2], {}, cost_per_impression=0.001)
    sales = [scenario.sales for scenario in result.scenarios]
    assert sales == sorted(sales) and sales[-1] - sales[0] > 0.5 * 0.015 * 1.5 * PLAN_IMPRESSIONS * HORIZON
    assert result.base.factor == 1 and not result.warnings
    assert result.scenarios[0].spend == pytest.approx(0.001 * 0.5 * PLAN_IMPRESSIONS * HORIZON)
    assert result.scenarios[3].roas == pytest.approx(sales[3] / (0.002 * PLAN_IMPRESSIONS * HORIZON))
    held = whatif.run(loaded, inputs, "ad_impressions", [1], {"discount_rate": 0.2})
    assert held.scenarios[0].sales > result.base.sales  # a planned discount lifts sales too


def test_what_if_command_prints_the_response_and_writes_csv_and_png(folder, model_dir, capsys):
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(folder / "plan.csv", index=False)
    code = main(["whatif", str(model_dir), str(folder / "plan.csv"), "--scale", "ad_impressions=0.5,1,2,4",
                 "--set", "discount_rate=0.1", "--ad-spend", "500", "-o", str(folder / "w.csv"),
                 "--plot", str(folder / "w.png")])
    out = capsys.readouterr().out
    assert code == 0 and "by planned ad_impressions, discount_rate = 0.1" in out and "incr. ROAS" in out
    assert "at 4 x, planned ad_impressions spans 160,000 to 160,000, outside the" in out  # extrapolation flagged
    table = pd.read_csv(folder / "w.csv")
    assert table["ad_impressions_factor"].tolist() == [0.5, 1, 2, 4] and table["ad_spend"].tolist() == [250, 500, 1000, 2000]
    assert (folder / "w.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["--scale", "ctr=1,2"], r"'ctr' is not a known-future input of this model \(its known-future inputs are ad_impressions"),
    (["--scale", "ad_impressions=1,x"], r"--scale 'ad_impressions=1,x': expected COLUMN=FACTOR"),
    (["--scale", "ad_impressions=1", "--set", "discount_rate"], r"--set 'discount_rate': expected COLUMN=NUMBER"),
])
def test_what_if_refuses_bad_scenarios_in_one_line(folder, model_dir, capsys, args, message):
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(folder / "plan.csv", index=False)
    assert main(["whatif", str(model_dir), str(folder / "plan.csv"), *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert re.search(message, error), error


def test_what_if_needs_a_model_with_known_future_inputs(tmp_path):
    config = load_config(write_study(tmp_path, days=200, epochs=1))
    Forecaster.fit(config, ParamsConfig(model="lstm", hidden_size=8, epochs=1), intervals=False)[0].save(tmp_path / "m")
    with pytest.raises(TunerError, match="it has no known-future inputs"):
        loaded = Forecaster.load(tmp_path / "m")
        whatif.run(loaded, loaded.read_inputs(tmp_path / "sales.csv"), "ad_impressions", [1], {})


def test_reseed_ranks_the_top_trials_by_mean_over_fresh_seeds(folder, capsys):
    config = folder / "study.toml"
    storage = f"sqlite:///{folder / 'reseed.db'}"
    flags = ["--storage", storage, "--set", "train.epochs=2", "--set", "search.hidden_size=[8]"]
    assert main(["tune", str(config), *flags, "--n-trials", "3", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["best", str(config), *flags, "--top", "2", "--reseed", "2", "--format", "json"]) == 0
    ranking = json.loads(capsys.readouterr().out)["reseed"]["ranking"]
    assert len(ranking) == 2 and all(len(entry["values"]) == 2 for entry in ranking)
    assert ranking[0]["mean"] <= ranking[1]["mean"]
    assert ranking[0]["mean"] == pytest.approx(np.mean(ranking[0]["values"]))
    assert ranking[0]["std"] == pytest.approx(np.std(ranking[0]["values"], ddof=1))
    # the same fresh seeds retrain a configuration to the same values
    loaded = load_config(config, ["train.epochs=2", "search.hidden_size=[8]"])
    evaluator = Evaluator(loaded, [Dataset.from_config(loaded.data, loaded.split)])
    again = evaluator.evaluate(ranking[0]["params"], loaded.study.seed + 1_000_003).errors["val_mae"]
    assert again == pytest.approx(ranking[0]["values"][0], rel=1e-6)
    assert main(["best", str(config), *flags, "--top", "2", "--reseed", "1"]) == 0
    assert "Retrained with 1 fresh seed(s) each; ranked by mean val_mae" in capsys.readouterr().out
