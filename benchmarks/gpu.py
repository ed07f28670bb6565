"""Figure 14: training on a GPU. Runs where CUDA is present; elsewhere every line is recorded as
skipped with the reason. One short script on a GPU machine: `python benchmarks/run.py --only 14`.

* samples/s on the GPU against the CPU (all cores), both models at hidden 64 and 128;
* trials per minute of `tuner tune --workers 1, 2, 4` sharing one GPU;
* device memory after trial 50 against after trial 1 (no creep);
* bf16 autocast against fp32: samples/s and validation MAE of the same configuration.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import optuna
import torch
from common import Budget, Figure, demo_config, figure, skipped
from tuning import fixed_params, fixed_trials_overrides, trials_per_minute

from tuner.data.dataset import Dataset
from tuner.evaluation.metrics import forecast_errors
from tuner.networks.models import build_model, model_config
from tuner.networks.threads import configure_threads
from tuner.networks.training import fit
from tuner.tuning.objective import Objective
from tuner.tuning.study import open_study

MEMORY_TRIALS = 50
WORKER_COUNTS = (1, 2, 4)


def available() -> str | None:
    """None where a CUDA device is present, else the reason the figure is skipped."""
    if not torch.cuda.is_available():
        return "no CUDA device on this machine (torch.cuda.is_available() is False)"
    return None


def samples_per_second(config, dataset: Dataset, params: dict, device: str, precision: str = "32",
                       epochs: int = 2) -> tuple[float, float]:
    """Training speed and the validation MAE reached, for one configuration on one device."""
    train_config = replace(config.train, device=device, precision=precision, epochs=epochs, patience=epochs)
    torch.manual_seed(0)
    model = build_model(model_config(params, config.data))
    started = time.perf_counter()
    result = fit(model, dataset.windows("train"), dataset.windows("validation"), params["lr"], train_config, seed=0)
    seconds = time.perf_counter() - started
    actual = dataset.actuals("validation")
    return len(dataset.windows("train")) * epochs / seconds, forecast_errors(actual, dataset.to_units(
        result.val_forecast, "validation"))["mae"]


def device_figures(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 14, or its lines as skipped."""
    names = ["14. GPU vs CPU samples/s", "14. trials/minute on one GPU", "14. device memory after trial 50",
             "14. bf16 vs fp32"]
    reason = available()
    if reason:
        return [skipped(name, "", "", reason) for name in names]
    config = demo_config(f"train.threads={os.cpu_count()}")
    dataset = Dataset.from_config(config.data, config.split)
    figures = []
    for kind in ("lstm", "lstm_transformer"):
        for hidden in (64, 128):
            params = {"model": kind, "hidden_size": hidden, "num_layers": 2, "dropout": 0.1, "lr": 1e-3,
                      "num_heads": 4, "ff_size": 2 * hidden}
            configure_threads(os.cpu_count() or 1)  # the GPU against the whole CPU
            cpu, _ = samples_per_second(config, dataset, params, "cpu", epochs=budget.gpu_epochs)
            gpu, mae32 = samples_per_second(config, dataset, params, "cuda", epochs=budget.gpu_epochs)
            bf16, mae16 = samples_per_second(config, dataset, params, "cuda", "bf16", epochs=budget.gpu_epochs)
            figures.append(figure(f"14. GPU vs CPU samples/s, {kind} hidden {hidden}", [gpu / cpu], "×",
                                  f"the CPU ({os.cpu_count()} threads), same model, data and batch",
                                  note=f"{gpu:.0f} vs {cpu:.0f} samples/s"))
            figures.append(figure(f"14. bf16 vs fp32 samples/s, {kind} hidden {hidden}", [bf16 / gpu], "×",
                                  "fp32 on the same GPU", note=f"validation MAE {mae16:.1f} (bf16) vs {mae32:.1f} "
                                  f"(fp32) after {budget.gpu_epochs} epochs"))
    overrides = [*fixed_trials_overrides(budget.worker_trials, budget.worker_epochs, threads=0), "train.device=cuda"]
    params = fixed_params(demo_config(*overrides), budget.worker_trials)
    url = f"sqlite:///{workdir / 'gpu-workers.db'}"
    speed = {count: trials_per_minute(url, count, overrides, params) for count in WORKER_COUNTS}
    for count in WORKER_COUNTS[1:]:
        figures.append(figure(f"14. trials/minute, {count} workers vs 1 on one GPU", [speed[count] / speed[1]], "×",
                              "`tuner tune --workers 1` on the same GPU and trials",
                              note=f"{speed[count]:.1f} vs {speed[1]:.1f} trials/min"))
    figures.append(memory_creep(budget, workdir))
    return figures


def memory_creep(budget: Budget, workdir: Path) -> Figure:
    """Device memory held after trial 50 against after trial 1, trials run back to back in one process."""
    config = demo_config(*fixed_trials_overrides(MEMORY_TRIALS, 1, threads=0), "train.device=cuda")
    dataset = Dataset.from_config(config.data, config.split)
    study = open_study(config, optuna.storages.InMemoryStorage())
    held = []
    objective = Objective(config, [dataset])

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        held.append(torch.cuda.memory_allocated())

    study.optimize(objective, n_trials=MEMORY_TRIALS, callbacks=[record])
    return figure("14. device memory after trial 50", [held[-1] / max(held[0], 1)], "× after trial 1",
                  "memory allocated after trial 1", target="≤ 1.05", check=lambda v: v <= 1.05,
                  note=f"{held[-1] / 2**20:.1f} vs {held[0] / 2**20:.1f} MiB; max {max(held) / 2**20:.1f} MiB; "
                       f"median {statistics.median(held) / 2**20:.1f} MiB over {MEMORY_TRIALS} trials")
