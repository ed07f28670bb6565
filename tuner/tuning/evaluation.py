"""Validation of one configuration: trained on each walk-forward fold's training rows, scored on
its validation rows in the data's units; and the baselines scored on the same rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from tuner.config.names import DATA_VARIANTS
from tuner.config.schema import Config, model_quantiles, with_params
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.data.scaling import Scaling
from tuner.evaluation.baselines import baseline_forecasts
from tuner.evaluation.metrics import errors_by_step, forecast_errors, mean_errors, quantile_errors
from tuner.networks.models import build_model, model_config
from tuner.networks.training import EpochResult, fit, seeded


def tuning_folds(config: Config) -> list[Dataset]:
    """The study's data, split into its walk-forward folds, with room for every searched window."""
    return Dataset.folds(load_frame(config.data), config.data, config.split, config.search.window)


def data_variant(config: Config) -> tuple:
    """What a trial may change of the study's data besides the window (`names.DATA_VARIANTS`)."""
    return tuple(getattr(config.data, key) for key in DATA_VARIANTS)


@dataclass
class Evaluation:
    """One configuration trained and validated on every walk-forward fold."""

    errors: dict[str, float]  # validation metrics, the mean over folds
    fold_errors: list[dict[str, float]]  # per fold, earliest first
    step_errors: dict[str, list[float]]  # per horizon step, the mean over folds
    best_epoch: int  # of the last fold, whose training rows come closest to the final fit's
    epochs_run: int  # over all folds
    network: nn.Module  # the last fold's, holding its best epoch's weights
    scaling: Scaling  # the last fold's, fitted on its training rows


class Evaluator:
    """Train a configuration on each fold's training rows and score it on its validation rows."""

    def __init__(self, config: Config, folds: list[Dataset]) -> None:
        """`folds`: the study's, with its data.transform and calendar harmonics; those of another
        variant a trial samples (search.transform, search.calendar_harmonics) are made the first
        time one asks for them."""
        self.config = config
        self.variants = {data_variant(config): folds}

    @property
    def folds(self) -> list[Dataset]:
        """The study's folds (its own data.transform and calendar harmonics)."""
        return self.variants[data_variant(self.config)]

    def folds_for(self, config: Config) -> list[Dataset]:
        """The folds of a trial's config: the same rows, its transform's scaling, its calendar columns."""
        variant = data_variant(config)
        if variant not in self.variants:
            self.variants[variant] = tuning_folds(config)
        return self.variants[variant]

    def evaluate(
        self,
        params: dict[str, Any],
        seed: int,
        on_epoch: Callable[[EpochResult, dict[str, float]], None] | None = None,
        on_fold: Callable[[int, list[dict[str, float]]], None] | None = None,
        on_model: Callable[[nn.Module], None] | None = None,
    ) -> Evaluation:
        """`on_epoch` sees each epoch of the first fold with its validation metrics, and
        `on_fold` the metrics of the folds done so far; either may raise to stop (pruning).
        `on_model` sees the first fold's network before it trains."""
        config = with_params(self.config, params)
        quantiles = model_quantiles(config)
        fold_errors: list[dict[str, float]] = []
        step_errors: list[dict[str, list[float]]] = []
        epochs_run = 0
        for index, fold in enumerate(self.folds_for(config)):
            actual = fold.actuals("validation")

            def report(epoch: EpochResult, fold: Dataset = fold, actual: np.ndarray = actual) -> None:
                on_epoch(epoch, validation_errors(actual, fold, epoch.val_forecast, epoch.val_quantiles, quantiles))

            with seeded(seed):  # the initial weights
                model = build_model(model_config(params, config.data, quantiles, fold.shape))
            if on_model and index == 0:
                on_model(model)
            window = config.data.window
            result = fit(model, fold.windows("train", window), fold.windows("validation", window), params["lr"],
                         config.train, seed=seed, on_epoch=report if on_epoch and index == 0 else None)
            epochs_run += result.epochs_run
            fold_errors.append(validation_errors(actual, fold, result.val_forecast, result.val_quantiles, quantiles))
            step_errors.append(errors_by_step(actual, fold.to_units(result.val_forecast, "validation"), prefix="val_"))
            if on_fold is not None:
                on_fold(index, fold_errors)
        return Evaluation(mean_errors(fold_errors), fold_errors, mean_errors(step_errors), result.best_epoch,
                          epochs_run, model, fold.scaling)


def validation_errors(actual: np.ndarray, fold: Dataset, forecast: np.ndarray, quantile_forecast: np.ndarray | None,
                      quantiles: tuple[float, ...]) -> dict[str, float]:
    """Validation metrics of scaled forecasts, in the target's units; a quantile model's pinball
    loss and coverage too."""
    errors = forecast_errors(actual, fold.to_units(forecast, "validation"), prefix="val_")
    if quantile_forecast is not None:
        errors.update(quantile_errors(actual, fold.to_units(quantile_forecast, "validation"), quantiles))
    return errors


def baseline_errors(folds: list[Dataset]) -> dict[str, dict[str, float]]:
    """Validation metrics of the baselines, on the trials' own targets (the mean over walk-forward
    folds, as for trials; boosting is fitted on each fold's training rows, as trials are)."""
    per_fold = [
        {name: forecast_errors(fold.actuals("validation"), forecast, prefix="val_")
         for name, forecast in baseline_forecasts(fold, "validation", fit_part="train").items()}
        for fold in folds
    ]
    return {name: mean_errors([errors[name] for errors in per_fold]) for name in per_fold[0]}
