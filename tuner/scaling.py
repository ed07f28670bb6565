"""The one place where values are scaled for the network and forecasts mapped back to the data's units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Scaling:
    """Per-column standardisation (target last), fitted on the rows a model trains on."""

    mean: np.ndarray  # (columns,)
    scale: np.ndarray  # (columns,)

    @classmethod
    def fit(cls, rows: np.ndarray) -> Scaling:
        scaler = StandardScaler().fit(rows)
        return cls(scaler.mean_, scaler.scale_)

    def apply(self, values: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
        """`values` (..., columns) as the network sees them, float32; `columns`: their positions
        among all the model's columns, when `values` holds only some of them."""
        where = slice(None) if columns is None else columns
        return ((values - self.mean[where]) / self.scale[where]).astype(np.float32)

    def to_units(self, scaled_target: np.ndarray) -> np.ndarray:
        """Forecasts of the scaled target back in the target's own units."""
        return scaled_target * self.scale[-1] + self.mean[-1]

    def as_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Scaling:
        return cls(np.array(data["mean"]), np.array(data["scale"]))

    def same_as(self, other: Scaling) -> bool:
        return bool(np.allclose(self.mean, other.mean) and np.allclose(self.scale, other.scale))
