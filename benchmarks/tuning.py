"""Figures 3, 4 and 5: bookkeeping overhead per storage, pruning, and worker processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import optuna
from common import DEMO_CONFIG, Budget, Figure, demo_config, figure, finished_trials, skipped

import tuner.tuning.evaluation
from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.networks.threads import child_environment
from tuner.tuning.objective import Objective
from tuner.tuning.runner import tune
from tuner.tuning.space import suggest_params
from tuner.tuning.storage import open_storage
from tuner.tuning.study import open_study

OVERHEAD_TARGETS = {"sqlite": 2.0, "postgresql": 5.0}  # % of wall time outside training
EPOCH_SAVING_TARGET = 40.0  # % fewer epochs with the pruner
MAE_TOLERANCE = 1.02  # best MAE with pruning / without
WORKER_TARGET = 1.7  # trials/minute with 2 workers / with 1
LAYOUTS = ((1, 1), (1, 2), (2, 1), (4, 1), (8, 1))  # torch threads per worker × workers (figure 5, full run)
BARE_LOOP = Path(__file__).with_name("bare_loop.py")


@contextmanager
def training_clock() -> Iterator[list[float]]:
    """Add up the seconds the objective spends inside `tuner.networks.training.fit`, less its per-epoch
    callbacks (metrics, `trial.report`, pruning checks: bookkeeping, not training)."""
    total = [0.0]
    original = tuner.tuning.evaluation.fit

    def timed_fit(*args, on_epoch, **kwargs):
        in_callbacks = 0.0

        def timed_callback(epoch) -> None:
            nonlocal in_callbacks
            started = time.perf_counter()
            try:
                on_epoch(epoch)
            finally:
                in_callbacks += time.perf_counter() - started

        started = time.perf_counter()
        try:
            return original(*args, on_epoch=timed_callback, **kwargs)
        finally:
            total[0] += time.perf_counter() - started - in_callbacks

    tuner.tuning.evaluation.fit = timed_fit
    try:
        yield total
    finally:
        tuner.tuning.evaluation.fit = original


def fixed_trials_overrides(trials: int, epochs: int, threads: int) -> list[str]:
    """`--set` overrides for the demo study with a seeded random sampler, no pruning and exactly
    `epochs` per trial."""
    return ["study.sampler=random", "study.pruner=none", f"study.n_trials={trials}", f"train.epochs={epochs}",
            f"train.patience={epochs}", f"train.threads={threads}"]


def overhead_share(config: Config, dataset: Dataset, storage: optuna.storages.BaseStorage, artifacts: Path) -> float:
    """Percent of a study's wall time spent outside training, opening the study and storing each
    trial's weights (as `tuner tune` does) included."""
    store = optuna.artifacts.FileSystemArtifactStore(artifacts)
    with training_clock() as training:
        started = time.perf_counter()
        study = open_study(config, storage)
        study.optimize(Objective(config, [dataset], artifacts=store), n_trials=config.study.n_trials)
        wall = time.perf_counter() - started
    return 100 * (1 - training[0] / wall)


def overhead(budget: Budget, workdir: Path, postgres: str | None) -> list[Figure]:
    """Figure 3: the same fixed trials on in-memory, SQLite and PostgreSQL storage, interleaved."""
    config = demo_config(*fixed_trials_overrides(budget.overhead_trials, budget.overhead_epochs, threads=1))
    dataset = Dataset.from_config(config.data, config.split)
    storages = {
        "in-memory": lambda: optuna.storages.InMemoryStorage(),
        "sqlite": lambda: open_storage(f"sqlite:///{workdir / f'overhead-{uuid.uuid4().hex[:8]}.db'}", config.study),
    }
    if postgres:
        storages["postgresql"] = lambda: open_storage(postgres, config.study)
    shares: dict[str, list[float]] = {name: [] for name in storages}
    names = list(storages)
    for repeat in range(budget.overhead_repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            named = replace(config, study=replace(config.study, name=f"overhead-{uuid.uuid4().hex[:8]}"))
            artifacts = workdir / "overhead-artifacts"
            artifacts.mkdir(exist_ok=True)
            shares[name].append(overhead_share(named, dataset, storages[name](), artifacts))
    figures = []
    for name, values in shares.items():
        target = OVERHEAD_TARGETS.get(name)
        figures.append(figure(
            f"3. bookkeeping share of wall time, {name}", values, "%", "training time inside the same run",
            target=f"≤ {target:g} %" if target else None, check=(lambda v, t=target: v <= t) if target else None,
            note=f"{budget.overhead_trials} trials × {budget.overhead_epochs} epochs, random sampler, no pruner",
        ))
    if not postgres:
        figures.append(skipped("3. bookkeeping share of wall time, postgresql", "%",
                               "training time inside the same run", "no PostgreSQL server answered at 127.0.0.1:5432",
                               target="≤ 5 %"))
    return figures


def pruning_study(config: Config, url: str, pruner: str) -> optuna.Study:
    """Run the demo study with `pruner` (same seed, sampler and budget) and return it."""
    study_config = replace(config.study, name=f"pruning-{pruner}", pruner=pruner)
    return tune(replace(config, study=study_config), url, progress=False).study


def pruning(budget: Budget, workdir: Path) -> tuple[list[Figure], Config, str]:
    """Figure 4: the configured (median) pruner vs none, same budget and seeds.

    Returns the figures, the config and the storage URL; the pruned study is reused by figures 6 and 7.
    """
    config = demo_config(f"study.n_trials={budget.pruning_trials}", f"train.epochs={budget.pruning_epochs}",
                         f"train.threads={budget.threads}")
    url = f"sqlite:///{workdir / 'pruning.db'}"
    studies = {pruner: pruning_study(config, url, pruner) for pruner in (config.study.pruner, "none")}
    epochs = {name: sum(t.user_attrs.get("epochs_run", 0) for t in finished_trials(study))
              for name, study in studies.items()}
    best = {name: study.best_value for name, study in studies.items()}
    pruned = studies[config.study.pruner]
    saved = 100 * (1 - epochs[config.study.pruner] / epochs["none"])
    ratio = best[config.study.pruner] / best["none"]
    n_pruned = len(pruned.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))
    return [
        figure(f"4. epochs saved by the {config.study.pruner} pruner", [saved], "%", "no pruner, same trials budget and seed",
               target=f"≥ {EPOCH_SAVING_TARGET:g} %", check=lambda v: v >= EPOCH_SAVING_TARGET,
               note=f"{epochs[config.study.pruner]} vs {epochs['none']} epochs; {n_pruned} of "
                    f"{budget.pruning_trials} trials pruned", details={"epochs": epochs}),
        figure(f"4. best validation MAE with the {config.study.pruner} pruner", [ratio], "× no pruner",
               "best validation MAE without pruning", target=f"≤ {MAE_TOLERANCE}", check=lambda v: v <= MAE_TOLERANCE,
               note=f"{best[config.study.pruner]:.2f} vs {best['none']:.2f}", details={"best_val_mae": best}),
    ], config, url


def fixed_params(config: Config, trials: int) -> list[dict]:
    """`trials` parameter sets drawn once by a seeded random sampler, so every run trains the same ones."""
    draft = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.study.seed))
    return [suggest_params(draft.ask(), config.search) for _ in range(trials)]


def trials_per_minute(url: str, workers: int, overrides: list[str], params: list[dict]) -> tuple[float, float]:
    """Trials per minute of one `tuner tune --workers N` command over the enqueued `params`:
    interpreter start-up included (every user pays it, whatever N is), and once started (from
    the first trial's start to the last one's end: what a long run converges to)."""
    name = f"workers-{workers}-{uuid.uuid4().hex[:8]}"
    config = demo_config(*overrides, f"study.name={name}")
    study = open_study(config, open_storage(url))
    for trial_params in params:
        study.enqueue_trial(trial_params)
    command = [sys.executable, "-m", "tuner.cli.parser", "tune", str(DEMO_CONFIG), "--workers", str(workers),
               "--storage", url, "--study", name, "--no-progress", *(f"--set={o}" for o in overrides)]
    started = time.perf_counter()
    with child_environment():  # the threads of a user's `tuner tune`, not run.py's own
        subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    trials = optuna.load_study(study_name=name, storage=url).trials
    running = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return 60 * len(params) / wall, 60 * len(params) / running.total_seconds()


def bare_loops(count: int, threads: int, seconds: float) -> float:
    """Training steps per second of `count` bare loops (`bare_loop.py`) run side by side as
    processes of `threads` torch threads each, added up."""
    command = [sys.executable, str(BARE_LOOP), str(seconds), str(threads)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return sum(float(process.communicate()[0]) for process in processes)


def machine_ceiling(seconds: float) -> float:
    """What a second process adds on this machine: two bare loops of 1 thread side by side
    against one alone. About the most two workers can gain over one, as one worker trains these
    small networks hardly faster on all cores than on one (figure 5's "1 thread × 1 worker")."""
    return bare_loops(2, 1, seconds) / bare_loops(1, 1, seconds)


def workers(budget: Budget, workdir: Path, postgres: str | None) -> list[Figure]:
    """Figure 5: `tuner tune --workers 1` vs `--workers 2` on the same enqueued trials, and (full
    run) every layout of torch threads per worker × workers, all interleaved; beside them, in the
    same rotation, the machine's own ceiling for two processes (`machine_ceiling`)."""
    def overrides(threads: int) -> list[str]:
        return [f"study.artifacts='{workdir / 'workers-artifacts'}'",  # not beside the demo config
                *fixed_trials_overrides(budget.worker_trials, budget.worker_epochs, threads)]

    url = postgres or f"sqlite:///{workdir / 'workers.db'}"
    params = fixed_params(demo_config(*overrides(0)), budget.worker_trials)
    cores = os.cpu_count() or 1
    layouts = [(0, 1), (0, 2)] + ([] if budget.quick else list(LAYOUTS))  # 0: the default, automatic threads
    speed: dict[tuple[int, int], list[float]] = {layout: [] for layout in layouts}
    steady: dict[tuple[int, int], list[float]] = {layout: [] for layout in layouts}
    ceiling: list[float] = []
    rotation = [*layouts, None]  # None: the machine's ceiling
    for repeat in range(budget.worker_repeats):
        shift = repeat % len(rotation)
        for layout in rotation[shift:] + rotation[:shift]:
            if layout is None:
                ceiling.append(machine_ceiling(1.0 if budget.quick else 10.0))
                continue
            whole, running = trials_per_minute(url, layout[1], overrides(layout[0]), params)
            speed[layout].append(whole)
            steady[layout].append(running)
    backend = "PostgreSQL" if postgres else "SQLite (PostgreSQL did not answer)"
    trials = f"{budget.worker_trials} trials × {budget.worker_epochs} epochs"
    found = [figure(
        "5. trials/minute, 2 workers vs 1", [two / one for one, two in zip(speed[0, 1], speed[0, 2])], "×",
        f"`tuner tune --workers 1`, same trials, {backend}", target=f"≥ {WORKER_TARGET}",
        check=lambda v: v >= WORKER_TARGET,
        note=f"median {statistics.median(speed[0, 2]):.1f} vs {statistics.median(speed[0, 1]):.1f} trials/min; "
             f"{trials}; the default threads (train.threads = 0); start-up included",
    ), figure(
        "5. trials/minute once started, 2 workers vs 1", [two / one for one, two in zip(steady[0, 1], steady[0, 2])],
        "×", f"`tuner tune --workers 1`, same trials, {backend}",
        note=f"median {statistics.median(steady[0, 2]):.1f} vs {statistics.median(steady[0, 1]):.1f} trials/min "
             f"from the first trial's start to the last one's end; {trials}; the machine allows "
             f"{statistics.median(ceiling):.2f}× (the next figure)",
    ), figure(
        "5. machine ceiling: 2 bare loops vs 1", ceiling, "×",
        "one bare PyTorch loop of 1 thread alone",
        note="training steps/s of two bare loops of 1 thread each, run side by side as processes "
             "(benchmarks/bare_loop.py): what a second worker can add on this machine at most, before "
             "start-up, storage and uneven trial lengths",
    )]
    for threads, count in layouts[2:]:
        found.append(figure(
            f"5. trials/minute, {threads} thread(s) × {count} worker(s)",
            [layout / default for layout, default in zip(speed[threads, count], speed[0, 1])], "×",
            f"the default layout (automatic threads × 1 worker), same trials, {backend}",
            note=f"median {statistics.median(speed[threads, count]):.1f} vs {statistics.median(speed[0, 1]):.1f} "
                 f"trials/min on {cores} cores (once started: {statistics.median(steady[threads, count]):.1f} vs "
                 f"{statistics.median(steady[0, 1]):.1f})",
            details={"trials_per_minute": speed[threads, count], "once_started": steady[threads, count]}))
    return found
