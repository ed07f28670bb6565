"""What the test part says about a fitted model, in the lines `tuner fit` and the report print
under its test table: whether it beat every baseline, and whether it did better on the test part
without a member (whose share was chosen on validation, which a test part may disagree with)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tuner.names import BASELINES
from tuner.tables import not_better_warning

if TYPE_CHECKING:
    from tuner.forecaster import Forecaster


def test_notes(forecaster: Forecaster) -> list[str]:
    """`baseline_warning`, `networks_note`, `linear_note` and `smoothing_note`, where they apply."""
    notes = (baseline_warning(forecaster), networks_note(forecaster), linear_note(forecaster),
             smoothing_note(forecaster))
    return [line for line in notes if line]


def test_metric(forecaster: Forecaster) -> str:
    """The study's metric on the test part (`test_mae` for `val_mae`)."""
    return forecaster.config.study.metric.replace("val_", "test_", 1)


def baseline_warning(forecaster: Forecaster) -> str | None:
    """One line when the model's test metric (the study's, on the test part) is not better than
    every baseline's."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    baselines = {name: errors for name, errors in metrics.items() if name in BASELINES}
    value = metrics.get("model", {}).get(key, math.nan)
    if forecaster.smoothing_weight < 1:
        return not_better_warning("the fitted model", value, baselines, key)
    others = {name: errors for name, errors in baselines.items() if name != "ets"}
    return not_better_warning("the fitted model", value, others, key) or smoothing_alone_warning(forecaster)


def smoothing_alone_warning(forecaster: Forecaster) -> str:
    """The baseline warning of a model that is exponential smoothing alone: the same forecast as the
    exponential smoothing baseline, so the networks' cost buys nothing."""
    scores, metric = forecaster.smoothing_scores, forecaster.config.study.metric
    if not scores:
        return "warning: the fitted model is exponential smoothing alone (--ets-weight 1), the same forecast as that baseline"
    return ("warning: the fitted model is exponential smoothing alone, the same forecast as that baseline: no share "
            f"of the networks and boosting lowered {metric} on held-out validation rows ({scores[1.0]:.4g} alone, "
            f"{scores[0.0]:.4g} without smoothing); they add nothing on this data")


def networks_note(forecaster: Forecaster) -> str | None:
    """One line when the networks alone did better on the test part than combined with boosting;
    for plain boosting, it also points to levelled boosting (`data.boosting_scaling`)."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    alone = metrics.get("networks", {}).get(key, math.nan)
    combined = metrics.get("without_linear", metrics.get("without_ets", metrics.get("model", {}))).get(key, math.nan)
    if not alone < combined:
        return None
    levelling = "" if forecaster.boosting is None or forecaster.boosting.levelled else (
        "; on a series that trends past the fitted rows' range, try data.boosting_scaling = \"level\"")
    return (f"note: the networks alone did better on the test part than combined with boosting ({key} {alone:.4g} "
            f"vs {combined:.4g}); `tuner fit --boosting-weight 0` fits them alone{levelling}")


def linear_note(forecaster: Forecaster) -> str | None:
    """One line when the mix did better on the test part without its linear member."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    without = metrics.get("without_linear", {}).get(key, math.nan)
    mixed = metrics.get("without_ets", metrics.get("model", {})).get(key, math.nan)
    if not without < mixed:
        return None
    return (f"note: without the linear member the model did better on the test part ({key} {without:.4g} vs "
            f"{mixed:.4g}); `tuner fit --linear-weight 0` fits it without")


def smoothing_note(forecaster: Forecaster) -> str | None:
    """One line when the model did better on the test part without its exponential smoothing member."""
    key, metrics = test_metric(forecaster), forecaster.metrics
    without = metrics.get("without_ets", {}).get(key, math.nan)
    mixed = metrics.get("model", {}).get(key, math.nan)
    if not without < mixed:
        return None
    return (f"note: without exponential smoothing the model did better on the test part ({key} {without:.4g} vs "
            f"{mixed:.4g}); `tuner fit --ets-weight 0` fits it without")
