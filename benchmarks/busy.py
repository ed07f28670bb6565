"""Figure 20: one trial's wall time beside other work, against the same trial on an idle machine.

Each case runs the same enqueued trial (the demo study's first, a fixed number of epochs) through
`tuner tune` in its own process, with the thread setting under test:
- idle: nothing else runs;
- busy: beside a CPU-bound process that this benchmark starts and stops itself;
- two tuners: two `tuner tune` commands side by side, each on its own study.

The value is a trial's own running time (Optuna's start to complete), so interpreter start-up,
which every case pays alike, does not dilute the ratio."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from common import DEMO_CONFIG, Budget, Figure, demo_config, figure, skipped
from tuning import fixed_params, fixed_trials_overrides

from tuner.networks.threads import child_environment
from tuner.tuning.storage import open_storage
from tuner.tuning.study import open_study

BUSY_TARGET = 1.5  # trial time beside one busy process / idle, with the default settings
IDLE_TOLERANCE = 1.05  # the default's idle trial time / the former default's (all cores)
IDLE_EXTRA = 2  # idle pairs per repeat beyond the rounds' own, in alternating order
HOG = "while True: pass"


@contextmanager
def busy_process() -> Iterator[None]:
    """A CPU-bound Python process for the length of the block."""
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def start_trial(url: str, overrides: list[str], params: dict) -> tuple[subprocess.Popen, str]:
    """`tuner tune` running the one enqueued trial `params` on a fresh study; (the process, its study)."""
    name = f"busy-{uuid.uuid4().hex[:8]}"
    study = open_study(demo_config(*overrides, f"study.name={name}"), open_storage(url))
    study.enqueue_trial(params)
    command = [sys.executable, "-m", "tuner.cli.parser", "tune", str(DEMO_CONFIG), "--storage", url, "--study", name,
               "--no-progress", *(f"--set={o}" for o in overrides)]
    with child_environment():  # the threads of a user's `tuner tune`, not run.py's own
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), name


def trial_seconds(url: str, started: list[tuple[subprocess.Popen, str]]) -> list[float]:
    """Wait for the `tuner tune` processes, then each one's trial running time in seconds."""
    seconds = []
    for process, name in started:
        _, errors = process.communicate()
        if process.returncode:
            raise RuntimeError(f"tuner tune failed: {errors.strip()}")
        trial = optuna.load_study(study_name=name, storage=url).trials[0]
        seconds.append((trial.datetime_complete - trial.datetime_start).total_seconds())
    return seconds


def cases(url: str, overrides: list[str], params: dict) -> dict[str, float]:
    """One round of the three cases for one thread setting: seconds per trial."""
    idle = trial_seconds(url, [start_trial(url, overrides, params)])[0]
    with busy_process():
        busy = trial_seconds(url, [start_trial(url, overrides, params)])[0]
    pair = trial_seconds(url, [start_trial(url, overrides, params) for _ in range(2)])
    return {"idle": idle, "busy": busy, "two tuners": statistics.mean(pair)}


def busy_machine(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 20: the default thread setting against the former one (every core), each idle,
    beside a busy process and beside a second `tuner tune`, interleaved over repeats."""
    url = f"sqlite:///{workdir / 'busy.db'}"
    settings = {"default": 0, "every core": os.cpu_count() or 1}
    if budget.quick:  # the smoke run: the default setting's cases only
        settings = {"default": 0}

    def overrides(threads: int) -> list[str]:
        return [f"study.artifacts='{workdir / 'busy-artifacts'}'",  # not beside the demo config
                *fixed_trials_overrides(1, budget.busy_epochs, threads)]

    params = fixed_params(demo_config(*overrides(0)), 1)[0]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for repeat in range(budget.busy_repeats):
        order = list(settings) if repeat % 2 == 0 else list(reversed(settings))
        for name in order:
            rounds[name].append(cases(url, overrides(settings[name]), params))
    idle = {name: [one["idle"] for one in rounds[name]] for name in settings}
    for repeat in range(IDLE_EXTRA * budget.busy_repeats if len(settings) > 1 else 0):  # the idle ratio is the noisiest
        for name in (list(settings) if repeat % 2 else list(reversed(settings))):
            idle[name] += trial_seconds(url, [start_trial(url, overrides(settings[name]), params)])

    def seconds(name: str, case: str) -> list[float]:
        return [one[case] for one in rounds[name]]

    def ratios(name: str, case: str, against: tuple[str, str]) -> list[float]:
        return [a / b for a, b in zip(seconds(name, case), seconds(*against))]

    epochs = f"the demo study's first trial, {budget.busy_epochs} epochs"
    found = []
    for case in ("busy", "two tuners"):
        for name, threads in settings.items():
            default = name == "default"
            found.append(figure(
                f"20. trial time {'beside one busy process' if case == 'busy' else 'beside a second tuner tune'}, "
                f"{name} threads", ratios(name, case, (name, "idle")), "×", "the same trial on the idle machine",
                target=f"≤ {BUSY_TARGET}" if default and case == "busy" else None,
                check=(lambda v: v <= BUSY_TARGET) if default and case == "busy" else None,
                note=f"median {statistics.median(seconds(name, case)):.1f} s vs "
                     f"{statistics.median(seconds(name, 'idle')):.1f} s idle; {epochs}; "
                     + ("train.threads = 0 (the default)" if default else f"train.threads = {threads}"),
                details={"seconds": seconds(name, case), "idle": seconds(name, "idle")}))
    if "every core" not in settings:
        return found + [skipped("20. idle trial time, default threads vs every core", "×",
                                "train.threads = every core on the idle machine", "the quick run measures the default only",
                                target=f"≤ {IDLE_TOLERANCE}")]
    found.append(figure(
        "20. idle trial time, default threads vs every core",
        [a / b for a, b in zip(idle["default"], idle["every core"])], "×",
        f"train.threads = {settings['every core']} (every core) on the idle machine",
        target=f"≤ {IDLE_TOLERANCE}", check=lambda v: v <= IDLE_TOLERANCE,
        note=f"median {statistics.median(idle['default']):.2f} s vs {statistics.median(idle['every core']):.2f} s "
             f"over {len(idle['default'])} pairs; {epochs}; the default follows the idle cores of {os.cpu_count()}",
        details={"seconds": idle["default"], "every core": idle["every core"]}))
    return found
