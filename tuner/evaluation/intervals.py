"""Prediction intervals by conformal calibration: split-conformal, made adaptive over time.

A `Calibration` holds the signed residuals (actual - forecast, in the target's units) of every
calibration sample, per horizon step, from rows the networks that made those forecasts did not
train on. The split-conformal interval at level L for step h is the forecast plus and minus the
ceil((n + 1) * L)-th smallest |residual| of step h among its n samples, which covers at least L
of new samples whenever their residuals are exchangeable with the calibration ones. Totals over
the forecast dates (what-if) take the same quantile of the residuals of the sums, not a sum of
per-date quantiles.

A series' errors are not exchangeable over time: a validation part that holds the holidays makes
the test part's intervals too wide, a quiet one too narrow. So a fitted model also keeps its test
residuals in date order (`realized`), and its intervals follow adaptive conformal inference
(Gibbs and Candes, 2021): each step's level starts at L and, whenever a residual of that step
becomes known, moves by `rate` * (its miss - (1 - L)), the miss being 1 when the actual fell
outside its interval; the half width is that level's quantile of the last n known |residuals|.
The test part's intervals use only residuals known before their own date, as its point
forecasts use only past actuals; `predict` and what-if totals start from the state after the
last one.

A panel's residuals are kept in units of each series' own target scale (its scaler's standard
deviation) and mapped back with the scale of the series forecast, so that a small seller's
interval is not as wide as a large one's: the conformal guarantee then holds for the
scale-normalised residuals (locally weighted split-conformal). Each series of a panel adapts
its own level over its own test residuals, keeping the pooled calibration scores (a series'
few test residuals would barely move a window of every series' scores, and sorting it per
sample would cost a large panel minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from tuner.errors import TunerError

DEFAULT_LEVELS = (80.0, 95.0)  # % levels scored on the test part by `tuner fit`
ADAPT_RATE = 0.005  # adaptive conformal's step per residual (Gibbs and Candes' value; not tuned)


@dataclass(frozen=True)
class Calibration:
    residuals: np.ndarray  # (samples, horizon): actual - forecast, in the target's units (per_series: over its scale)
    source: str  # where they come from, in words
    per_series: bool = False  # a panel's: each residual divided by its series' target scale
    realized: np.ndarray | None = None  # (test samples, horizon): the fitted model's test residuals, as `residuals`; set: adaptive
    realized_series: np.ndarray | None = None  # a panel's: each realized row's series code (rows of a series one date apart)
    rate: float = ADAPT_RATE  # adaptive: how far a level moves per residual

    @property
    def samples(self) -> int:
        return len(self.residuals)

    @property
    def method(self) -> str:
        return "split-conformal" if self.realized is None else "adaptive conformal"

    def adapted(self, realized: np.ndarray, series: np.ndarray | None = None) -> Calibration:
        """This calibration, made adaptive over `realized`: residuals of consecutive samples, one
        date apart, in date order (the fitted model's test part); a panel's `series`: each row's
        series code, its rows in date order within each series."""
        return replace(self, realized=realized, realized_series=series)

    def series_realized(self, series: int | None) -> np.ndarray | None:
        """The realized residuals a forecast of `series` (a panel's series code) adapts over; none
        for a split-conformal calibration, or a panel series without any."""
        if self.realized is None or self.realized_series is None:
            return self.realized
        rows = self.series_rows.get(series)
        return None if rows is None else self.realized[rows]

    @cached_property
    def series_rows(self) -> dict[int, np.ndarray]:
        """A panel's realized rows of each series code, in date order."""
        order = np.argsort(self.realized_series, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(self.realized_series[order])) + 1)
        return {int(self.realized_series[rows[0]]): rows for rows in groups if len(rows)}

    @cached_property
    def sums(self) -> np.ndarray:
        """(samples, 1): the residuals of the sums over the horizon (what-if totals)."""
        return self.residuals.sum(axis=1, keepdims=True)

    @cached_property
    def ascending(self) -> np.ndarray:
        """|residuals| sorted per column: a panel's scores, the same for every sample."""
        return np.sort(np.abs(self.residuals), axis=0)

    @cached_property
    def ascending_sums(self) -> np.ndarray:
        """|sums| sorted: a panel's scores of totals."""
        return np.sort(np.abs(self.sums), axis=0)

    def half_widths(self, level: float, series: int | None = None) -> np.ndarray:
        """(horizon,): the interval's half width at each forecast step for `level` %, for a forecast
        (of a panel's `series`) made after every calibration and realized residual is known."""
        realized = self.series_realized(series)
        if realized is None:
            return conformal_quantile(np.abs(self.residuals), level)
        return self.adapt(realized, level)[1]

    def realized_half_widths(self, level: float) -> np.ndarray:
        """(realized samples, horizon): the half widths of each realized sample's own interval at
        `level` %, from the residuals known before its date (adaptive calibrations only)."""
        if self.realized is None:
            raise ValueError("a split-conformal calibration has no realized residuals")
        if self.realized_series is None:
            return self.adapt(self.realized, level)[0]
        halves = np.empty(self.realized.shape)
        for rows in self.series_rows.values():
            halves[rows] = self.adapt(self.realized[rows], level)[0]
        return halves

    def adapt(self, realized: np.ndarray, level: float, of_sums: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """`adaptive_half_widths` over `realized` at this calibration's rate, after its residuals
        (`of_sums`: after their sums, each known once its last date is): over the last n known
        scores for one series; over the pooled calibration scores, only the level adapting, for a
        panel's."""
        scores, ascending = (self.sums, self.ascending_sums) if of_sums else (self.residuals, self.ascending)
        lags = [self.residuals.shape[1] - 1] if of_sums else None
        return adaptive_half_widths(scores, realized, level, self.rate, lags, ascending if self.per_series else None)

    def sum_half_width(self, level: float, scale: float = 1.0, series: int | None = None) -> float:
        """The half width of the interval for the sum of the horizon's forecasts at `level` %, from
        the residuals of sums (adaptive: a sum is known once its last date is), for a series (a
        panel's `series`) of target scale `scale` (used by a panel's calibration only)."""
        realized = self.series_realized(series)
        if realized is None:
            half = float(conformal_quantile(np.abs(self.sums), level)[0])
        else:
            half = float(self.adapt(realized.sum(axis=1, keepdims=True), level, of_sums=True)[1][0])
        return half * scale if self.per_series else half

    def bounds(self, forecast: np.ndarray, level: float, scale: np.ndarray | float = 1.0,
               series: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds around `forecast` (..., horizon) at `level` %; `scale`: the target
        scale of each forecast's series, (samples, 1) or one for all, and `series`: a panel's
        series code (used by a panel's calibration only)."""
        return self.around(forecast, self.half_widths(level, series), scale)

    def realized_bounds(self, forecast: np.ndarray, level: float,
                        scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Bounds around `forecast` of the realized samples, each from its own interval at `level` %
        (`realized_half_widths`); `scale` as for `bounds`."""
        if self.realized is None or self.realized.shape != forecast.shape:
            shape = None if self.realized is None else self.realized.shape
            raise ValueError(f"adapted to {shape} residuals, scored on {forecast.shape} forecasts")
        return self.around(forecast, self.realized_half_widths(level), scale)

    def around(self, forecast: np.ndarray, half: np.ndarray,
               scale: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """`forecast` minus and plus `half` (a panel's: in units of each series' target scale)."""
        half = half * (scale if self.per_series else 1.0)
        return forecast - half, forecast + half

    def supports(self, level: float) -> bool:
        """Whether there are enough samples for the finite-sample quantile at `level` % (else the
        widest residual is used, and coverage can fall short of `level`)."""
        return math.ceil((self.samples + 1) * level / 100) <= self.samples

    def as_dict(self) -> dict[str, Any]:
        adaptive = {} if self.realized is None else {"rate": self.rate, "realized": self.realized.tolist()}
        if self.realized_series is not None:
            adaptive["realized_series"] = self.realized_series.tolist()
        return {"method": self.method, "source": self.source, "per_series": self.per_series,
                "residuals": self.residuals.tolist(), **adaptive}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        realized, series = data.get("realized"), data.get("realized_series")
        return cls(np.asarray(data["residuals"], dtype=np.float64), data["source"], data.get("per_series", False),
                   None if realized is None else np.asarray(realized, dtype=np.float64),
                   None if series is None else np.asarray(series, dtype=np.int64), data.get("rate", ADAPT_RATE))


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Per column of `scores` (samples, columns): the ceil((n + 1) * level)-th smallest value,
    the largest when n is too small for that, zero when the rank is below 1 (level <= 0)."""
    rank = conformal_rank(len(scores), level)
    return np.sort(scores, axis=0)[rank - 1] if rank > 0 else np.zeros(scores.shape[1:])


def conformal_rank(n: int, level: float) -> int:
    """ceil((n + 1) * level), at most n: the rank of the split-conformal quantile among n scores."""
    return min(n, math.ceil(round((n + 1) * level / 100, 9)))


def adaptive_half_widths(scores: np.ndarray, realized: np.ndarray, level: float, rate: float,
                         lags: list[int] | None = None,
                         fixed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive conformal inference over `realized` (samples, columns) residuals of consecutive
    samples, one date apart, after the calibration residuals `scores` (n, columns): the half
    widths of each realized sample's interval, (samples, columns), and of a forecast made after
    them all, (columns,). Column c of sample j is known before sample k's date when
    j + lags[c] < k (default lag: c, the forecast step from 0); each column keeps its own level,
    over its last n known |residuals|, or, given `fixed` (the |scores| sorted per column), over
    those for every sample."""
    n, (samples, columns) = len(scores), realized.shape
    target = 1 - level / 100
    halves, final = np.empty(realized.shape), np.empty(columns)
    for column, lag in enumerate(range(columns) if lags is None else lags):
        observed = np.abs(realized[:, column])
        history = None if fixed is not None else np.concatenate([np.abs(scores[:, column]), observed])
        ascending = fixed[:, column] if history is None else np.sort(history[:n])
        miss_rate = target
        for origin in range(samples + lag + 1):  # past the last sample: until its residual is known
            known = origin - lag  # realized samples of this column known before `origin`: 0 .. known - 1
            if known > 0:
                miss_rate += rate * (target - (observed[known - 1] > halves[known - 1, column]))
                if history is not None:
                    ascending = np.sort(history[known : n + known])
            rank = conformal_rank(n, 100 * (1 - miss_rate))
            half = ascending[rank - 1] if rank > 0 else 0.0
            if origin < samples:
                halves[origin, column] = half
        final[column] = half
    return halves, final


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
    """Coverage and mean width of each level's intervals around `forecast`: an adaptive
    calibration's own, over the samples it was adapted to; `scale`: each sample's series target
    scale, (samples, 1), for a panel's calibration."""
    score = calibration.bounds if calibration.realized is None else calibration.realized_bounds
    bounds = {level: score(forecast, level, scale) for level in levels}
    about = {"method": calibration.method, "source": calibration.source, "calibration_samples": calibration.samples}
    if calibration.realized is not None:
        about["rate"] = calibration.rate
    return interval_scores(actual, bounds, **about)


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
