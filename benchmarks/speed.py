"""Figures 1 and 2: windowing and training throughput, each against its reference in the same run."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import Budget, Figure, demo_config, figure, interleaved
from torch import nn

from tuner.config.schema import DataConfig, ModelConfig, SplitConfig, TrainConfig
from tuner.data.dataset import Dataset, Windows
from tuner.networks.models import build_model
from tuner.networks.threads import configure_threads
from tuner.networks.training import fit

WINDOW = 28
FEATURES = ("f1", "f2", "f3", "f4", "f5")  # with the target: 6 columns
SPEEDUP_TARGET = 50  # x, at 100k rows
THROUGHPUT_TARGET = 1.05  # tuner / bare loop wall time
LR = 1e-3


def reference_windows(data: np.ndarray, seq_length: int) -> np.ndarray:
    """The reference notebook's windowing: a Python loop of slices, stacked into one array."""
    X = []
    for i in range(len(data) - seq_length):
        X.append(data[i : i + seq_length])
    return np.array(X)


def random_dataset(rows: int) -> Dataset:
    """A Dataset of `rows` daily rows × 6 random columns (windowing cost does not depend on values)."""
    rng = np.random.default_rng(rows)
    dates = pd.date_range("2000-01-01", periods=rows, freq="D")
    frame = pd.DataFrame(rng.random((rows, len(FEATURES) + 1)), index=dates, columns=[*FEATURES, "sales"])
    config = DataConfig(path=Path(f"random-{rows}.csv"), features=FEATURES, window=WINDOW)
    return Dataset(frame, config, SplitConfig())


def peak_bytes(make: Callable[[], object]) -> int:
    """Peak bytes allocated while `make` runs and its result is alive."""
    tracemalloc.start()
    try:
        result = make()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak


def windowing(budget: Budget) -> list[Figure]:
    """Figure 1: `Dataset.windows` vs the reference loop on the same scaled training rows."""
    figures = []
    per_row = WINDOW * (len(FEATURES) + 1) * 4  # bytes a float32 window copy costs per row
    for rows in budget.window_rows:
        datasets = [random_dataset(rows) for _ in range(budget.window_repeats + 1)]  # fresh cache per call
        train_rows = datasets[0].scaled[: datasets[0].bounds["train"][1]]
        fresh = iter(datasets)
        seconds = interleaved({
            "tuner": lambda: next(fresh).windows("train"),
            "reference": lambda: reference_windows(train_rows, WINDOW),
        }, budget.window_repeats)
        ratios = [ref / own for ref, own in zip(seconds["reference"], seconds["tuner"])]
        label = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
        at_target = rows == 100_000
        figures.append(figure(
            f"1. windowing speed-up, {label} rows × 6 columns", ratios, "×", "reference Python loop + np.array",
            target=f"≥ {SPEEDUP_TARGET}×" if at_target else None,
            check=(lambda r: r >= SPEEDUP_TARGET) if at_target else None,
            note=f"median {np.median(seconds['tuner']) * 1e3:.3f} ms vs {np.median(seconds['reference']) * 1e3:.1f} ms",
        ))
        unwindowed = random_dataset(rows)
        own = peak_bytes(lambda: unwindowed.windows("train"))
        reference = peak_bytes(lambda: reference_windows(train_rows, WINDOW))
        figures.append(figure(
            f"1. windowing peak memory, {label} rows", [own / rows], "bytes/row",
            f"reference loop: {reference / rows:.0f} bytes/row", target=f"O(rows): well below {per_row} bytes/row",
            check=lambda b: b < per_row / 4, note=f"{own / 2**20:.2f} MiB vs {reference / 2**20:.1f} MiB",
        ))
    return figures


def bare_fit(model: nn.Module, train: Windows, validation: Windows, epochs: int, batch_size: int,
             grad_clip: float, seed: int) -> None:
    """A bare PyTorch loop: shuffled mini-batches, Adam on MSE, gradient clipping, one
    validation forward pass per epoch (as early stopping needs)."""
    torch.manual_seed(seed)
    inputs, targets = torch.as_tensor(train.inputs), torch.as_tensor(train.targets)
    val_inputs = torch.as_tensor(validation.inputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(inputs)).split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[batch]), targets[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            model(val_inputs)


def throughput(budget: Budget) -> list[Figure]:
    """Figure 2: one trial's training through `tuner.networks.training.fit` vs the bare loop, same model,
    data, batch size, epochs and threads (1, for a steadier machine)."""
    config = demo_config()
    configure_threads(1)
    dataset = Dataset.from_config(config.data, config.split)
    train, validation = dataset.windows("train"), dataset.windows("validation")
    epochs = budget.train_epochs
    settings = TrainConfig(epochs=epochs, batch_size=config.train.batch_size, patience=epochs,
                           grad_clip=config.train.grad_clip, threads=1)
    figures = []
    for kind in ("lstm", "lstm_transformer"):
        for hidden in (64, 128):
            architecture = ModelConfig(kind, n_inputs=len(config.data.columns), horizon=1, hidden_size=hidden,
                                       num_heads=4, ff_size=2 * hidden)

            def new_model() -> nn.Module:
                torch.manual_seed(0)
                return build_model(architecture)

            seconds = interleaved({
                "tuner": lambda: fit(new_model(), train, validation, LR, settings, seed=0),
                "bare": lambda: bare_fit(new_model(), train, validation, epochs, settings.batch_size,
                                         settings.grad_clip, seed=0),
            }, budget.train_repeats)
            ratios = [own / bare for own, bare in zip(seconds["tuner"], seconds["bare"])]
            samples = len(train) * epochs
            speed = {name: samples / float(np.median(values)) for name, values in seconds.items()}
            figures.append(figure(
                f"2. training wall time, {kind} hidden {hidden}", ratios, "× bare loop",
                "bare PyTorch loop, same model/data/batch/epochs/1 thread", target=f"≤ {THROUGHPUT_TARGET}",
                check=lambda r: r <= THROUGHPUT_TARGET,
                note=f"{speed['tuner']:.0f} vs {speed['bare']:.0f} samples/s",
                details={"samples_per_second": speed},
            ))
    return figures
