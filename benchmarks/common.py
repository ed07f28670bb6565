"""What every figure shares: the result record, interleaved timing, budgets and study helpers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from tuner.config.loading import load_config
from tuner.config.schema import Config

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "studies" / "ecommerce_daily.toml"
POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
POSTGRES_DATABASE = "tuner_bench"


@dataclass
class Figure:
    """One line of the results table; `value` is the median of `samples` when there are several."""

    name: str
    value: float | None
    unit: str
    compared_with: str
    repeats: int
    min: float | None
    median: float | None
    max: float | None
    target: str | None = None
    met: bool | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def figure(name: str, samples: Sequence[float], unit: str, compared_with: str, target: str | None = None,
           check: Callable[[float], bool] | None = None, note: str = "", details: dict | None = None) -> Figure:
    """A figure whose value is the median of `samples`; `check` decides whether `target` is met."""
    median = statistics.median(samples)
    return Figure(name, median, unit, compared_with, len(samples), min(samples), median, max(samples),
                  target, bool(check(median)) if check else None, note, details or {})


def skipped(name: str, unit: str, compared_with: str, reason: str, target: str | None = None) -> Figure:
    """A figure that could not be measured here, with the reason."""
    return Figure(name, None, unit, compared_with, 0, None, None, None, target, None, f"skipped: {reason}")


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each run, `repeats` times, in a rotating order so that machine noise
    hits every run alike; one untimed round first warms caches and allocators."""
    names = list(runs)
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - started)
    return seconds


@dataclass(frozen=True)
class Budget:
    """How much each figure runs; `--quick` takes the small one."""

    quick: bool
    window_rows: tuple[int, ...]  # figure 1
    window_repeats: int
    train_epochs: int  # figure 2
    train_repeats: int
    overhead_trials: int  # figure 3
    overhead_epochs: int
    overhead_repeats: int
    pruning_trials: int  # figure 4 (and 6, 7: the same study)
    pruning_epochs: int
    worker_trials: int  # figure 5
    worker_epochs: int
    worker_repeats: int
    peer_trials: int  # figure 6
    real_trials: int  # figure 8, per model
    frequency_trials: int  # figure 9, per frequency
    frequency_days: int
    frequency_epochs: int
    walk_forward_candidates: int  # figure 10, per repeat
    walk_forward_repeats: int
    walk_forward_epochs: int
    response_weeks: int  # figure 11
    response_epochs: int
    recipe_series: tuple[str, ...]  # figure 12: real series (benchmarks/realdata.py), each × every recipe × seed
    recipe_seeds: int  # study.seed = 0 .. recipe_seeds - 1
    recipe_trials: int  # per (series, recipe, seed) study
    recipe_epochs: int
    recipe_patience: int
    interval_cases: tuple[str, ...]  # figure 13: demo studies and real series (benchmarks/intervals.py)
    interval_trials: int
    interval_epochs: int
    gpu_epochs: int  # figure 14 (GPU machines only): epochs per speed measurement
    busy_epochs: int  # figure 20: epochs of the timed trial
    busy_repeats: int
    service_jobs: int  # figure 21
    service_trials: int  # per job
    service_epochs: int
    service_repeats: int
    service_claims: int  # figure 22: claims timed per repeat
    threads: int  # threads per benchmark process (1, the default of train.threads)
    refit_seeds: int | None  # networks each `Forecaster.fit` trains (`--seeds`); None: the config's, as `tuner fit`


FULL = Budget(quick=False, window_rows=(10_000, 100_000, 1_000_000), window_repeats=5, train_epochs=3,
              train_repeats=5, overhead_trials=4, overhead_epochs=10, overhead_repeats=3, pruning_trials=20,
              pruning_epochs=40, worker_trials=8, worker_epochs=15, worker_repeats=2, peer_trials=4,
              real_trials=15, frequency_trials=8, frequency_days=3653, frequency_epochs=20,
              walk_forward_candidates=10, walk_forward_repeats=20, walk_forward_epochs=100,
              response_weeks=8, response_epochs=36, recipe_series=("chicago", "txhousing", "avocado", "wineind"),
              recipe_seeds=5, recipe_trials=8, recipe_epochs=40, recipe_patience=6,
              interval_cases=("demo daily", "demo weekly plan", "chicago", "txhousing", "avocado", "wineind"),
              interval_trials=8, interval_epochs=40, gpu_epochs=3, busy_epochs=10, busy_repeats=3,
              service_jobs=4, service_trials=4, service_epochs=5, service_repeats=3, service_claims=200, threads=1,
              refit_seeds=None)
QUICK = Budget(quick=True, window_rows=(10_000, 100_000), window_repeats=3, train_epochs=1, train_repeats=2,
               overhead_trials=2, overhead_epochs=2, overhead_repeats=2, pruning_trials=3, pruning_epochs=3,
               worker_trials=2, worker_epochs=1, worker_repeats=1, peer_trials=1, real_trials=1,
               frequency_trials=1, frequency_days=2650, frequency_epochs=1, walk_forward_candidates=2,
               walk_forward_repeats=1, walk_forward_epochs=2, response_weeks=1, response_epochs=1,
               recipe_series=("txhousing",), recipe_seeds=1, recipe_trials=2, recipe_epochs=2, recipe_patience=2,
               interval_cases=("wineind",), interval_trials=2, interval_epochs=2, gpu_epochs=1, busy_epochs=1,
               busy_repeats=1, service_jobs=1, service_trials=1, service_epochs=1, service_repeats=1, service_claims=10,
               threads=1,
               refit_seeds=1)


def demo_config(*overrides: str) -> Config:
    """The demo study's config with `section.key=value` overrides."""
    return load_config(DEMO_CONFIG, list(overrides))


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def postgres_url() -> str | None:
    """A URL to this benchmark's own PostgreSQL database (created if needed), or None when no
    server answers."""
    try:
        engine = sqlalchemy.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT",
                                          connect_args={"connect_timeout": 3})
        query = sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name")
        with engine.connect() as connection:
            if not connection.execute(query, {"name": POSTGRES_DATABASE}).first():
                try:
                    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{POSTGRES_DATABASE}"'))
                except sqlalchemy.exc.DBAPIError:  # fine if another benchmark run created it at the same moment
                    if not connection.execute(query, {"name": POSTGRES_DATABASE}).first():
                        raise
        engine.dispose()
    except (ImportError, sqlalchemy.exc.SQLAlchemyError):
        return None
    return f"{POSTGRES_SERVER}/{POSTGRES_DATABASE}"
