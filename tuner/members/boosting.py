"""The gradient-boosting members, `boosting` and `levelled_boosting`: scikit-learn's
HistGradientBoostingRegressor on lags and the same inputs, in the scaled target, one regressor per
horizon step; also a baseline every model is measured against. On a panel, one regressor over every
series' (scaled) windows, as the retail competitions' boosting models are.

Trees cannot forecast beyond the values they were fitted on. The levelled form (`levelled`) sees
each window's target history relative to that window's mean, with the mean as one more input, and
forecasts each step's departure from it, so a series that trends past its training range keeps its
level, as the networks' `data.scaling = "level"` does for them; on stationary series it costs
(docs/decisions/levelled-boosting.md), so both forms are candidates, weighed on
the backtest windows.

A fitted `Boosting` is saved with skops, whose loader builds only the types it is told to trust,
so a model directory still runs no code from its files when it is read."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from tuner.config.schema import DataConfig
from tuner.data.dataset import Windows
from tuner.errors import ModelDirError
from tuner.members.base import Kind, Recipe, checked_file, saved_file

if TYPE_CHECKING:
    from tuner.data.dataset import Dataset
    from tuner.data.inputs import ForecastInputs


MAX_BOOSTING_SAMPLES = 500_000  # training windows the regressors fit on at most
CHUNK = 100_000  # samples whose inputs are gathered at a time when forecasting
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]  # beyond skops' own defaults


def boosting_inputs(inputs: np.ndarray, future: np.ndarray | None, step: int,
                    level: np.ndarray | None = None) -> np.ndarray:
    """One row per sample of (samples, window, columns) `inputs`: the window's target history, the
    other inputs of its last step, and the known inputs (plans, calendar) at forecast step `step`;
    with `level` (each window's target mean), the history relative to it and the level itself."""
    history = inputs[:, :, -1] if level is None else inputs[:, :, -1] - level[:, None]
    parts = [history, inputs[:, -1, :-1]]
    if future is not None:
        parts.append(future[:, step])
    if level is not None:
        parts.append(level[:, None])
    return np.concatenate(parts, axis=1)


def window_level(inputs: np.ndarray) -> np.ndarray:
    """Each sample's mean of its window's target history."""
    return inputs[:, :, -1].mean(axis=1)


@dataclass(frozen=True)
class Boosting:
    """Direct forecasts of the scaled target: one regressor per horizon step."""

    regressors: tuple[HistGradientBoostingRegressor, ...]
    window: int  # past steps its rows are cut from
    levelled: bool = False  # relative to each window's mean (the levelled_boosting member)

    @classmethod
    def fit(cls, windows: Windows, levelled: bool = False) -> Boosting:
        """Fitted on the samples of `windows` (on a large panel, a uniform sample of them); `levelled`:
        relative to each window's target mean."""
        if len(windows) > MAX_BOOSTING_SAMPLES:
            kept = np.sort(np.random.default_rng(0).choice(len(windows), MAX_BOOSTING_SAMPLES, replace=False))
            windows = replace(windows, target_rows=windows.target_rows[kept], series=windows.series[kept])
        inputs, targets, future, _ = windows.batch(slice(None))  # gathered once for every step (a panel's are copies)
        level = window_level(inputs) if levelled else None
        offset = 0.0 if level is None else level
        return cls(tuple(HistGradientBoostingRegressor(random_state=0).fit(boosting_inputs(inputs, future, step, level),
                                                                             targets[:, step] - offset)
                         for step in range(windows.horizon)), windows.window, levelled)

    @property
    def name(self) -> str:
        """What it is, for the model's label and `tuner fit`'s summary."""
        return "levelled gradient boosting" if self.levelled else "gradient boosting"

    def predict(self, inputs: np.ndarray, future: np.ndarray | None) -> np.ndarray:
        """(samples, horizon) scaled forecasts from (samples, >= window, columns) scaled inputs and
        their known-future values."""
        inputs = inputs[:, -self.window:]
        level = window_level(inputs) if self.levelled else None
        offset = 0.0 if level is None else level[:, None]
        return np.stack([regressor.predict(boosting_inputs(inputs, future, step, level))
                         for step, regressor in enumerate(self.regressors)], axis=1) + offset

    def predict_windows(self, windows: Windows) -> np.ndarray:
        """Scaled forecasts of every sample of `windows`, a chunk at a time."""
        parts = [self.predict(inputs, future) for inputs, future, _ in windows.batches(CHUNK)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.regressors)))

    def save(self, path: Path) -> None:
        import skops.io  # imported here: it loads every scikit-learn estimator (about 1 s), which tuning never needs

        skops.io.dump({"regressors": list(self.regressors), "window": self.window, "levelled": self.levelled}, path)

    @classmethod
    def load(cls, path: Path) -> Boosting:
        """Read `save`'s file; skops refuses any type beyond its defaults and `TRUSTED`."""
        import skops.io

        saved = skops.io.load(path, trusted=TRUSTED)
        return cls(tuple(saved["regressors"]), int(saved["window"]), bool(saved.get("levelled", False)))


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
