"""A model directory: everything needed to rebuild a fitted model and forecast with it.

    weights.pt     torch.save of the state dict (tensors only; loaded with weights_only=True)
    model.json     format, tuner version, architecture, parameters, scaler, weights checksum
    config.json    the full study config the model was fitted with
    metrics.json   test metrics of the model and the baselines

No pickled Python objects: a model directory can be read by anyone without running code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tuner import __version__
from tuner.config import Config, ModelConfig, ParamsConfig, build_config
from tuner.data import PANDAS_FREQ, Dataset, load_with_plan
from tuner.errors import DataError, TunerError
from tuner.export import config_to_dict
from tuner.fitting import FittedModel
from tuner.models import LSTMForecaster, build_model
from tuner.train import predict, predict_windows

FORMAT = 1  # bump when the directory layout or model.json changes incompatibly
FILES = ("weights.pt", "model.json", "config.json", "metrics.json")


class ModelDirError(TunerError):
    """A model directory is missing, incomplete, from another format or tampered with."""


@dataclass
class LoadedModel:
    model: LSTMForecaster
    config: Config
    params: ParamsConfig
    mean: np.ndarray  # scaler, per input column (target last)
    scale: np.ndarray
    metrics: dict
    seen: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> (min, max) of the fitted rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(fitted: FittedModel, config: Config, folder: Path) -> None:
    """Write `fitted` to `folder` (created; existing model files are replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.pt"
    torch.save(fitted.model.state_dict(), weights)
    scaler = fitted.dataset.scaler
    fitted_rows = fitted.dataset.values[slice(*fitted.dataset.bounds["train+validation"])]
    manifest = {
        "format": FORMAT,
        "tuner_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": asdict(fitted.model.config),
        "params": asdict(fitted.params),
        "columns": config.data.columns,
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
        "seen": dict(zip(config.data.columns, zip(fitted_rows.min(axis=0).tolist(), fitted_rows.max(axis=0).tolist()))),
        "trained_through": fitted.dataset.dates[fitted.dataset.bounds["validation"][1] - 1].isoformat(),
        "weights_sha256": sha256(weights),
    }
    write_json(folder / "model.json", manifest)
    write_json(folder / "config.json", config_to_dict(config))
    write_json(folder / "metrics.json", fitted.metrics)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load(folder: Path) -> LoadedModel:
    """Read a model directory, checking its format, completeness and weights checksum."""
    if not folder.is_dir():
        raise ModelDirError(f"{folder}: model directory not found (create one with `tuner fit ... -o {folder}`)")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ModelDirError(f"{folder}: incomplete model directory, missing {', '.join(missing)}; fit it again")
    try:
        manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        raw_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{folder}: a JSON file is damaged ({exc}); fit the model again") from None
    if manifest.get("format") != FORMAT:
        raise ModelDirError(f"{folder}: written by tuner {manifest.get('tuner_version', '?')} in model format "
                            f"{manifest.get('format')!r}; this tuner {__version__} reads format {FORMAT}; fit it again")
    weights = folder / "weights.pt"
    if sha256(weights) != manifest.get("weights_sha256"):
        raise ModelDirError(f"{weights}: checksum does not match model.json; the file was changed or damaged")
    try:
        state = torch.load(weights, weights_only=True, map_location="cpu")
        architecture = {**manifest["model"], "known_columns": tuple(manifest["model"].get("known_columns", ()))}
        model = build_model(ModelConfig(**architecture))
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelDirError(f"{folder}: weights do not match model.json ({reason}); fit the model again") from None
    config = build_config(raw_config, folder / "config.json")
    scaler = manifest["scaler"]
    seen = {column: (low, high) for column, (low, high) in manifest.get("seen", {}).items()}
    return LoadedModel(model, config, ParamsConfig(**manifest["params"]), np.array(scaler["mean"]),
                       np.array(scaler["scale"]), metrics, seen)


@dataclass(frozen=True)
class ForecastInputs:
    """What a forecast from the end of a CSV needs: the last window and the plan."""

    dates: pd.DatetimeIndex  # the `horizon` forecast dates
    window: np.ndarray  # (1, window, columns), scaled like at fitting
    plan: pd.DataFrame  # known-future values at the forecast dates, in the data's units


def forecast_inputs(loaded: LoadedModel, csv: Path) -> ForecastInputs:
    """Read `csv`: its last `window` rows of history and, for models with known-future inputs,
    the planned values for the forecast dates (rows after the last target value)."""
    data = replace(loaded.config.data, path=csv)
    frame, plan = load_with_plan(data)
    if len(frame) < data.window:
        raise DataError(f"{csv}: {len(frame)} rows at frequency {data.frequency}, but the model needs the last "
                        f"data.window = {data.window}")
    window = (frame[data.columns].to_numpy()[-data.window:] - loaded.mean) / loaded.scale
    dates = pd.date_range(frame.index[-1], periods=data.horizon + 1, freq=PANDAS_FREQ[data.frequency])[1:]
    plan = plan[~plan.index.duplicated()].reindex(dates)
    missing = [f"{column} on {_dates_text(plan.index[plan[column].isna()])}"
               for column in data.known_future if plan[column].isna().any()]
    if missing:
        raise DataError(f"{csv}: the model takes planned values of its known-future inputs for the {data.horizon} "
                        f"forecast date(s) {_dates_text(dates)}; missing: {'; '.join(missing)} (add rows for those "
                        f"dates after the history, with {data.target} left empty)")
    return ForecastInputs(dates, window[None].astype(np.float32), plan)


def _dates_text(dates: pd.DatetimeIndex) -> str:
    text = ", ".join(f"{d:%Y-%m-%d}" for d in dates[:3])
    return text + (f" ... {dates[-1]:%Y-%m-%d}" if len(dates) > 3 else "")


def forecast_values(loaded: LoadedModel, inputs: ForecastInputs, plan: pd.DataFrame | None = None) -> np.ndarray:
    """The `horizon` forecasts in the target's units, under `plan` (default: the CSV's own)."""
    plan = inputs.plan if plan is None else plan
    future = None
    if loaded.config.data.known_future:
        columns = list(loaded.config.data.known_future_columns)
        future = ((plan.to_numpy() - loaded.mean[columns]) / loaded.scale[columns])[None].astype(np.float32)
    scaled = predict(loaded.model, inputs.window, future)[0]
    return scaled * loaded.scale[-1] + loaded.mean[-1]


def forecast(loaded: LoadedModel, csv: Path) -> pd.DataFrame:
    """Forecast the `horizon` steps after the last target value of `csv`, from its last `window` rows."""
    data = loaded.config.data
    inputs = forecast_inputs(loaded, csv)
    return pd.DataFrame({data.date_column: inputs.dates.strftime("%Y-%m-%d"),
                         f"{data.target}_forecast": forecast_values(loaded, inputs)})


def forecast_test_part(loaded: LoadedModel) -> tuple[Dataset, np.ndarray]:
    """The model's data split and scaled as at fitting, and its test forecast in the target's units."""
    data = loaded.config.data
    dataset = Dataset.from_config(data, loaded.config.split, scale_on="train+validation")
    if not (np.allclose(dataset.scaler.mean_, loaded.mean) and np.allclose(dataset.scaler.scale_, loaded.scale)):
        raise DataError(f"{data.path}: the data changed since the model was fitted on it; fit the model again")
    return dataset, dataset.to_units(predict_windows(loaded.model, dataset.windows("test")))
