"""Aligned text tables for the terminal: metrics per forecaster, values per fold or step, parameters."""

from __future__ import annotations

import math
from typing import Any

from tuner.config.names import PARAMS, display_name, members_of
from tuner.evaluation.intervals import calibrated_range

TABLE_METRICS = ("mae", "rmse", "mape", "wape")  # the columns of `metrics_table`; every metric is in the JSON outputs


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def params_text(params: dict[str, Any], keys: tuple[str, ...] = PARAMS) -> str:
    """A trial's parameters as "name=value" pairs, in search-space order."""
    return "  ".join(f"{k}={format_value(params[k])}" for k in keys if k in params)


def metrics_table(rows: dict[str, dict[str, float]], prefix: str = "val_") -> list[str]:
    """Aligned lines: one row per forecaster, columns MAE, RMSE, MAPE, WAPE (keys `prefix` + name)."""
    width = max(len(name) for name in rows)
    lines = [f"  {'':<{width}}  {'MAE':>10}  {'RMSE':>10}  {'MAPE':>8}  {'WAPE':>8}"]
    for name, metrics in rows.items():
        mae, rmse, mape, wape = (metrics.get(f"{prefix}{m}", float("nan")) for m in TABLE_METRICS)
        lines.append(f"  {name:<{width}}  {mae:>10.2f}  {rmse:>10.2f}  {mape:>7.2f}%  {wape:>7.2f}%")
    return lines


def ensemble_table(metrics: dict[str, Any], weights: dict[str, float], backtest: dict[str, float],
                   metric: str) -> list[str]:
    """Aligned lines: the ensemble ("model"), then each member: its `metric` on the backtest windows
    (blank where it was not a candidate), its weight and its test MAE, RMSE, MAPE and WAPE."""
    names = ["model", *members_of(metrics)]
    labels = {name: "ensemble" if name == "model" else display_name(name) for name in names}
    width = max(len(label) for label in labels.values())
    lines = [f"  {'':<{width}}  {'backtest':>10}  {'weight':>6}  {'test MAE':>10}  {'RMSE':>10}  {'MAPE':>8}  {'WAPE':>8}"]
    for name in names:
        score = backtest.get(name)
        weight = 1.0 if name == "model" else weights.get(name, 0.0)
        mae, rmse, mape, wape = (metrics[name].get(f"test_{m}", float("nan")) for m in TABLE_METRICS)
        lines.append(f"  {labels[name]:<{width}}  {'' if score is None else f'{score:.4g}':>10}  {weight:>6.2f}  "
                     f"{mae:>10.2f}  {rmse:>10.2f}  {mape:>7.2f}%  {wape:>7.2f}%")
    return lines


def series_table(rows: dict[str, list[float]], first: int = 1) -> list[str]:
    """Aligned lines: one row per name, one column per fold or forecast step (numbered from `first`)."""
    width = max(len(name) for name in rows)
    count = max(len(values) for values in rows.values())
    lines = [f"  {'':<{width}}" + "".join(f"  {first + i:>9}" for i in range(count))]
    for name, values in rows.items():
        lines.append(f"  {name:<{width}}" + "".join(f"  {value:>9.2f}" for value in values))
    return lines


def metric_cell(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def not_better_warning(what: str, value: float, baselines: dict[str, dict[str, float]], key: str) -> str | None:
    """One line when `value` (of `key`, lower is better) is not below every baseline's; else None."""
    scored = {name: errors[key] for name, errors in baselines.items() if math.isfinite(errors.get(key, math.nan))}
    if not scored or not math.isfinite(value):
        return None
    name = min(scored, key=scored.get)
    if value < scored[name]:
        return None
    worse = f"{100 * (value / scored[name] - 1):.1f} % worse" if scored[name] else "no better"
    return (f"warning: {what} is not better than {display_name(name)} on {key}: {value:.4g} vs {scored[name]:.4g} "
            f"({worse}); the baseline may serve you better")


def intervals_lines(intervals: dict[str, Any]) -> list[str]:
    """The test coverage and mean width of each interval level (metrics.json's "intervals")."""
    lines = [f"Prediction intervals on the test part, {interval_method(intervals)}:"]
    for level, scores in interval_levels(intervals).items():
        expected = calibrated_text(level, scores)
        lines.append(f"  {level:>5} %: coverage {scores['coverage']:5.1f} %"
                     f"{f' (a calibrated interval: {expected})' if expected else ''}, "
                     f"mean width {format_value(scores['width'])}")
    return lines


def calibrated_text(level: str, scores: dict[str, Any]) -> str:
    """"A-B % on N test samples": where a calibrated interval's test coverage falls about 95 % of
    the time; empty for metrics from before the sample count was stored."""
    if "samples" not in scores:
        return ""
    low, high = calibrated_range(float(level), scores["samples"])
    return f"{low:.1f}-{high:.1f} % on {scores['samples']} test samples"


def interval_method(intervals: dict[str, Any]) -> str:
    """How the intervals were made, in words."""
    if intervals.get("method") == "quantile":
        return intervals["source"]
    residuals = f"{intervals['calibration_samples']} residuals of {intervals['source']}"
    if intervals.get("method") != "adaptive conformal":
        return f"split-conformal on {residuals}"
    return (f"adaptive conformal inference at rate {intervals['rate']:g} over {residuals}, then each test residual "
            "known before the forecast date")


def interval_levels(intervals: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """level name -> its scores, from metrics.json's "intervals"."""
    return {key: value for key, value in intervals.items() if isinstance(value, dict)}
