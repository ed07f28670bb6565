"""Seasonal indices from a classical decomposition: how much each place in the season (a month
of the year, a day of the week) lifts or lowers a series around its level.

The seasonally-adjusted naive baseline uses them, and so do the models with `data.transform =
"seasonal"` (the target divided by its season's index before scaling, and each forecast
multiplied by the index of its date after), so that a short series' models learn the level and
what moves it rather than the season's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def season_positions(dates: pd.DatetimeIndex, frequency: str, season: int) -> np.ndarray:
    """Each date's place in its season, 0 .. season - 1 (periods since 1970 at `frequency`)."""
    return pd.DatetimeIndex(dates).to_period(frequency).asi8 % season


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


@dataclass(frozen=True)
class SeasonalIndices:
    """Per series, the index of each place in the season (series, season), multiplicative (a
    factor around 1) where the series' values were all positive when fitted, else additive (an
    offset around 0)."""

    indices: np.ndarray  # (series, season)
    multiplicative: np.ndarray  # (series,) bool

    @classmethod
    def fit(cls, target: np.ndarray, codes: np.ndarray, positions: np.ndarray, count: int, season: int,
            additive: bool = False) -> SeasonalIndices:
        """From `target`'s rows (each series' rows together, in order; `codes`: the series of each,
        `positions`: its place in the season): the mean ratio (difference) of a value to the
        centred moving average of one season around it, scaled to a mean of 1 (0). A place
        without a full season on either side keeps 1 (0): no adjustment. `additive`: every
        series' indices additive (for a target already on a log scale)."""
        starts = np.flatnonzero(np.diff(codes, prepend=codes[:1] - 1))  # where each series' rows begin
        trend = np.concatenate([centred_average(rows, season) for rows in np.split(target, starts[1:])]) \
            if len(target) else np.empty(0)
        multiplicative = np.full(count, not additive)
        multiplicative[codes[target <= 0]] = False
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(multiplicative[codes], target / trend, target - trend)
        known = ~np.isnan(ratio)
        cell = codes[known] * season + positions[known]  # (series, place in the season), flattened
        sums = np.bincount(cell, ratio[known], minlength=count * season).reshape(count, season)
        counts = np.bincount(cell, minlength=count * season).reshape(count, season)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = np.where(counts > 0, sums / counts, np.nan)
            centre = np.nansum(means, axis=1) / (counts > 0).sum(axis=1)
            means = np.where(multiplicative[:, None], means / centre[:, None], means - centre[:, None])
        return cls(np.where(np.isnan(means), np.where(multiplicative[:, None], 1.0, 0.0), means), multiplicative)

    def _at(self, values: np.ndarray, series: np.ndarray | int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The index and whether it is multiplicative for each value, broadcast to `values`' shape
        (`series` and `positions` cover its leading axes)."""
        index, multiplicative = self.indices[series, positions], self.multiplicative[series]
        multiplicative = np.broadcast_to(multiplicative, np.shape(index))
        extra = (1,) * (np.ndim(values) - np.ndim(index))
        return index.reshape(*np.shape(index), *extra), multiplicative.reshape(*np.shape(index), *extra)

    def remove(self, values: np.ndarray, series: np.ndarray | int, positions: np.ndarray) -> np.ndarray:
        """`values` with their season's index taken out."""
        index, multiplicative = self._at(values, series, positions)
        with np.errstate(divide="ignore", invalid="ignore"):  # an additive index of 0 is never divided by
            return np.where(multiplicative, values / index, values - index)

    def restore(self, values: np.ndarray, series: np.ndarray | int, positions: np.ndarray) -> np.ndarray:
        """Adjusted `values` with their season's index put back."""
        index, multiplicative = self._at(values, series, positions)
        return np.where(multiplicative, values * index, values + index)

    def series(self, code: int) -> SeasonalIndices:
        return SeasonalIndices(self.indices[code : code + 1], self.multiplicative[code : code + 1])

    def as_dict(self) -> dict[str, list]:
        return {"indices": self.indices.tolist(), "multiplicative": self.multiplicative.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> SeasonalIndices:
        return cls(np.array(data["indices"], dtype=np.float64), np.array(data["multiplicative"], dtype=bool))

    def same_as(self, other: SeasonalIndices | None) -> bool:
        return other is not None and self.indices.shape == other.indices.shape and bool(
            np.allclose(self.indices, other.indices) and (self.multiplicative == other.multiplicative).all())
