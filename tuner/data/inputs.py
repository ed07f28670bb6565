"""Reading a CSV into what a forecast of each series needs: its last window of history, its
plan for the forecast dates (known-future inputs and calendar columns) and its scaling."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.config.schema import DataConfig
from tuner.data.calendar import calendar_frame
from tuner.data.reading import PANDAS_FREQ, load_with_plan
from tuner.data.scaling import Scaling
from tuner.data.seasonal import season_positions
from tuner.data.series import SeriesIndex
from tuner.data.static import StaticEncoding
from tuner.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastInputs:
    """What a forecast of one series from the end of a CSV needs: its last window, its plan and
    its scaling (and its whole history, from which exponential smoothing reaches its state)."""

    dates: pd.DatetimeIndex  # the `horizon` forecast dates
    history: np.ndarray  # (window, columns): the last rows, in the data's units
    positions: np.ndarray  # (window + horizon,): the history's, then the forecast dates' places in the season
    plan: pd.DataFrame  # known-future values at the forecast dates, in the data's units
    scaling: Scaling  # the series' own (one row): as fitted, or for a series the model never saw, its history's
    fields: np.ndarray | None = None  # a panel's series: its id and static covariates (`tuner.data.static`)
    key: tuple[str, ...] = ()  # the series' id values (data.series); empty for a one-series model
    fitted: int | None = None  # its code among the model's fitted series; None: a series the model was not fitted on
    past: np.ndarray = field(default_factory=lambda: np.empty(0))  # its whole target history, in the data's units
    past_dates: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))  # the dates of `past`

    def scaled(self, plan: pd.DataFrame, data: DataConfig) -> tuple[np.ndarray, np.ndarray | None]:
        """(1, window, columns): the history scaled as the networks and boosting read it, and (1,
        horizon, known columns) `plan`'s known-future values scaled (None without any)."""
        future = (self.scaling.apply(plan[data.known_inputs].to_numpy(), list(data.known_future_columns))[None]
                  if data.known_inputs else None)
        return self.scaling.apply(self.history, positions=self.positions[: len(self.history)])[None], future

    def to_units(self, scaled: np.ndarray) -> np.ndarray:
        """(horizon, ...): a forecast (1, horizon, ...) of the scaled target in the data's units."""
        return self.scaling.to_units(scaled, positions=self.positions[None, len(self.history):])[0]

    def past_positions(self, season: int) -> np.ndarray:
        """The place in the season of each value of `past`."""
        first = self.positions[0] - (len(self.past) - len(self.history))
        return (first + np.arange(len(self.past))) % season


def series_inputs(rows: pd.DataFrame, plan: pd.DataFrame, data: DataConfig, where: str, scaling: Scaling,
                  key: tuple[str, ...], fields: np.ndarray | None, fitted: int | None) -> ForecastInputs:
    """One series' forecast inputs: its last `window` rows and its plan for the forecast dates;
    `fields`: a panel series' id and static covariates as the networks take them; `fitted`: its
    code among the model's fitted series, if it is one."""
    if len(rows) < data.window:
        raise DataError(f"{where}: {len(rows)} rows at frequency {data.frequency}, but the model needs the last "
                        f"data.window = {data.window}")
    dates = pd.date_range(rows.index[-1], periods=data.horizon + 1, freq=PANDAS_FREQ[data.frequency])[1:]
    plan = plan[~plan.index.duplicated()].reindex(dates).join(calendar_frame(dates, data))
    missing = [f"{column} on {dates_text(plan.index[plan[column].isna()])}"
               for column in data.known_future if plan[column].isna().any()]
    if missing:
        raise DataError(f"{where}: the model takes planned values of its known-future inputs for the "
                        f"{data.horizon} forecast date(s) {dates_text(dates)}; missing: {'; '.join(missing)} "
                        f"(add rows for those dates after the history, with {data.target} left empty)")
    history = rows.index[-data.window:]
    positions = season_positions(history.append(dates), data.frequency, data.seasonality)
    return ForecastInputs(dates, rows[data.columns].to_numpy()[-data.window:], positions, plan, scaling, fields, key,
                          fitted, rows[data.target].to_numpy(dtype=np.float64), pd.DatetimeIndex(rows.index))


def chosen_series(frame: pd.DataFrame, chosen: dict[str, str], data: DataConfig) -> pd.DataFrame:
    """The rows of the series whose id values match `chosen` (`--series`); an error when none do."""
    match = np.logical_and.reduce([frame[column].to_numpy() == value for column, value in chosen.items()])
    if not match.any():
        wanted = ",".join(f"{column}={value}" for column, value in chosen.items())
        raise DataError(f"{data.path}: --series {wanted}: no such series in the file")
    return frame[match]


def dates_text(dates: pd.DatetimeIndex) -> str:
    """The first three dates, and the last after "..." when there are more."""
    text = ", ".join(f"{d:%Y-%m-%d}" for d in dates[:3])
    return text + (f" ... {dates[-1]:%Y-%m-%d}" if len(dates) > 3 else "")


def read_inputs(csv: Path, data: DataConfig, fitted_series: tuple[tuple[str, ...], ...], scaling: Scaling,
                encoding: StaticEncoding, learned_ids: bool, chosen: dict[str, str] | None = None) -> list[ForecastInputs]:
    """Read `csv` (with `data`'s columns) once: each series' last `window` rows of history and, for
    models with known-future inputs, its planned values for the forecast dates (rows after its last
    target value). A series the model was fitted on (`fitted_series`) takes its fitted `scaling`
    and id; another is scaled on its own history, with a notice, or refused where the model learned
    each fitted series' own embedding (`learned_ids`). `chosen`: only the series with these id values."""
    data = replace(data, path=csv)
    frame, plan = load_with_plan(data)
    if chosen:
        frame = chosen_series(frame, chosen, data)
    index = SeriesIndex.of(frame, data.series)
    fitted = {key: code for code, key in enumerate(fitted_series)}
    unseen = [code for code in range(len(index)) if index.keys[code] not in fitted]
    if unseen:
        listed = f"{len(unseen)} series the model was not fitted on ({index.listed(unseen)})"
        if learned_ids:
            raise DataError(f"{csv}: {listed}; this model learned an embedding of each fitted series, so it "
                            "forecasts only those: fit it again with these series in the data")
        log.warning("%s: %s: forecast from their own history, scaled on it", csv, listed)
    inputs = []
    for code, key in enumerate(index.keys):
        rows = frame.iloc[index.offsets[code] : index.offsets[code + 1]]
        where = f"{csv}: series {index.label(code)}" if data.series else f"{csv}"
        known = fitted.get(key)
        own = scaling.series(known) if known is not None else Scaling.fit(
            rows[data.columns].to_numpy(), log=scaling.log, season=data.seasonality,
            positions=season_positions(rows.index, data.frequency, data.seasonality) if data.seasonally_adjusted
            else None)
        series_plan = plan[(plan[list(data.series)].to_numpy() == np.array(key)).all(axis=1)] if data.series else plan
        fields = encoding.encode(rows[list(data.static)].iloc[:1], [-1 if known is None else known])[0] \
            if data.series else None
        inputs.append(series_inputs(rows, series_plan, data, where, own, key, fields, known))
    return inputs
