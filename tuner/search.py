"""The search space (trial -> parameters -> configs) and the objective that trains one trial."""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna

from tuner.config import Config, DataConfig, ModelConfig, SearchConfig
from tuner.data import Dataset
from tuner.metrics import forecast_errors
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
    return ModelConfig(kind=params["model"], n_inputs=len(data.columns), horizon=data.horizon, **architecture)


class Objective:
    """Train one sampled model on the shared dataset and return its validation metric.

    Reports the configured metric after every epoch so the pruner can stop bad trials,
    and stores every validation metric and training fact as user attributes.
    """

    def __init__(self, config: Config, dataset: Dataset, run_id: str = "") -> None:
        self.config = config
        self.run_id = run_id
        self.dataset = dataset
        self.train = dataset.windows("train")
        self.validation = dataset.windows("validation")
        self.actual = dataset.actuals("validation")

    def errors(self, scaled_forecast: Any) -> dict[str, float]:
        return forecast_errors(self.actual, self.dataset.to_units(scaled_forecast), prefix="val_")

    def __call__(self, trial: optuna.Trial) -> float:
        if self.run_id:
            trial.set_user_attr("run", self.run_id)  # the `tuner tune` command that ran it
        params = suggest_params(trial, self.config.search)
        seed = self.config.study.seed + trial.number
        seed_everything(seed)  # the initial weights too
        model = build_model(model_config(params, self.config.data))
        trial.set_user_attr("n_params", count_parameters(model))
        metric = self.config.study.metric

        def report(epoch: EpochResult) -> None:
            value = self.errors(epoch.val_forecast)[metric]
            log.info("trial %d epoch %d: train loss %.4f, validation loss %.4f, %s %.4g",
                     trial.number, epoch.epoch, epoch.train_loss, epoch.val_loss, metric, value)
            trial.report(value, epoch.epoch)
            if trial.should_prune():
                trial.set_user_attr("epochs_run", epoch.epoch + 1)
                raise optuna.TrialPruned(f"pruned after epoch {epoch.epoch} with {metric} = {value:.4g}")

        started = time.perf_counter()
        try:
            result = fit(model, self.train, self.validation, params["lr"], self.config.train,
                         seed=seed, on_epoch=report)
        except TrainingDiverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise
        finally:
            trial.set_user_attr("train_seconds", round(time.perf_counter() - started, 3))
        errors = self.errors(result.val_forecast)
        for key, value in errors.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        return errors[metric]
