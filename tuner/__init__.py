"""Hyperparameter tuning for LSTM and LSTM+Transformer sales forecasters, on Optuna."""

__version__ = "0.1.0"
