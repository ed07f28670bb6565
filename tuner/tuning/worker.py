"""One worker process: load the data once, then run trials of the shared study until the run is done."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from multiprocessing.context import BaseContext

import optuna
import sqlalchemy.exc

from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.errors import TrainingDiverged
from tuner.stopping import STOP_REQUESTED, TrialStopped
from tuner.tuning.evaluation import tuning_folds
from tuner.tuning.objective import Objective
from tuner.tuning.storage import ArtifactStore


class ExpectedFailureFilter(logging.Filter):
    """Optuna logs a failed trial with its traceback; for Ctrl-C, diverged training and a cancelled
    job the one-line message already says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and issubclass(record.exc_info[0], (KeyboardInterrupt, TrainingDiverged, TrialStopped)):
            record.exc_info = None
        return True


class TrialBudget:
    """The `n_trials` of one `tuner tune` run, shared by its worker processes (all on this machine).

    Optuna's `n_trials` counts per process, and counting the run's trials in the database races
    (two workers can both see 7 of 8 and both start one). Instead a worker claims a slot here,
    under a lock, before Optuna creates its next trial, so `--workers 2 --n-trials 8` starts
    exactly 8. A worker killed mid-trial gives its slot back (`return_slot`): the heartbeat re-queues
    its trial, and the retry needs one.
    """

    def __init__(self, context: BaseContext, n_trials: int, workers: int) -> None:
        self.n_trials = n_trials
        self.lock = context.Lock()
        self.claimed = context.Value("i", 0, lock=False)
        self.holding = context.Array("b", workers, lock=False)  # 1: worker i holds a slot not yet finished

    def claim(self, worker: int) -> bool:
        """Take a slot for worker `worker`'s next trial; False when the run's trials are all taken."""
        with self.lock:
            granted = self.claimed.value < self.n_trials
            self.claimed.value += granted
            self.holding[worker] = granted
            return granted

    def return_slot(self, worker: int) -> None:
        """Give back the slot of worker `worker`, which died before finishing its trial."""
        with self.lock:
            if self.holding[worker]:
                self.claimed.value -= 1
                self.holding[worker] = 0


@dataclass(frozen=True)
class ClaimNextTrial:
    """Study callback: after each trial, claim the slot for the next one, or stop the worker."""

    budget: TrialBudget
    worker: int

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not self.budget.claim(self.worker):
            study.stop()


def stop_when_requested(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Study callback: no further trials after a stop signal that came after a trial's last
    training batch (one that comes during training fails that trial and ends the run)."""
    if STOP_REQUESTED.is_set():
        study.stop()


def run_trials(study: optuna.Study, config: Config, run_id: str, artifacts: ArtifactStore,
               share: ClaimNextTrial | None = None, deadline: float | None = None, progress: bool = False,
               folds: list[Dataset] | None = None, started: list[int] | None = None) -> None:
    """Run trials of `study` (opened with this worker's own sampler seed) in this process:
    `study.n_trials` of them alone, or, with `share`, the trials this worker claims from the run's
    budget; each completed trial's weights go to `artifacts`.

    `folds`: the data, already loaded in this process, or None to load it. `started`: gets the
    number of each trial this process starts, before the trial's first database write.
    """
    for handler in logging.getLogger("optuna").handlers:  # logger filters would miss child loggers
        handler.addFilter(ExpectedFailureFilter())
    if folds is None:
        folds = tuning_folds(config)
    if STOP_REQUESTED.is_set():  # stopped while the data loaded
        return
    n_trials = config.study.n_trials or None
    callbacks = [stop_when_requested]
    if share is not None:
        if not share.budget.claim(share.worker):
            return
        callbacks, n_trials = [*callbacks, share], None
    timeout = None if deadline is None else max(0.0, deadline - time.time())
    # A dropped database connection fails only the trial it hit; pool_pre_ping reconnects for
    # the next. If the database stays down, `study.ask()` raises and the worker stops.
    study.optimize(Objective(config, folds, run_id, artifacts, started), n_trials=n_trials, timeout=timeout,
                   catch=(TrainingDiverged, sqlalchemy.exc.OperationalError), callbacks=callbacks,
                   show_progress_bar=progress)

