"""The linear member (`tuner.linear`): ridge regression on lags and the same inputs, so it carries a
level, a trend or an additive effect past the fitted rows' range: for one series in the data's own
units, for a panel in each series' scaled units."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.config import DataConfig
from tuner.linear import Linear
from tuner.members.base import Kind, Recipe, from_state

if TYPE_CHECKING:
    from tuner.data import Dataset
    from tuner.inputs import ForecastInputs


@dataclass(frozen=True)
class LinearMember:
    linear: Linear
    name: str = "linear"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        return self.linear.forecast_part(dataset, part)

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        history, future = inputs.scaled(plan, data)
        if self.linear.scaled:
            return inputs.to_units(self.linear.predict(history[:, :, -1], history[:, -1, :-1], future))
        return self.linear.predict(inputs.history[None, :, -1], history[:, -1, :-1], future)[0]

    def save(self, folder: Path) -> dict[str, Any]:
        return self.linear.as_dict()

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> LinearMember:
        return cls(from_state(Linear.from_dict, state, folder, "linear"))


def fit(dataset: Dataset, part: str, recipe: Recipe | None = None) -> LinearMember:
    return LinearMember(Linear.fit_part(dataset, part))


KIND = Kind("linear", True, fit, LinearMember.load)
