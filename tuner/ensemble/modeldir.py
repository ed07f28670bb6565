"""A model directory on disk: `Forecaster.save` and `Forecaster.load` (see `tuner/ensemble/forecaster.py`
for its files). Each member writes its own state and files (`Member.save`), each file checked
against its SHA-256 sum; the rest is JSON."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tuner import __version__
from tuner.config.export import config_to_dict
from tuner.config.loading import build_config
from tuner.config.names import MEMBERS, member_kind
from tuner.data.scaling import Scaling
from tuner.data.static import StaticEncoding
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import ModelDirError
from tuner.evaluation.intervals import Calibration
from tuner.members import kind_of

FORMAT = 7  # 7: members weighed by ensemble selection, each with its own state; older formats mixed fixed members
FILES = ("model.json", "config.json", "metrics.json")
CALIBRATION = "calibration.json"  # optional: absent after --no-intervals
SERIES_METRICS = "series_metrics.csv"  # panels only
MEMBER_FILES = ("*weights*.pt", "*.skops")  # files members write, cleared before a model is saved over another


def save(forecaster: Forecaster, folder: Path) -> None:
    """Write the model directory `folder` (created; existing model files are replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in MEMBER_FILES:
        for path in folder.glob(pattern):
            path.unlink()
    members = {name: {"weight": forecaster.weights.get(name, 0.0), "backtest": forecaster.backtest.get(name),
                      "state": member.save(folder)} for name, member in forecaster.members.items()}
    manifest = {
        "format": FORMAT,
        "tuner_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "members": members,
        "ensemble": {"backtest": forecaster.backtest.get("model"), "metric": forecaster.config.study.metric},
        "columns": forecaster.config.data.columns,
        "scaler": forecaster.scaling.as_dict(),
        "series": [list(key) for key in forecaster.series],
        "static": forecaster.encoding.as_dict(),
        "seen": forecaster.seen,
        "trained_through": forecaster.trained_through,
        "scaled_on": forecaster.scaled_on,
    }
    write_json(folder / "model.json", manifest)
    write_json(folder / "config.json", config_to_dict(forecaster.config))
    write_json(folder / "metrics.json", forecaster.metrics)
    if forecaster.series_metrics is not None:
        forecaster.series_metrics.to_csv(folder / SERIES_METRICS, index=False)
    else:
        (folder / SERIES_METRICS).unlink(missing_ok=True)
    if forecaster.calibration is not None:
        write_json(folder / CALIBRATION, forecaster.calibration.as_dict())
    else:
        (folder / CALIBRATION).unlink(missing_ok=True)


def load(folder: Path) -> Forecaster:
    """Read a model directory, checking its format, completeness and files' checksums."""
    if not folder.is_dir():
        raise ModelDirError(f"{folder}: model directory not found (create one with `tuner fit ... -o {folder}`)")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ModelDirError(f"{folder}: incomplete model directory, missing {', '.join(missing)}; fit it again")
    try:
        manifest, raw_config, metrics = (json.loads((folder / name).read_text(encoding="utf-8"))
                                         for name in ("model.json", "config.json", "metrics.json"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{folder}: a JSON file is damaged ({exc}); fit the model again") from None
    if manifest.get("format") != FORMAT:
        raise ModelDirError(f"{folder}: written by tuner {manifest.get('tuner_version', '?')} in model format "
                            f"{manifest.get('format')!r}, whose members were mixed at fixed shares; this tuner "
                            f"{__version__} reads format {FORMAT}; fit it again")
    config = build_config(raw_config, folder / "config.json")
    entries = manifest.get("members", {})
    unknown = [name for name in entries if member_kind(name) not in MEMBERS]
    if unknown or "networks" not in entries:
        raise ModelDirError(f"{folder / 'model.json'}: " + (f"unknown member {unknown[0]!r}" if unknown else
                            "no networks member") + "; fit the model again")
    try:
        members = {name: kind_of(name).load(folder, entry["state"]) for name, entry in entries.items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelDirError(f"{folder / 'model.json'}: a member's state is damaged ({exc!r}); fit the model again") from None
    weights = {name: float(entry["weight"]) for name, entry in entries.items() if entry.get("weight")}
    backtest = {name: float(entry["backtest"]) for name, entry in entries.items() if entry.get("backtest") is not None}
    if manifest.get("ensemble", {}).get("backtest") is not None:
        backtest["model"] = float(manifest["ensemble"]["backtest"])
    seen = {column: (low, high) for column, (low, high) in manifest.get("seen", {}).items()}
    return Forecaster(members, weights, Scaling.from_dict(manifest["scaler"]), config, metrics, seen,
                      manifest.get("trained_through", ""), manifest.get("scaled_on", "train+validation"),
                      load_calibration(folder), tuple(tuple(key) for key in manifest.get("series", [[]])),
                      StaticEncoding.from_dict(manifest.get("static", {"categories": {}, "numeric": {}})),
                      load_series_metrics(folder), backtest)


def load_series_metrics(folder: Path) -> pd.DataFrame | None:
    """A panel model's per-series test metrics (series ids read as text), or None."""
    path = folder / SERIES_METRICS
    return pd.read_csv(path, dtype={column: str for column in json.loads(
        (folder / "config.json").read_text(encoding="utf-8"))["data"].get("series", [])}) if path.is_file() else None


def load_calibration(folder: Path) -> Calibration | None:
    """The intervals' residuals, or None for a directory without them."""
    path = folder / CALIBRATION
    if not path.is_file():
        return None
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{path}: damaged ({exc}); fit the model again") from None


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
