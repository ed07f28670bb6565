"""Storage URL resolution, study creation and loading, sampler and pruner, and the tuning run."""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from tuner.config import Config, ParamsConfig, StudyConfig
from tuner.errors import StorageError

log = logging.getLogger(__name__)

STORAGE_ENV = "TUNER_STORAGE"
PRUNE_WARMUP_EPOCHS = 2  # epochs every trial runs before the median pruner may stop it
CONNECT_TIMEOUT_SECONDS = 5
TABLE_RACE_RETRIES = 5  # attempts when concurrent first runs race to create Optuna's tables


def resolve_storage_url(config: Config, cli_url: str | None = None) -> str:
    """`--storage` > `$TUNER_STORAGE` > `study.storage` > SQLite beside the config file.

    A relative SQLite path in the config file is taken relative to the config file's folder,
    like `data.path`; one given on the command line or in the environment, relative to the
    current directory.
    """
    if cli_url:
        return cli_url
    if os.environ.get(STORAGE_ENV):
        return os.environ[STORAGE_ENV]
    if config.study.storage:
        url = make_url_or_fail(config.study.storage)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
            return str(url.set(database=str(config.source.parent.resolve() / url.database)))
        return config.study.storage
    return f"sqlite:///{config.source.parent.resolve() / (config.study.name + '.db')}"


def make_url_or_fail(url: str) -> sqlalchemy.engine.URL:
    try:
        return make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StorageError(f"storage URL {mask_password(url)!r} is not a valid SQLAlchemy URL "
                           "(e.g. sqlite:///studies/demo.db or postgresql+psycopg2://user@host/db)") from None


def mask_password(url: str) -> str:
    """The URL with its password replaced by ***, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return url.split("@")[-1] if "@" in url else url


def without_password(url: str) -> str:
    """The URL minus its password (for files that others read: exports, model directories)."""
    return make_url_or_fail(url)._replace(password=None).render_as_string(hide_password=False)  # set() skips None


def open_storage(url: str, study: StudyConfig | None = None) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with `pool_pre_ping`, so connections dropped by the server are replaced.

    With a study config (for workers that run trials), running trials send heartbeats, and a
    trial whose worker died is failed after the grace period and retried with the same parameters.
    """
    parsed = make_url_or_fail(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    heartbeat = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat: stable since 2.8
            if study is not None:
                heartbeat = {
                    "heartbeat_interval": study.heartbeat_interval,
                    "grace_period": study.grace_period,
                    "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=study.max_retries),
                }
            return create_rdb_storage(parsed, heartbeat)
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(f"storage URL {mask_password(url)!r}: unknown database driver "
                           f"{parsed.drivername!r}") from None
    except ModuleNotFoundError as exc:
        raise StorageError(f"storage URL {mask_password(url)!r}: driver module {exc.name!r} is not installed "
                           "(pip install 'tuner[postgres]' or 'tuner[mysql]')") from None
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(f"storage {mask_password(url)!r}: cannot connect ({reason})") from None
    except RuntimeError as exc:
        if "optuna storage upgrade" in str(exc):
            raise StorageError(f"storage {mask_password(url)!r} holds an Optuna schema older than Optuna "
                               f"{optuna.__version__}; back it up, then run `optuna storage upgrade --storage URL`") from None
        if "pip install -U optuna" in str(exc):
            raise StorageError(f"storage {mask_password(url)!r} was set up by a newer Optuna than "
                               f"{optuna.__version__}; upgrade optuna (pip install -U optuna)") from None
        raise


def create_rdb_storage(url: sqlalchemy.engine.URL, heartbeat: dict) -> optuna.storages.RDBStorage:
    """RDBStorage, tolerating another process creating Optuna's tables at the same moment."""
    attempt = 1
    while True:
        try:
            # rendered: a password's { or } is percent-encoded, as Optuna str.format()s the URL
            return optuna.storages.RDBStorage(url.render_as_string(hide_password=False),
                                              engine_kwargs=engine_options(url), **heartbeat)
        except sqlalchemy.exc.DBAPIError as exc:
            lost_race = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)
            if not lost_race or attempt == TABLE_RACE_RETRIES:
                raise
        time.sleep(0.2 * attempt)
        attempt += 1


def engine_options(url: sqlalchemy.engine.URL) -> dict:
    """`pool_pre_ping` on every backend, and a connect timeout so an unreachable host fails fast."""
    options: dict = {"pool_pre_ping": True}
    if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return options


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
        last_step = config.train.epochs + (config.split.folds - 1 if config.split.folds > 1 else 0)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=last_step)
    if study.pruner == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1)
    if study.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=study.startup_trials,
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
    return study


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


def record_baselines(study: optuna.Study, baselines: dict[str, dict[str, float]]) -> None:
    """Store the baselines' validation metrics once per study; warn if the data has changed since."""
    stored = study.user_attrs.get("baselines")
    if stored is None:
        study.set_user_attr("baselines", baselines)
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


def best_params(study: optuna.Study) -> ParamsConfig:
    """The best trial's parameters, with the epochs to retrain (its best epoch + 1)."""
    best = best_trial(study)
    if "best_epoch" not in best.user_attrs:
        raise StorageError(f"trial #{best.number} of study {study.study_name!r} has no best_epoch (it was not "
                           "run by tuner); export it by hand with params.epochs set")
    return ParamsConfig(**best.params, epochs=best.user_attrs["best_epoch"] + 1)
