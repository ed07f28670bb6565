"""Forecasts of validation rows by a forecaster's recipe fitted only on the rows before them: what
`tuner fit` chooses the linear and exponential-smoothing members' shares on, and what prediction
intervals are calibrated on (`tuner.intervals` turns their residuals into intervals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from tuner.baselines import smoothing_forecast
from tuner.boosting import Boosting
from tuner.config import Config
from tuner.data import Dataset
from tuner.intervals import Calibration
from tuner.linear import Linear
from tuner.members import Member, train_member
from tuner.metrics import forecast_errors
from tuner.scoring import series_scale
from tuner.shares import blend

if TYPE_CHECKING:
    from tuner.forecaster import Forecaster

log = logging.getLogger(__name__)

SHARES = tuple(round(0.1 * step, 1) for step in range(11))  # the shares of the linear member and of smoothing tried


@dataclass(frozen=True)
class HeldOut:
    """One validation part and, in the target's units, the forecasts of it by the networks (mixed
    with boosting at its weight), by the linear member and by exponential smoothing, each fitted on
    the rows before it."""

    dataset: Dataset
    model: np.ndarray  # (samples, horizon)
    smoothed: np.ndarray | None  # (samples, horizon); None where no share of smoothing is to be mixed in
    source: str  # where the forecasts come from, in words
    linear: np.ndarray | None = None  # (samples, horizon); None where no share of the linear member is to be mixed in

    def forecast(self, smoothing_weight: float, linear_weight: float = 0.0) -> np.ndarray:
        """The mix as a fitted model makes it: the networks' (with boosting) and the linear
        member's at `linear_weight`, then that and smoothing's at `smoothing_weight`."""
        mixed = self.model if self.linear is None else blend(self.model, self.linear, linear_weight)
        if self.smoothed is None:
            return mixed
        return blend(mixed, self.smoothed, smoothing_weight)

    def error(self, smoothing_weight: float, metric: str, linear_weight: float = 0.0) -> float:
        """The study's `metric` (val_mae, ...) of the mix at these shares."""
        forecast = self.forecast(smoothing_weight, linear_weight)
        return forecast_errors(self.dataset.actuals("validation"), forecast, prefix="val_")[metric]

    def residuals(self, smoothing_weight: float, linear_weight: float = 0.0) -> np.ndarray:
        return part_residuals(self.dataset, "validation", self.forecast(smoothing_weight, linear_weight))


def refit_held_out(forecaster: Forecaster, folds: list[Dataset], configs: list[Config],
                   smoothed: bool, linear: bool = False) -> list[HeldOut]:
    """For a forecaster refitted on train + validation: its recipe (the same members, epochs and
    seeds; `configs`: each member's) trained again on each walk-forward fold's training rows only,
    forecasting that fold's validation rows, which it did not see; `smoothed` and `linear`:
    exponential smoothing's and the linear member's forecasts too."""
    held_out = []
    for fold in folds:
        log.info("forecasting held-out rows: training on the rows before validation part %d of %d",
                 folds.index(fold) + 1, len(folds))
        members = [Member(train_member(fold, c, m.params, m.seed, part="train"), m.params, m.window, m.seed)
                   for c, m in zip(configs, forecaster.members)]
        recipe = replace(forecaster, members=members, scaling=fold.scaling, boosting=boosting_on_train(forecaster, fold),
                         linear=None, smoothing=None)
        held_out.append(HeldOut(fold, recipe.forecast_part(fold, "validation"), smoothed_part(fold, smoothed),
                                "the same recipe trained on the rows before each validation part, forecasting that part",
                                linear_part(fold, linear)))
    return held_out


def own_weights_held_out(forecaster: Forecaster, dataset: Dataset, smoothed: bool,
                         linear: bool = False) -> list[HeldOut]:
    """For a forecaster of the trials' own networks (trained on the train part only): their
    forecasts of the validation part, mixed with those of a boosting member fitted on the train
    part only, as the networks were; `smoothed` and `linear`: exponential smoothing's and the
    linear member's forecasts too."""
    recipe = replace(forecaster, boosting=boosting_on_train(forecaster, dataset), linear=None, smoothing=None)
    return [HeldOut(dataset, recipe.forecast_part(dataset, "validation"), smoothed_part(dataset, smoothed),
                    "the trials' own networks (trained on the train part) on the validation part",
                    linear_part(dataset, linear))]


def boosting_on_train(forecaster: Forecaster, dataset: Dataset) -> Boosting | None:
    """The forecaster's boosting member (in its form) fitted on `dataset`'s train part, as the
    held-out networks were; None for a forecaster without one."""
    return Boosting.fit(dataset.windows("train"), forecaster.boosting.levelled) if forecaster.boosting else None


def smoothed_part(dataset: Dataset, smoothed: bool) -> np.ndarray | None:
    """Exponential smoothing's forecasts of the validation part, fitted on the train part; None
    without `smoothed`."""
    return smoothing_forecast(dataset, "validation", "train") if smoothed else None


def linear_part(dataset: Dataset, linear: bool) -> np.ndarray | None:
    """The linear member's forecasts of the validation part, fitted on the train part; None without
    `linear`."""
    return Linear.fit_part(dataset, "train").forecast_part(dataset, "validation") if linear else None


def linear_scores(held_out: list[HeldOut], metric: str) -> dict[float, float]:
    """Each share of the linear member in `SHARES` -> the study's `metric` of the mix without
    smoothing on the held-out parts (the mean over walk-forward folds, as trials are scored)."""
    return {weight: float(np.mean([part.error(0.0, metric, weight) for part in held_out])) for weight in SHARES}


def smoothing_scores(held_out: list[HeldOut], metric: str, linear_weight: float = 0.0) -> dict[float, float]:
    """Each share of exponential smoothing in `SHARES` -> the study's `metric` of the mix (with the
    linear member at `linear_weight`) on the held-out parts, as `linear_scores`."""
    return {weight: float(np.mean([part.error(weight, metric, linear_weight) for part in held_out]))
            for weight in SHARES}


def calibration(held_out: list[HeldOut], smoothing_weight: float, per_series: bool,
                linear_weight: float = 0.0) -> Calibration:
    """The intervals' residuals: the held-out forecasts, mixed as the fitted model mixes them."""
    residuals = [part.residuals(smoothing_weight, linear_weight) for part in held_out]
    return Calibration(np.concatenate(residuals), held_out[0].source, per_series)


def part_residuals(dataset: Dataset, part: str, forecast: np.ndarray) -> np.ndarray:
    """Actual - forecast on `part`; a panel's over each sample's series target scale."""
    residuals = dataset.actuals(part) - forecast
    return residuals / series_scale(dataset, part) if dataset.config.series else residuals
