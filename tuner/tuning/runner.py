"""A `tuner tune` run: check the data, open the study (checking the settings it was tuned with),
then run trials in this process or in worker processes that share the study through its database
(Optuna's distributed mode)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import socket
import sys
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.errors import StorageError, TunerError
from tuner.networks.device import resolve_device, worker_devices
from tuner.networks.threads import child_environment, configure_threads, thread_count
from tuner.stopping import STOP_REQUESTED, handle_stop_signals, sigint_blocked
from tuner.tuning.evaluation import baseline_errors, tuning_folds
from tuner.tuning.snapshot import store_snapshot, stored_snapshot, with_snapshot
from tuner.tuning.storage import make_url_or_fail, open_artifact_store, open_storage
from tuner.tuning.study import (
    count_run_trials,
    create_sampler,
    fail_stale_trials,
    load_existing_study,
    open_study,
    record_baselines,
    remember_settings,
)
from tuner.tuning.worker import ClaimNextTrial, TrialBudget, run_trials

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
MAX_RESTARTS = 3  # replacement workers per run for workers that die (killed, out of memory)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class TuneResult:
    study: optuna.Study
    interrupted: bool  # stopped by Ctrl-C or SIGTERM; completed trials are kept


def fail_running_trials(study: optuna.Study, run_id: str, started: Collection[int] = ()) -> None:
    """Mark FAIL the trials of this run still RUNNING after a forced stop (a second signal) that
    cut their last database write short: those with its run id, and `started` (this process's,
    including one stopped before it stored the run id); other runs' trials are left to their own workers.
    A trial that Optuna finished after it was read as running is left as it is."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("run") == run_id or trial.number in started:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def new_run_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def tune(config: Config, url: str, workers: int = 1, progress: bool = True,
         allow_changed: bool = False, snapshot: bool = False) -> TuneResult:
    """Add `study.n_trials` trials (or run until `study.timeout`) to the configured study.

    `allow_changed`: run even when the data or split settings differ from the study's.
    `snapshot`: keep `data.path` in the study's artifact store as the data it is tuned on (a
    DataFrame given to `tuner.tune`); a study that has one resumes on it when `data.path` is missing."""
    resolve_device(config.train.device, config.train.precision)  # a device this machine lacks fails first
    placement = worker_devices(workers, config.train.device, config.train.devices)
    study, config, folds = open_tuned_study(config, url, allow_changed, snapshot)
    fail_stale_trials(study)  # trials left RUNNING by workers that died earlier
    run_id = new_run_id()
    deadline = time.time() + config.study.timeout if config.study.timeout else None
    seed_offset = len(study.get_trials(deepcopy=False))
    if workers == 1:
        study.sampler = create_sampler(config, seed_offset)  # later runs draw other random start-up trials
        started: list[int] = []
        try:
            run_trials(study, config, run_id, open_artifact_store(config, url), None, deadline, progress, folds,
                       started)
        except KeyboardInterrupt:
            fail_running_trials(study, run_id, started)
            return TuneResult(study, interrupted=True)
        except Exception:
            if STOP_REQUESTED.is_set():  # a forced stop landed inside a database write, which then failed
                fail_running_trials(study, run_id, started)
                return TuneResult(study, interrupted=True)
            raise
        return TuneResult(study, interrupted=STOP_REQUESTED.is_set())
    if make_url_or_fail(url).get_backend_name() == "sqlite":
        log.warning("%d workers share a SQLite file: fine on one machine for a few workers, but writes "
                    "queue on one lock; use PostgreSQL (--storage postgresql+psycopg2://...) for more", workers)
    pool = WorkerPool(config, url, run_id, workers, deadline, seed_offset, placement)
    return TuneResult(study, interrupted=pool.run(study, progress))


def open_tuned_study(config: Config, url: str, allow_changed: bool = False,
                     snapshot: bool = False) -> tuple[optuna.Study, Config, list[Dataset]]:
    """The study about to get trials (`tune`, `tuner submit`), created or checked against the
    settings it was tuned with, its baselines recorded; the config with the data it is tuned on
    (`snapshot`: keep `data.path` in its artifact store); and that data's folds. Bad data fails
    before the storage is opened, so nothing is stored."""
    if not (config.data.path.is_file() or snapshot) and has_snapshot(config, url):
        study = open_study(config, open_storage(url, config.study))  # a study tuned from a DataFrame: its data
        config = with_snapshot(study, config, url)
        folds = tuning_folds(config)
    else:
        folds = tuning_folds(config)
        study = open_study(config, open_storage(url, config.study))
    if snapshot:
        store_snapshot(study, config, url, allow_changed)
    remember_settings(study, config, allow_changed)
    record_baselines(study, baseline_errors(folds))
    return study, config, folds


def has_snapshot(config: Config, url: str) -> bool:
    """Whether the config's study exists and keeps the data it was tuned on (`tuner.tuning.snapshot`);
    a SQLite file that does not exist is not created to find out."""
    parsed = make_url_or_fail(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        return False
    try:
        return stored_snapshot(load_existing_study(config, url)) is not None
    except StorageError:
        return False


def worker_main(config: Config, url: str, run_id: str, seed_offset: int, workers: int, share: ClaimNextTrial | None,
                deadline: float | None, log_level: int = logging.WARNING) -> None:
    """Entry point of a worker process (spawned: a fresh interpreter that imports torch itself).

    `share`: this worker's claim on the run's trial budget (None: no trial limit).
    `log_level`: the parent's "tuner" logger level, so `-v` shows the workers' epochs too."""
    handle_stop_signals(sigint=False)  # it stops on its parent's SIGTERM
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("tuner").setLevel(log_level)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_threads(config.train.threads)
    try:
        study = open_study(config, open_storage(url, config.study), seed_offset)
        run_trials(study, config, run_id, open_artifact_store(config, url), share, deadline)
        if STOP_REQUESTED.is_set():
            sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        if STOP_REQUESTED.is_set():  # a forced stop landed inside a database write, which then failed
            sys.exit(130)
        raise
    except TunerError as exc:
        print(f"tuner: error: {exc}", file=sys.stderr)
        sys.exit(2)


@contextlib.contextmanager
def visible_gpu(gpu: str | None) -> Iterator[None]:
    """CUDA_VISIBLE_DEVICES set to `gpu` inside the block (unchanged for None)."""
    if gpu is None:
        yield
        return
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        yield
    finally:
        if before is None:
            del os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def placement_lines(placement: list[str | None], threads: int) -> list[str]:
    """Where each worker of `tune --workers` runs, for the terminal."""
    cpu = f"{threads} thread(s)" if threads else "threads as the idle cores allow"
    return [f"worker {index + 1}: GPU {gpu}" if gpu is not None else f"worker {index + 1}: CPU, {cpu}"
            for index, gpu in enumerate(placement)]


def stop_workers(processes: Iterable[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM each live worker, which fails its running trial after the current batch and exits."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    for process in alive:
        process.join(timeout=30)


class WorkerPool:
    """`workers` processes running one run's trials; replaces workers that die, and finishes
    trials that a dead worker left behind once Optuna's heartbeat has failed and re-queued them."""

    def __init__(self, config: Config, url: str, run_id: str, workers: int, deadline: float | None,
                 seed_offset: int, placement: list[str | None]) -> None:
        """`placement`: each worker's GPU (`device.worker_devices`), or None for the CPU."""
        self.config, self.url, self.run_id, self.workers = config, url, run_id, workers
        self.deadline, self.seed_offset, self.placement = deadline, seed_offset, placement
        self.context = multiprocessing.get_context("spawn")
        n_trials = config.study.n_trials
        self.budget = TrialBudget(self.context, n_trials, workers) if n_trials else None
        self.restarts = 0

    def start(self, index: int) -> multiprocessing.process.BaseProcess:
        """Start worker `index`; on a GPU, it sees only its own (CUDA_VISIBLE_DEVICES), as cuda."""
        gpu, config = self.placement[index], self.config
        if gpu is not None:
            config = replace(config, train=replace(config.train, device="cuda"))
        process = self.context.Process(
            target=worker_main, name=f"tuner-worker-{index}",
            args=(config, self.url, self.run_id, self.seed_offset + index, self.workers,
                  None if self.budget is None else ClaimNextTrial(self.budget, index), self.deadline,
                  logging.getLogger("tuner").getEffectiveLevel()),
        )
        with visible_gpu(gpu), child_environment(), sigint_blocked():  # a spawned process keeps the environment and blocked signals
            process.start()
        return process

    def done(self, study: optuna.Study) -> bool:
        n_trials = self.config.study.n_trials
        timed_out = self.deadline is not None and time.time() >= self.deadline
        return timed_out or bool(n_trials) and count_run_trials(study, self.run_id, FINISHED) >= n_trials

    def run(self, study: optuna.Study, progress: bool) -> bool:
        """Run until the run's trials are finished or a stop is requested; True when stopped."""
        from tqdm.auto import tqdm  # a widget in Jupyter where ipywidgets is present, else text

        threads = thread_count(self.config.train.threads)
        print("\n".join(placement_lines(self.placement, threads)), file=sys.stderr)  # where each worker runs
        bar = tqdm(total=self.config.study.n_trials or None, disable=not progress, unit="trial")
        processes = {i: self.start(i) for i in range(self.workers)}
        try:
            self.supervise(processes, study, bar)
        except KeyboardInterrupt:  # a second stop signal while watching: the workers are stopped all the same
            pass
        finally:
            stop_workers(processes.values())
            self.show(bar, study)
            bar.close()
        return STOP_REQUESTED.is_set()

    def supervise(self, processes: dict, study: optuna.Study, bar: object) -> None:
        """Keep `processes` running until the run's trials are finished or a stop is requested.

        Stale trials are failed (and re-queued) every heartbeat interval here, so a dead worker's
        trial is retried on time, not only when a worker next starts a trial."""
        next_stale_check = time.monotonic()
        while True:
            while processes and not STOP_REQUESTED.is_set():
                time.sleep(POLL_SECONDS)
                self.replace_dead(processes, study)
                if time.monotonic() >= next_stale_check:
                    fail_stale_trials(study)
                    next_stale_check = time.monotonic() + self.config.study.heartbeat_interval
                self.show(bar, study)
            if STOP_REQUESTED.is_set() or self.done(study) or not self.requeue_stale(study):
                return
            self.restarts += 1
            processes.update({i: self.start(i) for i in range(self.workers)})

    def replace_dead(self, processes: dict, study: optuna.Study) -> None:
        for index, process in list(processes.items()):
            if process.is_alive():
                continue
            del processes[index]
            if process.exitcode == 0:
                continue
            killed = process.exitcode < 0  # by a signal
            if killed and self.budget is not None:
                self.budget.return_slot(index)  # its trial, re-queued once stale, needs the slot
            if killed and self.restarts < MAX_RESTARTS and not self.done(study):
                log.warning("worker %d died (signal %d); starting a replacement", index, -process.exitcode)
                self.restarts += 1
                processes[index] = self.start(index)
            else:
                log.error("worker %d stopped with exit status %s", index, process.exitcode)

    def requeue_stale(self, study: optuna.Study) -> bool:
        """After every worker stopped short of the run's trials: wait for trials of dead workers
        to go stale, so Optuna fails and re-queues them. True if another round should run."""
        wait_until = time.time() + self.config.study.grace_period + 2 * self.config.study.heartbeat_interval
        while (count_run_trials(study, self.run_id, (TrialState.RUNNING,)) and time.time() < wait_until
               and not STOP_REQUESTED.is_set()):
            time.sleep(1)
            fail_stale_trials(study)
        queued = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return bool(queued) and self.restarts < MAX_RESTARTS and not STOP_REQUESTED.is_set()

    def show(self, bar: object, study: optuna.Study) -> None:
        bar.n = count_run_trials(study, self.run_id, FINISHED)
        try:
            bar.set_postfix_str(f"best {study.best_value:.4g}", refresh=False)
        except ValueError:
            pass
        bar.refresh()
