"""Prediction intervals: the split-conformal quantile, adaptive conformal inference over a
series' test residuals, their coverage, and `--intervals` in `tuner fit`, `predict` and `whatif`."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_plans import CONFIG, HORIZON, sales_with_a_known_ad_effect, with_plan

from tuner.cli.parser import main
from tuner.cli.tables import intervals_lines
from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import TunerError
from tuner.evaluation.intervals import (
    Calibration,
    adaptive_half_widths,
    calibrated_range,
    conformal_quantile,
    interval_metrics,
    parse_levels,
)


def test_the_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 10.0)[:, None]  # n = 9
    assert conformal_quantile(scores, 80)[0] == 8  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(scores, 50)[0] == 5
    assert conformal_quantile(scores, 95)[0] == 9  # ceil(9.5) = 10 > n: the largest
    assert not Calibration(scores, "test").supports(95) and Calibration(scores, "test").supports(90)


def test_intervals_cover_their_level_on_exchangeable_residuals():
    rng = np.random.default_rng(0)
    calibration = Calibration(rng.standard_t(4, size=(400, 3)) * [1.0, 2.0, 3.0], "simulated")
    actual = rng.standard_t(4, size=(20_000, 3)) * [1.0, 2.0, 3.0]
    scores = interval_metrics(actual, np.zeros_like(actual), calibration, (80.0, 95.0))
    for level in ("80", "95"):
        assert abs(scores[level]["coverage"] - float(level)) < 2.5, scores[level]
        widths = scores[level]["by_step"]["width"]
        assert widths[0] < widths[1] < widths[2]  # wider where the residuals are


def test_adaptive_levels_move_after_each_known_miss_over_the_last_n_scores():
    scores = np.array([[1.0], [2.0], [3.0], [4.0]])  # n = 4: at 50 %, the ceil(5 * 0.5) = 3rd smallest
    halves, final = adaptive_half_widths(scores, np.array([[10.0], [0.0]]), 50, rate=0.1)
    # sample 1: sample 0 missed (10 > 3), so the miss rate 0.5 -> 0.45: the ceil(5 * 0.55) = 3rd smallest of 2, 3, 4, 10
    assert halves[:, 0].tolist() == [3.0, 4.0]
    # then sample 1 is inside (0 <= 4): 0.45 -> 0.5, over 3, 4, 10, 0: the 3rd smallest
    assert final.tolist() == [4.0]


def test_an_adaptive_interval_uses_only_residuals_known_before_its_date():
    rng = np.random.default_rng(1)
    calibration = Calibration(rng.normal(size=(50, 3)), "simulated").adapted(rng.normal(size=(80, 3)))
    before = {level: calibration.realized_half_widths(level) for level in (80, 95)}
    changed = calibration.realized.copy()
    changed[40:] *= 10  # samples 40 on: step h of sample j is known from sample j + h + 1
    after = Calibration(calibration.residuals, "simulated").adapted(changed)
    for level, halves in before.items():
        np.testing.assert_array_equal(after.realized_half_widths(level)[:41], halves[:41])
        assert (after.realized_half_widths(level)[42:] != halves[42:]).any()


def test_predict_starts_from_the_state_after_the_last_realized_residual():
    rng = np.random.default_rng(2)
    residuals, realized = rng.normal(size=(60, 1)), rng.normal(size=(30, 1))
    calibration = Calibration(residuals, "simulated").adapted(realized)
    one_more = Calibration(residuals, "simulated").adapted(np.vstack([realized, [[0.0]]]))
    for level in (50, 80, 95):  # one step: the sample after the last one knows every realized residual
        assert calibration.half_widths(level)[0] == one_more.realized_half_widths(level)[-1, 0]
    assert not np.array_equal(calibration.half_widths(80), Calibration(residuals, "simulated").half_widths(80))


def test_adaptive_intervals_recover_their_coverage_when_the_errors_grow():
    rng = np.random.default_rng(3)
    calibration = Calibration(rng.normal(size=(200, 2)), "a calm validation part")
    actual = 2 * rng.normal(size=(2000, 2))  # the test part's errors are twice as large
    forecast = np.zeros_like(actual)
    static = interval_metrics(actual, forecast, calibration, (80.0,))["80"]["coverage"]
    adaptive = interval_metrics(actual, forecast, calibration.adapted(actual - forecast), (80.0,))
    assert static < 60  # split-conformal under-covers: its widths are for the calm errors
    assert abs(adaptive["80"]["coverage"] - 80) < 2 and adaptive["method"] == "adaptive conformal"


def test_the_interval_of_a_sum_adapts_once_each_sum_is_known():
    rng = np.random.default_rng(4)
    calibration = Calibration(rng.normal(size=(100, 3)), "calm")
    adapted = calibration.adapted(3 * rng.normal(size=(300, 3)))  # sums of three times larger errors
    assert adapted.sum_half_width(80) > 1.5 * calibration.sum_half_width(80)
    sums = adapted.realized.sum(axis=1, keepdims=True), calibration.residuals.sum(axis=1, keepdims=True)
    halves, final = adaptive_half_widths(sums[1], sums[0], 80, adapted.rate, lags=[2])  # known with its last date
    assert adapted.sum_half_width(80) == final[0]
    assert abs(100 * np.mean(np.abs(sums[0][:, 0]) <= halves[:, 0]) - 80) < 5


def test_each_series_of_a_panel_adapts_its_own_level_over_the_pooled_scores():
    rng = np.random.default_rng(5)
    pooled = Calibration(rng.normal(size=(400, 1)), "every series' validation part", per_series=True)
    calm, wild = rng.normal(size=(600, 1)), 2 * rng.normal(size=(600, 1))  # residuals over each series' scale
    panel = pooled.adapted(np.vstack([calm, wild]), np.repeat([0, 1], 600))
    alone = pooled.adapted(calm, np.zeros(600, dtype=int))
    np.testing.assert_array_equal(panel.realized_half_widths(80)[:600], alone.realized_half_widths(80))
    assert panel.half_widths(80, series=0) == alone.half_widths(80, series=0)  # the other series does not matter
    assert panel.half_widths(80, series=1) > 1.5 * panel.half_widths(80, series=0)
    assert panel.half_widths(80, series=7) == pooled.half_widths(80)  # a series without test residuals: static
    scale = np.repeat([[10.0], [1000.0]], 600, axis=0)  # the series' target scales
    actual = np.vstack([calm, wild]) * scale
    scores = interval_metrics(actual, np.zeros_like(actual), panel, (80.0,), scale)["80"]
    static = interval_metrics(actual, np.zeros_like(actual), pooled, (80.0,), scale)["80"]
    assert static["coverage"] < 70 and scores["coverage"] > 75  # the wild series' level needs a while to move
    low, high = panel.bounds(np.zeros((1, 1)), 80, 1000.0, series=1)
    assert high[0, 0] == pytest.approx(1000 * panel.half_widths(80, series=1)[0])


def test_a_calibration_saves_its_realized_residuals_and_an_old_one_loads_static():
    calibration = Calibration(np.ones((3, 2)), "s").adapted(np.arange(8.0).reshape(4, 2))
    saved = json.loads(json.dumps(calibration.as_dict()))
    assert saved["method"] == "adaptive conformal" and saved["rate"] == 0.005
    loaded = Calibration.from_dict(saved)
    np.testing.assert_array_equal(loaded.realized, calibration.realized)
    np.testing.assert_array_equal(loaded.half_widths(80), calibration.half_widths(80))
    panel = Calibration(np.ones((3, 2)), "s", per_series=True).adapted(np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1]))
    loaded = Calibration.from_dict(json.loads(json.dumps(panel.as_dict())))
    np.testing.assert_array_equal(loaded.realized_series, [0, 0, 1, 1])
    np.testing.assert_array_equal(loaded.half_widths(80, series=1), panel.half_widths(80, series=1))
    old = Calibration.from_dict({"method": "split-conformal", "source": "s", "residuals": [[1.0, 2.0]]})
    assert old.realized is None and old.method == "split-conformal"


def test_the_interval_of_a_sum_comes_from_the_residuals_of_sums():
    calibration = Calibration(np.array([[1.0, -1.0], [2.0, 2.0], [-3.0, 3.0]]), "test")
    assert calibration.sum_half_width(70) == 4.0  # |sums| 0, 4, 0: the ceil(4 * 0.7) = 3rd smallest
    assert calibration.sum_half_width(50) == 0.0  # the 2nd smallest
    assert calibration.half_widths(50).tolist() == [2.0, 2.0]  # per step: |1|,|2|,|3| and |-1|,|2|,|3|


def test_a_calibrated_intervals_coverage_falls_in_its_range_about_95_percent_of_the_time():
    low, high = calibrated_range(80, 165)
    assert (round(low, 1), round(high, 1)) == (73.8, 86.2)  # 80 -+ 2 * sqrt(0.8 * 0.2 / 165)
    coverages = 100 * np.random.default_rng(0).binomial(165, 0.8, size=20_000) / 165
    assert 0.93 < np.mean((coverages >= low) & (coverages <= high)) < 0.97
    assert calibrated_range(95, 10) == (pytest.approx(81.2, abs=0.1), 100.0)  # clipped at 100


def test_the_fit_summary_puts_the_calibrated_range_beside_each_coverage():
    scores = {"coverage": 93.9, "width": 3.1, "samples": 165}
    lines = intervals_lines({"method": "split-conformal", "source": "s", "calibration_samples": 150, "80": scores,
                             "95": {"coverage": 99.4, "width": 7.2}})  # 95: metrics from before the count was stored
    assert lines[1] == "     80 %: coverage  93.9 % (a calibrated interval: 73.8-86.2 % on 165 test samples), mean width 3.1"
    assert lines[2] == "     95 %: coverage  99.4 %, mean width 7.2"


@pytest.mark.parametrize("text", ["80,x", "0", "100", "-5", "nan", "80,,95"])
def test_bad_levels_are_refused_naming_the_flag(text):
    with pytest.raises(TunerError, match=r"^--intervals .*strictly between 0 and 100"):
        parse_levels(text)


def test_levels_keep_their_order_once_each():
    assert parse_levels("95, 80,95,97.5") == [95.0, 80.0, 97.5]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("intervals")
    sales_with_a_known_ad_effect(500).to_csv(folder / "sales.csv", index=False)
    (folder / "study.toml").write_text(CONFIG.replace("epochs = 25", "epochs = 8"))
    return folder


@pytest.fixture(scope="module")
def fitted(folder) -> tuple[Forecaster, Path]:
    config = load_config(folder / "study.toml")
    params = ParamsConfig(model="lstm", hidden_size=16, num_layers=1, dropout=0.0, lr=3e-3, epochs=8)
    forecaster, _ = Forecaster.fit(config, params)
    forecaster.save(folder / "model")
    return forecaster, folder / "model"


def test_fit_calibrates_on_rows_its_recipe_did_not_train_on_and_scores_the_test_part(fitted):
    forecaster, model = fitted
    calibration = forecaster.calibration
    assert calibration.residuals.shape == (len(Forecaster.load(model).test_forecast().dataset.windows("validation")),
                                           HORIZON)
    assert "backtest window of validation length at the end of train + validation, each forecast by the recipe " \
           "fitted on the rows before it" in calibration.source
    intervals = json.loads((model / "metrics.json").read_text())["intervals"]
    assert intervals["calibration_samples"] == calibration.samples and intervals["method"] == "adaptive conformal"
    test = forecaster.test_forecast()
    np.testing.assert_allclose(calibration.realized, test.dataset.actuals("test") - test.forecast, rtol=1e-6)
    for level in ("80", "95"):
        assert 0 <= intervals[level]["coverage"] <= 100 and intervals[level]["width"] > 0
        assert len(intervals[level]["by_step"]["coverage"]) == HORIZON
        assert intervals[level]["samples"] == len(forecaster.test_forecast().forecast)
    assert intervals["95"]["width"] > intervals["80"]["width"]
    np.testing.assert_allclose(Forecaster.load(model).calibration.residuals, calibration.residuals)
    np.testing.assert_allclose(Forecaster.load(model).calibration.realized, calibration.realized)


def test_predict_adds_bounds_named_after_the_target_and_shades_them(fitted, folder, capsys):
    _, model = fitted
    plan = folder / "plan.csv"
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(plan, index=False)
    out = folder / "forecast.csv"
    assert main(["predict", str(model), str(plan), "--intervals", "80,95", "-o", str(out),
                 "--plot", str(folder / "p.png")]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["date", "sales_forecast", "sales_lo_80", "sales_hi_80", "sales_lo_95", "sales_hi_95"]
    assert len(table) == HORIZON
    assert (table["sales_lo_95"] < table["sales_lo_80"]).all() and (table["sales_lo_80"] < table["sales_forecast"]).all()
    assert (table["sales_forecast"] < table["sales_hi_80"]).all() and (table["sales_hi_80"] < table["sales_hi_95"]).all()
    assert (folder / "p.png").read_bytes()[:4] == b"\x89PNG"
    for level in (80, 95):  # the adaptive state after the test part's last residual
        np.testing.assert_allclose(table[f"sales_hi_{level}"] - table["sales_forecast"],
                                   fitted[0].calibration.half_widths(level), rtol=1e-4)


def test_what_if_totals_get_intervals_from_sums(fitted, folder, capsys):
    forecaster, model = fitted
    plan = folder / "plan.csv"
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(plan, index=False)
    assert main(["whatif", str(model), str(plan), "--scale", "ad_impressions=0.5,1", "--intervals", "80",
                 "-o", str(folder / "w.csv")]) == 0
    assert "80 % interval" in capsys.readouterr().out
    table = pd.read_csv(folder / "w.csv")
    half = forecaster.calibration.sum_half_width(80)
    np.testing.assert_allclose(table["sales_sum_hi_80"] - table["sales_sum"], half)
    np.testing.assert_allclose(table["sales_sum"] - table["sales_sum_lo_80"], half)


@pytest.mark.parametrize("args, message", [
    (["--intervals", "80,x"], r"--intervals '80,x': 'x' is not a level in % strictly between 0 and 100"),
    (["--intervals", "120"], r"--intervals '120': '120' is not a level"),
])
def test_bad_levels_exit_2_in_one_line(fitted, folder, capsys, args, message):
    _, model = fitted
    assert main(["predict", str(model), str(folder / "sales.csv"), *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(message, error), error


def test_a_model_fitted_without_intervals_forecasts_points_but_refuses_intervals(fitted, folder, capsys):
    _, model = fitted
    old = folder / "old-model"
    shutil.copytree(model, old)
    (old / "calibration.json").unlink()
    plan = folder / "plan.csv"
    with_plan(pd.read_csv(folder / "sales.csv")).to_csv(plan, index=False)
    assert main(["predict", str(old), str(plan)]) == 0
    capsys.readouterr()
    assert main(["predict", str(old), str(plan), "--intervals", "80"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"{old}: this model has no calibration.json (fitted with --no-intervals)" in error and "tuner fit" in error
