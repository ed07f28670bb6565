"""One worker process: load the data once, then run trials of the shared study until the run is done."""

from __future__ import annotations

import logging
import time

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from tuner.config import Config
from tuner.data import Dataset
from tuner.errors import TrainingDiverged
from tuner.evaluation import tuning_folds
from tuner.tuning import STOP_REQUESTED
from tuner.tuning.objective import Objective
from tuner.tuning.storage import ArtifactStore
from tuner.tuning.study import count_run_trials

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # finished or under way


class ExpectedFailureFilter(logging.Filter):
    """Optuna logs a failed trial with its traceback; for Ctrl-C and diverged training the
    one-line message already says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and issubclass(record.exc_info[0], (KeyboardInterrupt, TrainingDiverged)):
            record.exc_info = None
        return True


class StopWhenRunIsDone:
    """Stop a worker once its run's trials, counted across all of the run's workers, reach `n_trials`.

    Optuna's `n_trials` counts per process; this is the study-wide count for one `tuner tune`
    command, so `--workers 2 --n-trials 8` runs 8 trials, not 16.
    """

    def __init__(self, run_id: str, n_trials: int) -> None:
        self.run_id, self.n_trials = run_id, n_trials

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if count_run_trials(study, self.run_id, COUNTED_STATES) >= self.n_trials:
            study.stop()


def stop_when_requested(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Study callback: no further trials after a stop signal (should its KeyboardInterrupt have
    been swallowed, e.g. inside a garbage-collector callback)."""
    if STOP_REQUESTED.is_set():
        study.stop()


def run_trials(study: optuna.Study, config: Config, run_id: str, artifacts: ArtifactStore, workers: int = 1,
               deadline: float | None = None, progress: bool = False, folds: list[Dataset] | None = None,
               started: list[int] | None = None) -> None:
    """Run trials of `study` (opened with this worker's own sampler seed) in this process:
    `study.n_trials` of them alone, or this worker's share of the run; each completed trial's
    weights go to `artifacts`.

    `folds`: the data, already loaded in this process, or None to load it. `started`: gets the
    number of each trial this process starts, before the trial's first database write.
    """
    for handler in logging.getLogger("optuna").handlers:  # logger filters would miss child loggers
        handler.addFilter(ExpectedFailureFilter())
    if folds is None:
        folds = tuning_folds(config)
    n_trials = config.study.n_trials or None
    callbacks = [stop_when_requested]
    if workers > 1 and n_trials:
        if count_run_trials(study, run_id, COUNTED_STATES) >= n_trials:
            return
        callbacks, n_trials = [*callbacks, StopWhenRunIsDone(run_id, n_trials)], None
    timeout = None if deadline is None else max(0.0, deadline - time.time())
    # A dropped database connection fails only the trial it hit; pool_pre_ping reconnects for
    # the next. If the database stays down, `study.ask()` raises and the worker stops.
    study.optimize(Objective(config, folds, run_id, artifacts, started), n_trials=n_trials, timeout=timeout,
                   catch=(TrainingDiverged, sqlalchemy.exc.OperationalError), callbacks=callbacks,
                   show_progress_bar=progress)

