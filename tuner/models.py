"""The two forecasters: a stacked LSTM, and the same LSTM followed by a Transformer encoder."""

from __future__ import annotations

import torch
from torch import nn

from tuner.config import ModelConfig


class LSTMForecaster(nn.Module):
    """Stacked LSTM (dropout between layers) with a linear head on the last time step.

    With known-future inputs, the head also sees their values at each forecast step, so a
    planned discount or ad budget moves the forecast directly.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=config.n_inputs,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.hidden_size + config.horizon * config.n_future, config.horizon)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, window, n_inputs) -> (batch, window, hidden_size)."""
        return self.lstm(inputs)[0]

    def forward(self, inputs: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, window, n_inputs) and (batch, horizon, n_future) -> (batch, horizon) forecasts,
        scaled like the target."""
        state = self.encode(inputs)[:, -1]
        if future is not None:
            state = torch.cat([state, future.flatten(1)], dim=1)
        return self.head(state)


class LSTMTransformerForecaster(LSTMForecaster):
    """The LSTM, then a Transformer encoder layer whose self-attention spans the whole window.

    The LSTM states carry order information, so no positional encoding is added.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_heads,
            dim_feedforward=config.ff_size,
            dropout=config.dropout,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(super().encode(inputs))


MODEL_CLASSES: dict[str, type[LSTMForecaster]] = {
    "lstm": LSTMForecaster,
    "lstm_transformer": LSTMTransformerForecaster,
}


def build_model(config: ModelConfig) -> LSTMForecaster:
    """The forecaster `config.kind` names."""
    return MODEL_CLASSES[config.kind](config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
