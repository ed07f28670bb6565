"""The baselines a model must beat, on the same rows (`names.BASELINES`): naive, seasonal-naive,
seasonally-adjusted naive, exponential smoothing and gradient boosting on lags and the same
inputs; each is a member (`tuner.members`) scored alone, fitted on the rows the model trains on.
Users see whether the neural model earns its cost (`tables.not_better_warning` says so when it
does not)."""

from __future__ import annotations

import numpy as np

from tuner.config.names import BASELINES
from tuner.data.dataset import Dataset
from tuner.members import KINDS


def member_forecast(name: str, dataset: Dataset, part: str, fit_part: str) -> np.ndarray:
    """Member `name`'s forecasts of `part`, in the target's units, fitted on `fit_part` (not the networks)."""
    return KINDS[name].fit(dataset, fit_part, None).forecast_part(dataset, part)


def baseline_forecasts(dataset: Dataset, part: str, fit_part: str) -> dict[str, np.ndarray]:
    """Every baseline's forecasts of `part`, fitted on `fit_part`; those that cannot serve this data
    (exponential smoothing on a panel of more than `ets.MAX_SERIES` series) left out."""
    return {name: member_forecast(name, dataset, part, fit_part) for name in BASELINES
            if KINDS[name].unserved(dataset) is None}
