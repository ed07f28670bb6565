"""Storage, study and worker behaviour on every backend (real servers where they answer)."""

import multiprocessing
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.event
import sqlalchemy.exc
import sqlalchemy.orm
from conftest import server_database, tuner, write_study
from optuna.trial import TrialState

from tuner.config.loading import load_config
from tuner.errors import StorageError
from tuner.tuning.runner import tune
from tuner.tuning.storage import mask_password, open_storage, without_password
from tuner.tuning.study import (
    SETTINGS_ATTR,
    changed_settings,
    open_study,
    remember_settings,
    tuned_config,
    tuning_settings,
)
from tuner.tuning.worker import TrialBudget

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def test_tune_and_resume_on_every_backend(backend_url, study_name, tmp_path):
    config = load_config(write_study(tmp_path, epochs=2), [f"study.name='{study_name}'", "study.n_trials=2"])
    first = tune(config, backend_url, progress=False)
    assert not first.interrupted
    tune(config, backend_url, progress=False)
    study = optuna.load_study(study_name=study_name, storage=backend_url)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state in FINISHED for t in study.trials)
    assert study.user_attrs["metric"] == "val_mae"
    assert study.metric_names == ["val_mae"]  # optuna-dashboard labels the objective with it
    assert study.user_attrs["baselines"]["seasonal_naive"]["val_mae"] > 0


def test_study_with_another_metric_is_refused(backend_url, study_name, tmp_path):
    path = write_study(tmp_path)
    storage = open_storage(backend_url)
    open_study(load_config(path, [f"study.name='{study_name}'"]), storage)
    with pytest.raises(StorageError, match=rf"study '{study_name}' optimizes val_mae, but study.metric = 'val_rmse'"):
        open_study(load_config(path, [f"study.name='{study_name}'", "study.metric='val_rmse'"]), storage)


def test_reports_and_attributes_land_in_one_transaction_per_trial(backend_url, study_name):
    storage = open_storage(backend_url)
    commits = []
    sqlalchemy.event.listen(storage.engine, "commit", lambda connection: commits.append(1))
    study = optuna.create_study(study_name=study_name, storage=storage)

    def objective(trial):
        before = len(commits)
        for step in range(20):
            trial.report(1.0 / (step + 1), step)
            trial.set_user_attr(f"attr_{step % 5}", step)
        assert len(commits) == before  # held while the trial runs
        return 0.5

    study.optimize(objective, n_trials=2)
    trials = optuna.load_study(study_name=study_name, storage=backend_url).trials  # a fresh reader
    for trial in trials:
        assert trial.intermediate_values == {step: 1.0 / (step + 1) for step in range(20)}
        assert trial.user_attrs == {f"attr_{k}": 15 + k for k in range(5)}
        assert trial.state == TrialState.COMPLETE and trial.value == 0.5


def test_a_trials_parameters_are_written_together_at_its_next_write(backend_url, study_name):
    storage = open_storage(backend_url)
    commits = []
    sqlalchemy.event.listen(storage.engine, "commit", lambda connection: commits.append(1))
    study = optuna.create_study(study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(0))
    trial = study.ask()
    before = len(commits)
    params = {"x": trial.suggest_float("x", 0, 1), "n": trial.suggest_int("n", 1, 9),
              "kind": trial.suggest_categorical("kind", ["a", "b"])}
    assert len(commits) == before
    assert optuna.load_study(study_name=study_name, storage=backend_url).trials[0].params == {}
    trial.set_user_attr("n_params", 10)  # the objective's first write after sampling
    assert len(commits) == before + 1
    seen = optuna.load_study(study_name=study_name, storage=backend_url).trials[0]
    assert seen.state == TrialState.RUNNING and seen.params == params and seen.user_attrs == {"n_params": 10}
    study.tell(trial, 0.5)
    with pytest.raises(ValueError, match="Cannot set different distribution kind"):
        study.ask().suggest_categorical("x", ["a", "b"])  # as Optuna's own storage, at once


def test_writes_to_a_finished_trial_fail_at_once(backend_url, study_name):
    storage = open_storage(backend_url)
    study = optuna.create_study(study_name=study_name, storage=storage)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_user_attr(trial._trial_id, "late", 1)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_system_attr(trial._trial_id, "late", 1)


def test_held_reports_are_written_within_the_flush_interval(backend_url, study_name):
    storage = open_storage(backend_url)
    storage.flush_seconds = 0.2
    study = optuna.create_study(study_name=study_name, storage=storage)
    trial = study.ask()
    trial.report(3.0, 0)
    time.sleep(0.3)
    trial.report(2.0, 1)  # due: both go out now, the trial still running
    seen = optuna.load_study(study_name=study_name, storage=backend_url).trials[0]
    assert seen.state == TrialState.RUNNING and seen.intermediate_values == {0: 3.0, 1: 2.0}


def test_a_flushed_attribute_is_updated_and_infinite_reports_survive(backend_url, study_name):
    storage = open_storage(backend_url)
    study = optuna.create_study(study_name=study_name, storage=storage)
    trial = study.ask()
    trial.set_user_attr("epochs_run", 1)
    trial.report(float("inf"), 0)
    storage.flush()
    trial.set_user_attr("epochs_run", 2)
    trial.report(1.5, 1)
    study.tell(trial, 1.5)
    seen = optuna.load_study(study_name=study_name, storage=backend_url).trials[0]
    assert seen.user_attrs == {"epochs_run": 2} and seen.intermediate_values == {0: float("inf"), 1: 1.5}


def test_the_storage_pickles_like_optunas(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'pickled.db'}")
    study = optuna.create_study(study_name="pickled", storage=storage)
    study.enqueue_trial({"x": 1.0})
    copy = pickle.loads(pickle.dumps(storage))
    assert optuna.load_study(study_name="pickled", storage=copy).trials[0].state == TrialState.WAITING


def test_sqlite_studies_use_the_write_ahead_log(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'wal.db'}")
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_storage_has_pool_pre_ping(backend_url):
    assert open_storage(backend_url).engine.pool._pre_ping


def test_unreachable_host_fails_fast_without_the_password():
    started = time.monotonic()
    with pytest.raises(StorageError) as error:
        open_storage("postgresql+psycopg2://tuner:s3cret@127.0.0.1:1/tuner")
    assert time.monotonic() - started < 10
    assert "s3cret" not in str(error.value) and "tuner:***@127.0.0.1:1" in str(error.value)


def test_passwords_are_masked_or_removed():
    url = "postgresql+psycopg2://tuner:s3cret@db.example:5432/tuner"
    assert mask_password(url) == "postgresql+psycopg2://tuner:***@db.example:5432/tuner"
    assert without_password(url) == "postgresql+psycopg2://tuner@db.example:5432/tuner"


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.serial
def test_two_workers_on_postgres_finish_exactly_the_runs_trials(postgres_url, study_name, tmp_path):
    config = write_study(tmp_path, epochs=3)
    process = run_cli("tune", str(config), "--storage", postgres_url, "--study", study_name,
                      "--workers", "2", "--n-trials", "8", "--no-progress")
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    trials = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state in FINISHED for t in trials)
    assert len({t.user_attrs["run"] for t in trials}) == 1


def claim_until_refused(budget: TrialBudget, worker: int, granted) -> None:
    while budget.claim(worker):
        with granted.get_lock():
            granted.value += 1


def test_workers_racing_for_the_run_budget_get_exactly_its_trials():
    context = multiprocessing.get_context("spawn")
    budget, granted = TrialBudget(context, 200, 4), context.Value("i", 0)
    processes = [context.Process(target=claim_until_refused, args=(budget, i, granted)) for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert granted.value == 200


def test_a_dead_workers_slot_is_returned_once():
    budget = TrialBudget(multiprocessing.get_context("spawn"), 2, 2)
    assert budget.claim(0) and budget.claim(1) and not budget.claim(0)
    budget.return_slot(1)  # worker 1 died mid-trial
    budget.return_slot(1)  # and is not counted twice
    budget.return_slot(0)  # worker 0 holds nothing: refused its last claim
    assert budget.claim(0) and not budget.claim(1)


def worker_pids(parent: int) -> list[int]:
    """Worker processes (multiprocessing spawn children) of `parent`."""
    pids = []
    for child in subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            pids.append(int(child))
    return pids


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.serial
def test_killed_worker_trial_fails_is_retried_and_the_run_completes(shared_url, study_name, tmp_path):
    # long enough that the killed trial goes stale and is retried while the run is still going
    config = write_study(tmp_path, days=1400, epochs=40)
    heartbeat, grace = 2, 8  # short for the test; not so short that a busy CPU starves live heartbeats
    n_trials = 6  # the surviving worker alone must still be busy when the retry is queued (4 trials of 40 epochs)
    process = run_cli("tune", str(config), "--storage", shared_url, "--study", study_name, "--workers", "2",
                      "--n-trials", str(n_trials), "--no-progress", "--set", "train.patience=40",
                      "--set", f"study.heartbeat_interval={heartbeat}", "--set", f"study.grace_period={grace}",
                      "--set", "study.pruner='none'")
    storage = open_storage(shared_url)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:  # both workers a second into a trial
        time.sleep(0.2)
        try:
            running = optuna.load_study(study_name=study_name, storage=storage).get_trials(states=(TrialState.RUNNING,))
        except KeyError:
            continue
        under_way = [t for t in running if time.time() - t.datetime_start.timestamp() > 1]
        if len(under_way) == 2 and len(worker_pids(process.pid)) == 2:
            victim = worker_pids(process.pid)[0]
    assert victim, "no worker got a trial under way"
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    stdout, stderr = process.communicate(timeout=400)
    assert process.returncode == 0, stderr
    assert "died (signal 9)" in stderr

    trials = optuna.load_study(study_name=study_name, storage=storage).trials
    summary = [(t.number, t.state.name, t.system_attrs.get("failed_trial"),
                t.datetime_complete and round(t.datetime_complete.timestamp() - killed_at, 1)) for t in trials]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, summary
    # stale after the last heartbeat plus grace; the parent checks for stale trials every heartbeat interval
    assert failed[0].datetime_complete.timestamp() - killed_at <= heartbeat + grace + 5, summary
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retried and retried[0].params == failed[0].params and retried[0].state in FINISHED, summary
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert sum(t.state in FINISHED for t in trials) == n_trials, summary


@pytest.mark.parametrize("statement", ["INSERT INTO trials (", "INSERT INTO trial_params", "UPDATE trials SET state"])
def test_a_connection_closed_in_the_middle_of_a_write_is_tried_again(postgres_url, study_name, statement):
    """The server closes the storage's connection right before the statement that creates a trial,
    writes the held parameters or changes a trial's state runs (its backend terminated from another
    session): the write is made again on a fresh connection, and the trial ends as if nothing had
    happened (creating a trial is retried by Optuna itself)."""
    storage = open_storage(postgres_url)
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    terminated = []

    def terminate_own_backend(connection, cursor, text, *args):
        if text.startswith(statement) and not terminated:
            terminated.append(connection.connection.dbapi_connection.get_backend_pid())
            with admin.connect() as other:
                other.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": terminated[0]})

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", terminate_own_backend)
    study = optuna.create_study(study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(0))
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("n_params", 10)  # writes the held parameter
    trial.report(0.7, 0)
    study.tell(trial, 0.5)
    admin.dispose()
    assert terminated
    seen = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    assert [(t.state, t.params, t.user_attrs, t.intermediate_values, t.value) for t in seen] == [
        (TrialState.COMPLETE, {"x": x}, {"n_params": 10}, {0: 0.7}, 0.5)]


def test_a_trial_whose_creation_landed_before_the_connection_closed_is_not_created_twice(backend_url, study_name,
                                                                                          monkeypatch):
    """The commit that creates a trial lands, and then the connection is reported closed (as when
    the server goes away before its answer arrives): Optuna's own retry must find that trial
    (by its creation token) rather than store a second one that no worker would ever run."""
    storage = open_storage(backend_url)
    study = optuna.create_study(study_name=study_name, storage=storage)
    inserted, raised = [], []

    class ClosedAfterCommit(sqlalchemy.orm.Session):
        def commit(self) -> None:
            super().commit()
            if any(inserted) and not raised:
                raised.append(True)
                raise sqlalchemy.exc.OperationalError("COMMIT", {}, RuntimeError("server closed the connection"),
                                                      connection_invalidated=True)
            inserted.clear()

    def note_insert(connection, cursor, text, *args):
        inserted.append(text.startswith("INSERT INTO trials ("))

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", note_insert)
    monkeypatch.setattr(storage.scoped_session.session_factory, "class_", ClosedAfterCommit)
    storage.scoped_session.remove()  # the next session is made by the patched factory
    trial = study.ask()
    study.tell(trial, 1.0)
    assert raised
    seen = optuna.load_study(study_name=study_name, storage=backend_url).trials
    assert [(t.number, t.state) for t in seen] == [(0, TrialState.COMPLETE)]


@pytest.mark.serial
def test_dropped_postgres_connections_do_not_stop_the_study(postgres_url, study_name, tmp_path):
    import sqlalchemy

    config = write_study(tmp_path, days=600, epochs=10)
    process = run_cli("tune", str(config), "--storage", postgres_url, "--study", study_name, "--n-trials", "4",
                      "--no-progress", "--set", "study.pruner='none'")
    database = postgres_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    storage = open_storage(postgres_url)
    terminated = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and terminated < 3:
        time.sleep(1)
        try:
            started = len(optuna.load_study(study_name=study_name, storage=storage).trials)
        except KeyError:
            continue
        if started >= 1:
            with admin.connect() as connection:  # every connection to the run's database
                terminated += connection.execute(sqlalchemy.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ), {"db": database}).scalar()
    stdout, stderr = process.communicate(timeout=300)
    admin.dispose()
    assert terminated >= 1
    assert process.returncode == 0, stderr
    trials = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state in FINISHED for t in trials) >= 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", r"storage URL 'not a url' is not a valid SQLAlchemy URL"),
        ("nosuchdb://host/db", r"unknown database driver 'nosuchdb'"),
        ("mysql+pymysql://root:wrong@127.0.0.1:3306/test", r"mysql\+pymysql://root:\*\*\*@127.0.0.1:3306/test': cannot connect \(\(1045, \"Access denied"),
    ],
)
def test_bad_storage_urls_get_one_clear_line(url, message):
    if "mysql" in url:
        server_database("mysql")  # skips where no MySQL server answers
    with pytest.raises(StorageError, match=message) as error:
        open_storage(url)
    assert "wrong" not in str(error.value)


def test_password_with_braces_is_usable(postgres_url, study_name):
    url = postgres_url.replace("postgres@", "postgres:p{a}ss@")  # trust auth: any password is accepted
    optuna.create_study(study_name=study_name, storage=open_storage(url))
    assert study_name in optuna.get_all_study_names(open_storage(postgres_url))


def test_older_optuna_schema_asks_for_an_upgrade(tmp_path):
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_storage(url).engine.dispose()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'v3.0.0.a'"))
    engine.dispose()
    with pytest.raises(StorageError, match=r"older than Optuna .*run `optuna storage upgrade --storage URL`"):
        open_storage(url)


def test_set_values_never_reach_sql(tmp_path):
    name = "x'; DROP TABLE studies; --"
    url = f"sqlite:///{tmp_path / 's.db'}"
    config = load_config(write_study(tmp_path, epochs=1), [f'study.name="{name}"', "study.n_trials=1"])
    tune(config, url, progress=False)
    assert optuna.get_all_study_names(url) == [name]


@pytest.mark.serial
def test_two_runs_started_together_on_a_new_study_share_it(backend_url, study_name, tmp_path):
    config = write_study(tmp_path, epochs=1)
    runs = [run_cli("tune", str(config), "--storage", backend_url, "--study", study_name, "--n-trials", "2",
                    "--no-progress") for _ in range(2)]
    for process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    trials = optuna.load_study(study_name=study_name, storage=backend_url).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert optuna.get_all_study_names(backend_url).count(study_name) == 1


@pytest.mark.serial
def test_password_never_appears_in_output_exports_or_reports(postgres_url, study_name, tmp_path):
    url = postgres_url.replace("postgres@", "postgres:s3cret@")  # trust auth accepts any password
    config = write_study(tmp_path, epochs=1)
    outputs = []
    for args in (["tune", "-v", "--n-trials", "1"], ["best", "--format", "json"], ["best"],
                 ["export", "-o", str(tmp_path / "best.toml")], ["export", "-o", str(tmp_path / "best.json")]):
        process = run_cli(args[0], str(config), "--storage", url, "--study", study_name, *args[1:])
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        outputs += [stdout, stderr]
    outputs += [(tmp_path / "best.toml").read_text(), (tmp_path / "best.json").read_text()]
    assert not [text for text in outputs if "s3cret" in text]
    assert "postgres:***@" in outputs[0] + outputs[1]


def test_the_study_remembers_the_settings_it_was_tuned_with(tmp_path):
    config = write_study(tmp_path, epochs=2)
    run = tuner("tune", str(config), "--set", "data.horizon=7", "--set", "train.epochs=1", "--n-trials", "1",
                "--no-progress")
    assert run.returncode == 0, run.stderr

    run = tuner("export", str(config), "-o", str(tmp_path / "best.toml"))
    assert run.returncode == 0, run.stderr
    assert "using the study's" in run.stderr and "data.horizon = 1 (the study's: 7)" in run.stderr
    exported = load_config(tmp_path / "best.toml")
    assert exported.data.horizon == 7 and exported.train.epochs == 1

    run = tuner("tune", str(config), "--n-trials", "1", "--no-progress")
    assert run.returncode == 2
    assert re.search(r"tuned with other settings: data.horizon = 1 \(the study's: 7\); .*--allow-changed",
                     run.stderr), run.stderr
    assert len(optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small.db'}").trials) == 1

    run = tuner("tune", str(config), "--n-trials", "1", "--no-progress", "--set", "data.horizon=7")
    assert run.returncode == 0, run.stderr  # training settings may change: the trials stay comparable
    run = tuner("tune", str(config), "--n-trials", "1", "--no-progress", "--allow-changed")
    assert run.returncode == 0, run.stderr
    assert load_config(tmp_path / "best.toml").data.horizon == 7


def test_settings_stored_before_a_key_existed_read_as_its_default(tmp_path):
    """A study tuned by an earlier tuner has no `data.transform` or `data.calendar_harmonics` in its
    settings: it resumes with the defaults, and a config that sets another value is a change."""
    config = load_config(write_study(tmp_path, days=60), ["data.calendar=['month']"])
    older = tuning_settings(config)
    for key in ("transform", "calendar_harmonics"):
        del older["data"][key]
    study = optuna.create_study()
    study.set_user_attr(SETTINGS_ATTR, older)
    remember_settings(study, config)
    assert study.user_attrs[SETTINGS_ATTR] == older  # nothing changed: not refused, not rewritten
    three = load_config(config.source, ["data.calendar=['month']", "data.calendar_harmonics=3"])
    assert changed_settings(older, three) == {"data.calendar_harmonics": (1, 3)}
    assert tuned_config(study, three).data.calendar_harmonics == 1
    with pytest.raises(StorageError, match=r"data.calendar_harmonics = 3 \(the study's: 1\)"):
        remember_settings(study, three)


def test_a_study_tuned_before_the_epoch_minimum_keeps_one_pass_per_epoch(tmp_path, caplog):
    """`train.min_samples_per_epoch` changed what leaving it out does (0, one pass, before it existed):
    a study tuned without it is refitted as its trials were trained, and a new run says it changes."""
    config = load_config(write_study(tmp_path, days=60))
    older = tuning_settings(config)
    del older["train"]["min_samples_per_epoch"]
    study = optuna.create_study()
    study.set_user_attr(SETTINGS_ATTR, older)
    assert changed_settings(older, config) == {"train.min_samples_per_epoch": (0, 640)}
    assert tuned_config(study, config).train.min_samples_per_epoch == 0
    remember_settings(study, config)  # a training setting: taken on with a notice, not refused
    assert "train.min_samples_per_epoch = 640 (the study's: 0)" in caplog.text


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_running_trial_that_never_sent_a_heartbeat_is_failed_after_the_grace_period(backend_url, study_name):
    """A worker killed between creating its trial and its first heartbeat leaves a RUNNING trial
    without one, which Optuna's heartbeat never fails: the storage fails it once it has seen it
    so for the grace period, and retries it; a trial of its own process stays running."""
    from tuner.config.schema import StudyConfig
    from tuner.tuning.study import fail_stale_trials

    killed = optuna.create_study(study_name=study_name, storage=optuna.storages.RDBStorage(backend_url))
    silent = killed.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # no heartbeat: as if killed at once
    settings = StudyConfig(heartbeat_interval=1, grace_period=1, max_retries=1)
    study = optuna.load_study(study_name=study_name, storage=open_storage(backend_url, settings))
    own = study.ask()
    fail_stale_trials(study)  # first seen without a heartbeat: not yet stale
    assert study.trials[silent.number].state == TrialState.RUNNING
    time.sleep(1.5)
    fail_stale_trials(study)
    states = {t.number: t.state for t in study.trials}
    assert states[silent.number] == TrialState.FAIL and states[own.number] == TrialState.RUNNING
    retried = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(retried) == 1 and retried[0].params == silent.params
