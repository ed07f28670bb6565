"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`),
naive on the seasonally adjusted series, and gradient boosting on lags and the same inputs
(`tuner.boosting`); the last two fitted on the rows the model trains on. Users see whether the
neural model earns its cost (`tables.not_better_warning` says so when it does not)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuner.boosting import Boosting
from tuner.data import Dataset


def boosting_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Direct forecasts of `part`, in the target's units, by boosting fitted on the samples whose
    targets lie in `fit_part`."""
    return dataset.to_units(Boosting.fit(dataset.windows(fit_part)).predict_windows(dataset.windows(part)), part)


def adjusted_naive_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Naive on the seasonally adjusted series (the M4 competition's "Naive 2"): each sample's
    last value divided by its season's index, times the index of each forecast step's season;
    the indices from a classical decomposition of each series' `fit_part` rows (`season_indices`)."""
    indices, multiplicative = season_indices(dataset, fit_part)
    windows = dataset.windows(part)
    last = windows.target_rows - 1
    steps = windows.target_rows[:, None] + np.arange(dataset.config.horizon)
    positions, series = season_positions(dataset), windows.series[:, None]
    from_index, to_index = indices[series, positions[last][:, None]], indices[series, positions[steps]]
    value = dataset.target[last][:, None]
    return np.where(multiplicative[series], value / from_index * to_index, value - from_index + to_index)


def season_positions(dataset: Dataset) -> np.ndarray:
    """Each row's place in its season, 0 .. data.seasonality - 1, from its date."""
    return dataset.dates.to_period(dataset.config.frequency).asi8 % dataset.config.seasonality


def season_indices(dataset: Dataset, fit_part: str) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the index of each place in the season (series, season) and whether it is
    multiplicative (all the series' `fit_part` values are positive) or additive: the mean ratio
    (difference) of a value to the centred moving average of one season around it, scaled to a
    mean of 1 (0). A place without a full season on either side keeps 1 (0): no adjustment."""
    season, rows = dataset.config.seasonality, dataset.rows(fit_part)
    codes = dataset.index.codes[rows]
    trend = [centred_average(dataset.target[rows[codes == code]], season) for code in pd.unique(codes)]
    frame = pd.DataFrame({"series": codes, "value": dataset.target[rows], "position": season_positions(dataset)[rows],
                          "trend": np.concatenate(trend) if trend else np.empty(0)})
    multiplicative = np.ones(len(dataset.index), dtype=bool)
    multiplicative[frame.loc[frame["value"] <= 0, "series"].unique()] = False
    ratio = np.where(multiplicative[frame["series"]], frame["value"] / frame["trend"], frame["value"] - frame["trend"])
    means = pd.Series(ratio).groupby([frame["series"], frame["position"]]).mean().unstack()
    means = means.reindex(index=range(len(dataset.index)), columns=range(season))
    means = np.where(multiplicative[:, None], means.div(means.mean(axis=1), axis=0), means.sub(means.mean(axis=1), axis=0))
    return np.where(np.isnan(means), np.where(multiplicative[:, None], 1.0, 0.0), means), multiplicative


def centred_average(values: np.ndarray, season: int) -> np.ndarray:
    """The moving average of one season centred on each value (2 × season for an even season),
    NaN where the season does not fit on both sides."""
    weights = np.ones(season + 1 - season % 2)
    if season % 2 == 0:
        weights[[0, -1]] = 0.5
    weights /= season
    average = np.full(len(values), np.nan)
    if len(values) >= len(weights):
        half = len(weights) // 2
        average[half : len(values) - half] = np.convolve(values, weights, mode="valid")
    return average


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str, boosted: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); the seasonal indices and boosting
    are fitted on `fit_part`, boosting unless `boosted` is its forecast of `part` already made by a
    model fitted there."""
    boosting = boosting_forecast(dataset, part, fit_part) if boosted is None else boosted
    return {**dataset.baseline_forecasts(part), "adjusted_naive": adjusted_naive_forecast(dataset, part, fit_part),
            "boosting": boosting}
