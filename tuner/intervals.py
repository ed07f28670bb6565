"""Prediction intervals by split-conformal calibration.

A `Calibration` holds the signed residuals (actual - forecast, in the target's units) of every
calibration sample, per horizon step, from rows the networks that made those forecasts did not
train on. The interval at level L for step h is the forecast plus and minus the
ceil((n + 1) * L)-th smallest |residual| of step h among its n samples: the split-conformal
quantile, which covers at least L of new samples whenever their residuals are exchangeable
with the calibration ones. Totals over the forecast dates (what-if) take the same quantile of
the residuals of the sums, not a sum of per-date quantiles.

A panel's residuals are kept in units of each series' own target scale (its scaler's standard
deviation) and mapped back with the scale of the series forecast, so that a small seller's
interval is not as wide as a large one's: the conformal guarantee then holds for the
scale-normalised residuals (locally weighted split-conformal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.errors import TunerError

DEFAULT_LEVELS = (80.0, 95.0)  # % levels scored on the test part by `tuner fit`


@dataclass(frozen=True)
class Calibration:
    residuals: np.ndarray  # (samples, horizon): actual - forecast, in the target's units (per_series: over its scale)
    source: str  # where they come from, in words
    per_series: bool = False  # a panel's: each residual divided by its series' target scale

    @property
    def samples(self) -> int:
        return len(self.residuals)

    def half_widths(self, level: float) -> np.ndarray:
        """(horizon,): the interval's half width at each forecast step for `level` %."""
        return conformal_quantile(np.abs(self.residuals), level)

    def sum_half_width(self, level: float, scale: float = 1.0) -> float:
        """The half width of the interval for the sum of the horizon's forecasts at `level` %, for a
        series of target scale `scale` (used by a panel's calibration only)."""
        half = float(conformal_quantile(np.abs(self.residuals.sum(axis=1, keepdims=True)), level)[0])
        return half * scale if self.per_series else half

    def bounds(self, forecast: np.ndarray, level: float, scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds around `forecast` (..., horizon) at `level` %; `scale`: the target
        scale of each forecast's series, (samples, 1) or one for all (used by a panel's calibration only)."""
        half = self.half_widths(level) * (scale if self.per_series else 1.0)
        return forecast - half, forecast + half

    def supports(self, level: float) -> bool:
        """Whether there are enough samples for the finite-sample quantile at `level` % (else the
        widest residual is used, and coverage can fall short of `level`)."""
        return math.ceil((self.samples + 1) * level / 100) <= self.samples

    def as_dict(self) -> dict[str, Any]:
        return {"method": "split-conformal", "source": self.source, "per_series": self.per_series,
                "residuals": self.residuals.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(np.asarray(data["residuals"], dtype=np.float64), data["source"], data.get("per_series", False))


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Per column of `scores` (samples, columns): the ceil((n + 1) * level)-th smallest value,
    the largest when n is too small for that."""
    n = len(scores)
    rank = min(n, math.ceil((n + 1) * level / 100))
    return np.sort(scores, axis=0)[rank - 1]


def calibrated_range(level: float, samples: int) -> tuple[float, float]:
    """The coverage, in %, that an exactly calibrated `level` % interval shows on `samples` new
    values about 95 % of the time (two binomial standard errors each side): a test coverage inside
    it is no evidence of miscalibration."""
    spread = 200 * math.sqrt(level / 100 * (1 - level / 100) / samples)
    return max(0.0, level - spread), min(100.0, level + spread)


def parse_levels(text: str | None) -> list[float]:
    """`"80,95"` -> [80.0, 95.0]: `--intervals` levels in %, each strictly between 0 and 100; none
    for an absent flag."""
    levels: list[float] = []
    for item in text.split(",") if text else []:
        try:
            level = float(item)
        except ValueError:
            level = math.nan
        if not 0 < level < 100:
            raise TunerError(f"--intervals {text!r}: {item.strip()!r} is not a level in % strictly between 0 and 100; "
                             "expected e.g. 80,95")
        levels.append(level)
    return list(dict.fromkeys(levels))


def level_name(level: float) -> str:
    """80.0 -> "80", 97.5 -> "97.5": how a level appears in column and metric names."""
    return f"{level:g}"


def interval_metrics(actual: np.ndarray, forecast: np.ndarray, calibration: Calibration,
                     levels: tuple[float, ...] = DEFAULT_LEVELS, scale: np.ndarray | float = 1.0) -> dict[str, Any]:
    """Coverage and mean width of each level's split-conformal intervals around `forecast`;
    `scale`: each sample's series target scale, (samples, 1), for a panel's calibration."""
    return interval_scores(actual, {level: calibration.bounds(forecast, level, scale) for level in levels},
                           method="split-conformal", source=calibration.source,
                           calibration_samples=calibration.samples)


def interval_scores(actual: np.ndarray, bounds: dict[float, tuple[np.ndarray, np.ndarray]],
                    **about: Any) -> dict[str, Any]:
    """`about` (how the intervals were made) and, per level of `bounds`, the coverage (share of
    actual values inside, in %) and mean width, overall and per forecast step."""
    return {**about, **{level_name(level): coverage_scores(actual, low, high) for level, (low, high) in bounds.items()}}


def coverage_scores(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, Any]:
    """The share of (samples, horizon) actual values inside [low, high], in %, and the mean width;
    overall and per forecast step; and the number of samples."""
    inside = (actual >= low) & (actual <= high)
    width = np.broadcast_to(high - low, actual.shape)
    return {"coverage": float(100 * inside.mean()), "width": float(width.mean()), "samples": len(actual),
            "by_step": {"coverage": (100 * inside.mean(axis=0)).tolist(), "width": width.mean(axis=0).tolist()}}
