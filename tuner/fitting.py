"""The final fit: retrain the chosen configuration on train + validation, test it once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.config import Config, ParamsConfig
from tuner.data import Dataset
from tuner.metrics import errors_by_step, forecast_errors
from tuner.models import LSTMForecaster, build_model
from tuner.search import model_config
from tuner.train import EpochResult, configure_threads, fit, predict_windows, seed_everything

log = logging.getLogger(__name__)


@dataclass
class FittedModel:
    model: LSTMForecaster
    params: ParamsConfig
    dataset: Dataset  # scaled on train + validation
    test_forecast: np.ndarray  # (samples, horizon), in the target's units
    metrics: dict[str, Any]  # "model", "naive", "seasonal_naive" -> test metrics; "by_step" -> the same per step


def fit_final(config: Config, params: ParamsConfig, seed: int | None = None) -> FittedModel:
    """Train `params` on train + validation for `params.epochs`, then score the test part."""
    configure_threads(config.train.threads)
    dataset = Dataset.from_config(config.data, config.split, scale_on="train+validation")
    seed = config.study.seed if seed is None else seed
    seed_everything(seed)
    model = build_model(model_config(params.trial_params(), config.data))
    fit(model, dataset.windows("train+validation"), None, params.lr, config.train, seed, epochs=params.epochs,
        on_epoch=lambda result: log_epoch(result, params.epochs))
    forecast = dataset.to_units(predict_windows(model, dataset.windows("test")))
    actual = dataset.actuals("test")
    forecasts = {"model": forecast, **dataset.baseline_forecasts("test")}
    metrics: dict[str, Any] = {name: forecast_errors(actual, values, prefix="test_") for name, values in forecasts.items()}
    if config.data.horizon > 1:
        metrics["by_step"] = {name: errors_by_step(actual, values, prefix="test_") for name, values in forecasts.items()}
    return FittedModel(model, params, dataset, forecast, metrics)


def log_epoch(result: EpochResult, epochs: int) -> None:
    log.info("fit epoch %d/%d: train loss %.4f", result.epoch + 1, epochs, result.train_loss)
