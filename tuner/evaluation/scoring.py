"""Scoring a fitted forecaster on the test part, once, from its forecasts (it never calls back into
the forecaster): the ensemble's forecast beside each of its members' alone on the same samples (the
baselines among them), the test metrics (per step too), the errors per series of a panel, and the
test coverage and width of its intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tuner.config.names import BASELINES
from tuner.data.dataset import Dataset
from tuner.evaluation.intervals import Calibration, interval_metrics, interval_scores
from tuner.evaluation.metrics import errors_by_step, forecast_errors


@dataclass(frozen=True)
class TestForecast:
    """The forecaster's test part: the data as fitted, the ensemble's forecast of every test sample
    and each member's forecast of the same samples."""

    dataset: Dataset
    forecast: np.ndarray  # (samples, horizon), in the target's units
    members: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (samples, horizon)

    @property
    def baselines(self) -> dict[str, np.ndarray]:
        """The members a model must beat (`names.BASELINES`), those fitted."""
        return {name: self.members[name] for name in BASELINES if name in self.members}

    @property
    def scored(self) -> dict[str, np.ndarray]:
        """The ensemble ("model") and every member."""
        return {"model": self.forecast, **self.members}


def test_metrics(test: TestForecast, calibration: Calibration | None = None) -> dict[str, Any]:
    """Test metrics of the ensemble and of each member (per step too when the horizon is over 1),
    and the coverage and width of the model's intervals."""
    actual = test.dataset.actuals("test")
    forecasts = test.scored
    metrics: dict[str, Any] = {name: forecast_errors(actual, values, prefix="test_") for name, values in forecasts.items()}
    if test.dataset.config.horizon > 1:
        metrics["by_step"] = {name: errors_by_step(actual, values, prefix="test_") for name, values in forecasts.items()}
    if calibration is not None:
        metrics["intervals"] = interval_metrics(actual, test.forecast, calibration,
                                                scale=series_scale(test.dataset, "test"))
    return metrics


def series_errors(test: TestForecast) -> pd.DataFrame:
    """Test MAE and WAPE of the model and each member per series, and the model's MAE over
    seasonal-naive's (`vs_seasonal_naive`, above 1: worse), worst first; series by their id columns."""
    dataset = test.dataset
    windows = dataset.windows("test")
    actual = dataset.actuals("test")
    forecasts = test.scored
    frame = pd.DataFrame({"code": np.repeat(windows.series, actual.shape[1]), "actual": np.abs(actual).ravel(),
                          **{name: np.abs(actual - values).ravel() for name, values in forecasts.items()}})
    grouped = frame.groupby("code")
    mae, totals = grouped[list(forecasts)].mean(), grouped["actual"].sum()
    result = pd.DataFrame([dataset.index.keys[code] for code in mae.index], columns=list(dataset.config.series))
    result["samples"] = grouped.size().to_numpy() // actual.shape[1]
    for name in forecasts:
        result[f"{name}_mae"] = mae[name].to_numpy()
        result[f"{name}_wape"] = (100 * grouped[name].sum() / totals.where(totals > 0)).to_numpy()
    result["vs_seasonal_naive"] = result["model_mae"] / result["seasonal_naive_mae"].where(result["seasonal_naive_mae"] > 0)
    return result.sort_values("vs_seasonal_naive", ascending=False, na_position="last", ignore_index=True)


def quantile_interval_metrics(dataset: Dataset, outputs: np.ndarray, levels: dict[float, tuple[int, int]],
                              quantiles: tuple[float, ...]) -> dict[str, Any]:
    """Test coverage and width of a quantile model's intervals: `outputs` (samples, horizon,
    quantiles) its test forecasts, `levels` each interval's pair of quantile indices."""
    bounds = {level: (outputs[..., low], outputs[..., high]) for level, (low, high) in levels.items()}
    return interval_scores(dataset.actuals("test"), bounds, method="quantile",
                           source=f"the quantiles the model was trained on ({', '.join(map(str, quantiles))})")


def series_scale(dataset: Dataset, part: str) -> np.ndarray:
    """(samples, 1): the target scale of each sample's series in `part`."""
    return dataset.scaling.target_scale(dataset.windows(part).series)[:, None]


def part_residuals(dataset: Dataset, part: str, forecast: np.ndarray) -> np.ndarray:
    """Actual - forecast on `part`; a panel's over each sample's series target scale."""
    residuals = dataset.actuals(part) - forecast
    return residuals / series_scale(dataset, part) if dataset.config.series else residuals
