"""The one place where values are scaled for the network and forecasts mapped back to the data's units.

With `data.transform = "log"` the target is taken as log(1 + sales) before it is standardised and
forecasts are mapped back with exp(x) - 1: multiplicative effects (a promotion's +30 %, a
weekday's -8 %) become additive, and a forecast trained on MAE stays a median, as the transform
is monotone. With `data.transform = "seasonal"` (or "log+seasonal"), the target's seasonal index is
taken out first and put back last (`tuner.data.seasonal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from tuner.data.seasonal import SeasonalIndices

APPLY_CHUNK = 1 << 20  # rows scaled at a time
MAX_LOG = 700.0  # log(1 + sales) mapped back is capped here (exp overflows past 709)


@dataclass(frozen=True)
class Scaling:
    """Per-column standardisation (target last) of each series, fitted on the rows a model trains
    on; with `log`, of the target's log(1 + value); with `seasonal`, of the seasonally adjusted
    target (`apply` and `to_units` then take each value's place in the season)."""

    mean: np.ndarray  # (series, columns)
    scale: np.ndarray  # (series, columns)
    log: bool = False  # data.transform = "log" or "log+seasonal"
    seasonal: SeasonalIndices | None = None  # data.transform = "seasonal" or "log+seasonal"

    @classmethod
    def fit(cls, rows: np.ndarray, series: np.ndarray | None = None, count: int = 1, log: bool = False,
            positions: np.ndarray | None = None, season: int = 0) -> Scaling:
        """Fitted on `rows` (rows, columns), each series (`series`: a code per row) on its own rows;
        a series without rows keeps mean 0 and scale 1, and a constant column scale 1. With
        `positions` (each row's place in a season of `season`), the target is seasonally adjusted
        before it is standardised, by indices fitted on the same rows (on log(1 + value) with
        `log`, where they are additive: multiplicative in the data's units)."""
        if log or positions is not None:
            rows = np.array(rows, dtype=np.float64)  # one copy, whose target column is transformed in place
        if log:
            rows[:, -1] = np.log1p(rows[:, -1])
        seasonal = None
        if positions is not None:
            codes = np.zeros(len(rows), dtype=np.int64) if series is None else series
            seasonal = SeasonalIndices.fit(rows[:, -1], codes, positions, count, season, additive=log)
            rows[:, -1] = seasonal.remove(rows[:, -1], codes, positions)
        if count == 1:
            scaler = StandardScaler().fit(rows)
            return cls(scaler.mean_[None], scaler.scale_[None], log, seasonal)
        grouped = pd.DataFrame(rows).groupby(series)
        mean, scale = np.zeros((count, rows.shape[1])), np.ones((count, rows.shape[1]))
        codes = grouped.mean().index.to_numpy()
        mean[codes] = grouped.mean().to_numpy()
        spread = grouped.std(ddof=0).to_numpy()
        scale[codes] = np.where(spread > 0, spread, 1.0)  # as StandardScaler treats a constant column
        return cls(mean, scale, log, seasonal)

    def __len__(self) -> int:
        return len(self.mean)

    def apply(self, values: np.ndarray, columns: list[int] | None = None, series: np.ndarray | int = 0,
              positions: np.ndarray | None = None) -> np.ndarray:
        """`values` (..., columns) as the network sees them, float32; `columns`: their positions
        among all the model's columns, when `values` holds only some of them (never the target);
        `series`: the series code of every row (or one for all); `positions`: each row's place in
        the season (for a seasonally adjusted target)."""
        where = slice(None) if columns is None else columns
        mean, scale = self.mean[:, where], self.scale[:, where]
        whole = columns is None  # the target too
        if not np.ndim(series):
            target_ready = self._transformed(values, series, positions) if whole else values
            return ((target_ready - mean[series]) / scale[series]).astype(np.float32)
        scaled = np.empty(np.shape(values), dtype=np.float32)
        for start in range(0, len(values), APPLY_CHUNK):  # a panel's rows a chunk at a time: bounded temporaries
            rows = slice(start, start + APPLY_CHUNK)
            chunk = self._transformed(values[rows], series[rows], None if positions is None else positions[rows]) \
                if whole else values[rows]
            scaled[rows] = (chunk - mean[series[rows]]) / scale[series[rows]]
        return scaled

    def _transformed(self, values: np.ndarray, series: np.ndarray | int, positions: np.ndarray | None) -> np.ndarray:
        """`values` (..., columns) with the target as log(1 + value) and seasonally adjusted, as
        this scaling was fitted (one copy where either applies)."""
        if not self.log and self.seasonal is None:
            return values
        values = np.array(values, dtype=np.float64)
        if self.log:
            values[..., -1] = np.log1p(values[..., -1])
        if self.seasonal is not None:
            values[..., -1] = self.seasonal.remove(values[..., -1], series, self.placed(positions))
        return values

    def to_units(self, scaled_target: np.ndarray, series: np.ndarray | int = 0,
                 positions: np.ndarray | None = None) -> np.ndarray:
        """Forecasts of the scaled target (samples, ...) back in the target's own units; `series`:
        each sample's series code (or one for all); `positions`: each forecast's place in the
        season (samples, horizon), for a seasonally adjusted target."""
        scale, mean = self.scale[series, -1], self.mean[series, -1]
        if np.ndim(series):
            extra = (1,) * (np.ndim(scaled_target) - 1)
            scale, mean = scale.reshape(-1, *extra), mean.reshape(-1, *extra)
        values = scaled_target * scale + mean
        if self.seasonal is not None:
            placed = self.placed(positions)
            values = self.seasonal.restore(values, np.reshape(series, (-1,) + (1,) * (placed.ndim - 1))
                                           if np.ndim(series) else series, placed)
        return np.expm1(np.minimum(values, MAX_LOG)) if self.log else values

    def placed(self, positions: np.ndarray | None) -> np.ndarray:
        """`positions`, which a seasonally adjusted scaling needs."""
        if positions is None:
            raise ValueError("a seasonally adjusted target needs each value's place in the season")
        return np.asarray(positions)

    def series(self, code: int) -> Scaling:
        """Series `code`'s own scaling (one row)."""
        return Scaling(self.mean[code : code + 1], self.scale[code : code + 1], self.log,
                       None if self.seasonal is None else self.seasonal.series(code))

    def target_scale(self, series: np.ndarray | int = 0) -> np.ndarray:
        """The target's scale in its own units, of each series in `series` or of one: its standard
        deviation; with `log`, its level exp(mean of log(1 + value))."""
        return np.exp(self.mean[series, -1]) if self.log else self.scale[series, -1]

    def as_dict(self) -> dict[str, list | str | dict]:
        transform = "+".join(name for name, used in (("log", self.log), ("seasonal", self.seasonal is not None)) if used)
        data: dict[str, list | str | dict] = {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                                             "transform": transform or "none"}
        if self.seasonal is not None:
            data["seasonal"] = self.seasonal.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Scaling:
        """Also reads the one-series form of model directories from before panels: (columns,)."""
        seasonal = data.get("seasonal")
        return cls(np.atleast_2d(np.array(data["mean"])), np.atleast_2d(np.array(data["scale"])),
                   data.get("transform") in ("log", "log+seasonal"),
                   None if seasonal is None else SeasonalIndices.from_dict(seasonal))

    def same_as(self, other: Scaling) -> bool:
        seasonal = self.seasonal is None and other.seasonal is None or (
            self.seasonal is not None and self.seasonal.same_as(other.seasonal))
        return seasonal and self.mean.shape == other.mean.shape and bool(
            np.allclose(self.mean, other.mean) and np.allclose(self.scale, other.scale))
