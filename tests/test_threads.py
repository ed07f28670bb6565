"""The thread default of the entry points (`tuner.networks.training.configure_threads`), each case in a fresh
interpreter, since it sets the whole process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tuner.networks.training import THREAD_VARIABLES, thread_count

PROBE = """
import json, os, sys
from tuner.networks.training import configure_threads
count = configure_threads(int(sys.argv[1]))
import torch
from threadpoolctl import threadpool_info
import sklearn.ensemble  # loads scikit-learn's own OpenMP runtime after the call
pools = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
print(json.dumps({"count": count, "torch": torch.get_num_threads(), "blas": pools.get("blas"),
                  "openmp": pools.get("openmp"), "env": {k: os.environ.get(k) for k in sys.argv[2:]}}))
"""


def probe(threads: int, **environment: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES} | environment
    run = subprocess.run([sys.executable, "-c", PROBE, str(threads), *THREAD_VARIABLES], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_the_default_is_one_thread_for_torch_blas_and_openmp():
    result = probe(0)
    assert result["count"] == result["torch"] == result["blas"] == result["openmp"] == 1
    assert set(result["env"].values()) == {"1"}


def test_the_users_omp_num_threads_wins_over_the_default():
    result = probe(0, OMP_NUM_THREADS="2", MKL_NUM_THREADS="3")
    assert result["count"] == result["torch"] == result["openmp"] == 2
    assert result["env"] == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "2"}


def test_the_users_blas_setting_wins_for_blas_only():
    result = probe(0, OPENBLAS_NUM_THREADS="2")
    assert result["count"] == result["torch"] == result["openmp"] == 1
    assert result["blas"] == 2
    assert result["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2"}


def test_train_threads_wins_over_the_environment():
    result = probe(2, OMP_NUM_THREADS="1")
    assert result["count"] == result["torch"] == result["blas"] == result["openmp"] == 2
    assert set(result["env"].values()) == {"2"}


@pytest.mark.parametrize(("threads", "omp", "expected"), [(0, None, 1), (3, None, 3), (0, "4", 4), (0, "4,2", 4),
                                                          (0, "junk", 1), (0, "0", 1), (5, "4", 5)])
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
