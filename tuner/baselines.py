"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`),
naive on the seasonally adjusted series, and gradient boosting on lags and the same inputs
(`tuner.boosting`); the last two fitted on the rows the model trains on. Users see whether the
neural model earns its cost (`tables.not_better_warning` says so when it does not)."""

from __future__ import annotations

import numpy as np

from tuner.boosting import Boosting
from tuner.data import Dataset
from tuner.seasonal import SeasonalIndices


def boosting_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Direct forecasts of `part`, in the target's units, by boosting fitted on the samples whose
    targets lie in `fit_part` (relative to each window's mean with `data.boosting_scaling = "level"`)."""
    boosting = Boosting.fit(dataset.windows(fit_part), dataset.config.boosting_levelled)
    return dataset.to_units(boosting.predict_windows(dataset.windows(part)), part)


def adjusted_naive_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Naive on the seasonally adjusted series (the M4 competition's "Naive 2"): each sample's
    last value with its season's index taken out and each forecast step's put in; the indices
    from a classical decomposition of each series' `fit_part` rows (`SeasonalIndices`)."""
    rows = dataset.rows(fit_part)
    seasonal = SeasonalIndices.fit(dataset.target[rows], dataset.index.codes[rows], dataset.positions[rows],
                                   len(dataset.index), dataset.config.seasonality)
    windows = dataset.windows(part)
    last, series = windows.target_rows - 1, windows.series[:, None]
    adjusted = seasonal.remove(dataset.target[last][:, None], series, dataset.positions[last][:, None])
    return seasonal.restore(adjusted, series, dataset.step_positions(part))


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str, boosted: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); the seasonal indices and boosting
    are fitted on `fit_part`, boosting unless `boosted` is its forecast of `part` already made by a
    model fitted there."""
    boosting = boosting_forecast(dataset, part, fit_part) if boosted is None else boosted
    return {**dataset.baseline_forecasts(part), "adjusted_naive": adjusted_naive_forecast(dataset, part, fit_part),
            "boosting": boosting}
