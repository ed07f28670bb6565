"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`), and
gradient boosting on lags and the same inputs (scikit-learn's HistGradientBoostingRegressor),
fitted on the rows the model trains on; on a panel, one regressor over every series' (scaled)
windows, as the retail competitions' boosting models are. Users see whether the neural model earns its cost
(`tables.not_better_warning` says so when it does not)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from tuner.data import Dataset, Windows

MAX_BOOSTING_SAMPLES = 500_000  # training windows the boosting baseline fits on at most


def boosting_inputs(windows: Windows, step: int) -> np.ndarray:
    """One row per sample: the window's target history, the other inputs of its last step, and
    the known inputs (plans, calendar) at forecast step `step`."""
    inputs, _, future, _ = windows.batch(slice(None))  # gathered once (a panel's are copies)
    parts = [inputs[:, :, -1], inputs[:, -1, :-1]]
    if future is not None:
        parts.append(future[:, step])
    return np.concatenate(parts, axis=1)


def boosting_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Direct forecasts of `part`, in the target's units: one regressor per horizon step, fitted
    on the samples whose targets lie in `fit_part`."""
    train, target = dataset.windows(fit_part), dataset.windows(part)
    if len(train) > MAX_BOOSTING_SAMPLES:  # a large panel: a uniform sample of its windows
        kept = np.sort(np.random.default_rng(0).choice(len(train), MAX_BOOSTING_SAMPLES, replace=False))
        train = replace(train, target_rows=train.target_rows[kept], series=train.series[kept])
    steps = []
    for step in range(dataset.config.horizon):
        model = HistGradientBoostingRegressor(random_state=0)
        model.fit(boosting_inputs(train, step), train.targets[:, step])
        steps.append(np.concatenate([model.predict(boosting_inputs(chunk, step)) for chunk in chunks(target)]))
    return dataset.to_units(np.stack(steps, axis=1), part)


def chunks(windows: Windows, size: int = 100_000) -> list[Windows]:
    """`windows` in parts of `size` samples, so a large panel's inputs are gathered a part at a time."""
    return [replace(windows, target_rows=windows.target_rows[i : i + size], series=windows.series[i : i + size])
            for i in range(0, len(windows), size)]


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); boosting is fitted on `fit_part`."""
    return {**dataset.baseline_forecasts(part), "boosting": boosting_forecast(dataset, part, fit_part)}
