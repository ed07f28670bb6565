"""The tuning service on the real PostgreSQL server: `tuner submit` queues jobs, standing `tuner
worker` processes run them by priority within each budget, through stops, kills, dropped
connections and a changed data artifact; `tuner jobs` and `tuner cancel`; bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import sqlalchemy
from conftest import tuner as run_cli
from conftest import write_study
from optuna.trial import TrialState

from tuner.tuning.snapshot import SNAPSHOT_ATTR

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
LONG = ["--set", "train.epochs=25", "--set", "train.patience=25", "--set", "study.pruner='none'"]  # trials of seconds


@pytest.fixture
def queue(postgres_url, tmp_path) -> dict:
    """A study config on small data and a clean queue in the session's PostgreSQL database."""
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS tuner_jobs"))
    engine.dispose()
    prefix = uuid.uuid4().hex[:6]  # the session's database holds the other tests' studies
    return {"url": postgres_url, "config": write_study(tmp_path, days=150, epochs=1), "folder": tmp_path,
            "name": lambda study: f"{study}_{prefix}"}


def submit(queue: dict, study: str, trials: int, *flags: str) -> None:
    study = queue["name"](study)
    run = run_cli("submit", str(queue["config"]), "--storage", queue["url"], "--study", study, "--n-trials",
                  str(trials), "--set", "study.heartbeat_interval=1", "--set", "study.grace_period=4", *flags)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == study


def start_worker(queue: dict, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "worker", "--storage", queue["url"],
                             "--cache", str(queue["folder"] / "cache"), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trials_of(queue: dict, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=queue["name"](study), storage=queue["url"]).trials


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def jobs_json(queue: dict) -> dict[str, dict]:
    run = run_cli("jobs", "--storage", queue["url"], "--format", "json")
    assert run.returncode == 0, run.stderr
    return {row["study"].rsplit("_", 1)[0]: row for row in json.loads(run.stdout)}


@pytest.mark.serial
def test_three_workers_give_three_jobs_exactly_their_budgets(queue):
    budgets = {"job_a": 5, "job_b": 7, "job_c": 9}
    for study, budget in budgets.items():
        submit(queue, study, budget)
    workers = [start_worker(queue, "--exit-when-idle", "3") for _ in range(3)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    for study, budget in budgets.items():
        trials = trials_of(queue, study)
        assert len(trials) == budget and all(t.state in FINISHED for t in trials), study
    rows = jobs_json(queue)
    assert {study: row["complete"] + row["pruned"] + row["fail"] for study, row in rows.items()} == budgets
    assert {row["state"] for row in rows.values()} == {"done"}
    table = run_cli("jobs", "--storage", queue["url"])
    assert table.returncode == 0 and queue["name"]("job_c") in table.stdout and "budget" in table.stdout.splitlines()[0]


@pytest.mark.serial
def test_a_higher_priority_job_gets_the_next_free_worker(queue):
    submit(queue, "low", 4, *LONG)
    worker = start_worker(queue, "--exit-when-idle", "2")
    wait_for(lambda: any(t.state == TrialState.RUNNING for t in trials_of(queue, "low")))
    submit(queue, "high", 2, "--priority", "5")
    submitted = time.time()
    worker.communicate(timeout=300)
    after = sorted((t.datetime_start.timestamp(), study) for study in ("low", "high") for t in trials_of(queue, study)
                   if t.datetime_start.timestamp() > submitted)
    assert [study for _, study in after[:2]] == ["high", "high"]
    assert len(trials_of(queue, "low")) == 4


@pytest.mark.serial
def test_sigterm_stops_a_worker_after_its_batch_and_a_killed_workers_trial_is_retried(queue):
    submit(queue, "job", 3, *LONG)
    stopped = start_worker(queue)
    wait_for(lambda: any(t.state == TrialState.RUNNING for t in trials_of(queue, "job")))
    started = time.monotonic()
    stopped.send_signal(signal.SIGTERM)
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 0 and time.monotonic() - started < 20, stderr
    trials = trials_of(queue, "job")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]  # queued again with its parameters
    assert trials[1].params == trials[0].params

    killed = start_worker(queue)
    wait_for(lambda: any(t.state == TrialState.RUNNING for t in trials_of(queue, "job")))
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    finisher = start_worker(queue, "--exit-when-idle", "8")  # fails the stale trial, retries it, runs the rest
    _, stderr = finisher.communicate(timeout=300)
    assert finisher.returncode == 0, stderr
    trials = trials_of(queue, "job")
    assert all(t.state in FINISHED for t in trials)
    fresh = [t for t in trials if "failed_trial" not in t.system_attrs]
    assert len(fresh) == 3  # the budget: the stopped and the killed trials were each retried within it
    assert sum(t.state != TrialState.FAIL for t in trials) == 3 and jobs_json(queue)["job"]["state"] == "done"


@pytest.mark.serial
def test_workers_survive_dropped_connections(queue):
    submit(queue, "job", 6)
    workers = [start_worker(queue, "--exit-when-idle", "4") for _ in range(2)]
    database = sqlalchemy.engine.make_url(queue["url"]).database
    admin = sqlalchemy.create_engine(queue["url"], isolation_level="AUTOCOMMIT")
    terminated = 0
    wait_for(lambda: len(trials_of(queue, "job")) >= 2)
    while terminated < 3 and any(worker.poll() is None for worker in workers):
        with admin.connect() as connection:
            terminated += connection.execute(sqlalchemy.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar()
        time.sleep(0.5)
    admin.dispose()
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    trials = trials_of(queue, "job")
    assert terminated >= 1 and all(t.state in FINISHED for t in trials)
    assert sum("failed_trial" not in t.system_attrs for t in trials) == 6


@pytest.mark.serial
def test_a_job_whose_data_artifact_changed_fails_with_a_reason_and_the_worker_goes_on(queue):
    submit(queue, "changed", 5)
    submit(queue, "intact", 2)
    snapshot = optuna.load_study(study_name=queue["name"]("changed"), storage=queue["url"]).user_attrs[SNAPSHOT_ATTR]
    artifact = next(queue["folder"].rglob(snapshot["artifact_id"]))
    artifact.write_bytes(artifact.read_bytes() + b"\n")
    worker = start_worker(queue, "--exit-when-idle", "2")
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 0, stderr
    failed = trials_of(queue, "changed")
    assert len(failed) == 3 and all(t.state == TrialState.FAIL for t in failed)
    assert "does not match the SHA-256" in failed[0].user_attrs["fail_reason"]
    rows = jobs_json(queue)
    assert rows["changed"]["state"] == "failed" and "SHA-256" in rows["changed"]["reason"]
    assert rows["intact"]["state"] == "done" and rows["intact"]["complete"] + rows["intact"]["pruned"] == 2


@pytest.mark.serial
def test_cancel_stops_handing_out_trials_and_keeps_the_completed_ones(queue):
    submit(queue, "job", 20, *LONG)
    worker = start_worker(queue, "--exit-when-idle", "2")
    wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in trials_of(queue, "job")) >= 1, timeout=180)
    run = run_cli("cancel", queue["name"]("job"), "--storage", queue["url"], "--now")
    assert run.returncode == 0 and f"Cancelled study '{queue['name']('job')}'" in run.stdout
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 0, stderr
    trials = trials_of(queue, "job")
    assert len(trials) < 20 and sum(t.state == TrialState.COMPLETE for t in trials) >= 1
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert jobs_json(queue)["job"]["state"] == "cancelled"


def test_bad_input_gets_one_line_and_exit_2(queue, tmp_path):
    bad = run_cli("submit", str(queue["config"]), "--storage", queue["url"], "--set", "data.path='nowhere.csv'")
    assert bad.returncode == 2 and bad.stderr.strip().endswith("data file not found (set data.path, relative to the "
                                                               "config file)")
    assert jobs_json(queue) == {}  # nothing stored
    for command in ("cancel", "jobs"):
        run = run_cli(command, "absent", "--storage", queue["url"])
        assert run.returncode == 2 and run.stderr.startswith("tuner: error: no job for study 'absent'"), run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    unreachable = subprocess.run([sys.executable, "-m", "tuner.cli.parser", "worker", "--storage",
                                  "postgresql+psycopg2://postgres@127.0.0.1:1/none"],
                                 capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 2 and len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot connect" in unreachable.stderr and "tried 3 times" in unreachable.stderr
    bad_gpu = run_cli("worker", "--storage", queue["url"], "--gpu", "first")
    assert bad_gpu.returncode == 2 and "expected a GPU index like 0 or 1, got 'first'" in bad_gpu.stderr
    sqlite = run_cli("submit", str(queue["config"]), "--storage", f"sqlite:///{tmp_path / 'q.db'}", "--n-trials", "1")
    assert sqlite.returncode == 0 and "serves workers on this machine only" in sqlite.stderr


def test_submitting_again_adds_to_the_budget(queue):
    submit(queue, "job", 2)
    submit(queue, "job", 3, "--priority", "4")
    row = jobs_json(queue)["job"]
    assert (row["budget"], row["priority"], row["state"]) == (5, 4, "queued")


def test_claims_go_by_priority_then_in_turn_and_never_past_a_budget(tmp_path):
    from tuner.tuning import jobs
    from tuner.tuning.storage import open_storage

    engine = open_storage(f"sqlite:///{tmp_path / 'q.db'}").engine
    for name, budget, priority in (("a", 3, 0), ("b", 2, 0), ("urgent", 1, 5)):
        jobs.submit(engine, name, {"study": {"name": name}}, budget, priority, None)
    claimed = []
    while (job := jobs.claim(engine)) is not None:
        claimed.append(job.study_name)
    assert claimed == ["urgent", "a", "b", "a", "b", "a"]
    jobs.return_claim(engine, "b")  # a retried trial's claim comes back
    assert jobs.claim(engine).study_name == "b" and jobs.claim(engine) is None
    jobs.submit(engine, "a", {"study": {"name": "a"}}, 1, None, None)  # a resubmit adds to the budget
    jobs.cancel(engine, "b")
    assert [jobs.claim(engine).study_name, jobs.claim(engine)] == ["a", None]
