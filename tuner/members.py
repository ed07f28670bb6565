"""A fitted forecaster's networks: one member per tuned configuration and training seed, and
training a fresh one on a part of the data for the epochs its trial's refit asks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tuner.config import Config, ParamsConfig, model_quantiles
from tuner.data import Dataset
from tuner.errors import ConfigError
from tuner.models import LSTMForecaster, build_model, model_config
from tuner.train import EpochResult, fit, seeded

log = logging.getLogger(__name__)


@dataclass
class Member:
    """One network of a forecaster, with the trial parameters it was built from."""

    network: LSTMForecaster
    params: ParamsConfig
    window: int  # past steps it reads
    seed: int | None = None  # the seed it was trained with; None: a trial's own network (or an older model)


def resolved_seeds(config: Config, seeds: int | None, own_weights: bool) -> int:
    """`--seeds`: how many networks a refit trains per trial, with the seeds `seed`, `seed + 1`, ...
    (default `train.refit_seeds`); 1 for the trials' own networks, which were trained once."""
    if own_weights and seeds is not None and seeds > 1:
        raise ConfigError(f"--seeds {seeds}: --from-trial takes each trial's own network, trained once with its "
                          "trial's seed; leave --seeds out, or refit without --from-trial")
    return 1 if own_weights else seeds or config.train.refit_seeds


def train_member(dataset: Dataset, config: Config, params: ParamsConfig, seed: int,
                 part: str = "train+validation") -> LSTMForecaster:
    """A fresh network for `params`, trained on the windows of `part` for `params.epochs`."""
    with seeded(seed):
        network = build_model(model_config(params.trial_params(), config.data, model_quantiles(config), dataset.shape))
    fit(network, dataset.windows(part, config.data.window), None, params.lr, config.train, seed,
        epochs=params.epochs, on_epoch=lambda result: log_epoch(result, params.epochs))
    return network


def log_epoch(result: EpochResult, epochs: int) -> None:
    log.info("fit epoch %d/%d: train loss %.4f", result.epoch + 1, epochs, result.train_loss)
