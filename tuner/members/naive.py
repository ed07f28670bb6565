"""The naive members: the last value (naive), the same step one season back (seasonal-naive), and
the last value with its season's index taken out and each forecast step's put in
(seasonally-adjusted naive, the M4 competition's "Naive 2"; `tuner.data.seasonal`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.config.schema import DataConfig
from tuner.data.seasonal import SeasonalIndices
from tuner.members.base import Kind, Recipe, from_state

if TYPE_CHECKING:
    from tuner.data.dataset import Dataset
    from tuner.data.inputs import ForecastInputs


@dataclass(frozen=True)
class Naive:
    name: str = "naive"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        return dataset.baseline_forecasts(part)[self.name]

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        return np.full(data.horizon, inputs.past[-1])

    def save(self, folder: Path) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class SeasonalNaive(Naive):
    name: str = "seasonal_naive"

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        steps, season = np.arange(data.horizon), data.seasonality
        return inputs.past[len(inputs.past) + steps - season * (steps // season + 1)]


@dataclass(frozen=True)
class AdjustedNaive:
    indices: SeasonalIndices  # each fitted series'
    name: str = "adjusted_naive"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        windows = dataset.windows(part)
        last, series = windows.target_rows - 1, windows.series[:, None]
        adjusted = self.indices.remove(dataset.target[last][:, None], series, dataset.positions[last][:, None])
        return self.indices.restore(adjusted, series, dataset.step_positions(part))

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        """As fitted, or for a series the model was not fitted on, from indices fitted on its history."""
        positions = inputs.past_positions(data.seasonality)
        indices = (self.indices.series(inputs.fitted) if inputs.fitted is not None else SeasonalIndices.fit(
            inputs.past, np.zeros(len(inputs.past), dtype=np.int64), positions, 1, data.seasonality))
        steps = (positions[-1] + 1 + np.arange(data.horizon)) % data.seasonality
        adjusted = indices.remove(inputs.past[-1:], 0, positions[-1:])
        return indices.restore(np.repeat(adjusted, data.horizon), 0, steps)

    def save(self, folder: Path) -> dict[str, Any]:
        return self.indices.as_dict()

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> AdjustedNaive:
        return cls(from_state(SeasonalIndices.from_dict, state, folder, "seasonally-adjusted naive"))


def fit_adjusted(dataset: Dataset, part: str, recipe: Recipe | None = None) -> AdjustedNaive:
    """The seasonal indices from a classical decomposition of each series' `part` rows."""
    rows = dataset.rows(part)
    return AdjustedNaive(SeasonalIndices.fit(dataset.target[rows], dataset.index.codes[rows], dataset.positions[rows],
                                             len(dataset.index), dataset.config.seasonality))


NAIVE = Kind("naive", False, lambda dataset, part, recipe=None: Naive(), lambda folder, state: Naive())
SEASONAL_NAIVE = Kind("seasonal_naive", False, lambda dataset, part, recipe=None: SeasonalNaive(),
                      lambda folder, state: SeasonalNaive())
ADJUSTED_NAIVE = Kind("adjusted_naive", False, fit_adjusted, AdjustedNaive.load)
