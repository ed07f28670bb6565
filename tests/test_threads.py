"""The thread default of the entry points (`tuner.networks.threads.configure_threads`), each case in a fresh
interpreter, since it sets the whole process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tuner.networks.threads import THREAD_VARIABLES, idle_threads, thread_count

PROBE = """
import json, os, subprocess, sys
from tuner.networks.threads import configure_threads
hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if os.environ.get("HOG") else None
if hog:
    import time; time.sleep(0.5)
count = configure_threads(int(sys.argv[1]))
import torch
from threadpoolctl import threadpool_info
import sklearn.ensemble  # loads scikit-learn's own OpenMP runtime after the call
pools = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
print(json.dumps({"count": count, "torch": torch.get_num_threads(), "blas": pools.get("blas"),
                  "openmp": pools.get("openmp"), "env": {k: os.environ.get(k) for k in sys.argv[2:]}}))
if hog:
    hog.kill()
"""


def probe(threads: int, **environment: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES} | environment
    run = subprocess.run([sys.executable, "-c", PROBE, str(threads), *THREAD_VARIABLES], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_the_default_follows_the_idle_cores_for_torch_blas_and_openmp():
    """Beside a process that keeps a core busy, the default leaves that core to it."""
    cores = len(os.sched_getaffinity(0))
    result = probe(0, HOG="1")
    assert 1 <= result["count"] <= max(1, cores - 1)
    assert result["count"] == result["torch"] == result["blas"] == result["openmp"]
    assert set(result["env"].values()) == {str(result["count"])}


@pytest.mark.parametrize(("limit", "others", "expected"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 1.7, 1), (2, 3.0, 1), (1, 0.0, 1),
    (16, 0.0, 16), (16, 1.0, 15), (16, 2.6, 13), (16, 20.0, 1)])
def test_idle_threads_leave_the_cores_other_processes_take(limit, others, expected):
    assert idle_threads(limit, others) == expected


def test_the_automatic_setting_drops_a_thread_for_a_busy_process_while_training():
    """`adapt`, which the training loop calls every batch, leaves a core to a process that starts
    beside it (other load on the machine can only lower the count further)."""
    run = subprocess.run([sys.executable, "-c", ADAPT_PROBE], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES})
    assert int(run.stdout) <= max(1, len(os.sched_getaffinity(0)) - 1)


ADAPT_PROBE = """
import subprocess, sys, time
import torch
from tuner.networks import threads
threads.configure_threads(0)
x = torch.randn(256, 256)
hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
end = time.monotonic() + 3
while time.monotonic() < end:
    x @ x
    threads.adapt()
hog.kill()
print(torch.get_num_threads())
"""


def test_adapt_follows_the_cores_other_processes_take_and_give_back(monkeypatch):
    """The same on a machine of 4 usable cores whose CPU time is given: each second, the count
    follows the cores other processes kept busy over that second."""
    import torch

    from tuner.networks import threads

    clock, busy = [100.0], [0.0]
    monkeypatch.setattr(threads, "usable_cores", lambda: ([0, 1, 2, 3], 4))
    monkeypatch.setattr(threads, "busy_seconds", lambda cpus: busy[0])
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(threads.os, "times", lambda: os.times_result((0.0, 0.0, 0.0, 0.0, 0.0)))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    seen = []
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with threads.scoped_threads(0) as first:
        for others in (2.0, 2.0, 0.2, 3.6):  # cores other processes keep busy over each second
            clock[0] += 0.5
            threads.adapt()  # not yet due: nothing measured
            clock[0] += 0.5
            busy[0] += others
            threads.adapt()
            seen.append(torch.get_num_threads())
    assert (first, seen) == (4, [2, 2, 4, 1])


def test_the_users_omp_num_threads_wins_over_the_default():
    result = probe(0, OMP_NUM_THREADS="2", MKL_NUM_THREADS="3")
    assert result["count"] == result["torch"] == result["openmp"] == 2
    assert result["env"] == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "2"}


def test_the_users_blas_setting_wins_for_blas_only():
    result = probe(0, OPENBLAS_NUM_THREADS="2", HOG="1")
    assert result["count"] == result["torch"] == result["openmp"]
    assert result["blas"] == 2
    count = str(result["count"])
    assert result["env"] == {"OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": "2"}


def test_train_threads_wins_over_the_environment():
    result = probe(2, OMP_NUM_THREADS="1")
    assert result["count"] == result["torch"] == result["blas"] == result["openmp"] == 2
    assert set(result["env"].values()) == {"2"}


@pytest.mark.parametrize(("threads", "omp", "expected"), [(0, None, 0), (3, None, 3), (0, "4", 4), (0, "4,2", 4),
                                                          (0, "junk", 0), (0, "0", 0), (5, "4", 5)])
def test_thread_count(monkeypatch, threads, omp, expected):
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert thread_count(threads) == expected


def test_library_calls_leave_the_process_threads_as_they_found_them(tmp_path):
    """`train.threads` is applied by the entry points only: tuning and fitting from Python do not
    change the caller's torch threads or thread variables."""
    import torch
    from conftest import write_study

    from tuner.config.loading import load_config
    from tuner.config.schema import ParamsConfig
    from tuner.ensemble.forecaster import Forecaster
    from tuner.tuning.runner import tune

    config = load_config(write_study(tmp_path, epochs=1), ["train.threads=3", "study.n_trials=1"])
    before = torch.get_num_threads(), {name: os.environ.get(name) for name in THREAD_VARIABLES}
    tune(config, f"sqlite:///{tmp_path / 'study.db'}", progress=False)
    Forecaster.fit(config, ParamsConfig(model="lstm", hidden_size=8, epochs=1), intervals=False, seeds=1)
    assert (torch.get_num_threads(), {name: os.environ.get(name) for name in THREAD_VARIABLES}) == before


def test_variables_the_entry_point_wrote_are_not_taken_for_the_users(monkeypatch):
    """A worker that ran a job with train.threads = 3 goes back to the automatic setting for a job
    with 0; and a worker process it spawns sees only the user's own variables."""
    from tuner.networks.threads import child_environment, scoped_threads

    def variables() -> dict[str, str | None]:
        return {name: os.environ.get(name) for name in THREAD_VARIABLES}

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with scoped_threads(3):
        assert set(variables().values()) == {"3"}
        assert thread_count(0) == 0
        with child_environment():
            assert set(variables().values()) == {None}
        assert set(variables().values()) == {"3"}
    monkeypatch.setenv("MKL_NUM_THREADS", "5")
    with scoped_threads(0), child_environment():
        assert variables() == {"OMP_NUM_THREADS": None, "MKL_NUM_THREADS": "5", "OPENBLAS_NUM_THREADS": None}
    assert variables() == {"OMP_NUM_THREADS": None, "MKL_NUM_THREADS": "5", "OPENBLAS_NUM_THREADS": None}
