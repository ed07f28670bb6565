"""Backtest windows: `fit.backtest_windows` windows of validation length at the end of train +
validation, each forecast by every candidate fitted only on the rows before it, so that every
candidate is scored on the same rows. For a refit, the networks are the recipe trained again with
its seeds (not the trials' own networks, which were chosen on the validation rows and would look
better there than they are); with --from-trial, the trials' own networks forecast the validation
part, beside the other candidates fitted on the train part."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.ensemble.selection import weighted
from tuner.errors import ConfigError, DataError
from tuner.evaluation.intervals import Calibration
from tuner.evaluation.metrics import forecast_errors
from tuner.members import Member, Recipe, kind_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backtest:
    windows: list[Dataset]  # each window's data: its validation part is the window, scaled on the rows before it
    forecasts: list[dict[str, np.ndarray]]  # per window: candidate -> (samples, horizon) in the data's units
    source: str  # where the forecasts come from, in words

    def joined(self, name: str) -> np.ndarray:
        """A candidate's forecasts of every window's samples, one window after another."""
        return np.concatenate([forecasts[name] for forecasts in self.forecasts])

    @property
    def actuals(self) -> np.ndarray:
        return np.concatenate([window.actuals("validation") for window in self.windows])

    def score(self, forecast: np.ndarray, metric: str) -> float:
        """The study's `metric` (val_mae, ...) of a forecast of every window, pooled over them (and a panel's series)."""
        return forecast_errors(self.actuals, forecast, prefix="val_")[metric]

    def scores(self, metric: str) -> dict[str, float]:
        return {name: self.score(self.joined(name), metric) for name in self.forecasts[0]}

    def calibration(self, weights: dict[str, float], per_series: bool) -> Calibration:
        """The intervals' residuals: the ensemble's, on every window (a panel's over each series' scale)."""
        residuals = []
        for window, forecasts in zip(self.windows, self.forecasts):
            residual = window.actuals("validation") - weighted(forecasts, weights)
            residuals.append(residual / window.scaling.target_scale(window.windows("validation").series)[:, None]
                             if per_series else residual)
        return Calibration(np.concatenate(residuals), self.source, per_series)


def refit_backtest(frame: pd.DataFrame, config: Config, recipes: dict[str, Recipe], names: tuple[str, ...],
                   search_windows: tuple[int, ...]) -> Backtest:
    """Each of `names` fitted on the rows before each backtest window, forecasting it; the networks
    members by their `recipes`."""
    first = next(iter(recipes.values()))
    count = config.fit.backtest_windows
    try:
        windows = Dataset.folds(frame, config.data, replace(config.split, folds=count), search_windows)
    except DataError as exc:
        raise ConfigError(f"fit.backtest_windows = {count}: too many for these rows ({exc})") from None
    forecasts = []
    for number, window in enumerate(windows, 1):
        log.info("backtest window %d of %d: fitting %s on the rows before it", number, count, ", ".join(names))
        forecasts.append({name: kind_of(name).fit(window, "train", recipes.get(name, first))
                          .forecast_part(window, "validation") for name in names})
    return Backtest(windows, forecasts, f"{count} backtest window{'s' if count > 1 else ''} of validation length at "
                    "the end of train + validation, each forecast by the recipe fitted on the rows before it")


def own_weights_backtest(dataset: Dataset, networks: dict[str, Member], recipe: Recipe,
                         names: tuple[str, ...]) -> Backtest:
    """The validation part, forecast by the trials' own `networks` members (trained on the train
    part) and by the other candidates fitted on the train part too."""
    forecasts = {name: (networks[name] if name in networks else kind_of(name).fit(dataset, "train", recipe))
                 .forecast_part(dataset, "validation") for name in names}
    return Backtest([dataset], [forecasts], "the trials' own networks (trained on the train part) and the other "
                    "members fitted on the train part, on the validation part")
