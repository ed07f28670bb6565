"""A completed trial's weights: written by the objective as an Optuna artifact, read back by
`tuner fit --from-trial` (with `--ensemble K`, the K best trials') with no retraining."""

from __future__ import annotations

from pathlib import Path

import torch

from tuner.config.schema import Config, ParamsConfig, model_quantiles
from tuner.data.dataset import Dataset
from tuner.data.scaling import Scaling
from tuner.errors import DataError, ModelDirError
from tuner.networks.models import LSTMForecaster, build_for_weights, model_config


def save_trial_weights(network: torch.nn.Module, scaling: Scaling, path: Path) -> None:
    """A trial's network and scaling as one file of tensors (read by `load_trial_network`)."""
    torch.save({"network": network.state_dict(), "scaling_mean": torch.as_tensor(scaling.mean),
                "scaling_scale": torch.as_tensor(scaling.scale)}, path)


def load_trial_network(dataset: Dataset, config: Config, params: ParamsConfig, weights: Path) -> LSTMForecaster:
    """A trial's own network (its last fold's, stopped at its best validation epoch), checked
    against the data: the trial's scaling must be the one these rows give."""
    try:
        saved = torch.load(weights, weights_only=True, map_location="cpu")
        network = build_for_weights(model_config(params.trial_params(), config.data, model_quantiles(config),
                                                 dataset.shape))
        network.load_state_dict(saved["network"])
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelDirError(f"{weights}: not the weights of this trial's network ({reason})") from None
    if not dataset.scaling.same_as(Scaling.from_dict({"mean": saved["scaling_mean"].numpy(),
                                                      "scale": saved["scaling_scale"].numpy()})):
        raise DataError(f"{config.data.path}: the data changed since the trial ran; fit it without --from-trial")
    return network
