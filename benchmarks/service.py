"""Figures 21 and 22: the tuning service (`tuner submit` + standing `tuner worker` processes).

21. Throughput: the same small jobs run by 2 standing workers (submitted first; the submits' time
    is in the note), against `tuner tune` run once per job in sequence, each a fresh process that imports torch and loads the data again: what a
    standing worker saves. Both sides run in the same repeat, alternating which goes first.
22. The queue's own overhead per trial: the mean time of one claim (`jobs.claim`, the conditional
    UPDATE, and on PostgreSQL its `SKIP LOCKED` pick), measured over many claims on SQLite and on
    PostgreSQL, as a share of the mean trial time of figure 21's workers. Polling an empty queue
    costs nothing per trial; the sweep for stale trials runs once per heartbeat interval.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
from common import DEMO_CONFIG, Budget, Figure, figure, skipped

from tuner.config.loading import load_config
from tuner.data.demo import generate
from tuner.networks.threads import child_environment
from tuner.tuning import jobs
from tuner.tuning.storage import open_storage

WORKERS = 2
IDLE_EXIT = 1.0  # seconds a worker waits on an empty queue before it exits: taken off its wall time
OVERHEAD_TARGETS = {"SQLite": 0.02, "PostgreSQL": 0.05}


def tuner(*args: str, cwd: Path) -> subprocess.Popen:
    with child_environment():  # the threads of a user's `tuner` command, not run.py's own
        return subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", *args], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(stderr[-2000:])


def write_config(folder: Path, budget: Budget) -> Path:
    """The demo study on a shorter history: small jobs, where start-up weighs most."""
    folder.mkdir(parents=True, exist_ok=True)
    generate(days=500).to_csv(folder / "sales.csv", index=False)
    path = folder / "study.toml"
    path.write_text(DEMO_CONFIG.read_text(encoding="utf-8").replace('path = "ecommerce_daily.csv"', 'path = "sales.csv"'),
                    encoding="utf-8")
    load_config(path, settings(budget)[3::2])  # a wrong key fails here, not in a subprocess
    return path


def sequential(config: Path, folder: Path, budget: Budget, tag: str) -> float:
    """Seconds for `tuner tune` once per job, one after another."""
    started = time.perf_counter()
    for index in range(budget.service_jobs):
        finished(tuner("tune", str(config), "--storage", f"sqlite:///{folder / f'tune-{tag}.db'}", "--study",
                       f"job{index}", "--no-progress", *settings(budget), cwd=folder))
    return time.perf_counter() - started


def standing(config: Path, folder: Path, budget: Budget, tag: str) -> tuple[float, float, list[float]]:
    """Seconds to submit the same jobs, seconds for 2 standing workers to run them, and the trials' durations."""
    url = f"sqlite:///{folder / f'queue-{tag}.db'}"
    started = time.perf_counter()
    for index in range(budget.service_jobs):  # each submit checks the data and scores the baselines
        finished(tuner("submit", str(config), "--storage", url, "--study", f"job{index}", *settings(budget), cwd=folder))
    submitted = time.perf_counter() - started
    started = time.perf_counter()
    workers = [tuner("worker", "--storage", url, "--exit-when-idle", str(IDLE_EXIT), "--cache", str(folder / "cache"),
                     cwd=folder) for _ in range(WORKERS)]
    for worker in workers:
        finished(worker)
    seconds = time.perf_counter() - started - IDLE_EXIT
    storage = open_storage(url)
    durations = [trial.duration.total_seconds() for index in range(budget.service_jobs)
                 for trial in optuna.load_study(study_name=f"job{index}", storage=storage).trials if trial.duration]
    return submitted, seconds, durations


def settings(budget: Budget) -> list[str]:
    return ["--n-trials", str(budget.service_trials), "--set", f"train.epochs={budget.service_epochs}",
            "--set", "train.threads=1", "--set", "study.pruner='none'"]


def claim_seconds(url: str, claims: int) -> float:
    """The mean wall time of one claim on a job with room for all of them."""
    engine = open_storage(url).engine
    jobs.create_table(engine)
    name = f"claims-{uuid.uuid4().hex[:8]}"
    jobs.submit(engine, name, {"study": {"name": name}}, claims, 0, None)
    jobs.claim(engine)  # warm the connection pool
    started = time.perf_counter()
    for _ in range(claims - 1):
        jobs.claim(engine)
    seconds = (time.perf_counter() - started) / (claims - 1)
    jobs.cancel(engine, name)
    return seconds


def service(budget: Budget, workdir: Path, postgres: str | None) -> list[Figure]:
    folder = workdir / "service"
    config = write_config(folder, budget)
    ratios, with_submits, trial_times, details = [], [], [], []
    for repeat in range(budget.service_repeats):
        tag = f"{repeat}"
        if repeat % 2:
            submit_seconds, workers_seconds, durations = standing(config, folder, budget, tag)
            tune_seconds = sequential(config, folder, budget, tag)
        else:
            tune_seconds = sequential(config, folder, budget, tag)
            submit_seconds, workers_seconds, durations = standing(config, folder, budget, tag)
        ratios.append(tune_seconds / workers_seconds)
        with_submits.append(tune_seconds / (submit_seconds + workers_seconds))
        trial_times += durations
        details.append({"tune_per_job_seconds": round(tune_seconds, 2), "submits_seconds": round(submit_seconds, 2),
                        "workers_seconds": round(workers_seconds, 2)})
    trials = (f"{budget.service_jobs} jobs × {budget.service_trials} trials × {budget.service_epochs} epochs (500 days "
              "of demo data)")
    found = [figure(
        f"21. throughput, {WORKERS} standing workers vs `tuner tune` per job", ratios, "×",
        "`tuner tune` once per job, in sequence (a fresh process each), SQLite",
        note=f"{trials}; {WORKERS} workers on the {WORKERS} cores (one thread each, as they settle) against one "
             f"process at a time (on the idle cores), so most of it is the start-up (torch import, data) a standing "
             f"worker pays once; with the submits (one process each, which check the data and score the baselines, "
             f"wherever they run) counted too: {statistics.median(with_submits):.2f}×; repeats: {json.dumps(details)}",
    )]
    trial = statistics.median(trial_times)
    backends = {"SQLite": f"sqlite:///{folder / 'claims.db'}", **({"PostgreSQL": postgres} if postgres else {})}
    for backend, url in backends.items():
        seconds = [claim_seconds(url, budget.service_claims) for _ in range(3)]
        limit = OVERHEAD_TARGETS[backend]
        found.append(figure(
            f"22. queue overhead per trial, {backend}", [100 * s / trial for s in seconds], "% of a trial",
            f"the median trial of figure 21 ({trial:.2f} s)", target=f"≤ {100 * limit:g} %",
            check=lambda value, limit=limit: value <= 100 * limit,
            note=f"one claim: {1000 * statistics.median(seconds):.2f} ms, mean of {budget.service_claims - 1} claims, "
                 "3 repeats"))
    if not postgres:
        found.append(skipped("22. queue overhead per trial, PostgreSQL", "% of a trial", "the median trial of figure 21",
                             "no PostgreSQL server answered", target=f"≤ {100 * OVERHEAD_TARGETS['PostgreSQL']:g} %"))
    return found
