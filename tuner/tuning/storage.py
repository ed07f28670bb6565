"""Storage: the SQLAlchemy URL (flag > environment > config > SQLite default), passwords kept out
of messages and files, and Optuna's RDB storage with heartbeats and `pool_pre_ping`."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy.event
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from tuner.config.schema import Config, StudyConfig
from tuner.errors import StorageError
from tuner.tuning.batched import BatchedRDBStorage

STORAGE_ENV = "TUNER_STORAGE"
CONNECT_TIMEOUT_SECONDS = 5
TABLE_RACE_RETRIES = 5  # attempts when concurrent first runs race to create Optuna's tables
WEIGHTS_ATTR = "weights_artifact"  # trial user attribute: the artifact id of the trial's stored weights
ArtifactStore = optuna.artifacts.FileSystemArtifactStore | optuna.artifacts.Boto3ArtifactStore


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


def open_storage(url: str, study: StudyConfig | None = None,
                 stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
                 ) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with `pool_pre_ping`, so connections dropped by the server are replaced.

    With a study config (for workers that run trials), running trials send heartbeats, and a
    trial whose worker died is failed after the grace period and retried with the same parameters
    (or handed to `stale`, which retries it: `tuner.tuning.service.RetryAndReturnClaim`).
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
                    "heartbeat_stale_trial_callback": stale or optuna.storages.RetryHeartbeatStaleTrialCallback(
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


def create_rdb_storage(url: sqlalchemy.engine.URL, heartbeat: dict) -> BatchedRDBStorage:
    """The RDB storage (reports and user attributes written in batches: `tuner.tuning.batched`),
    tolerating another process creating Optuna's tables at the same moment."""
    attempt = 1
    while True:
        try:
            # rendered: a password's { or } is percent-encoded, as Optuna str.format()s the URL
            storage = BatchedRDBStorage(url.render_as_string(hide_password=False),
                                        engine_kwargs=engine_options(url), **heartbeat)
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                use_write_ahead_log(storage.engine)
            return storage
        except sqlalchemy.exc.DBAPIError as exc:
            lost_race = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)
            if not lost_race or attempt == TABLE_RACE_RETRIES:
                raise
        time.sleep(0.2 * attempt)
        attempt += 1


def use_write_ahead_log(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in write-ahead-log mode with `synchronous=NORMAL`: a commit appends to the log
    without waiting for the disk (about half the cost per trial write), and readers such as
    optuna-dashboard never block the study's writers. An application crash loses nothing; a
    power cut may lose the last commits, never the file's consistency. WAL needs a local disk."""

    def set_pragmas(connection: object, record: object) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file; set again on each connection
        cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", set_pragmas)
    engine.dispose()  # connections opened while Optuna set up its tables reconnect with the pragmas


def engine_options(url: sqlalchemy.engine.URL) -> dict:
    """`pool_pre_ping` on every backend, and a connect timeout so an unreachable host fails fast."""
    options: dict = {"pool_pre_ping": True}
    if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return options


def artifact_location(config: Config, url: str) -> str:
    """`study.artifacts` made absolute: an s3://bucket as it is, else the folder `open_artifact_store` uses."""
    location = config.study.artifacts
    if location.startswith("s3://"):
        return location
    if location:
        folder = Path(location.removeprefix("file://")).expanduser()
        return str(folder if folder.is_absolute() else config.source.parent.resolve() / folder)
    return str(beside_storage(config, url) / f"{config.study.name}-artifacts")


def open_artifact_store(config: Config, url: str) -> ArtifactStore:
    """Where trials' weights go (`study.artifacts`): a folder (or file:// URL), or an s3://bucket;
    by default a folder beside the SQLite file, or beside the config file for server databases
    (set study.artifacts to a shared folder or bucket when workers run on several machines)."""
    location = config.study.artifacts
    if location.startswith("s3://"):
        bucket = location.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise StorageError(f"study.artifacts = {location!r}: expected s3://BUCKET (no folder inside it)")
        try:
            return optuna.artifacts.Boto3ArtifactStore(bucket)
        except ImportError:
            raise StorageError(f"study.artifacts = {location!r} needs boto3 (pip install boto3)") from None
    if "://" in location and not location.startswith("file://"):
        raise StorageError(f"study.artifacts = {location!r}: expected a folder, file://FOLDER or s3://BUCKET")
    folder = Path(artifact_location(config, url))
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(folder)


def beside_storage(config: Config, url: str) -> Path:
    """The folder of the study's local files: the SQLite file's, or the config file's for server databases."""
    parsed = make_url_or_fail(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    return Path(parsed.database).parent if sqlite_file else config.source.parent.resolve()
