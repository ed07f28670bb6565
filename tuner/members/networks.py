"""A networks member: one tuned configuration (fit.configs makes one member per configuration:
networks, networks_2, ...; a quantile model's configurations share one), trained with several
seeds, their forecasts combined (the mean by default); and training a fresh network on a part of
the data for the epochs its trial's refit asks. Its weights are tensors only, saved as weights.pt,
weights-2.pt, ... (networks_2-weights.pt, ... for the others) and loaded with weights_only=True."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from tuner.config.names import current_params
from tuner.config.schema import Config, DataConfig, ModelConfig, ParamsConfig, model_quantiles
from tuner.errors import ConfigError, ModelDirError
from tuner.members.base import Kind, Recipe, checked_file, saved_file
from tuner.networks.models import LSTMForecaster, build_for_weights, build_model, model_config
from tuner.networks.training import EpochResult, fit, predict, predict_windows, seeded

if TYPE_CHECKING:
    from tuner.data.dataset import Dataset
    from tuner.data.inputs import ForecastInputs

log = logging.getLogger(__name__)

COMBINES = {"mean": np.mean, "median": np.median}  # `names.COMBINES`: how the networks' forecasts are combined


@dataclass
class Network:
    """One trained network, with the trial parameters it was built from."""

    network: LSTMForecaster
    params: ParamsConfig
    window: int  # past steps it reads
    seed: int | None = None  # the seed it was trained with; None: a trial's own network (or an older model)


@dataclass
class Networks:
    """Every network of a forecaster, their forecasts combined by `combine`."""

    networks: list[Network]
    combine: str = "mean"
    name: str = "networks"

    def combined(self, forecasts: list[np.ndarray]) -> np.ndarray:
        return COMBINES[self.combine](np.stack(forecasts), axis=0)

    def forecast_part(self, dataset: Dataset, part: str, quantiles: bool = False) -> np.ndarray:
        """In the data's units; with `quantiles`, a quantile model's (samples, horizon, quantiles)."""
        scaled = self.combined([predict_windows(n.network, dataset.windows(part, n.window), quantiles)
                                for n in self.networks])
        return dataset.to_units(scaled, part)

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig,
                        quantiles: bool = False) -> np.ndarray:
        """(horizon,); with `quantiles`, a quantile model's (horizon, quantiles)."""
        history, future = inputs.scaled(plan, data)
        scaled = self.combined([predict(n.network, history[:, -n.window:], future, quantiles, inputs.fields)
                                for n in self.networks])
        return inputs.to_units(scaled)

    def save(self, folder: Path) -> dict[str, Any]:
        entries = []
        prefix = "" if self.name == "networks" else f"{self.name}-"
        for index, network in enumerate(self.networks):
            name = f"{prefix}weights.pt" if index == 0 else f"{prefix}weights-{index + 1}.pt"
            torch.save(network.network.state_dict(), folder / name)
            entries.append({"model": asdict(network.network.config), "params": asdict(network.params),
                            "window": network.window, "seed": network.seed, **saved_file(folder, name)})
        return {"name": self.name, "networks": entries, "combine": self.combine}

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> Networks:
        return cls([load_network(folder, entry) for entry in state["networks"]], state.get("combine", "mean"),
                   state.get("name", "networks"))

    @classmethod
    def fit(cls, dataset: Dataset, part: str, recipe: Recipe) -> Networks:
        """One network per run of `recipe`, trained on `part`."""
        return cls([Network(train_network(dataset, config, params, seed, part), params, config.data.window, seed)
                    for config, params, seed in zip(recipe.configs, recipe.params, recipe.seeds)], recipe.combine,
                   recipe.member)


def load_network(folder: Path, entry: dict[str, Any]) -> Network:
    weights = checked_file(folder, entry)
    try:
        state = torch.load(weights, weights_only=True, map_location="cpu")
        shape = entry["model"]
        network = build_for_weights(ModelConfig(**{**current_params(shape), "known_columns": tuple(shape["known_columns"]),
                                                   "static_levels": tuple(shape.get("static_levels", ())),
                                                   "levelled_columns": tuple(shape.get("levelled_columns", ()))}))
        network.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelDirError(f"{folder}: weights do not match model.json ({reason}); fit the model again") from None
    return Network(network, ParamsConfig(**current_params(entry["params"])), entry["window"], entry.get("seed"))


def resolved_seeds(config: Config, seeds: int | None, own_weights: bool) -> int:
    """`--seeds`: how many networks a refit trains per trial, with the seeds `seed`, `seed + 1`, ...
    (default `fit.seeds`); 1 for the trials' own networks, which were trained once."""
    if own_weights and seeds is not None and seeds > 1:
        raise ConfigError(f"--seeds {seeds}: --from-trial takes each trial's own network, trained once with its "
                          "trial's seed; leave --seeds out, or refit without --from-trial")
    return 1 if own_weights else seeds or config.fit.seeds


def train_network(dataset: Dataset, config: Config, params: ParamsConfig, seed: int,
                  part: str = "train+validation") -> LSTMForecaster:
    """A fresh network for `params`, trained on the windows of `part` for `params.epochs`."""
    with seeded(seed):
        network = build_model(model_config(params.trial_params(), config.data, model_quantiles(config), dataset.shape))
    fit(network, dataset.windows(part, config.data.window), None, params.lr, config.train, seed,
        epochs=params.epochs, on_epoch=lambda result: log_epoch(result, params.epochs))
    return network


def log_epoch(result: EpochResult, epochs: int) -> None:
    log.info("fit epoch %d/%d: train loss %.4f", result.epoch + 1, epochs, result.train_loss)


KIND = Kind("networks", True, Networks.fit, Networks.load)
