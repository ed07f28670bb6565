"""Every list of names that several modules share, defined once: the Optuna parameters, the
validation metrics and the baselines."""

from __future__ import annotations

MODEL_TYPES = ("lstm", "lstm_transformer")
MODEL_LABELS = {"lstm": "LSTM", "lstm_transformer": "LSTM+Transformer"}
ARCHITECTURE_PARAMS = ("hidden_size", "num_layers", "dropout", "num_heads", "ff_size")
TRANSFORMER_PARAMS = ("num_heads", "ff_size")  # sampled for lstm_transformer only
PARAMS = ("model", "hidden_size", "num_layers", "dropout", "lr", *TRANSFORMER_PARAMS)  # Optuna's names, in search order

METRICS = ("mae", "rmse", "mape", "smape", "wape")  # forecast errors; stored as val_<name> and test_<name>
VALIDATION_METRICS = tuple(f"val_{name}" for name in METRICS)  # the choices of study.metric
METRIC_LABELS = {"mae": "MAE", "rmse": "RMSE", "mape": "MAPE %", "smape": "sMAPE %", "wape": "WAPE %"}

BASELINES = {"naive": "naive", "seasonal_naive": "seasonal-naive"}  # stored key -> display name


def display_name(key: str) -> str:
    """How a forecaster stored under `key` is shown in tables and plots."""
    return BASELINES.get(key, key)
