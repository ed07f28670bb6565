"""The objective: train one sampled configuration on the shared folds, report its steps to the
pruner, and store its metrics. This module owns the pruning step numbering."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.artifacts import upload_artifact

from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.errors import TrainingDiverged
from tuner.networks.device import release, resolve_device
from tuner.networks.models import count_parameters
from tuner.networks.training import EpochResult
from tuner.networks.trialweights import save_trial_weights
from tuner.tuning.evaluation import Evaluation, Evaluator
from tuner.tuning.space import suggest_params
from tuner.tuning.storage import WEIGHTS_ATTR, ArtifactStore

log = logging.getLogger(__name__)


def fold_step(config: Config, fold: int) -> int:
    """The step at which the mean over folds 0..`fold` is reported: after the first fold's
    epochs (steps 0 .. train.epochs - 1); the Wilcoxon pruner gets one step per fold instead."""
    return fold if config.study.pruner == "wilcoxon" else config.train.epochs + fold


def max_resource(config: Config) -> int:
    """Hyperband's maximum resource: the last fold's step, or train.epochs with a single split."""
    return fold_step(config, config.split.folds - 1) if config.split.folds > 1 else config.train.epochs


class Objective:
    """Train one sampled model on the shared folds and return its mean validation metric.

    Reports the configured metric after every epoch of the first fold, and the mean over the
    folds done so far after each fold (`fold_step`), so the pruner can stop bad trials early;
    the Wilcoxon pruner gets each fold's value instead. Every validation metric and training
    fact is stored as a user attribute.
    """

    def __init__(self, config: Config, folds: list[Dataset], run_id: str = "",
                 artifacts: ArtifactStore | None = None, started: list[int] | None = None) -> None:
        """`artifacts`: where each completed trial's weights are uploaded (None: not stored);
        `started`: gets each trial's number as it starts, before its first database write."""
        self.config = config
        self.run_id = run_id
        self.evaluator = Evaluator(config, folds)
        self.artifacts = artifacts
        self.device = resolve_device(config.train.device, config.train.precision)
        self.started = [] if started is None else started

    def __call__(self, trial: optuna.Trial) -> float:
        """Run one trial; whatever it ends with, its device memory is handed back after it."""
        self.started.append(trial.number)
        try:
            return self.run(trial)
        finally:
            release(self.device)

    def run(self, trial: optuna.Trial) -> float:
        if self.run_id:
            trial.set_user_attr("run", self.run_id)  # the `tuner tune` command that ran it
        params = suggest_params(trial, self.config.search)
        metric = self.config.study.metric
        per_fold = self.config.study.pruner == "wilcoxon"
        several = len(self.evaluator.folds) > 1

        def report_epoch(epoch: EpochResult, errors: dict[str, float]) -> None:
            value = errors[metric]
            log.info("trial %d epoch %d: train loss %.4f, validation loss %.4f, %s %.4g",
                     trial.number, epoch.epoch, epoch.train_loss, epoch.val_loss, metric, value)
            trial.report(value, epoch.epoch)
            if trial.should_prune():
                trial.set_user_attr("epochs_run", epoch.epoch + 1)
                raise optuna.TrialPruned(f"pruned after epoch {epoch.epoch} with {metric} = {value:.4g}")

        def report_fold(index: int, fold_errors: list[dict[str, float]]) -> None:
            for key in fold_errors[0]:
                trial.set_user_attr(f"{key}_folds", [errors[key] for errors in fold_errors])
            values = [errors[metric] for errors in fold_errors]
            log.info("trial %d fold %d: %s %.4g", trial.number, index, metric, values[-1])
            trial.report(values[-1] if per_fold else float(np.mean(values)), fold_step(self.config, index))
            if index < len(self.evaluator.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {index} with mean {metric} = {np.mean(values):.4g}")

        started = time.perf_counter()
        try:
            result = self.evaluator.evaluate(params, self.config.study.seed + trial.number,
                                             on_epoch=None if per_fold else report_epoch,
                                             on_fold=report_fold if several else None,
                                             on_model=lambda model: trial.set_user_attr("n_params",
                                                                                        count_parameters(model)))
        except TrainingDiverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise
        finally:
            trial.set_user_attr("train_seconds", round(time.perf_counter() - started, 3))
        for key, value in result.errors.items():
            trial.set_user_attr(key, value)
        if self.config.data.horizon > 1:
            for key, values in result.step_errors.items():
                trial.set_user_attr(f"{key}_by_step", values)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        if self.artifacts is not None:
            self.store_weights(trial, result)
        return result.errors[metric]

    def store_weights(self, trial: optuna.Trial, result: Evaluation) -> None:
        """Upload the trial's network (its last fold's) as an Optuna artifact, for `tuner fit --from-trial`."""
        with tempfile.TemporaryDirectory(prefix="tuner-trial-") as folder:
            path = Path(folder) / f"trial-{trial.number}-weights.pt"
            save_trial_weights(result.network, result.scaling, path)
            artifact = upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial,
                                       mimetype="application/octet-stream")
        trial.set_user_attr(WEIGHTS_ATTR, artifact)
