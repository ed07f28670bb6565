"""The linear member: ridge regression on lags and the same inputs, weighed with the others on
backtest windows. For one series it works in the data's own units; for a panel, whose series differ
in level, in each series' scaled units (its target standardised on its own rows, as the networks
and boosting read it), one regression over every series' windows.

A linear model carries a level, a trend or an additive driver's effect past the rows it was fitted
on, where trees cannot and networks on a transformed target may not: on the demo data, whose
ad-driven sales add to the organic ones, it erred less on validation than every tuned network
(docs/decisions/linear-member.md).

Its inputs are gradient boosting's (`tuner.members.boosting`): the window's target history (for one
series in the data's units), the other inputs of the window's last step and the known inputs at the
forecast step, scaled as the networks take them (an affine map, which a linear model absorbs). One
regression per horizon step, on inputs standardised over the fitted rows, its penalty chosen by
scikit-learn's RidgeCV (leave-one-out); only the numbers are kept, so a model directory stores them
in model.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.preprocessing import StandardScaler

from tuner.config.schema import DataConfig
from tuner.data.dataset import Dataset, Windows
from tuner.members.base import Kind, Recipe, from_state

if TYPE_CHECKING:
    from tuner.data.inputs import ForecastInputs


ALPHAS = tuple(10.0**power for power in range(-3, 4))  # ridge penalties tried, on standardised inputs


def linear_inputs(history: np.ndarray, last: np.ndarray, future: np.ndarray | None, step: int) -> np.ndarray:
    """One row per sample: its target history (samples, window) in the data's units, the other
    inputs of its last step (samples, columns - 1) and its known inputs at forecast step `step`."""
    parts = [history, last] if future is None else [history, last, future[:, step]]
    return np.concatenate(parts, axis=1).astype(np.float64)


def unit_history(dataset: Dataset, windows: Windows) -> np.ndarray:
    """Each sample's window of target history in the data's units (samples, window)."""
    return dataset.target[windows.target_rows[:, None] - windows.window + np.arange(windows.window)]


@dataclass(frozen=True)
class Linear:
    """Direct forecasts in the data's units: one ridge regression per horizon step."""

    mean: np.ndarray  # (horizon, inputs): the standardisation of each step's inputs
    scale: np.ndarray  # (horizon, inputs)
    coef: np.ndarray  # (horizon, inputs)
    intercept: np.ndarray  # (horizon,)
    window: int  # past steps its rows are cut from
    scaled: bool = False  # in each series' scaled units (a panel's), not the data's

    @classmethod
    def fit_part(cls, dataset: Dataset, part: str) -> Linear:
        """Fitted on the samples of `part` ("train", "train+validation"): a panel's in scaled units."""
        windows = dataset.windows(part)
        inputs, scaled_targets, future, _ = windows.batch(slice(None))
        scaled = bool(dataset.config.series)
        history, targets = ((inputs[:, :, -1], scaled_targets) if scaled
                            else (unit_history(dataset, windows), dataset.actuals(part)))
        steps = []
        for step in range(windows.horizon):
            rows = linear_inputs(history, inputs[:, -1, :-1], future, step)
            scaler = StandardScaler().fit(rows)
            ridge = RidgeCV(alphas=ALPHAS).fit(scaler.transform(rows), targets[:, step])
            steps.append((scaler.mean_, scaler.scale_, ridge.coef_, ridge.intercept_))
        mean, scale, coef, intercept = (np.array(values, dtype=np.float64) for values in zip(*steps))
        return cls(mean, scale, coef, intercept, windows.window, scaled)

    def predict(self, history: np.ndarray, last: np.ndarray, future: np.ndarray | None) -> np.ndarray:
        """(samples, horizon) forecasts from each sample's target history (samples, >= window), its
        other inputs at the last step and its known-future values (both scaled); the history and
        the forecasts are in the data's units, or scaled where `scaled`."""
        history = history[:, -self.window:]
        return np.stack([(linear_inputs(history, last, future, step) - self.mean[step]) / self.scale[step]
                         @ self.coef[step] + self.intercept[step] for step in range(len(self.intercept))], axis=1)

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        """Forecasts of every sample of `part`, in the data's units."""
        windows = dataset.windows(part, self.window)
        inputs, _, future, _ = windows.batch(slice(None))
        if self.scaled:
            return dataset.to_units(self.predict(inputs[:, :, -1], inputs[:, -1, :-1], future), part)
        return self.predict(unit_history(dataset, windows), inputs[:, -1, :-1], future)

    def as_dict(self) -> dict[str, list | int | bool]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(), "window": self.window, "scaled": self.scaled}

    @classmethod
    def from_dict(cls, data: dict) -> Linear:
        arrays = (np.array(data[key], dtype=np.float64) for key in ("mean", "scale", "coef", "intercept"))
        linear = cls(*arrays, int(data["window"]), bool(data.get("scaled", False)))
        if not linear.mean.shape == linear.scale.shape == linear.coef.shape or len(linear.intercept) != len(linear.coef):
            raise ValueError("its arrays' shapes differ")
        return linear


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
