"""Scoring a fitted forecaster on the test part, once: its forecast beside the baselines' on the
same samples, the test metrics (per step too), the errors per series of a panel, and the test
coverage and width of its intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.baselines import baseline_forecasts
from tuner.data import Dataset
from tuner.intervals import Calibration, interval_metrics, interval_scores
from tuner.metrics import errors_by_step, forecast_errors
from tuner.names import MIX_PARTS

if TYPE_CHECKING:
    from tuner.forecaster import Forecaster


@dataclass(frozen=True)
class TestForecast:
    """The forecaster's test part: the data as fitted, its forecast of every test sample and the
    baselines' forecasts of the same samples."""

    dataset: Dataset
    forecast: np.ndarray  # (samples, horizon), in the target's units
    baselines: dict[str, np.ndarray]  # name -> (samples, horizon)
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # what the model mixes, alone: "networks" (beside
    # boosting) and "without_ets" (the mix before exponential smoothing)

    @classmethod
    def of(cls, forecaster: Forecaster, dataset: Dataset) -> TestForecast:
        """The boosting and exponential smoothing baselines are fitted on train + validation: the
        forecaster's own members' forecasts when they were fitted on those rows too."""
        forecasts = forecaster.part_forecasts(dataset, "test")
        boosted = forecasts.get("boosting") if forecaster.boosting_on == "train+validation" else None
        return cls(dataset, forecasts["model"],
                   baseline_forecasts(dataset, "test", "train+validation", boosted, forecasts.get("ets")),
                   {name: forecasts[name] for name in MIX_PARTS if name in forecasts})


def test_metrics(test: TestForecast, calibration: Calibration | None = None) -> dict[str, Any]:
    """Test metrics of the forecast and the baselines (per step too when the horizon is over 1),
    and the coverage and width of the model's intervals."""
    actual = test.dataset.actuals("test")
    forecasts = {"model": test.forecast, **test.baselines}
    metrics: dict[str, Any] = {name: forecast_errors(actual, values, prefix="test_") for name, values in forecasts.items()}
    if test.dataset.config.horizon > 1:
        metrics["by_step"] = {name: errors_by_step(actual, values, prefix="test_") for name, values in forecasts.items()}
    if calibration is not None:
        metrics["intervals"] = interval_metrics(actual, test.forecast, calibration,
                                                scale=series_scale(test.dataset, "test"))
    return metrics


def series_errors(test: TestForecast) -> pd.DataFrame:
    """Test MAE and WAPE of the model and each baseline per series, and the model's MAE over
    seasonal-naive's (`vs_seasonal_naive`, above 1: worse), worst first; series by their id columns."""
    dataset = test.dataset
    windows = dataset.windows("test")
    actual = dataset.actuals("test")
    forecasts = {"model": test.forecast, **test.baselines}
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


def quantile_interval_metrics(forecaster: Forecaster, dataset: Dataset) -> dict[str, Any]:
    """Test coverage and width of a quantile model's intervals (one per symmetric quantile pair)."""
    outputs = forecaster.forecast_part(dataset, "test", quantiles=True)
    bounds = {level: (outputs[..., low], outputs[..., high]) for level, (low, high) in forecaster.quantile_levels().items()}
    return interval_scores(dataset.actuals("test"), bounds, method="quantile",
                           source=f"the quantiles the model was trained on ({', '.join(map(str, forecaster.quantiles))})")


def series_scale(dataset: Dataset, part: str) -> np.ndarray:
    """(samples, 1): the target scale of each sample's series in `part`."""
    return dataset.scaling.target_scale(dataset.windows(part).series)[:, None]
