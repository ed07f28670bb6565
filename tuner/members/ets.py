"""The exponential smoothing member (`tuner.ets`): each series' own ETS form and Theta method,
their mean, fitted per series; it reads the history only, not the plans."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner import ets
from tuner.config import DataConfig
from tuner.ets import SeriesSmoothing, Smoothing
from tuner.members.base import Kind, Recipe, from_state

if TYPE_CHECKING:
    from tuner.data import Dataset
    from tuner.inputs import ForecastInputs


@dataclass(frozen=True)
class EtsMember:
    smoothing: Smoothing
    name: str = "ets"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        return self.smoothing.forecast_part(dataset, part)

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        """As fitted, or for a series the model was not fitted on, fitted on its history."""
        smoothing = (self.smoothing.series[inputs.fitted] if inputs.fitted is not None
                     else SeriesSmoothing.fit(inputs.past, data.seasonality))
        past = smoothing.aligned(inputs.past, int(inputs.past_positions(data.seasonality)[0]))
        return smoothing.forecast(past, np.array([len(past)]), data.horizon)[0]

    def save(self, folder: Path) -> dict[str, Any]:
        return {"series": self.smoothing.as_dict()}

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> EtsMember:
        return cls(from_state(lambda saved: Smoothing.from_dict(saved["series"]), state, folder, "exponential smoothing"))


def fit(dataset: Dataset, part: str, recipe: Recipe | None = None) -> EtsMember:
    return EtsMember(Smoothing.fit_part(dataset, part))


def unserved(dataset: Dataset) -> str | None:
    if len(dataset.index) > ets.MAX_SERIES:
        return f"it is fitted per series, on panels of at most {ets.MAX_SERIES} series, and this one has {len(dataset.index):,}"
    return None


KIND = Kind("ets", False, fit, EtsMember.load, unserved)
