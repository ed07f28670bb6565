"""Exponential smoothing: the classical forecaster of a series from its own history, a baseline
every model is measured against, as the forecasting competitions measure theirs. Its forecast is
the mean of two exponential smoothing methods, ETS and Theta (`tuner.members.theta`), combined as the
M3 and M4 competitions' classical benchmarks combine theirs.

Per series, statsmodels' `ETSModel` is fitted in every form that its rows allow (additive or
multiplicative error; no, additive or damped trend; no, additive or multiplicative season; the
multiplicative ones only for a positive series, and a multiplicative season only with a
multiplicative error) and the form with the lowest AICc is kept, as R's `forecast::ets` chooses.
Forecasts of any window come from the state the fitted smoothing reaches just before the window's
first target step: one smoothing pass over the series with the fitted parameters gives every
state, and each window's steps follow from its state in closed form (the ETS point forecast), so a
part's hundreds of windows cost one pass, not one fit each.

The `ets` member fits each series' own form and Theta method; it reads the history only, not the
plans, and serves panels of at most `MAX_SERIES` series."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.config.schema import DataConfig
from tuner.members.base import Kind, Recipe, from_state
from tuner.members.theta import SeriesTheta

if TYPE_CHECKING:
    from tuner.data.dataset import Dataset
    from tuner.data.inputs import ForecastInputs


FORMS = tuple((error, trend, damped, seasonal)
              for error in ("add", "mul")
              for trend, damped in ((None, False), ("add", False), ("add", True))
              for seasonal in (None, "add", "mul")
              if not (error == "add" and seasonal == "mul"))  # (error, trend, damped trend, season) as ETSModel
# names them; additive error with a multiplicative season is left out, as R's ets leaves it out (unstable)
SPARE_ROWS = 4  # a form is fitted only on more rows than its parameters plus these
SMOOTHED_FREQUENCIES = ("M",)  # data.frequency where `tuner fit` mixes it in by default: a monthly series' one
# season (the year) is ETS's; daily data also has a yearly season, and a weekly one's 52-week season is too long
MAX_SERIES = 200  # a panel with more series goes without exponential smoothing: its form search takes
# 0.3-3 s per series, so 10,000 series would add hours to every study's baselines and every fit
PARALLEL_FROM = 8  # series: from this many, the form searches are shared out over the cores (joblib's
# process pool); with fewer, starting the pool costs about as much as it saves


@dataclass(frozen=True)
class SeriesEts:
    """One series' fitted ETS form and parameters (in ETSModel's order), and its Theta method."""

    error: str
    trend: str | None
    damped: bool
    seasonal: str | None
    season: int
    params: tuple[float, ...]  # empty: too few rows for any form, so the naive forecast
    theta: SeriesTheta | None = None  # averaged with ETS; None: ETS alone (model directories of format 4)
    phase: int | None = None  # the season position (`tuner.data.seasonal`) of the first fitted row; None: not known

    def aligned(self, values: np.ndarray, position: int) -> np.ndarray:
        """`values`, whose first row has season position `position`, from their first row at the
        fitted phase: the initial seasonal states (and Theta's indices) are by place in the season
        from the first row, so a history that starts elsewhere in the season loses up to a season's
        first rows (none where that would leave no row)."""
        offset = 0 if self.phase is None else (self.phase - position) % self.season
        return values[offset:] if offset < len(values) else values

    @classmethod
    def fit(cls, values: np.ndarray, season: int) -> SeriesEts:
        """The form with the lowest AICc over `values`, with the Theta method fitted on them too;
        no parameters (the naive forecast: the last value) where no form has enough rows. The
        optimiser's matrices are tiny, so BLAS runs on one thread: on two, beside one other busy
        process on two cores, its threads' hand-offs made the search 2.5 times slower."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            fits = [cls.fitted_form(values, season, form) for form in FORMS if cls.fits(values, season, form)]
            fits = [fit for fit in fits if fit is not None]
            if not fits:
                return cls("add", None, False, None, season, ())
            return replace(min(fits, key=lambda pair: pair[0])[1], theta=SeriesTheta.fit(values, season))

    @staticmethod
    def fits(values: np.ndarray, season: int, form: tuple) -> bool:
        """Whether `values` have enough rows for `form`'s parameters, and its multiplicative parts
        a positive series."""
        error, trend, damped, seasonal = form
        if (error == "mul" or seasonal == "mul") and not (values > 0).all():
            return False
        if seasonal and (season < 2 or len(values) < 2 * season):
            return False
        parameters = 2 + (2 if trend else 0) + damped + (season if seasonal else 0)
        return len(values) > parameters + SPARE_ROWS

    @classmethod
    def fitted_form(cls, values: np.ndarray, season: int, form: tuple) -> tuple[float, SeriesEts] | None:
        """(AICc, the fit) of one form; None where its optimisation does not give a finite AICc."""
        error, trend, damped, seasonal = form
        smoothing = cls(error, trend, damped, seasonal, season, ())
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # statsmodels' convergence and start-value notices
            result = smoothing.model(values).fit(disp=False)
        if not math.isfinite(result.aicc):
            return None
        return result.aicc, cls(error, trend, damped, seasonal, season, tuple(map(float, result.params)))

    def model(self, values: np.ndarray):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # imported here: tuning's workers never need it

        return ETSModel(values, error=self.error, trend=self.trend, damped_trend=self.damped, seasonal=self.seasonal,
                        seasonal_periods=self.season if self.seasonal else None)

    def forecast(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """(origins, horizon): the forecast of values[origin : origin + horizon] from values[:origin]
        alone, for each origin (1 .. len(values); at least one season in, for a seasonal form): the
        mean of ETS's and Theta's (ETS's alone without a Theta method)."""
        if not self.params:
            return np.repeat(values[origins - 1][:, None], horizon, axis=1)
        ets = self.ets_forecast(values, origins, horizon)
        return (ets + self.theta.forecast(values, origins, horizon)) / 2 if self.theta else ets

    def ets_forecast(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """`forecast`'s ETS part: each origin's steps from the state one smoothing pass reaches."""
        model = self.model(self.smoothable(values))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            states = model.smooth(np.array(self.params)).states  # row t: the state after values[t]
        names = list(model.state_names)
        last = origins[:, None] - 1
        steps = np.arange(1, horizon + 1)[None, :]
        level = states[last, names.index("level")] * np.ones(horizon)
        if self.trend:
            damping = self.params[model.param_names.index("damping_trend")] if self.damped else 1.0
            level = level + np.cumsum(damping ** steps[0])[None, :] * states[last, names.index("trend")]
        if not self.seasonal:
            return level
        seasonal = states[np.maximum(last + steps - self.season * ((steps - 1) // self.season + 1), 0),
                          names.index("seasonal")]
        return level * seasonal if self.seasonal == "mul" else level + seasonal

    def smoothable(self, values: np.ndarray) -> np.ndarray:
        """`values` as the smoothing pass reads them: for a multiplicative form (fitted on positive
        rows), a later zero or negative value (a day without sales) raised to half the smallest
        positive value, since a multiplicative state cannot pass through it."""
        if (self.error == "mul" or self.seasonal == "mul") and not (values > 0).all():
            positive = values[values > 0]
            return np.maximum(values, positive.min() / 2 if len(positive) else 1.0)
        return values

    @property
    def name(self) -> str:
        """The form in the usual ETS(error, trend, season) letters, and "+ Theta" where it is
        averaged in: "ETS(M,Ad,M) + Theta"; "naive" without parameters."""
        if not self.params:
            return "naive"
        trend = {None: "N", "add": "A"}[self.trend] + ("d" if self.damped else "")
        name = f"ETS({self.error[0].upper()},{trend},{ {None: 'N', 'add': 'A', 'mul': 'M'}[self.seasonal]})"
        return f"{name} + Theta" if self.theta else name


@dataclass(frozen=True)
class Ets:
    """Each series' `SeriesEts`, by series code."""

    series: tuple[SeriesEts, ...]

    @classmethod
    def fit(cls, target: np.ndarray, codes: np.ndarray, count: int, season: int, jobs: int = 0) -> Ets:
        """From `target`'s rows (each series' rows together, in order; `codes`: the series of each),
        the form searches in `jobs` processes (0: every core for panels of `PARALLEL_FROM` series or
        more, else one)."""
        histories = [target[codes == code] for code in range(count)]
        jobs = jobs or (min(os.cpu_count() or 1, count) if count >= PARALLEL_FROM else 1)
        if jobs == 1:
            return cls(tuple(SeriesEts.fit(history, season) for history in histories))
        from joblib import Parallel, delayed

        return cls(tuple(Parallel(n_jobs=jobs)(delayed(SeriesEts.fit)(history, season) for history in histories)))

    @classmethod
    def fit_part(cls, dataset: Dataset, part: str) -> Ets:
        """Fitted on each series' rows of `dataset`'s split part `part`."""
        rows = dataset.rows(part)
        codes = dataset.index.codes[rows]
        fitted = cls.fit(dataset.target[rows], codes, len(dataset.index), dataset.config.seasonality)
        fitted_codes, first = np.unique(codes, return_index=True)
        phases = dict(zip(fitted_codes.tolist(), dataset.positions[rows[first]].tolist()))
        return cls(tuple(replace(series, phase=phases.get(code)) for code, series in enumerate(fitted.series)))

    def as_dict(self) -> list[dict[str, Any]]:
        return [asdict(series) for series in self.series]

    @classmethod
    def from_dict(cls, data: list[dict[str, Any]]) -> Ets:
        return cls(tuple(SeriesEts(str(entry["error"]), entry["trend"], bool(entry["damped"]), entry["seasonal"],
                                         int(entry["season"]), tuple(map(float, entry["params"])),
                                         SeriesTheta.from_dict(entry["theta"]) if entry.get("theta") else None,
                                         None if entry.get("phase") is None else int(entry["phase"]))
                         for entry in data))

    def forecast(self, target: np.ndarray, offsets: np.ndarray, target_rows: np.ndarray, series: np.ndarray,
                 horizon: int) -> np.ndarray:
        """(samples, horizon) forecasts of the samples whose first target step is `target_rows` (rows
        of `target`, every series' one after another, series `code` from offsets[code]), each from
        its own series' rows before it."""
        forecast = np.empty((len(target_rows), horizon))
        for code in np.unique(series):
            chosen = series == code
            start, end = offsets[code], offsets[code + 1]
            forecast[chosen] = self.series[code].forecast(target[start:end], target_rows[chosen] - start, horizon)
        return forecast

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        """Forecasts of every sample of `dataset`'s split part `part`, in the target's units."""
        windows = dataset.windows(part)
        return self.forecast(dataset.target, dataset.index.offsets, windows.target_rows, windows.series,
                             dataset.config.horizon)


@dataclass(frozen=True)
class EtsMember:
    ets: Ets
    name: str = "ets"

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        return self.ets.forecast_part(dataset, part)

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        """As fitted, or for a series the model was not fitted on, fitted on its history."""
        series = (self.ets.series[inputs.fitted] if inputs.fitted is not None
                  else SeriesEts.fit(inputs.past, data.seasonality))
        past = series.aligned(inputs.past, int(inputs.past_positions(data.seasonality)[0]))
        return series.forecast(past, np.array([len(past)]), data.horizon)[0]

    def save(self, folder: Path) -> dict[str, Any]:
        return {"series": self.ets.as_dict()}

    @classmethod
    def load(cls, folder: Path, state: dict[str, Any]) -> EtsMember:
        return cls(from_state(lambda saved: Ets.from_dict(saved["series"]), state, folder, "exponential smoothing"))


def fit(dataset: Dataset, part: str, recipe: Recipe | None = None) -> EtsMember:
    return EtsMember(Ets.fit_part(dataset, part))


def unserved(dataset: Dataset) -> str | None:
    if len(dataset.index) > MAX_SERIES:
        return f"it is fitted per series, on panels of at most {MAX_SERIES} series, and this one has {len(dataset.index):,}"
    return None


KIND = Kind("ets", False, fit, EtsMember.load, unserved)
