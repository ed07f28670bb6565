"""`tuner worker`: a standing process that runs the queued jobs' trials (`tuner.tuning.jobs`), one
claim at a time, until it is stopped.

Each job's config, data and study are set up once per worker and kept for its next trials (the
start-up a standing worker saves). The data is the study's snapshot in its artifact store, checked
against its SHA-256 (`tuner.tuning.snapshot`). A job this worker cannot set up (a missing driver,
a changed artifact) fails the claimed trial with the reason stored on it (user attribute
`fail_reason`); after `jobs.MAX_SETUP_FAILURES` such trials the job is marked failed. The worker
goes on with the other jobs.

SIGTERM or Ctrl-C stop it after the current training batch: the running trial fails, is queued
again for a retry within its job's budget, and the worker exits 0. A worker killed outright stops
sending heartbeats; another worker fails its trial once it is stale and re-queues it the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import zlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from tuner.config.loading import build_config
from tuner.config.schema import Config
from tuner.errors import StorageError, TrainingDiverged, TunerError
from tuner.networks.threads import configure_threads
from tuner.stopping import STOP_REQUESTED, TRIAL_STOP_REQUESTED, TrialStopped
from tuner.tuning import jobs
from tuner.tuning.evaluation import tuning_folds
from tuner.tuning.objective import Objective
from tuner.tuning.report import trial_counts
from tuner.tuning.snapshot import with_snapshot
from tuner.tuning.storage import mask_password, open_artifact_store, open_storage
from tuner.tuning.study import create_pruner, create_sampler, fail_stale_trials
from tuner.tuning.worker import ExpectedFailureFilter

log = logging.getLogger(__name__)

POLL_SECONDS = (0.5, 10.0)  # the wait between polls of an empty queue: from the first, doubling to the second
KEPT_JOBS = 4  # jobs whose data and study a worker keeps loaded
CANCEL_POLL_SECONDS = 2.0  # how often a worker asks whether its running trial's job was cancelled with --now
CONNECT_TRIES = 3  # a storage the worker cannot reach: tries, 2 s apart, before it stops with one line


class RetryAndReturnClaim:
    """Optuna's heartbeat callback for a stale trial (`RetryHeartbeatStaleTrialCallback`: queue it
    again with the same parameters), and the claim given back to its job, so the retry runs
    within the job's budget."""

    def __init__(self, engine: sqlalchemy.Engine, max_retry: int) -> None:
        self.engine, self.max_retry = engine, max_retry
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since 2.8
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        retried = len(trial.system_attrs.get("retry_history", [])) < self.max_retry  # as Optuna decides
        self.retry(study, trial)  # (which appends to the trial's own retry history)
        if retried:
            jobs.return_claim(self.engine, study.study_name)


@dataclass
class Loaded:
    """One job set up in this worker: its config, data, study and objective, and its stale-trial callback."""

    config: Config
    study: optuna.Study
    objective: Objective
    started: list[int]  # the trials this worker started, by number
    stale: RetryAndReturnClaim
    source: dict[str, Any]  # the job's config as the queue holds it


class Worker:
    """Claims and runs the queue's trials in this process (`serve`)."""

    def __init__(self, url: str, run_id: str, cache: Path) -> None:
        """`cache`: where this machine keeps its copies of the jobs' data."""
        self.url, self.run_id, self.cache = url, run_id, cache
        self.storage = connect(url)  # the queue's, and the setup failures' trials
        self.engine = self.storage.engine
        jobs.create_table(self.engine)
        self.loaded: OrderedDict[str, Loaded] = OrderedDict()
        self.threads: int | None = None
        self.watched: dict[str, tuple[Config, optuna.Study]] = {}  # jobs not loaded here, opened for `sweep`
        self.next_sweep = 0.0

    def serve(self, max_trials: int | None = None, idle_exit: float | None = None) -> int:
        """Run trials until stopped: the number run. `max_trials` and `idle_exit` (seconds of an
        empty queue) end it sooner, for tests and batch use."""
        for handler in logging.getLogger("optuna").handlers:
            handler.addFilter(ExpectedFailureFilter())
        ran, wait, idle_since, lost = 0, POLL_SECONDS[0], time.monotonic(), 0
        while not STOP_REQUESTED.is_set() and (max_trials is None or ran < max_trials):
            try:
                self.sweep()
                job = jobs.claim(self.engine)
            except sqlalchemy.exc.OperationalError as exc:  # a dropped connection: the pool opens a new one
                lost += 1
                reason = str(exc.orig or exc).strip().splitlines()[0]
                if lost > CONNECT_TRIES:
                    raise StorageError(f"storage {mask_password(self.url)!r}: lost ({reason}), {lost} times in a row") from None
                log.warning("the database connection was lost (%s); trying again", reason)
                STOP_REQUESTED.wait(2)
                continue
            lost = 0
            if job is None:
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                STOP_REQUESTED.wait(wait)
                wait = min(2 * wait, POLL_SECONDS[1])
                continue
            wait, idle_since = POLL_SECONDS[0], time.monotonic()
            self.run_one(job)
            ran += 1
        return ran

    def run_one(self, job: jobs.Job) -> None:
        """Run one trial of `job` (a retry first, where one waits: Optuna pops waiting trials)."""
        try:
            loaded = self.load(job)
        except TunerError as exc:
            self.fail_setup(job, str(exc))
            return
        if self.threads != loaded.config.train.threads:
            configure_threads(loaded.config.train.threads)
            self.threads = loaded.config.train.threads
        before = len(loaded.started)
        done = threading.Event()
        watcher = threading.Thread(target=self.watch, args=(job.study_name, done), daemon=True)
        watcher.start()
        try:
            loaded.study.optimize(loaded.objective, n_trials=1,
                                  catch=(TrainingDiverged, TrialStopped, sqlalchemy.exc.OperationalError))
        except KeyboardInterrupt:  # stopped: the trial failed at its next batch
            self.requeue(loaded, loaded.started[before:])
        finally:
            done.set()
            watcher.join()
            TRIAL_STOP_REQUESTED.clear()

    def watch(self, study_name: str, done: threading.Event) -> None:
        """While a trial of `study_name` runs: stop it at its next batch once the job is cancelled
        with --now (`stopping.TRIAL_STOP_REQUESTED`)."""
        while not done.wait(CANCEL_POLL_SECONDS):
            try:
                if jobs.stops_running(self.engine, study_name):
                    TRIAL_STOP_REQUESTED.set()
                    return
            except sqlalchemy.exc.OperationalError:  # a dropped connection: asked again at the next poll
                continue

    def load(self, job: jobs.Job) -> Loaded:
        """The job set up in this worker, from the last time or now: its config from the queue, its
        data from the study's snapshot, its study with this worker's own sampler seed."""
        kept = self.loaded.get(job.study_name)
        if kept is not None and kept.source == job.config:  # a resubmit may have changed the config
            self.loaded.move_to_end(job.study_name)
            return kept
        config, study, stale = self.open_job(job)
        config = with_snapshot(study, config, self.url)
        started: list[int] = []
        objective = Objective(config, tuning_folds(config), self.run_id, open_artifact_store(config, self.url), started)
        self.loaded.pop(job.study_name, None)
        self.loaded[job.study_name] = Loaded(config, study, objective, started, stale, job.config)
        while len(self.loaded) > KEPT_JOBS:
            self.loaded.popitem(last=False)
        return self.loaded[job.study_name]

    def open_job(self, job: jobs.Job) -> tuple[Config, optuna.Study, RetryAndReturnClaim]:
        """The job's config (its local copies go to the cache), its study with this worker's own
        sampler seed and heartbeat settings, and the callback that re-queues its stale trials."""
        config = build_config(job.config, self.cache / f"{job.study_name}.toml")
        stale = RetryAndReturnClaim(self.engine, config.study.max_retries)
        storage = open_storage(self.url, config.study, stale=stale)
        study = optuna.load_study(study_name=job.study_name, storage=storage,
                                  sampler=create_sampler(config, seed_offset=zlib.crc32(self.run_id.encode()) % 10_000),
                                  pruner=create_pruner(config))
        return config, study, stale

    def fail_setup(self, job: jobs.Job, reason: str) -> None:
        """The claimed trial, failed with the reason this worker could not set the job up."""
        log.error("study %r: %s", job.study_name, reason)
        study = optuna.load_study(study_name=job.study_name, storage=self.storage)
        trial = study.ask()
        trial.set_user_attr("fail_reason", reason)
        trial.set_user_attr("run", self.run_id)
        study.tell(trial, state=TrialState.FAIL)
        if jobs.record_setup_failure(self.engine, job.study_name, reason):
            log.error("study %r: marked failed after %d trials no worker could set up", job.study_name,
                      jobs.MAX_SETUP_FAILURES)

    def requeue(self, loaded: Loaded, numbers: list[int]) -> None:
        """The trials this worker stopped: each failed (if Optuna had not yet), queued again for a
        retry, its claim given back."""
        for number in numbers:
            loaded.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            trial = loaded.study.get_trials(deepcopy=False)[number]
            if trial.state == TrialState.FAIL:
                loaded.stale(loaded.study, trial)

    def sweep(self) -> None:
        """Every heartbeat interval: fail the jobs' stale trials (their workers died), which re-queues
        them (`RetryAndReturnClaim`), also where every trial of a job is handed out, so that no
        worker would start one there and Optuna would not look."""
        if time.monotonic() < self.next_sweep:
            return
        intervals = []
        for job in jobs.list_jobs(self.engine):
            if job.claimed == 0:
                continue
            if job.study_name in self.loaded:
                config, study = self.loaded[job.study_name].config, self.loaded[job.study_name].study
            else:
                if job.study_name not in self.watched:
                    try:
                        self.watched[job.study_name] = self.open_job(job)[:2]
                    except TunerError:
                        continue
                config, study = self.watched[job.study_name]
            fail_stale_trials(study)
            intervals.append(config.study.heartbeat_interval)
        self.next_sweep = time.monotonic() + min(intervals, default=POLL_SECONDS[1])


def connect(url: str) -> optuna.storages.RDBStorage:
    """The storage, tried `CONNECT_TRIES` times 2 s apart; a StorageError after the last."""
    for attempt in range(1, CONNECT_TRIES + 1):
        try:
            return open_storage(url)
        except StorageError as exc:
            if attempt == CONNECT_TRIES or "cannot connect" not in str(exc):
                raise StorageError(f"{exc} (tried {attempt} time{'s' if attempt > 1 else ''})") from None
        time.sleep(2)
    raise AssertionError("unreachable")


def job_config(config: Config, url: str) -> dict[str, Any]:
    """What the queue keeps of a submitted config: every section, with the artifact store as an
    absolute location, so that every worker reads the same snapshot."""
    from tuner.config.export import config_to_dict
    from tuner.tuning.storage import artifact_location

    return config_to_dict(replace(config, study=replace(config.study, artifacts=artifact_location(config, url))))


def submit(config: Config, url: str, n_trials: int, priority: int | None, timeout: float | None) -> jobs.Job:
    """Queue `n_trials` trials of the config's study, checked as `tuner tune` checks them
    (`runner.open_tuned_study`): bad data fails before anything is stored. Its data goes into its
    artifact store with its SHA-256, for workers on any machine."""
    from tuner.tuning.runner import open_tuned_study

    study, config, _ = open_tuned_study(config, url, snapshot=True)
    return jobs.submit(connect(url).engine, study.study_name, job_config(config, url), n_trials, priority, timeout)


def job_status(url: str, names: list[str] | None = None) -> list[dict[str, Any]]:
    """What `tuner jobs` lists (`names`: only these studies', each of which must have a job): each
    job's queue row and its study's trials by state, best value,
    elapsed time and an estimate of the time left (the mean finished trial's duration times the
    trials left, over the trials running at once)."""
    storage = connect(url)
    jobs.create_table(storage.engine)
    listed = jobs.list_jobs(storage.engine)
    for name in names or []:
        if name not in {job.study_name for job in listed}:
            jobs.get_job(storage.engine, name)  # the error naming the known jobs
    rows = []
    for job in listed:
        if names is not None and job.study_name not in names:
            continue
        study = optuna.load_study(study_name=job.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        counts = {state: count for state, count in trial_counts(trials).items()
                  if state in ("complete", "pruned", "fail", "running")}
        durations = [t.duration.total_seconds() for t in trials if t.duration and t.state.is_finished()]
        starts = [t.datetime_start for t in trials if t.datetime_start]
        ends = [t.datetime_complete for t in trials if t.datetime_complete]
        running = counts["running"]
        end = datetime.now() if running else max(ends, default=max(starts, default=None))
        elapsed = (end - min(starts)).total_seconds() if starts else 0.0
        left = max(0, job.budget - job.claimed) + running
        open_ = job.state == jobs.QUEUED and left > 0
        estimate = (sum(durations) / len(durations) * left / max(running, 1)) if open_ and durations else None
        try:
            best = study.best_value
        except ValueError:
            best = None
        rows.append({"study": job.study_name, "state": job.state if left or job.state != jobs.QUEUED else "done",
                     "priority": job.priority, "budget": job.budget,
                     **counts,
                     "best": best, "elapsed_seconds": round(elapsed, 1),
                     "left_seconds": None if estimate is None else round(estimate, 1), "reason": job.reason})
    return rows


def cancel(url: str, study_name: str, now: bool = False) -> jobs.Job:
    """Stop handing out the job's trials; with `now`, the workers running its trials stop them at
    their next batch (within `CANCEL_POLL_SECONDS`), and they fail. Completed trials stay."""
    engine = connect(url).engine
    jobs.create_table(engine)
    return jobs.cancel(engine, study_name, now)
