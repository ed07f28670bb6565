"""The baselines a model must beat, on the same rows: naive and seasonal-naive (`Dataset`), and
gradient boosting on lags and the same inputs (scikit-learn's HistGradientBoostingRegressor),
fitted on the rows the model trains on. Users see whether the neural model earns its cost
(`tables.not_better_warning` says so when it does not)."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from tuner.data import Dataset, Windows


def boosting_inputs(windows: Windows, step: int) -> np.ndarray:
    """One row per sample: the window's target history, the other inputs of its last step, and
    the known inputs (plans, calendar) at forecast step `step`."""
    parts = [windows.inputs[:, :, -1], windows.inputs[:, -1, :-1]]
    if windows.future is not None:
        parts.append(windows.future[:, step])
    return np.concatenate(parts, axis=1)


def boosting_forecast(dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Direct forecasts of `part`, in the target's units: one regressor per horizon step, fitted
    on the samples whose targets lie in `fit_part`."""
    train, target = dataset.windows(fit_part), dataset.windows(part)
    steps = []
    for step in range(dataset.config.horizon):
        model = HistGradientBoostingRegressor(random_state=0)
        model.fit(boosting_inputs(train, step), train.targets[:, step])
        steps.append(model.predict(boosting_inputs(target, step)))
    return dataset.to_units(np.stack(steps, axis=1))


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part` (`names.BASELINES`); boosting is fitted on `fit_part`."""
    return {**dataset.baseline_forecasts(part), "boosting": boosting_forecast(dataset, part, fit_part)}
