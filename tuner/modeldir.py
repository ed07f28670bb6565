"""A model directory on disk: `Forecaster.save` and `Forecaster.load` (see `tuner/forecaster.py`
for its files). Weights are tensors only and the boosting member a skops file, each checked
against its SHA-256 sum; the rest is JSON."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from tuner import __version__
from tuner.boosting import Boosting
from tuner.config import ModelConfig, ParamsConfig, build_config
from tuner.errors import ModelDirError
from tuner.ets import Smoothing
from tuner.export import config_to_dict
from tuner.forecaster import Forecaster
from tuner.intervals import Calibration
from tuner.linear import Linear
from tuner.members import Member
from tuner.models import build_model
from tuner.scaling import Scaling
from tuner.static import StaticEncoding

FORMAT = 6  # 6: a linear member; 5: Theta in the exponential smoothing member; 4: an exponential smoothing member; 3: a boosting
# member (older tuners refuse each instead of forecasting without it); 2: members
READABLE = (1, 2, 3, 4, 5, FORMAT)  # format 1 directories (one network), 2 (no boosting member), 3 (no exponential
# smoothing), 4 (ETS alone, without Theta) and 5 (no linear member) are still read
FILES = ("weights.pt", "model.json", "config.json", "metrics.json")
CALIBRATION = "calibration.json"  # optional: absent after --no-intervals or from before prediction intervals
SERIES_METRICS = "series_metrics.csv"  # panels only
BOOSTING = "boosting.skops"  # models combined with gradient boosting only


def weights_name(index: int) -> str:
    return "weights.pt" if index == 0 else f"weights-{index + 1}.pt"


def save(forecaster: Forecaster, folder: Path) -> None:
    """Write the model directory `folder` (created; existing model files are replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = []
    for index, member in enumerate(forecaster.members):
        weights = folder / weights_name(index)
        torch.save(member.network.state_dict(), weights)
        members.append({"model": asdict(member.network.config), "params": asdict(member.params),
                        "window": member.window, "seed": member.seed, "weights": weights.name,
                        "weights_sha256": sha256(weights)})
    manifest = {
        "format": FORMAT,
        "tuner_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "members": members,
        "combine": forecaster.combine,
        "columns": forecaster.config.data.columns,
        "scaler": forecaster.scaling.as_dict(),
        "series": [list(key) for key in forecaster.series],
        "static": forecaster.encoding.as_dict(),
        "seen": forecaster.seen,
        "trained_through": forecaster.trained_through,
        "scaled_on": forecaster.scaled_on,
        "boosting_weight": forecaster.boosting_weight,
        "boosting_on": forecaster.boosting_on,
        "smoothing_weight": forecaster.smoothing_weight,
        "smoothing": forecaster.smoothing.as_dict() if forecaster.smoothing else None,
        "smoothing_scores": {f"{weight:g}": score for weight, score in forecaster.smoothing_scores.items()},
        "linear_weight": forecaster.linear_weight,
        "linear": forecaster.linear.as_dict() if forecaster.linear else None,
        "linear_scores": {f"{weight:g}": score for weight, score in forecaster.linear_scores.items()},
    }
    if forecaster.boosting is not None:
        forecaster.boosting.save(folder / BOOSTING)
        manifest["boosting_sha256"] = sha256(folder / BOOSTING)
    else:
        (folder / BOOSTING).unlink(missing_ok=True)
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
    """Read a model directory, checking its format, completeness and weights checksums."""
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
    if manifest.get("format") not in READABLE:
        raise ModelDirError(f"{folder}: written by tuner {manifest.get('tuner_version', '?')} in model format "
                            f"{manifest.get('format')!r}; this tuner {__version__} reads formats "
                            f"{', '.join(map(str, READABLE))}; fit it again")
    config = build_config(raw_config, folder / "config.json")
    entries = manifest["members"] if manifest["format"] >= 2 else [
        {**manifest, "window": config.data.window, "weights": "weights.pt"}]
    members = [load_member(folder, entry) for entry in entries]
    seen = {column: (low, high) for column, (low, high) in manifest.get("seen", {}).items()}
    return Forecaster(members, Scaling.from_dict(manifest["scaler"]), config, metrics, seen,
                      manifest.get("trained_through", ""), manifest.get("scaled_on", "train+validation"),
                      manifest.get("combine", "mean"), load_calibration(folder),
                      tuple(tuple(key) for key in manifest.get("series", [[]])),
                      StaticEncoding.from_dict(manifest.get("static", {"categories": {}, "numeric": {}})),
                      load_series_metrics(folder), *load_boosting(folder, manifest),
                      manifest.get("boosting_on", manifest.get("scaled_on", "train+validation")),
                      *load_smoothing(folder, manifest), *load_linear(folder, manifest))


def load_smoothing(folder: Path, manifest: dict[str, Any]) -> tuple[Smoothing | None, float, dict[float, float]]:
    """The exponential smoothing member, its weight and the scores its weight was chosen on; (None,
    0, {}) for a model without it (and for directories from before it)."""
    return load_mixed(folder, manifest, "smoothing", Smoothing.from_dict, "exponential smoothing member")


def load_linear(folder: Path, manifest: dict[str, Any]) -> tuple[Linear | None, float, dict[float, float]]:
    """The linear member, its weight and the scores its weight was chosen on, as `load_smoothing`."""
    return load_mixed(folder, manifest, "linear", Linear.from_dict, "linear member")


def load_mixed(folder: Path, manifest: dict[str, Any], key: str, build: Callable[[Any], Any],
               what: str) -> tuple[Any, float, dict[float, float]]:
    """A member mixed in at a share chosen on held-out rows, from manifest[key], its weight
    (`<key>_weight`) and scores (`<key>_scores`); (None, 0, scores) at weight 0 or where absent."""
    scores = {float(weight): float(score) for weight, score in manifest.get(f"{key}_scores", {}).items()}
    weight = float(manifest.get(f"{key}_weight", 0.0))
    if not weight:
        return None, 0.0, scores
    try:
        return build(manifest[key]), weight, scores
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{folder / 'model.json'}: its {what} is damaged ({exc!r}); fit the model again") from None


def load_boosting(folder: Path, manifest: dict[str, Any]) -> tuple[Boosting | None, float]:
    """The boosting member and its weight; (None, 0) for a model of networks alone (and for
    directories from before boosting members)."""
    weight = float(manifest.get("boosting_weight", 0.0))
    if not weight:
        return None, 0.0
    path = folder / BOOSTING
    if not path.is_file():
        raise ModelDirError(f"{folder}: incomplete model directory, missing {BOOSTING}; fit it again")
    if sha256(path) != manifest.get("boosting_sha256"):
        raise ModelDirError(f"{path}: checksum does not match model.json; the file was changed or damaged")
    try:
        return Boosting.load(path), weight
    except (TypeError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # untrusted types: TypeError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelDirError(f"{path}: not a boosting member this tuner can read ({reason}); fit the model again") from None


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


def load_member(folder: Path, entry: dict[str, Any]) -> Member:
    weights = folder / entry["weights"]
    if not weights.is_file():
        raise ModelDirError(f"{folder}: incomplete model directory, missing {entry['weights']}; fit it again")
    if sha256(weights) != entry.get("weights_sha256"):
        raise ModelDirError(f"{weights}: checksum does not match model.json; the file was changed or damaged")
    try:
        state = torch.load(weights, weights_only=True, map_location="cpu")
        shape = entry["model"]
        network = build_model(ModelConfig(**{**shape, "known_columns": tuple(shape["known_columns"]),
                                             "static_levels": tuple(shape.get("static_levels", ())),
                                             "levelled_columns": tuple(shape.get("levelled_columns", ()))}))
        network.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelDirError(f"{folder}: weights do not match model.json ({reason}); fit the model again") from None
    return Member(network, ParamsConfig(**entry["params"]), entry["window"], entry.get("seed"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
