"""The fitted forecaster: a network, the scaling it was trained with and the config, with
fit / forecast / save / load. `tuner fit`, `predict`, `whatif`, `report --model`, and the
benchmarks all go through it.

A model directory holds:

    weights.pt     torch.save of the state dict (tensors only; loaded with weights_only=True)
    model.json     format, tuner version, architecture, parameters, scaling, weights checksum
    config.json    the full study config the model was fitted with
    metrics.json   test metrics of the model and the baselines

No pickled Python objects: a model directory can be read by anyone without running code.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tuner import __version__
from tuner.config import Config, ModelConfig, ParamsConfig, build_config
from tuner.data import PANDAS_FREQ, Dataset, Windows, load_frame, load_with_plan
from tuner.errors import DataError, ModelDirError
from tuner.export import config_to_dict
from tuner.metrics import errors_by_step, forecast_errors
from tuner.models import LSTMForecaster, build_model, model_config
from tuner.scaling import Scaling
from tuner.train import EpochResult, fit, predict, seeded

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the directory layout or model.json changes incompatibly
FILES = ("weights.pt", "model.json", "config.json", "metrics.json")


@dataclass(frozen=True)
class TestForecast:
    """The forecaster's test part: the data as fitted, and its forecast of every test sample."""

    dataset: Dataset  # scaled on train + validation
    forecast: np.ndarray  # (samples, horizon), in the target's units


@dataclass(frozen=True)
class ForecastInputs:
    """What a forecast from the end of a CSV needs: the last window and the plan."""

    dates: pd.DatetimeIndex  # the `horizon` forecast dates
    history: np.ndarray  # (window, columns): the last rows, in the data's units
    plan: pd.DataFrame  # known-future values at the forecast dates, in the data's units


@dataclass
class Forecaster:
    network: LSTMForecaster
    scaling: Scaling
    config: Config
    params: ParamsConfig
    metrics: dict[str, Any]  # "model", "naive", "seasonal_naive" -> test metrics; "by_step" -> per step
    seen: dict[str, tuple[float, float]]  # column -> (min, max) over the fitted rows
    trained_through: str = ""  # the last fitted date, ISO

    # ---- fit ----

    @classmethod
    def fit(cls, config: Config, params: ParamsConfig, seed: int | None = None) -> tuple[Forecaster, TestForecast]:
        """Train `params` on train + validation for `params.epochs`, then score the test part once."""
        dataset = Dataset(load_frame(config.data), config.data, config.split, scale_on="train+validation")
        seed = config.study.seed if seed is None else seed
        with seeded(seed):
            network = build_model(model_config(params.trial_params(), config.data))
        fit(network, dataset.windows("train+validation"), None, params.lr, config.train, seed, epochs=params.epochs,
            on_epoch=lambda result: log_epoch(result, params.epochs))
        trained_through = dataset.dates[dataset.bounds["validation"][1] - 1].isoformat()
        forecaster = cls(network, dataset.scaling, config, params, {}, dataset.fitted_range(), trained_through)
        test = TestForecast(dataset, forecaster.forecast_windows(dataset.windows("test")))
        forecaster.metrics = test_metrics(test)
        return forecaster, test

    def test_forecast(self) -> TestForecast:
        """The test part of the data the model was fitted on, read again, and its forecast."""
        dataset = Dataset(load_frame(self.config.data), self.config.data, self.config.split, scale_on="train+validation")
        if not dataset.scaling.same_as(self.scaling):
            raise DataError(f"{self.config.data.path}: the data changed since the model was fitted on it; "
                            "fit the model again")
        return TestForecast(dataset, self.forecast_windows(dataset.windows("test")))

    # ---- forecast ----

    def forecast_windows(self, windows: Windows) -> np.ndarray:
        """Forecasts of every sample of a split part, in the target's units."""
        return self.scaling.to_units(predict(self.network, windows.inputs, windows.future))

    def read_inputs(self, csv: Path) -> ForecastInputs:
        """Read `csv`: its last `window` rows of history and, for models with known-future inputs,
        the planned values for the forecast dates (rows after the last target value)."""
        data = replace(self.config.data, path=csv)
        frame, plan = load_with_plan(data)
        if len(frame) < data.window:
            raise DataError(f"{csv}: {len(frame)} rows at frequency {data.frequency}, but the model needs the last "
                            f"data.window = {data.window}")
        dates = pd.date_range(frame.index[-1], periods=data.horizon + 1, freq=PANDAS_FREQ[data.frequency])[1:]
        plan = plan[~plan.index.duplicated()].reindex(dates)
        missing = [f"{column} on {_dates_text(plan.index[plan[column].isna()])}"
                   for column in data.known_future if plan[column].isna().any()]
        if missing:
            raise DataError(f"{csv}: the model takes planned values of its known-future inputs for the "
                            f"{data.horizon} forecast date(s) {_dates_text(dates)}; missing: {'; '.join(missing)} "
                            f"(add rows for those dates after the history, with {data.target} left empty)")
        return ForecastInputs(dates, frame[data.columns].to_numpy()[-data.window:], plan)

    def forecast_values(self, inputs: ForecastInputs, plan: pd.DataFrame | None = None) -> np.ndarray:
        """The `horizon` forecasts in the target's units, under `plan` (default: the CSV's own)."""
        data = self.config.data
        plan = inputs.plan if plan is None else plan
        future = None
        if data.known_future:
            future = self.scaling.apply(plan[list(data.known_future)].to_numpy(), list(data.known_future_columns))[None]
        return self.scaling.to_units(predict(self.network, self.scaling.apply(inputs.history)[None], future))[0]

    def forecast(self, csv: Path) -> pd.DataFrame:
        """Forecast the `horizon` steps after the last target value of `csv`, from its last `window` rows."""
        data = self.config.data
        inputs = self.read_inputs(csv)
        return pd.DataFrame({data.date_column: inputs.dates.strftime("%Y-%m-%d"),
                             f"{data.target}_forecast": self.forecast_values(inputs)})

    # ---- save and load ----

    def save(self, folder: Path) -> None:
        """Write the model directory `folder` (created; existing model files are replaced)."""
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "weights.pt"
        torch.save(self.network.state_dict(), weights)
        manifest = {
            "format": FORMAT,
            "tuner_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": asdict(self.network.config),
            "params": asdict(self.params),
            "columns": self.config.data.columns,
            "scaler": self.scaling.as_dict(),
            "seen": self.seen,
            "trained_through": self.trained_through,
            "weights_sha256": sha256(weights),
        }
        write_json(folder / "model.json", manifest)
        write_json(folder / "config.json", config_to_dict(self.config))
        write_json(folder / "metrics.json", self.metrics)

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Read a model directory, checking its format, completeness and weights checksum."""
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
                                f"{manifest.get('format')!r}; this tuner {__version__} reads format {FORMAT}; "
                                "fit it again")
        weights = folder / "weights.pt"
        if sha256(weights) != manifest.get("weights_sha256"):
            raise ModelDirError(f"{weights}: checksum does not match model.json; the file was changed or damaged")
        try:
            state = torch.load(weights, weights_only=True, map_location="cpu")
            architecture = {**manifest["model"], "known_columns": tuple(manifest["model"].get("known_columns", ()))}
            network = build_model(ModelConfig(**architecture))
            network.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
            reason = str(exc).strip().splitlines()[0]
            raise ModelDirError(f"{folder}: weights do not match model.json ({reason}); fit the model again") from None
        seen = {column: (low, high) for column, (low, high) in manifest.get("seen", {}).items()}
        return cls(network, Scaling.from_dict(manifest["scaler"]), build_config(raw_config, folder / "config.json"),
                   ParamsConfig(**manifest["params"]), metrics, seen, manifest.get("trained_through", ""))


def test_metrics(test: TestForecast) -> dict[str, Any]:
    """Test metrics of the forecast and the baselines; per step too when the horizon is over 1."""
    actual = test.dataset.actuals("test")
    forecasts = {"model": test.forecast, **test.dataset.baseline_forecasts("test")}
    metrics: dict[str, Any] = {name: forecast_errors(actual, values, prefix="test_") for name, values in forecasts.items()}
    if test.dataset.config.horizon > 1:
        metrics["by_step"] = {name: errors_by_step(actual, values, prefix="test_") for name, values in forecasts.items()}
    return metrics


def log_epoch(result: EpochResult, epochs: int) -> None:
    log.info("fit epoch %d/%d: train loss %.4f", result.epoch + 1, epochs, result.train_loss)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _dates_text(dates: pd.DatetimeIndex) -> str:
    text = ", ".join(f"{d:%Y-%m-%d}" for d in dates[:3])
    return text + (f" ... {dates[-1]:%Y-%m-%d}" if len(dates) > 3 else "")
