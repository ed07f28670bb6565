"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`), and
gradient boosting on lags and the same inputs (`tuner.boosting`), fitted on the rows the model
trains on. Users see whether the neural model earns its cost (`tables.not_better_warning` says so
when it does not)."""

from __future__ import annotations

import numpy as np

from tuner.boosting import Boosting
from tuner.data import Dataset


def boosting_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Direct forecasts of `part`, in the target's units, by boosting fitted on the samples whose
    targets lie in `fit_part`."""
    return dataset.to_units(Boosting.fit(dataset.windows(fit_part)).predict_windows(dataset.windows(part)), part)


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str, boosted: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); boosting is fitted on `fit_part`,
    unless `boosted` is its forecast of `part` already made by a model fitted there."""
    boosting = boosting_forecast(dataset, part, fit_part) if boosted is None else boosted
    return {**dataset.baseline_forecasts(part), "boosting": boosting}
