"""The data a study was tuned on, kept in its artifact store: a study tuned from a DataFrame (the
Python API) stores the CSV it wrote with its SHA-256, so that later runs, `export`, `fit` and
workers in other processes or on other machines read the same rows, checked against the hash."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from tuner.config.schema import Config
from tuner.data.frames import snapshot_name
from tuner.errors import StorageError
from tuner.tuning.storage import beside_storage, open_artifact_store

SNAPSHOT_ATTR = "data_snapshot"  # study user attribute: {"artifact_id", "sha256", "bytes"} of the data tuned on


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_folder(config: Config, url: str) -> Path:
    """Where this machine keeps its copies of the study's snapshots: beside its other local files."""
    return beside_storage(config, url) / f"{config.study.name}-data"


def stored_snapshot(study: optuna.Study) -> dict[str, Any] | None:
    return study.user_attrs.get(SNAPSHOT_ATTR)


def store_snapshot(study: optuna.Study, config: Config, url: str, allow_changed: bool = False) -> None:
    """Keep `data.path` in the study's artifact store as the data it is tuned on (once per content).
    A study tuned on other data is refused unless `allow_changed`, as for changed settings."""
    path = config.data.path
    digest = sha256_of(path)
    stored = stored_snapshot(study)
    if stored is not None and stored["sha256"] == digest:
        return
    if stored is not None and not allow_changed:
        raise StorageError(f"study {study.study_name!r} was tuned on other data (SHA-256 {stored['sha256'][:16]}..., "
                           f"this data's {digest[:16]}...); its trials would not be comparable with new ones. Use "
                           "another study.name, the same data, or --allow-changed (allow_changed=True) to run on "
                           "this data anyway")
    artifact_id = upload_artifact(artifact_store=open_artifact_store(config, url), file_path=str(path),
                                  study_or_trial=study, mimetype="text/csv")
    study.set_user_attr(SNAPSHOT_ATTR, {"artifact_id": artifact_id, "sha256": digest, "bytes": path.stat().st_size})


def with_snapshot(study: optuna.Study, config: Config, url: str) -> Config:
    """`config` reading the study's snapshot, fetched from its artifact store into this machine's
    copy when that is missing; unchanged for a study tuned from a file. A StorageError when the
    artifact is gone or its SHA-256 differs from the one stored with the study."""
    stored = stored_snapshot(study)
    if stored is None:
        return config
    local = snapshot_folder(config, url) / snapshot_name(stored["sha256"])
    if not (local.is_file() and sha256_of(local) == stored["sha256"]):
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_suffix(f".{os.getpid()}.part")
        try:
            download_artifact(artifact_store=open_artifact_store(config, url), file_path=str(partial),
                              artifact_id=stored["artifact_id"])
        except ArtifactNotFound:
            partial.unlink(missing_ok=True)
            raise StorageError(f"study {study.study_name!r}: its data snapshot (artifact {stored['artifact_id']}) "
                               "is not in the artifact store; set "
                               "study.artifacts to the store it was tuned with") from None
        if sha256_of(partial) != stored["sha256"]:
            partial.unlink()
            raise StorageError(f"study {study.study_name!r}: its data snapshot (artifact {stored['artifact_id']}) "
                               f"does not match the SHA-256 stored with the study ({stored['sha256'][:16]}...); "
                               "the artifact store was changed after tuning")
        partial.replace(local)
    return replace(config, data=replace(config.data, path=local))
