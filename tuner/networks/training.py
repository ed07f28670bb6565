"""One training loop for tuning, final fitting and tests: mini-batch Adam on `train.loss` with early
stopping on the same loss over the validation windows.

Random state is scoped (`seeded`); the automatic thread count follows the idle cores every batch
(`threads.adapt`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tuner.config.schema import TrainConfig
from tuner.data.dataset import Windows
from tuner.errors import TrainingDiverged
from tuner.networks.device import autocast, resolve_device
from tuner.networks.threads import adapt
from tuner.stopping import raise_if_stop_requested

PREDICT_BATCH = 4096
LOSSES = {"mae": nn.L1Loss, "mse": nn.MSELoss, "huber": nn.HuberLoss}  # train.loss, on scaled targets


class PinballLoss(nn.Module):
    """The mean pinball (quantile) loss of (..., quantiles) forecasts against (...) targets."""

    def __init__(self, quantiles: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("quantiles", torch.tensor(quantiles, dtype=torch.float32))

    def forward(self, forecast: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = target[..., None] - forecast
        return torch.maximum(self.quantiles * error, (self.quantiles - 1) * error).mean()


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 0-based
    train_loss: float  # mean train.loss on scaled targets
    val_loss: float  # NaN when training without a validation part
    val_forecast: np.ndarray | None  # (samples, horizon), scaled; None without validation
    val_quantiles: np.ndarray | None = None  # quantile models: (samples, horizon, quantiles), scaled


@dataclass(frozen=True)
class FitResult:
    best_epoch: int  # 0-based epoch whose weights the model holds now
    epochs_run: int
    best_val_loss: float  # inf when training without a validation part
    val_forecast: np.ndarray | None  # the kept weights' validation forecast, scaled
    val_quantiles: np.ndarray | None = None  # quantile models: the kept weights' validation quantiles, scaled


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator (initial weights, dropout) inside the block, and restore the
    caller's generator state after it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def predict(model: nn.Module, inputs: np.ndarray | torch.Tensor, future: np.ndarray | None = None,
            quantiles: bool = False, fields: np.ndarray | None = None) -> np.ndarray:
    """Scaled forecasts for windows of one series (with their known-future values and the
    series' fields), in evaluation mode: (samples, horizon), or with `quantiles` a quantile
    model's (samples, horizon, quantiles)."""
    fields = None if fields is None else np.repeat(fields[None], min(len(inputs), PREDICT_BATCH), axis=0)
    chunks = ((inputs[i : i + PREDICT_BATCH], None if future is None else future[i : i + PREDICT_BATCH], fields)
              for i in range(0, len(inputs), PREDICT_BATCH))
    return _predict_chunks(model, chunks, quantiles)


def predict_windows(model: nn.Module, windows: Windows, quantiles: bool = False) -> np.ndarray:
    """Scaled forecasts for every sample of a split part, gathered a chunk at a time."""
    return _predict_chunks(model, windows.batches(PREDICT_BATCH), quantiles)


def _predict_chunks(model: nn.Module, chunks: Iterable[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]],
                    quantiles: bool) -> np.ndarray:
    device = next(model.parameters()).device
    forward = model.outputs if quantiles else model
    model.eval()
    with torch.inference_mode():
        parts = [forward(*(None if part is None else torch.as_tensor(part[: len(inputs)]).to(device)
                           for part in (inputs, future, fields))).cpu()
                 for inputs, future, fields in chunks]
    return torch.cat(parts).numpy()


class WindowTensors:
    """A split part's samples on the training device: its scaled rows copied there once, the
    windows cut from them as views, and gathered a batch at a time."""

    def __init__(self, windows: Windows, device: torch.device) -> None:
        scaled = torch.as_tensor(windows.scaled, device=device)
        self.inputs = scaled.unfold(0, windows.window, 1).transpose(1, 2)  # (rows - window + 1, window, columns)
        self.targets = scaled[:, -1].unfold(0, windows.horizon, 1)  # (rows - horizon + 1, horizon)
        known = None if windows.known is None else torch.as_tensor(windows.known, device=device)
        self.future = None if known is None else known.unfold(0, windows.horizon, 1).transpose(1, 2)
        self.rows = torch.as_tensor(windows.target_rows, device=device)
        self.series = torch.as_tensor(windows.series, device=device)
        self.fields = None if windows.fields is None else torch.as_tensor(windows.fields, device=device)
        self.window = windows.window

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, samples: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Inputs, targets, known-future values and series fields of the samples at positions `samples`."""
        rows = self.rows[samples]
        return (self.inputs[rows - self.window], self.targets[rows], None if self.future is None else self.future[rows],
                None if self.fields is None else self.fields[self.series[samples]])


def epoch_samples(count: int, per_epoch: int, minimum: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's sample positions: every sample once in a random order; or (`per_epoch` below
    `count`) `per_epoch` drawn uniformly over series and time, so an epoch's cost stays bounded; or
    (`minimum` above `count`) as many whole passes, each in its own random order, as it takes to
    reach `minimum`, so a short series gets as many optimiser steps per epoch (and per epoch of
    patience) as a longer one."""
    if 0 < per_epoch < count:
        return torch.randint(count, (per_epoch,), generator=generator)
    passes = math.ceil(minimum / count) if 0 < count < minimum else 1
    return torch.cat([torch.randperm(count, generator=generator) for _ in range(passes)])


def fit(
    model: nn.Module,
    train: Windows,
    validation: Windows | None,
    lr: float,
    config: TrainConfig,
    seed: int,
    epochs: int | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> FitResult:
    """Train `model` in place and leave it holding its best epoch's weights.

    With a validation part, training stops after `config.patience` epochs without a lower
    validation loss and the best epoch's weights are restored; without one, it runs
    `epochs` (default `config.epochs`) and keeps the last weights. `on_epoch` is called after
    every epoch and may raise to stop training (the objective raises `TrialPruned`).
    """
    with seeded(seed):
        return _fit(model, train, validation, lr, config, seed, epochs or config.epochs, on_epoch)


def _fit(model: nn.Module, train: Windows, validation: Windows | None, lr: float, config: TrainConfig, seed: int,
         epochs: int, on_epoch: Callable[[EpochResult], None] | None) -> FitResult:
    device = resolve_device(config.device, config.precision)
    model.to(device)
    samples = WindowTensors(train, device)  # copied once per fit
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    quantile = config.loss == "quantile"
    if quantile:
        loss_fn: nn.Module = PinballLoss(config.quantiles).to(device)
    else:  # a study config resolves loss "auto" by its metric
        loss_fn = LOSSES["mae" if config.loss == "auto" else config.loss]()
    forward = model.outputs if quantile else model  # a quantile model's loss takes every quantile
    median = config.quantiles.index(0.5) if quantile else 0
    order = torch.Generator().manual_seed(seed)

    best_epoch, best_loss, best_forecast, best_quantiles = -1, math.inf, None, None
    best_state: dict[str, torch.Tensor] | None = None
    for epoch in range(epochs):
        model.train()
        total = torch.zeros((), device=device)
        order_of_samples = epoch_samples(len(train), config.samples_per_epoch, config.min_samples_per_epoch, order)
        for batch in order_of_samples.split(config.batch_size):
            raise_if_stop_requested()  # a tuning run's Ctrl-C or SIGTERM ends the trial here
            adapt()
            inputs, targets, future, fields = samples.batch(batch.to(device))
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, config.precision):
                output = forward(inputs, future, fields)
            loss = loss_fn(output.float(), targets)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            total += loss.detach() * len(batch)
        train_loss = float(total) / len(order_of_samples)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch}")

        val_quantiles = None
        if validation is None:
            best_epoch, val_loss, val_forecast = epoch, math.nan, None
        else:
            val_outputs = predict_windows(model, validation, quantiles=quantile)
            val_loss = float(loss_fn(torch.as_tensor(val_outputs, device=device),
                                     torch.as_tensor(validation.targets, device=device)))
            val_forecast, val_quantiles = (val_outputs[..., median], val_outputs) if quantile else (val_outputs, None)
            if not math.isfinite(val_loss):
                raise TrainingDiverged(f"validation loss became {val_loss} in epoch {epoch}")
            if val_loss < best_loss:
                best_epoch, best_loss, best_forecast, best_quantiles = epoch, val_loss, val_forecast, val_quantiles
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(EpochResult(epoch, train_loss, val_loss, val_forecast, val_quantiles))
        if epoch - best_epoch >= config.patience:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(best_epoch, epoch + 1, best_loss, best_forecast, best_quantiles)
