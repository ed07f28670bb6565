"""`tuner.Model`: a fitted forecaster (what `tuner fit` writes as a model directory) with its test
table, and what the CLI does with one: predict, what-if, report, save; `tuner.load` reads one.
`tuner.fit` (`tuner.api.fit`) and `Study.fit` call `fitted`."""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from tuner.api.inputs import DataSource, frame_named
from tuner.api.scope import scoped
from tuner.config.names import members_of
from tuner.config.schema import Config, ParamsConfig
from tuner.data.frames import frame_file
from tuner.data.inputs import ForecastInputs
from tuner.ensemble.forecaster import Forecaster, selection_metric
from tuner.errors import TunerError
from tuner.evaluation.intervals import parse_levels
from tuner.evaluation.scoring import TestForecast

Levels = Union[Sequence[float], str, None]  # interval levels in %: [80, 95] or "80,95"

log = logging.getLogger("tuner")


@dataclass
class Model:
    """A fitted forecaster: the ensemble `tuner fit` chose, its members and weights, and its test
    scores. `predict`, `whatif` and `report` give the same numbers as the CLI for the same inputs."""

    forecaster: Forecaster
    trials: list[ParamsConfig] = field(default_factory=list)  # the tuned configurations it was fitted from, best first
    own_weights: bool = False  # the trials' own networks (trained on train), not retrained
    path: Path | None = None  # its model directory, once saved or loaded
    test_forecast: TestForecast | None = field(default=None, repr=False)  # from fitting; read again when loaded

    @property
    def config(self) -> Config:
        """The config it was fitted with (data, split, train, fit, ... and the tuned [params])."""
        return self.forecaster.config

    @property
    def weights(self) -> dict[str, float]:
        """Member -> its share of the ensemble's forecast (the shares sum to 1)."""
        return {name: float(weight) for name, weight in self.forecaster.weights.items()}

    @property
    def metrics(self) -> pd.DataFrame:
        """The ensemble ("model") and every member: its weight, its score on the backtest windows it
        was weighed on, and its test metrics in the target's units (as `tuner fit` prints them)."""
        metrics, metric = self.forecaster.metrics, selection_metric(self.config)
        rows = {name: {"weight": self.forecaster.weights.get(name, 1.0 if name == "model" else 0.0),
                       f"backtest_{metric}": self.forecaster.backtest.get(name, math.nan), **metrics[name]}
                for name in ["model", *members_of(metrics)]}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("member")

    @property
    def test(self) -> pd.DataFrame:
        """The test part, one row per sample and forecast step: the series, the date forecast, the
        step, the actual value, the ensemble's forecast ("model") and each member's."""
        if self.test_forecast is None:
            with scoped(self.config.train.threads):
                self.test_forecast = self.forecaster.test_forecast()
        return test_frame(self.test_forecast)

    @property
    def notes(self) -> list[str]:
        """The warning when the model is not better than a baseline on the test part, and the notes
        on its members there (the lines under `tuner fit`'s table)."""
        from tuner.reports.testnotes import test_notes

        return test_notes(self.forecaster)

    def predict(self, df: DataSource, intervals: Levels = None, series: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Forecast the `data.horizon` dates after each series' last target value in `df` (a
        DataFrame or CSV with the model's columns; rows after the last value are plans for the
        known-future inputs): one row per series and date, with `<target>_lo_<level>` and `_hi_`
        columns for each interval level in % (`intervals=[80, 95]`)."""
        levels = interval_levels(intervals)
        warn_intervals(self.forecaster, levels)
        with scoped(self.config.train.threads), inputs_of(self, df, series) as inputs:
            return self.forecaster.forecast_inputs(inputs, levels)

    def whatif(self, df: DataSource, scale: Mapping[str, Sequence[float]], set: Mapping[str, float] | None = None,
               cost_per_impression: float | None = None, ad_spend: float | None = None, intervals: Levels = None,
               series: Mapping[str, str] | None = None) -> pd.DataFrame:
        """The forecast's total under scenarios of a known-future input: `scale={"ad_impressions":
        [0.5, 1, 1.5]}` multiplies its planned values by each factor, `set` holds inputs at one value;
        with `cost_per_impression` (or the base plan's `ad_spend`), each scenario's ROAS. One row per
        scenario (and series), as `tuner whatif -o` writes it."""
        from tuner.reports import whatif

        column, factors = scale_of(scale)
        levels = interval_levels(intervals)
        warn_intervals(self.forecaster, levels, per_date=False)
        fixed = {str(name): float(value) for name, value in (set or {}).items()}
        with scoped(self.config.train.threads), inputs_of(self, df, series) as inputs:
            result = whatif.run(self.forecaster, inputs, column, factors, fixed, cost_per_impression, ad_spend, levels)
        return whatif.frame(result, self.config.data.target)

    def save(self, folder: str | Path) -> Path:
        """Write the model directory `folder` (as `tuner fit -o`), which `tuner.load` and `tuner predict` read."""
        self.path = Path(folder)
        self.forecaster.save(self.path)
        return self.path

    def report(self, output: str | Path = "report.html", storage: str | None = None, top: int = 10) -> Path:
        """Write the HTML report of the study the model was tuned in (the one its config names, in
        `storage` or its own), with this model's test forecast, as `tuner report --model`
        (`Study.report`)."""
        from tuner.api.study import load_study  # imported when used: forecasting never loads optuna

        return load_study(self.config, storage=storage).report(output, model=self, top=top)


def fitted(config: Config, chosen: list[ParamsConfig], trial_weights: list[Path] | None = None,
           intervals: bool = True, seeds: int | None = None) -> Model:
    """`Forecaster.fit` of `chosen` (the tuned configurations, best first) in a library call's scope."""
    with scoped(config.train.threads):
        forecaster, test = Forecaster.fit(config, chosen, trial_weights=trial_weights, intervals=intervals,
                                          seeds=seeds)
    return Model(forecaster, chosen, trial_weights is not None, test_forecast=test)


def warn_intervals(forecaster: Forecaster, levels: list[float], per_date: bool = True) -> None:
    """An error when the model cannot give intervals at `levels`; warnings go to the `tuner` log."""
    for warning in forecaster.interval_warnings(levels, per_date):
        log.warning(warning)


def load(folder: str | Path) -> Model:
    """Read a model directory written by `tuner fit` or `Model.save`, checking its format and checksums."""
    return Model(Forecaster.load(Path(folder)), path=Path(folder))


def interval_levels(intervals: Levels) -> list[float]:
    """`[80, 95]` or `"80,95"` -> [80.0, 95.0]; each strictly between 0 and 100."""
    if intervals is None or isinstance(intervals, str):
        return parse_levels(intervals)
    levels = []
    for level in intervals:
        if not isinstance(level, (int, float)) or not 0 < level < 100:
            raise TunerError(f"intervals={list(intervals)!r}: {level!r} is not a level in % strictly between 0 and 100; "
                             "expected e.g. [80, 95]")
        levels.append(float(level))
    return list(dict.fromkeys(levels))


def scale_of(scale: Mapping[str, Sequence[float]]) -> tuple[str, list[float]]:
    """`{"ad_impressions": [0.5, 1, 1.5]}` -> ("ad_impressions", [0.5, 1.0, 1.5]): one column, factors >= 0."""
    usage = "expected one column and its factors >= 0, e.g. {'ad_impressions': [0.5, 1, 1.5, 2]}"
    if not isinstance(scale, Mapping) or len(scale) != 1:
        raise TunerError(f"scale={scale!r}: {usage}")
    (column, factors), = scale.items()
    try:
        values = [float(factor) for factor in factors]
    except (TypeError, ValueError):
        values = []
    if not values or any(not math.isfinite(value) or value < 0 for value in values):
        raise TunerError(f"scale={dict(scale)!r}: {usage}")
    return str(column), values


@contextlib.contextmanager
def inputs_of(model: Model, df: DataSource, series: Mapping[str, str] | None) -> Iterator[list[ForecastInputs]]:
    """The model's forecast inputs read from `df` (a DataFrame is written to a temporary CSV
    first, and errors name the DataFrame), for the series `series` (default: every one)."""
    from tuner.data.series import parse_filter

    config = model.config.data
    chosen = (parse_filter(",".join(f"{column}={value}" for column, value in series.items()), config.series)
              if series else None)
    if isinstance(df, (str, Path)):
        yield model.forecaster.read_inputs(Path(df), chosen)
        return
    with tempfile.TemporaryDirectory(prefix="tuner-frame-") as folder:
        path, _ = frame_file(df, config.date_column, Path(folder))
        with frame_named(path):
            inputs = model.forecaster.read_inputs(path, chosen)
        yield inputs


def test_frame(test: TestForecast) -> pd.DataFrame:
    """`TestForecast` as one row per sample and step (see `Model.test`)."""
    dataset = test.dataset
    data = dataset.config
    windows = dataset.windows("test")
    steps = np.arange(data.horizon)
    rows = (windows.target_rows[:, None] + steps).ravel()
    keys = [dataset.index.keys[code] for code in np.repeat(windows.series, data.horizon)]
    frame = pd.DataFrame({column: [key[i] for key in keys] for i, column in enumerate(data.series)})
    frame[data.date_column] = dataset.dates[rows]
    frame["step"] = np.tile(steps + 1, len(windows))
    frame["actual"] = dataset.actuals("test").ravel()
    for name, values in test.scored.items():
        frame[name] = values.ravel()
    return frame
