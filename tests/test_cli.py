"""The CLI through a real subprocess, as users and scripts call it."""

import os
import re
import signal
import subprocess
import sys
import time

import optuna
import pytest
from conftest import DEMO_CONFIG, write_study

PARAMS = {"model", "hidden_size", "num_layers", "dropout", "lr"}
ATTRS = {"val_mae", "val_rmse", "val_mape", "val_smape", "val_wape", "best_epoch", "epochs_run", "n_params",
         "train_seconds"}


def completed_trials(url: str, study: str) -> int:
    """Completed trials of `study`, 0 while it does not exist yet."""
    try:
        trials = optuna.load_study(study_name=study, storage=url).trials
    except KeyError:
        return 0
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def tuner(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner.cli.parser", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_tune_demo_leaves_finished_trials_with_named_params_and_attributes(tmp_path):
    url = f"sqlite:///{tmp_path / 'X.db'}"
    run = tuner("tune", str(DEMO_CONFIG), "--n-trials", "4", "--set", "train.epochs=3", "--set", "train.threads=1",
                "--storage", url)  # one thread: the suite runs tests side by side
    assert run.returncode == 0, run.stderr
    assert "Best trial #" in run.stdout and "seasonal-naive" in run.stdout
    study = optuna.load_study(study_name="ecommerce_daily", storage=url)
    assert len(study.trials) == 4
    for trial in study.trials:
        assert trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        assert PARAMS <= set(trial.params)
        if trial.params["model"] == "lstm_transformer":
            assert {"num_heads", "ff_size"} <= set(trial.params)
        assert len(trial.intermediate_values) >= 1
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert ATTRS <= set(trial.user_attrs)
            assert len(trial.intermediate_values) == trial.user_attrs["epochs_run"]
    assert {t.params["model"] for t in study.trials} == {"lstm", "lstm_transformer"}
    assert set(study.user_attrs["baselines"]) == {"naive", "seasonal_naive", "adjusted_naive", "ets", "boosting"}


def test_second_run_resumes_the_same_study(tmp_path):
    config = write_study(tmp_path, epochs=2)
    for expected in (2, 4):
        run = tuner("tune", str(config), "--n-trials", "2", "--no-progress")
        assert run.returncode == 0, run.stderr
        study = optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small.db'}")
        assert [t.number for t in study.trials] == list(range(expected))


def test_storage_from_environment_and_study_flag(tmp_path):
    config = write_study(tmp_path, epochs=1)
    url = f"sqlite:///{tmp_path / 'env.db'}"
    run = tuner("tune", str(config), "--n-trials", "1", "--study", "renamed", env={"TUNER_STORAGE": url})
    assert run.returncode == 0, run.stderr
    assert optuna.get_all_study_names(url) == ["renamed"]
    assert not (tmp_path / "small.db").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["tune", "missing.toml"], r"^tuner: error: missing.toml: config file not found$"),
        (["tune", "{config}", "--set", "train.epoch=3"], r"unknown key 'epoch'; did you mean 'epochs'\?$"),
        (["tune", "{config}", "--set", "data.path='nowhere.csv'"], r"nowhere.csv: data file not found"),
        (["tune", "{config}", "--storage", "nosuchdb://x"], r"unknown database driver 'nosuchdb'"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(tmp_path, args, message):

    config = write_study(tmp_path)
    run = tuner(*[a.replace("{config}", str(config)) for a in args])
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "small.db").exists()


def test_unknown_command_and_flag_are_usage_errors():
    assert tuner("tunes").returncode == 2
    assert tuner("tune", str(DEMO_CONFIG), "--n-trails", "3").returncode == 2


@pytest.mark.serial
def test_ctrl_c_while_workers_start_stops_quietly(tmp_path):
    config = write_study(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "tune", str(config), "--workers", "2",
                                "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(spawned_children(process.pid)) < 2:
        time.sleep(0.05)
    assert len(spawned_children(process.pid)) == 2, process.communicate(timeout=60)
    os.killpg(process.pid, signal.SIGINT)  # the workers are still importing
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr


def spawned_children(parent: int) -> list[int]:
    """The multiprocessing spawn children (workers) of process `parent`."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.serial
@pytest.mark.parametrize("signal_number, workers, to_group", [
    (signal.SIGINT, 1, False),
    (signal.SIGTERM, 2, False),  # `kill` or `docker stop`: the parent passes SIGTERM on to its workers
    (signal.SIGINT, 2, True),  # Ctrl-C in a terminal: the parent and its workers all get SIGINT
])
def test_interrupt_keeps_completed_trials_and_the_study_resumes(tmp_path, signal_number, workers, to_group):
    config = write_study(tmp_path, days=400, epochs=12)
    url = f"sqlite:///{tmp_path / 'small.db'}"
    process = subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "tune", str(config), "--n-trials", "50",
                                "--workers", str(workers), "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=to_group)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and completed_trials(url, "small") < 1:
        time.sleep(0.5)
    if to_group:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Interrupted" in stderr and "Best trial" in stdout
    trials = optuna.load_study(study_name="small", storage=url).trials
    assert not any(t.state == optuna.trial.TrialState.RUNNING for t in trials)
    assert completed_trials(url, "small") >= 1 and len(trials) < 50
    assert tuner("tune", str(config), "--n-trials", "1", "--set", "train.epochs=1").returncode == 0
    assert len(optuna.load_study(study_name="small", storage=url).trials) == len(trials) + 1
