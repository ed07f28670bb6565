"""The study: sampler and pruner, creation and loading, the settings it was tuned with, its best
trial and baselines, and the bookkeeping of runs and stale trials."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.artifacts import download_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState

from tuner.config.export import config_to_dict, value_if_absent
from tuner.config.loading import build_config, renamed_keys
from tuner.config.names import current_params
from tuner.config.schema import Config, ParamsConfig, SplitConfig, TrainConfig
from tuner.errors import ConfigError, StorageError
from tuner.tuning.snapshot import with_snapshot
from tuner.tuning.storage import (
    WEIGHTS_ATTR,
    ArtifactStore,
    mask_password,
    open_artifact_store,
    open_storage,
    resolve_storage_url,
)

log = logging.getLogger(__name__)

PRUNE_WARMUP_EPOCHS = 2  # epochs every trial runs before the median or percentile pruner may stop it
PRUNE_PERCENTILE = 25.0  # `percentile`: a trial must stay within the best quarter at each epoch
HALVING_RATE = 3  # successive halving / Hyperband: a third of the trials reaching a rung go on
REFIT_MIN_EPOCHS = 10  # the refit's floor (or train.epochs, when lower)
SETTINGS_ATTR = "tuned_with"  # study user attribute: the settings of its trials
SETTINGS_SECTIONS = ("data", "split", "train", "search")
COMPARABLE_SECTIONS = ("data", "split")  # a change here changes what a trial's value means
RUNTIME_KEYS = {"data.path", "data.max_file_mb", "train.threads"}  # where and how a machine runs, not what


def create_sampler(config: Config, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
    """The configured sampler; workers of one study pass distinct offsets so their random
    start-up trials differ."""
    study = config.study
    seed = study.seed + seed_offset
    if study.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True: lstm_transformer's extra parameters are modelled jointly with the rest
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=study.startup_trials, multivariate=True, group=True,
            constant_liar=True,
        )


def create_pruner(config: Config) -> optuna.pruners.BasePruner:
    study = config.study
    if study.pruner == "hyperband":  # walk-forward folds report after the first fold's epochs
        from tuner.tuning.objective import max_resource  # imported here: study readers never load torch

        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource(config),
                                              reduction_factor=HALVING_RATE)
    if study.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=PRUNE_WARMUP_EPOCHS, reduction_factor=HALVING_RATE)
    if study.pruner == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1)
    if study.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=study.prune_startup_trials,
                                           n_warmup_steps=PRUNE_WARMUP_EPOCHS)
    if study.pruner == "percentile":
        return optuna.pruners.PercentilePruner(PRUNE_PERCENTILE, n_startup_trials=study.prune_startup_trials,
                                               n_warmup_steps=PRUNE_WARMUP_EPOCHS)
    return optuna.pruners.NopPruner()


def open_study(config: Config, storage: optuna.storages.BaseStorage | str, seed_offset: int = 0) -> optuna.Study:
    """Create the study, or load it if it exists and was made for the same metric."""
    try:
        study = optuna.create_study(
            storage=storage, study_name=config.study.name, direction=config.study.direction,
            sampler=create_sampler(config, seed_offset), pruner=create_pruner(config), load_if_exists=True,
        )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StorageError(f"study {config.study.name!r}: the storage failed: {str(exc).splitlines()[0]}") from None
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", config.study.metric)
    elif metric != config.study.metric:
        raise StorageError(f"study {config.study.name!r} optimizes {metric}, but study.metric = "
                           f"{config.study.metric!r}; use another study.name or the same metric")
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.study.metric])  # optuna-dashboard's label for the objective
    return study


def tuning_settings(config: Config) -> dict[str, dict[str, Any]]:
    """The settings that decide what the trials train and score, as plain data."""
    plain = config_to_dict(config)
    return {section: {key: value for key, value in plain[section].items() if f"{section}.{key}" not in RUNTIME_KEYS}
            for section in SETTINGS_SECTIONS}


def changed_settings(stored: dict[str, dict[str, Any]], config: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (the study's value, the config's value), for every setting that differs. A key
    the study's settings lack (stored by a tuner from before the key) counts as what leaving it
    out meant then (`export.value_if_absent`)."""
    current, stored = tuning_settings(config), renamed_keys(stored, None)
    return {f"{section}.{key}": (old, value) for section in SETTINGS_SECTIONS for key, value in current[section].items()
            if (old := stored.get(section, {}).get(key, value_if_absent(section, key))) != value}


def changes_text(changed: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{key} = {new!r} (the study's: {old!r})" for key, (old, new) in changed.items())


def remember_settings(study: optuna.Study, config: Config, allow_changed: bool = False) -> None:
    """Store the run's settings in the study on its first run. A later run whose data or split
    settings differ is refused (its trials would not be comparable) unless `allow_changed`;
    other changes (training, search space) are taken on with a notice."""
    stored = study.user_attrs.get(SETTINGS_ATTR)
    changed = {} if stored is None else changed_settings(stored, config)
    comparable = {key: values for key, values in changed.items() if key.split(".")[0] not in COMPARABLE_SECTIONS}
    if len(comparable) < len(changed) and not allow_changed:
        different = {key: values for key, values in changed.items() if key not in comparable}
        raise StorageError(f"study {study.study_name!r} was tuned with other settings: {changes_text(different)}; "
                           "its trials would not be comparable with new ones. Use another study.name, the study's "
                           "settings, or --allow-changed to run with these anyway")
    if changed:
        log.warning("study %r: this run changes %s; `tuner export`, `fit`, `best` and `report` will take this "
                    "run's settings", study.study_name, changes_text(changed))
    if stored is None or changed:
        study.set_user_attr(SETTINGS_ATTR, tuning_settings(config))


def tuned_config(study: optuna.Study, config: Config, notice: bool = True) -> Config:
    """`config` with the settings the study was tuned with; `notice`: saying so when the file differs."""
    stored = study.user_attrs.get(SETTINGS_ATTR)
    changed = {} if stored is None else changed_settings(stored, config)
    if not changed:
        return config
    log.log(logging.WARNING if notice else logging.DEBUG, "study %r was tuned with other settings than %s: using the study's, not %s",
                study.study_name, config.source, changes_text(changed))
    raw = config_to_dict(config)
    for key, (old, _) in changed.items():
        section, name = key.split(".")
        raw[section][name] = old
    return build_config(raw, config.source)


def count_run_trials(study: optuna.Study, run_id: str, states: Sequence[TrialState]) -> int:
    """Trials in `states` that one `tuner tune` command ran (tagged with its run id)."""
    return sum(t.user_attrs.get("run") == run_id for t in study.get_trials(deepcopy=False, states=states))


def load_existing_study(config: Config, url: str) -> optuna.Study:
    """The config's study, which must exist already (for commands that read it)."""
    try:
        return optuna.load_study(study_name=config.study.name, storage=open_storage(url))
    except KeyError:
        raise StorageError(f"no study {config.study.name!r} in {mask_password(url)}; "
                           "check study.name / --study, or run `tuner tune` first") from None


def open_for_reading(config: Config, cli_url: str | None = None,
                     notice: bool = True) -> tuple[optuna.Study, Config, str]:
    """The study the config names, which must exist; the config with the settings the study was
    tuned with (`tuned_config`, `notice`) and the data it keeps (`snapshot.with_snapshot`); and the
    storage URL."""
    url = resolve_storage_url(config, cli_url)
    study = load_existing_study(config, url)
    return study, with_snapshot(study, tuned_config(study, config, notice), url), url


def record_baselines(study: optuna.Study, baselines: dict[str, dict[str, float]]) -> None:
    """Store the baselines' validation metrics once per study, and a baseline added to tuner after
    the study began when a run first meets it; warn if the data has changed since."""
    stored = study.user_attrs.get("baselines")
    if stored is None or not set(baselines) <= set(stored):
        study.set_user_attr("baselines", {**baselines, **(stored or {})})
    if stored is None:
        return
    old, new = stored.get("seasonal_naive", {}).get("val_mae"), baselines["seasonal_naive"]["val_mae"]
    if old is None or not math.isclose(old, new, rel_tol=1e-9):
        log.warning("study %r: the validation data differ from when the study began (seasonal-naive MAE "
                    "%s, now %.6g); its trials are not comparable with new ones", study.study_name, old, new)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and so re-queue) RUNNING trials whose worker stopped sending heartbeats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The best completed trial; a StorageError when none has completed yet."""
    try:
        return study.best_trial
    except ValueError:
        raise StorageError(f"study {study.study_name!r} has no completed trial yet; run `tuner tune` first") from None


def top_trials(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The `top` best completed trials, best first."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(completed, key=lambda t: sign * t.value)[:top]


def completed_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial `number`, which must have completed."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    if number not in trials:
        raise StorageError(f"study {study.study_name!r} has no completed trial #{number}; `tuner best` lists them")
    return trials[number]


def refit_epochs(study: optuna.Study, best_epoch: int) -> int:
    """Epochs to retrain on train + validation: the trial's epochs to its best one, scaled by how
    many more rows the refit trains on, and never below a floor (a trial that peaked in its
    first epochs would otherwise be refitted for one or two epochs from fresh weights)."""
    tuned = study.user_attrs.get(SETTINGS_ATTR, {})
    split, train = tuned.get("split", {}), tuned.get("train", {})
    share, validation = split.get("train", SplitConfig.train), split.get("validation", SplitConfig.validation)
    grown = math.ceil((best_epoch + 1) * (share + validation) / share)
    return max(grown, min(REFIT_MIN_EPOCHS, train.get("epochs", TrainConfig.epochs)))


def params_of(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> ParamsConfig:
    """A completed trial's parameters, with the epochs to retrain (`refit_epochs`)."""
    if "best_epoch" not in trial.user_attrs:
        raise StorageError(f"trial #{trial.number} of study {study.study_name!r} has no best_epoch (it was not "
                           "run by tuner); export it by hand with params.epochs set")
    return ParamsConfig(**current_params(trial.params), epochs=refit_epochs(study, trial.user_attrs["best_epoch"]))


def best_params(study: optuna.Study) -> ParamsConfig:
    """The best trial's parameters, with the epochs to retrain."""
    return params_of(study, best_trial(study))


def fitted_trials(study: optuna.Study, config: Config, url: str, count: int, from_trial: int | None,
                  folder: Path) -> tuple[list[ParamsConfig], list[Path] | None]:
    """The parameters of the trials `tuner fit` uses: the `count` best (an ensemble when over 1),
    or trial `from_trial` when it is a number >= 0; with `from_trial` set (-1: the best), also
    their stored weights, downloaded into `folder`."""
    if from_trial is not None and from_trial >= 0 and count == 1:
        trials = [completed_trial(study, from_trial)]
    else:
        best_trial(study)  # raises when no trial has completed yet
        trials = top_trials(study, count)
        if len(trials) < count:
            raise ConfigError(f"fit.configs = {count} (--ensemble): study {study.study_name!r} has only {len(trials)} "
                              "completed trial(s); run more trials or ask for fewer")
    params = [params_of(study, trial) for trial in trials]
    if from_trial is None:
        return params, None
    store = open_artifact_store(config, url)
    return params, [trial_weights(study, trial, store, folder) for trial in trials]


def trial_weights(study: optuna.Study, trial: optuna.trial.FrozenTrial, store: ArtifactStore, folder: Path) -> Path:
    """Download the weights a completed trial stored (`Objective.store_weights`) into `folder`."""
    artifact = trial.user_attrs.get(WEIGHTS_ATTR)
    if artifact is None:
        raise StorageError(f"trial #{trial.number} of study {study.study_name!r} has no stored weights (it ran "
                           "before tuner stored them); fit it without --from-trial")
    path = folder / f"trial-{trial.number}-weights.pt"
    try:
        download_artifact(artifact_store=store, artifact_id=artifact, file_path=str(path))
    except ArtifactNotFound:
        raise StorageError(f"trial #{trial.number}'s weights ({artifact}) are not in the artifact store; check "
                           "study.artifacts, or fit it without --from-trial") from None
    return path
