"""The gradient-boosting members (`tuner.boosting`): on lags and the same inputs, in the scaled
target, and its levelled form, relative to each window's target mean. Saved as a skops file (read
without pickle, only the scikit-learn types it names as trusted)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.boosting import Boosting
from tuner.config import DataConfig
from tuner.errors import ModelDirError
from tuner.members.base import Kind, Recipe, checked_file, saved_file

if TYPE_CHECKING:
    from tuner.data import Dataset
    from tuner.inputs import ForecastInputs


@dataclass(frozen=True)
class BoostingMember:
    boosting: Boosting

    @property
    def name(self) -> str:
        return "levelled_boosting" if self.boosting.levelled else "boosting"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        return dataset.to_units(self.boosting.predict_windows(dataset.windows(part)), part)

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        history, future = inputs.scaled(plan, data)
        return inputs.to_units(self.boosting.predict(history, future))

    def save(self, folder: Path) -> dict[str, Any]:
        name = f"{self.name}.skops"
        self.boosting.save(folder / name)
        return saved_file(folder, name)

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> BoostingMember:
        path = checked_file(folder, state)
        try:
            return cls(Boosting.load(path))
        except (TypeError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # untrusted types: TypeError
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelDirError(f"{path}: not a boosting member this tuner can read ({reason}); fit the model again") from None


def fitted(levelled: bool):
    def fit(dataset: Dataset, part: str, recipe: Recipe | None = None) -> BoostingMember:
        return BoostingMember(Boosting.fit(dataset.windows(part), levelled))

    return fit


KIND = Kind("boosting", True, fitted(False), BoostingMember.load)
LEVELLED = Kind("levelled_boosting", True, fitted(True), BoostingMember.load)
