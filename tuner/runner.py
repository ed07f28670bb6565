"""A tuning run: load the data once, open the study and run trials in this process."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import optuna

from tuner.config import Config
from tuner.data import Dataset
from tuner.metrics import forecast_errors
from tuner.search import Objective
from tuner.study import open_storage, open_study, record_baselines
from tuner.train import TrainingDiverged, configure_threads


class ExpectedFailureFilter(logging.Filter):
    """Optuna logs a failed trial with its traceback; for Ctrl-C and diverged training the
    one-line message already says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and issubclass(record.exc_info[0], (KeyboardInterrupt, TrainingDiverged)):
            record.exc_info = None
        return True


@dataclass(frozen=True)
class TuneResult:
    study: optuna.Study
    interrupted: bool  # stopped by Ctrl-C; completed trials are kept


def baseline_errors(dataset: Dataset) -> dict[str, dict[str, float]]:
    """Validation metrics of the naive and seasonal-naive forecasts, on the trials' own targets."""
    actual = dataset.actuals("validation")
    return {
        name: forecast_errors(actual, forecast, prefix="val_")
        for name, forecast in dataset.baseline_forecasts("validation").items()
    }


def tune(config: Config, storage_url: str, progress: bool = True) -> TuneResult:
    """Add `study.n_trials` trials (or run until `study.timeout`) to the configured study."""
    dataset = Dataset.from_config(config.data, config.split)
    configure_threads(config.train.threads)
    for handler in logging.getLogger("optuna").handlers:  # logger filters would miss child loggers
        handler.addFilter(ExpectedFailureFilter())
    study = open_study(config, open_storage(storage_url))
    record_baselines(study, baseline_errors(dataset))
    try:
        study.optimize(
            Objective(config, dataset),
            n_trials=config.study.n_trials or None,
            timeout=config.study.timeout or None,
            catch=(TrainingDiverged,),
            show_progress_bar=progress,
        )
    except KeyboardInterrupt:
        return TuneResult(study, interrupted=True)
    return TuneResult(study, interrupted=False)
