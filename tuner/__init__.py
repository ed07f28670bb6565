"""Hyperparameter tuning for LSTM and LSTM+Transformer sales forecasters, on Optuna.

The Python API does what the CLI does, on pandas DataFrames:

    study = tuner.tune(frame, data={"target": "sales", "features": [...]}, n_trials=20)
    model = study.fit()                          # or tuner.fit("best.toml"); tuner.load("models/daily")
    model.predict(frame, intervals=[80, 95])     # a DataFrame, as `tuner predict` writes it

Importing `tuner` loads neither torch nor Optuna: each name loads its module when first used.
Errors are `tuner.TunerError`s with the CLI's one-line messages. docs/api.md lists every name.
"""

from __future__ import annotations

import importlib
import typing

from tuner.errors import ConfigError, DataError, ModelDirError, StorageError, TunerError

__version__ = "0.1.0"

__all__ = ["tune", "load_study", "Study", "fit", "load", "Model", "demo_data",
           "TunerError", "ConfigError", "DataError", "StorageError", "ModelDirError"]

LAZY = {"tune": "tuner.api.study", "load_study": "tuner.api.study", "Study": "tuner.api.study",
        "fit": "tuner.api.fit", "load": "tuner.api.model", "Model": "tuner.api.model", "demo_data": "tuner.api.demo"}

if typing.TYPE_CHECKING:
    from tuner.api.demo import demo_data
    from tuner.api.fit import fit
    from tuner.api.model import Model, load
    from tuner.api.study import Study, load_study, tune


def __getattr__(name: str) -> typing.Any:
    """The API's names, each imported from its module when first used."""
    if name not in LAZY:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    value = getattr(importlib.import_module(LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY])
