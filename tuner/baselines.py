"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`),
naive on the seasonally adjusted series, exponential smoothing (`tuner.ets`) and gradient boosting
on lags and the same inputs (`tuner.boosting`); the last three fitted on the rows the model trains on. Users see whether the
neural model earns its cost (`tables.not_better_warning` says so when it does not)."""

from __future__ import annotations

import numpy as np

from tuner import ets
from tuner.boosting import Boosting
from tuner.data import Dataset
from tuner.ets import Smoothing
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


def smoothing_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Exponential smoothing's forecasts of `part`: each series' form and parameters fitted on its
    `fit_part` rows, each sample forecast from its own series' values before it (`Smoothing`)."""
    return Smoothing.fit_part(dataset, fit_part).forecast_part(dataset, part)


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str, boosted: np.ndarray | None = None,
                       smoothed: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); the seasonal indices, exponential
    smoothing and boosting are fitted on `fit_part`, the last two unless `smoothed` and `boosted`
    are their forecasts of `part` already made by members fitted there; no exponential smoothing on
    a panel of more than `ets.MAX_SERIES` series."""
    forecasts = {**dataset.baseline_forecasts(part), "adjusted_naive": adjusted_naive_forecast(dataset, part, fit_part)}
    if smoothed is not None or smoothable(dataset):
        forecasts["ets"] = smoothing_forecast(dataset, part, fit_part) if smoothed is None else smoothed
    return {**forecasts, "boosting": boosting_forecast(dataset, part, fit_part) if boosted is None else boosted}


def smoothable(dataset: Dataset) -> bool:
    """Whether exponential smoothing is fitted on this data: at most `ets.MAX_SERIES` series."""
    return len(dataset.index) <= ets.MAX_SERIES
