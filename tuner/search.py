"""The search space (trial -> parameters -> configs) and the objective that trains one trial."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from tuner.config import Config, DataConfig, ModelConfig, SearchConfig
from tuner.data import Dataset
from tuner.metrics import errors_by_step, forecast_errors, mean_errors
from tuner.models import build_model, count_parameters
from tuner.train import EpochResult, TrainingDiverged, fit, seed_everything

log = logging.getLogger(__name__)

ARCHITECTURE_KEYS = ("hidden_size", "num_layers", "dropout", "num_heads", "ff_size")


def suggest_params(trial: optuna.Trial, space: SearchConfig) -> dict[str, Any]:
    """Sample one configuration; `num_heads` and `ff_size` exist only for `lstm_transformer`."""
    params: dict[str, Any] = {
        "model": trial.suggest_categorical("model", list(space.models)),
        "hidden_size": trial.suggest_categorical("hidden_size", list(space.hidden_size)),
        "num_layers": trial.suggest_int("num_layers", int(space.num_layers.low), int(space.num_layers.high)),
        "dropout": trial.suggest_float("dropout", space.dropout.low, space.dropout.high),
        "lr": trial.suggest_float("lr", space.lr.low, space.lr.high, log=True),
    }
    if params["model"] == "lstm_transformer":
        params["num_heads"] = trial.suggest_categorical("num_heads", list(space.num_heads))
        params["ff_size"] = trial.suggest_categorical("ff_size", list(space.ff_size))
    return params


def model_config(params: dict[str, Any], data: DataConfig) -> ModelConfig:
    """The architecture that a trial's parameters describe, sized for `data`."""
    architecture = {key: params[key] for key in ARCHITECTURE_KEYS if key in params}
    return ModelConfig(kind=params["model"], n_inputs=len(data.columns), horizon=data.horizon,
                       known_columns=data.known_future_columns, **architecture)


@dataclass
class Evaluation:
    """One configuration trained and validated on every walk-forward fold."""

    errors: dict[str, float]  # validation metrics, the mean over folds
    fold_errors: list[dict[str, float]]  # per fold, earliest first
    step_errors: dict[str, list[float]]  # per horizon step, the mean over folds
    best_epoch: int  # of the last fold, whose training rows come closest to the final fit's
    epochs_run: int  # over all folds


class Evaluator:
    """Train a configuration on each fold's training rows and score it on its validation rows."""

    def __init__(self, config: Config, folds: list[Dataset]) -> None:
        self.config = config
        self.folds = folds

    def evaluate(
        self,
        params: dict[str, Any],
        seed: int,
        on_epoch: Callable[[EpochResult, dict[str, float]], None] | None = None,
        on_fold: Callable[[int, list[dict[str, float]]], None] | None = None,
    ) -> Evaluation:
        """`on_epoch` sees each epoch of the first fold with its validation metrics, and
        `on_fold` the metrics of the folds done so far; either may raise to stop (pruning)."""
        fold_errors: list[dict[str, float]] = []
        step_errors: list[dict[str, list[float]]] = []
        epochs_run = 0
        for index, fold in enumerate(self.folds):
            actual = fold.actuals("validation")

            def report(epoch: EpochResult, fold: Dataset = fold, actual: np.ndarray = actual) -> None:
                on_epoch(epoch, forecast_errors(actual, fold.to_units(epoch.val_forecast), prefix="val_"))

            seed_everything(seed)  # the initial weights too
            model = build_model(model_config(params, self.config.data))
            result = fit(model, fold.windows("train"), fold.windows("validation"), params["lr"], self.config.train,
                         seed=seed, on_epoch=report if on_epoch and index == 0 else None)
            epochs_run += result.epochs_run
            forecast = fold.to_units(result.val_forecast)
            fold_errors.append(forecast_errors(actual, forecast, prefix="val_"))
            step_errors.append(errors_by_step(actual, forecast, prefix="val_"))
            if on_fold is not None:
                on_fold(index, fold_errors)
        return Evaluation(mean_errors(fold_errors), fold_errors, mean_errors(step_errors), result.best_epoch,
                          epochs_run)


class Objective:
    """Train one sampled model on the shared folds and return its mean validation metric.

    Reports the configured metric after every epoch of the first fold, and the mean over the
    folds done so far after each fold (at steps `train.epochs` + fold), so the pruner can stop
    bad trials early; the Wilcoxon pruner gets each fold's value at step = fold instead. Every
    validation metric and training fact is stored as a user attribute.
    """

    def __init__(self, config: Config, folds: list[Dataset], run_id: str = "") -> None:
        self.config = config
        self.run_id = run_id
        self.evaluator = Evaluator(config, folds)

    def __call__(self, trial: optuna.Trial) -> float:
        if self.run_id:
            trial.set_user_attr("run", self.run_id)  # the `tuner tune` command that ran it
        params = suggest_params(trial, self.config.search)
        trial.set_user_attr("n_params", count_parameters(build_model(model_config(params, self.config.data))))
        metric = self.config.study.metric
        per_fold = self.config.study.pruner == "wilcoxon"
        several = len(self.evaluator.folds) > 1

        def report_epoch(epoch: EpochResult, errors: dict[str, float]) -> None:
            value = errors[metric]
            log.info("trial %d epoch %d: train loss %.4f, validation loss %.4f, %s %.4g",
                     trial.number, epoch.epoch, epoch.train_loss, epoch.val_loss, metric, value)
            trial.report(value, epoch.epoch)
            if trial.should_prune():
                trial.set_user_attr("epochs_run", epoch.epoch + 1)
                raise optuna.TrialPruned(f"pruned after epoch {epoch.epoch} with {metric} = {value:.4g}")

        def report_fold(index: int, fold_errors: list[dict[str, float]]) -> None:
            for key in fold_errors[0]:
                trial.set_user_attr(f"{key}_folds", [errors[key] for errors in fold_errors])
            values = [errors[metric] for errors in fold_errors]
            log.info("trial %d fold %d: %s %.4g", trial.number, index, metric, values[-1])
            if per_fold:
                trial.report(values[-1], index)
            else:
                trial.report(float(np.mean(values)), self.config.train.epochs + index)
            if index < len(self.evaluator.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {index} with mean {metric} = {np.mean(values):.4g}")

        started = time.perf_counter()
        try:
            result = self.evaluator.evaluate(params, self.config.study.seed + trial.number,
                                             on_epoch=None if per_fold else report_epoch,
                                             on_fold=report_fold if several else None)
        except TrainingDiverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise
        finally:
            trial.set_user_attr("train_seconds", round(time.perf_counter() - started, 3))
        for key, value in result.errors.items():
            trial.set_user_attr(key, value)
        if self.config.data.horizon > 1:
            for key, values in result.step_errors.items():
                trial.set_user_attr(f"{key}_by_step", values)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        return result.errors[metric]
