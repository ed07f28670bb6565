"""The final fit: retrain the chosen configuration on train + validation, test it once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.config import Config, ParamsConfig
from tuner.data import Dataset
from tuner.errors import StorageError
from tuner.metrics import forecast_errors
from tuner.models import LSTMForecaster, build_model
from tuner.search import model_config
from tuner.train import configure_threads, fit, predict, seed_everything


@dataclass
class FittedModel:
    model: LSTMForecaster
    params: ParamsConfig
    dataset: Dataset  # scaled on train + validation
    test_forecast: np.ndarray  # (samples, horizon), in the target's units
    metrics: dict[str, dict[str, float]]  # "model", "naive", "seasonal_naive" -> test metrics


def params_from_study(config: Config, url: str) -> ParamsConfig:
    """The best completed trial's parameters, with its best epoch count, from the config's study."""
    from tuner.study import best_trial, mask_password, open_storage

    import optuna

    try:
        study = optuna.load_study(study_name=config.study.name, storage=open_storage(url))
    except KeyError:
        raise StorageError(f"no study {config.study.name!r} in {mask_password(url)}; run `tuner tune` first") from None
    best = best_trial(study)
    if best is None:
        raise StorageError(f"study {config.study.name!r} has no completed trial yet; run `tuner tune` first")
    return ParamsConfig(**best.params, epochs=best.user_attrs["best_epoch"] + 1)


def fit_final(config: Config, params: ParamsConfig, seed: int | None = None) -> FittedModel:
    """Train `params` on train + validation for `params.epochs`, then score the test part."""
    configure_threads(config.train.threads)
    dataset = Dataset.from_config(config.data, config.split, scale_on="train+validation")
    seed = config.study.seed if seed is None else seed
    seed_everything(seed)
    model = build_model(model_config(params.trial_params(), config.data))
    fit(model, dataset.windows("train+validation"), None, params.lr, config.train, seed, epochs=params.epochs)
    forecast = dataset.to_units(predict(model, dataset.windows("test").inputs))
    actual = dataset.actuals("test")
    metrics: dict[str, Any] = {"model": forecast_errors(actual, forecast, prefix="test_")}
    for name, baseline in dataset.baseline_forecasts("test").items():
        metrics[name] = forecast_errors(actual, baseline, prefix="test_")
    return FittedModel(model, params, dataset, forecast, metrics)
