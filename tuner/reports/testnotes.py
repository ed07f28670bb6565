"""What the test part says about a fitted model, in the lines `tuner fit` and the report print
under its test table: whether it beat every baseline, and whether one member alone did better on
the test part than the ensemble chosen on the backtest windows (which a test part may disagree with)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tuner.cli.tables import not_better_warning
from tuner.config.names import BASELINES, display_name, members_of

if TYPE_CHECKING:
    from tuner.ensemble.forecaster import Forecaster


def test_notes(forecaster: Forecaster) -> list[str]:
    """`baseline_warning` and `member_note`, where they apply."""
    return [line for line in (baseline_warning(forecaster), member_note(forecaster)) if line]


def test_metric(forecaster: Forecaster) -> str:
    """The study's metric on the test part (`test_mae` for `val_mae`)."""
    return forecaster.config.study.metric.replace("val_", "test_", 1)


def baseline_warning(forecaster: Forecaster) -> str | None:
    """One line when the model's test metric (the study's, on the test part) is not better than
    every baseline's; a baseline that is the whole ensemble is not compared with itself, and said so."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    alone = next((name for name, weight in forecaster.weights.items() if weight >= 1 - 1e-9), None)
    baselines = {name: errors for name, errors in metrics.items() if name in BASELINES and name != alone}
    value = metrics.get("model", {}).get(key, math.nan)
    warning = not_better_warning("the fitted model", value, baselines, key)
    if alone in BASELINES:
        same = (f"warning: the fitted model is {display_name(alone)} alone: no other member lowered "
                f"{forecaster.config.study.metric} on the backtest windows, so the networks' cost buys nothing on this data")
        return same if warning is None else f"{same}; {warning.removeprefix('warning: ')}"
    return warning


def member_note(forecaster: Forecaster) -> str | None:
    """One line when a member alone did better on the test part than the ensemble."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    value = metrics.get("model", {}).get(key, math.nan)
    scored = {name: metrics[name][key] for name in members_of(metrics) if math.isfinite(metrics[name].get(key, math.nan))}
    best = min(scored, key=scored.get, default=None)
    if best is None or not scored[best] < value or forecaster.weights.get(best, 0) >= 1 - 1e-9:
        return None
    return (f"note: {display_name(best)} alone did better on the test part than the ensemble ({key} {scored[best]:.4g} vs "
            f"{value:.4g}); the weights were chosen on the backtest windows, which the test part can disagree with")
