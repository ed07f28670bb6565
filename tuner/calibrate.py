"""The residuals a fitted forecaster's prediction intervals are calibrated on: from rows that the
networks making those forecasts did not train on (`tuner.intervals` turns them into intervals)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from tuner.boosting import Boosting
from tuner.config import Config
from tuner.data import Dataset
from tuner.intervals import Calibration
from tuner.members import Member, train_member
from tuner.scoring import series_scale

if TYPE_CHECKING:
    from tuner.forecaster import Forecaster

log = logging.getLogger(__name__)


def refit_calibration(forecaster: Forecaster, folds: list[Dataset], configs: list[Config], seed: int) -> Calibration:
    """Residuals for the intervals of a forecaster refitted on train + validation: its recipe (the
    same members, epochs and seed) trained again on each walk-forward fold's training rows only,
    forecasting that fold's validation rows, which it did not see."""
    residuals = []
    for fold in folds:
        log.info("calibrating the intervals: training on the rows before validation part %d of %d",
                 folds.index(fold) + 1, len(folds))
        members = [Member(train_member(fold, c, m.params, seed, part="train"), m.params, m.window)
                   for c, m in zip(configs, forecaster.members)]
        boosting = Boosting.fit(fold.windows("train"), forecaster.boosting.levelled) if forecaster.boosting else None
        held_out = replace(forecaster, members=members, scaling=fold.scaling, boosting=boosting)
        residuals.append(part_residuals(fold, "validation", held_out.forecast_part(fold, "validation")))
    return Calibration(np.concatenate(residuals), "the same recipe trained on the rows before each validation part, "
                       "forecasting that part", bool(forecaster.config.data.series))


def own_weights_calibration(forecaster: Forecaster, dataset: Dataset) -> Calibration:
    """Residuals for the intervals of a forecaster of the trials' own networks (trained on the train
    part only): their forecasts of the validation part, combined with those of a boosting member
    fitted on the train part only, as the networks were."""
    boosting = Boosting.fit(dataset.windows("train"), forecaster.boosting.levelled) if forecaster.boosting else None
    held_out = replace(forecaster, boosting=boosting)
    return Calibration(part_residuals(dataset, "validation", held_out.forecast_part(dataset, "validation")),
                       "the trials' own networks (trained on the train part) on the validation part",
                       bool(forecaster.config.data.series))


def part_residuals(dataset: Dataset, part: str, forecast: np.ndarray) -> np.ndarray:
    """Actual - forecast on `part`; a panel's over each sample's series target scale."""
    residuals = dataset.actuals(part) - forecast
    return residuals / series_scale(dataset, part) if dataset.config.series else residuals
