"""The search space: an Optuna trial in, plain parameters out (by `names.PARAMS`)."""

from __future__ import annotations

from typing import Any

import optuna

from tuner.config.names import SETTING_PARAMS
from tuner.config.schema import SearchConfig


def suggest_params(trial: optuna.Trial, space: SearchConfig) -> dict[str, Any]:
    """Sample one configuration; `num_heads` and `ff_size` exist only for `lstm_transformer`, and
    `autoregressive_skip`, `series_embedding` and the settings (`names.SETTING_PARAMS`) only where the search lists
    choices of them."""
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
    if space.autoregressive_skip:
        params["autoregressive_skip"] = trial.suggest_categorical("autoregressive_skip", list(space.autoregressive_skip))
    if space.series_embedding:
        params["series_embedding"] = trial.suggest_categorical("series_embedding", list(space.series_embedding))
    for name in SETTING_PARAMS:  # data.window, data.scaling, train.loss, data.transform, where search.<name> lists choices
        if getattr(space, name):
            params[name] = trial.suggest_categorical(name, list(getattr(space, name)))
    return params
