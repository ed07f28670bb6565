"""The two forecasters: a stacked LSTM, and the same LSTM followed by a Transformer encoder."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tuner.config.names import ARCHITECTURE_PARAMS, current_params
from tuner.config.schema import ONE_SERIES, DataConfig, ModelConfig, SeriesShape

WINDOW_EPSILON = 1e-5  # added to a window's target variance, so a flat window does not divide by zero


class LSTMForecaster(nn.Module):
    """Stacked LSTM (dropout between layers) with a linear head on the last time step.

    With known-future inputs, the sequence runs on past the window through the forecast steps,
    whose inputs are the planned values (other columns zero, the scaled mean) and a flag
    marking them as future; so plans act through the network, free to saturate or interact.

    With `autoregressive_skip`, a linear map from the window's (normalised) target history is added to
    the head's forecast: an autoregressive path beside the network (LSTNet's "highway"), which
    can copy last week or last year where the network alone has too few rows to learn it. It
    starts at zero, so training begins from the network's forecast.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.series_embedding = nn.Embedding(config.series_count + 1, config.series_embedding) \
            if config.series_embedding else None
        self.static_embeddings = nn.ModuleList(nn.Embedding(levels, embedding_size(levels))
                                               for levels in config.static_levels)
        static_width = config.series_embedding + sum(embedding_size(levels) for levels in config.static_levels) \
            + config.static_numeric
        self.lstm = nn.LSTM(
            input_size=config.n_inputs + (1 if config.known_columns else 0) + static_width,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.outputs_per_step = len(config.quantiles) or 1
        self.head = nn.Linear(config.hidden_size, config.horizon * self.outputs_per_step)
        self.skip = nn.Linear(config.window, config.horizon) if config.autoregressive_skip else None
        levelled = torch.zeros(config.n_inputs)
        levelled[list(config.levelled_columns)] = 1.0
        self.register_buffer("levelled", levelled, persistent=False)  # 1 where a column's window mean is taken off
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, window, n_inputs) -> (batch, window, hidden_size)."""
        return self.lstm(inputs)[0]

    def forward(self, inputs: torch.Tensor, future: torch.Tensor | None = None,
                static: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, window, n_inputs) and, with known-future inputs, their planned values
        (batch, horizon, len(known_columns)) -> (batch, horizon) point forecasts, scaled like the
        target: a quantile model's median. `static`: each sample's series fields (`tuner.data.static`),
        for a model with a series embedding or static covariates."""
        outputs = self.outputs(inputs, future, static)
        return outputs[..., self.config.quantiles.index(0.5)] if self.config.quantiles else outputs

    def outputs(self, inputs: torch.Tensor, future: torch.Tensor | None = None,
                static: torch.Tensor | None = None) -> torch.Tensor:
        """As `forward`, but a quantile model gives every quantile: (batch, horizon, len(quantiles)).

        With `levelled_columns`, those features are first taken relative to their window's mean.
        With `scaling = "window"`, each window's target history is normalised by its own mean and
        standard deviation, and the forecast mapped back with the same two numbers (RevIN-style
        instance normalisation), so a level the training rows never reached stays in range; with
        `scaling = "level"`, only the window's mean is taken off and added back."""
        if self.config.levelled_columns:
            inputs, future = self.levelled_features(inputs, future)
        if self.config.scaling == "global":
            return self.predict(inputs, future, static)
        target = inputs[:, :, -1:]
        level = target.mean(dim=1)
        spread = torch.sqrt(target.var(dim=1, unbiased=False) + WINDOW_EPSILON) if self.config.scaling == "window" \
            else torch.ones_like(level)
        normalised = torch.cat([inputs[:, :, :-1], (target - level[:, None]) / spread[:, None]], dim=2)
        if self.config.quantiles:
            level, spread = level[:, :, None], spread[:, :, None]
        return self.predict(normalised, future, static) * spread + level

    def levelled_features(self, inputs: torch.Tensor,
                          future: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`data.feature_scaling = "level"`: each window's own mean taken off each feature column,
        and off that column's planned values for the forecast steps."""
        means = inputs.mean(dim=1, keepdim=True) * self.levelled
        if future is not None:
            future = future - means[:, :, list(self.config.known_columns)]
        return inputs - means, future

    def predict(self, inputs: torch.Tensor, future: torch.Tensor | None, static: torch.Tensor | None) -> torch.Tensor:
        """The head's forecast from the (normalised) window, plus the autoregressive skip's; quantiles in order."""
        sequence = self.sequence(inputs, future)
        described = self.describe(static)
        if described is not None:  # the series' fields beside every step's inputs
            sequence = torch.cat([sequence, described[:, None].expand(-1, sequence.shape[1], -1)], dim=2)
        forecast = self.head(self.encode(sequence)[:, -1])
        if self.config.quantiles:
            forecast = ordered(forecast.view(len(inputs), self.config.horizon, self.outputs_per_step),
                               self.config.quantiles.index(0.5))
        if self.skip is None:
            return forecast
        skip = self.skip(inputs[:, :, -1])
        return forecast + (skip[:, :, None] if self.config.quantiles else skip)

    def describe(self, static: torch.Tensor | None) -> torch.Tensor | None:
        """(batch, fields) series fields -> (batch, static width): the series embedding, each
        categorical column's embedding and the numeric columns; None for a model without them."""
        config = self.config
        if not (config.series_embedding or config.static_levels or config.static_numeric):
            return None
        if static is None:
            raise ValueError("this model takes each sample's series fields (series id, static covariates)")
        parts = [] if self.series_embedding is None else [self.series_embedding(static[:, 0].long())]
        parts += [embedding(static[:, 1 + i].long()) for i, embedding in enumerate(self.static_embeddings)]
        first_numeric = 1 + len(config.static_levels)
        parts.append(static[:, first_numeric : first_numeric + config.static_numeric])
        return torch.cat(parts, dim=1)

    def sequence(self, inputs: torch.Tensor, future: torch.Tensor | None) -> torch.Tensor:
        """The window, followed by the forecast steps when the model takes known-future inputs."""
        known = list(self.config.known_columns)
        if not known:
            return inputs
        if future is None:
            raise ValueError("this model takes the known-future inputs' planned values for the forecast steps")
        batch, window, columns = inputs.shape
        history = torch.cat([inputs, inputs.new_zeros(batch, window, 1)], dim=2)
        ahead = inputs.new_zeros(batch, self.config.horizon, columns + 1)
        ahead[:, :, known] = future
        ahead[:, :, -1] = 1.0
        return torch.cat([history, ahead], dim=1)


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


def embedding_size(levels: int) -> int:
    """An embedding's width for a column of `levels` categories (fast.ai's rule of thumb, at most 16)."""
    return min(16, round(1.6 * levels**0.56))


def ordered(raw: torch.Tensor, median: int) -> torch.Tensor:
    """(..., quantiles) raw outputs -> increasing quantiles: the median output as it is, and each
    further quantile a positive step (softplus) above or below its neighbour, so they never cross."""
    steps = nn.functional.softplus(raw)
    above = raw[..., median:median + 1] + torch.cumsum(steps[..., median + 1:], dim=-1)
    below = raw[..., median:median + 1] - torch.cumsum(steps[..., :median].flip(-1), dim=-1).flip(-1)
    return torch.cat([below, raw[..., median:median + 1], above], dim=-1)


MODEL_CLASSES: dict[str, type[LSTMForecaster]] = {
    "lstm": LSTMForecaster,
    "lstm_transformer": LSTMTransformerForecaster,
}


def model_config(params: dict[str, Any], data: DataConfig, quantiles: tuple[float, ...] = (),
                 series: SeriesShape = ONE_SERIES) -> ModelConfig:
    """The architecture that a trial's parameters describe, sized for `data` and its series;
    `quantiles` for a quantile model (`config.model_quantiles`)."""
    params = current_params(params)
    architecture = {key: params[key] for key in ARCHITECTURE_PARAMS if key in params}
    feature_scaling = params.get("feature_scaling") or data.feature_scaling
    return ModelConfig(kind=params["model"], n_inputs=len(data.columns), horizon=data.horizon,
                       known_columns=data.known_future_columns, scaling=params.get("scaling") or data.scaling,
                       levelled_columns=tuple(range(len(data.inputs))) if feature_scaling == "level" else (),
                       window=params.get("window") or data.window, quantiles=tuple(quantiles),
                       series_count=series.count if params.get("series_embedding") else 0,
                       static_levels=series.static_levels, static_numeric=series.static_numeric, **architecture)


def build_model(config: ModelConfig) -> LSTMForecaster:
    """The forecaster `config.kind` names."""
    return MODEL_CLASSES[config.kind](config)


def build_for_weights(config: ModelConfig) -> LSTMForecaster:
    """The forecaster built to take saved weights: its initial ones are drawn from a forked random
    generator, so that loading a model leaves the caller's random state as it was."""
    with torch.random.fork_rng(devices=[]):
        return build_model(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
