"""The Theta method (Assimakopoulos and Nikolopoulos, 2000), which Hyndman and Billah (2003) showed
to be simple exponential smoothing with a drift of half the series' trend: the classical
forecaster that won the M3 competition, averaged with ETS in `tuner.members.ets`' exponential smoothing.

As statsmodels' `ThetaModel` does: where the series' autocorrelation at one season is significant
(at 10 %), it is deseasonalised by classical decomposition (multiplicative for a positive series);
the drift is the slope of a least-squares line through the deseasonalised history; the level is
simple exponential smoothing of it from its first value, its smoothing fitted by least squares. The
fit fixes the season's indices and the smoothing; each window's forecast then comes from the rows
before it in closed form (the slope from running sums, the level from one smoothing pass).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

SEASON_TEST = 2.705543454095404  # chi-squared(1) at 10 %: statsmodels' ThetaModel seasonality test


@dataclass(frozen=True)
class SeriesTheta:
    """One series' fitted Theta method."""

    alpha: float  # the level's smoothing
    seasonal: tuple[float, ...]  # the season's indices by row position modulo their count; empty: not seasonal
    multiplicative: bool  # indices divide the series (else they are subtracted)

    @classmethod
    def fit(cls, values: np.ndarray, season: int) -> SeriesTheta:
        """Fitted on `values` (the series from its first row) with a season of `season` rows."""
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
        from statsmodels.tsa.seasonal import seasonal_decompose
        from statsmodels.tsa.stattools import acf

        seasonal, multiplicative = (), False
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # statsmodels' convergence notices; a flat series' autocorrelation
            if season > 1 and len(values) >= 2 * season:
                rho = acf(values, nlags=season, fft=True)
                if len(values) * rho[-1] ** 2 / np.sum(rho[:-1] ** 2) > SEASON_TEST:  # False where NaN (flat)
                    multiplicative = bool(values.min() > 0)
                    model = "mul" if multiplicative else "add"
                    indices = seasonal_decompose(values, model=model, period=season).seasonal
                    if multiplicative and indices.min() <= 0:
                        multiplicative = False
                        indices = seasonal_decompose(values, model="add", period=season).seasonal
                    seasonal = tuple(map(float, indices[:season]))
            adjusted = cls(1.0, seasonal, multiplicative).adjusted(values)
            fitted = ExponentialSmoothing(adjusted, initial_level=adjusted[0], initialization_method="known").fit()
        return cls(float(fitted.params["smoothing_level"]), seasonal, multiplicative)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesTheta:
        return cls(float(data["alpha"]), tuple(map(float, data["seasonal"])), bool(data["multiplicative"]))

    def adjusted(self, values: np.ndarray) -> np.ndarray:
        """`values` without the season (rows by position from the series' first)."""
        if not self.seasonal:
            return values.astype(float)
        indices = np.resize(np.array(self.seasonal), len(values))
        return values / indices if self.multiplicative else values - indices

    def forecast(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """(origins, horizon): the forecast of values[origin : origin + horizon] from values[:origin]
        alone, for each origin (1 .. len(values))."""
        from scipy.signal import lfilter

        adjusted = self.adjusted(values)
        alpha = self.alpha
        level, _ = lfilter([alpha], [1, alpha - 1], adjusted, zi=[(1 - alpha) * adjusted[0]])  # level[t]: after row t
        t = np.arange(len(values), dtype=float)
        sums = [np.cumsum(x) for x in (np.ones_like(t), t, t * t, adjusted, t * adjusted)]
        n, st, stt, sy, sty = (s[origins - 1] for s in sums)
        spread = n * stt - st * st  # 0 for a single row: no slope yet
        slope = np.divide(n * sty - st * sy, spread, out=np.zeros_like(spread), where=spread > 0)
        steps = np.arange(horizon, dtype=float)[None, :]
        drift = steps + (1 - (1 - alpha) ** n[:, None]) / alpha if alpha > 0 else steps
        forecast = level[origins - 1][:, None] + 0.5 * slope[:, None] * drift
        if not self.seasonal:
            return forecast
        indices = np.array(self.seasonal)[(origins[:, None] + steps.astype(int)) % len(self.seasonal)]
        return forecast * indices if self.multiplicative else forecast + indices
