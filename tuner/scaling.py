"""The one place where values are scaled for the network and forecasts mapped back to the data's units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

APPLY_CHUNK = 1 << 20  # rows scaled at a time


@dataclass(frozen=True)
class Scaling:
    """Per-column standardisation (target last) of each series, fitted on the rows a model trains on."""

    mean: np.ndarray  # (series, columns)
    scale: np.ndarray  # (series, columns)

    @classmethod
    def fit(cls, rows: np.ndarray, series: np.ndarray | None = None, count: int = 1) -> Scaling:
        """Fitted on `rows` (rows, columns), each series (`series`: a code per row) on its own rows;
        a series without rows keeps mean 0 and scale 1, and a constant column scale 1."""
        if count == 1:
            scaler = StandardScaler().fit(rows)
            return cls(scaler.mean_[None], scaler.scale_[None])
        grouped = pd.DataFrame(rows).groupby(series)
        mean, scale = np.zeros((count, rows.shape[1])), np.ones((count, rows.shape[1]))
        codes = grouped.mean().index.to_numpy()
        mean[codes] = grouped.mean().to_numpy()
        spread = grouped.std(ddof=0).to_numpy()
        scale[codes] = np.where(spread > 0, spread, 1.0)  # as StandardScaler treats a constant column
        return cls(mean, scale)

    def __len__(self) -> int:
        return len(self.mean)

    def apply(self, values: np.ndarray, columns: list[int] | None = None, series: np.ndarray | int = 0) -> np.ndarray:
        """`values` (..., columns) as the network sees them, float32; `columns`: their positions
        among all the model's columns, when `values` holds only some of them; `series`: the
        series code of every row (or one for all)."""
        where = slice(None) if columns is None else columns
        mean, scale = self.mean[:, where], self.scale[:, where]
        if not np.ndim(series):
            return ((values - mean[series]) / scale[series]).astype(np.float32)
        scaled = np.empty(np.shape(values), dtype=np.float32)
        for start in range(0, len(values), APPLY_CHUNK):  # a panel's rows a chunk at a time: bounded temporaries
            rows = slice(start, start + APPLY_CHUNK)
            scaled[rows] = (values[rows] - mean[series[rows]]) / scale[series[rows]]
        return scaled

    def to_units(self, scaled_target: np.ndarray, series: np.ndarray | int = 0) -> np.ndarray:
        """Forecasts of the scaled target (samples, ...) back in the target's own units; `series`:
        each sample's series code (or one for all)."""
        scale, mean = self.scale[series, -1], self.mean[series, -1]
        if np.ndim(series):
            extra = (1,) * (np.ndim(scaled_target) - 1)
            scale, mean = scale.reshape(-1, *extra), mean.reshape(-1, *extra)
        return scaled_target * scale + mean

    def series(self, code: int) -> Scaling:
        """Series `code`'s own scaling (one row)."""
        return Scaling(self.mean[code : code + 1], self.scale[code : code + 1])

    def target_scale(self, series: np.ndarray | int = 0) -> np.ndarray:
        """The target's scale (standard deviation) of each series in `series`, or of one."""
        return self.scale[series, -1]

    def as_dict(self) -> dict[str, list]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> Scaling:
        """Also reads the one-series form of model directories from before panels: (columns,)."""
        return cls(np.atleast_2d(np.array(data["mean"])), np.atleast_2d(np.array(data["scale"])))

    def same_as(self, other: Scaling) -> bool:
        return self.mean.shape == other.mean.shape and bool(
            np.allclose(self.mean, other.mean) and np.allclose(self.scale, other.scale))
