"""Gradient boosting on lags and the same inputs (scikit-learn's HistGradientBoostingRegressor):
the baseline every model is measured against, and the member `tuner fit` combines with the
network(s) (`--boosting-weight`). On a panel, one regressor over every series' (scaled) windows,
as the retail competitions' boosting models are.

A fitted `Boosting` is saved with skops, whose loader builds only the types it is told to trust,
so a model directory still runs no code from its files when it is read."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from tuner.data import Windows

MAX_BOOSTING_SAMPLES = 500_000  # training windows the regressors fit on at most
CHUNK = 100_000  # samples whose inputs are gathered at a time when forecasting
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]  # beyond skops' own defaults


def boosting_inputs(inputs: np.ndarray, future: np.ndarray | None, step: int) -> np.ndarray:
    """One row per sample of (samples, window, columns) `inputs`: the window's target history, the
    other inputs of its last step, and the known inputs (plans, calendar) at forecast step `step`."""
    parts = [inputs[:, :, -1], inputs[:, -1, :-1]]
    if future is not None:
        parts.append(future[:, step])
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class Boosting:
    """Direct forecasts of the scaled target: one regressor per horizon step."""

    regressors: tuple[HistGradientBoostingRegressor, ...]
    window: int  # past steps its rows are cut from

    @classmethod
    def fit(cls, windows: Windows) -> Boosting:
        """Fitted on the samples of `windows`: on a large panel, a uniform sample of them."""
        if len(windows) > MAX_BOOSTING_SAMPLES:
            kept = np.sort(np.random.default_rng(0).choice(len(windows), MAX_BOOSTING_SAMPLES, replace=False))
            windows = replace(windows, target_rows=windows.target_rows[kept], series=windows.series[kept])
        inputs, targets, future, _ = windows.batch(slice(None))  # gathered once for every step (a panel's are copies)
        return cls(tuple(HistGradientBoostingRegressor(random_state=0).fit(boosting_inputs(inputs, future, step),
                                                                             targets[:, step])
                         for step in range(windows.horizon)), windows.window)

    def predict(self, inputs: np.ndarray, future: np.ndarray | None) -> np.ndarray:
        """(samples, horizon) scaled forecasts from (samples, >= window, columns) scaled inputs and
        their known-future values."""
        inputs = inputs[:, -self.window:]
        return np.stack([regressor.predict(boosting_inputs(inputs, future, step))
                         for step, regressor in enumerate(self.regressors)], axis=1)

    def predict_windows(self, windows: Windows) -> np.ndarray:
        """Scaled forecasts of every sample of `windows`, a chunk at a time."""
        parts = [self.predict(inputs, future) for inputs, future, _ in windows.batches(CHUNK)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.regressors)))

    def save(self, path: Path) -> None:
        import skops.io  # imported here: it loads every scikit-learn estimator (about 1 s), which tuning never needs

        skops.io.dump({"regressors": list(self.regressors), "window": self.window}, path)

    @classmethod
    def load(cls, path: Path) -> Boosting:
        """Read `save`'s file; skops refuses any type beyond its defaults and `TRUSTED`."""
        import skops.io

        saved = skops.io.load(path, trusted=TRUSTED)
        return cls(tuple(saved["regressors"]), int(saved["window"]))
