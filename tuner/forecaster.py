"""The fitted forecaster: its networks (the tuned configuration, or an ensemble of the best ones,
each trained with several seeds), with the scaling they were trained with and the config, and
fit / forecast / save / load. `tuner fit`, `predict`, `whatif`,
`report --model` and the benchmarks all go through it.

A model directory holds:

    weights.pt     torch.save of the state dict (tensors only; loaded with weights_only=True);
                   an ensemble's further members are weights-2.pt, weights-3.pt, ...
    model.json     format, tuner version, members (architecture, parameters, window, training seed, checksum),
                   how they are combined, scaling, fitted ranges, the linear member (its ridge
                   coefficients) and the exponential smoothing member (each series' form and
                   parameters), each with its weight and the scores it was chosen on
    config.json    the full study config the model was fitted with
    metrics.json   test metrics of the model and the baselines, and the intervals' test coverage
    series_metrics.csv  a panel's test MAE and WAPE per series, for the model and each baseline,
                   worst against seasonal-naive first (absent for one series)
    boosting.skops the gradient-boosting member its forecasts are combined with (skops format: read
                   without pickle, only the sklearn types it names as trusted; absent when the
                   boosting weight is 0)
    calibration.json  the residuals that prediction intervals are calibrated on, and the test
                   residuals they adapt over (absent in directories fitted with --no-intervals
                   or before intervals existed: they forecast points only)

No pickled Python objects: a model directory can be read by anyone without running code.

A refit trains each configuration `train.refit_seeds` times (5), with the seeds `seed`, `seed + 1`,
..., and combines their forecasts as an ensemble's, the mean by default (`--seeds`): the seed
alone moves a refit's test error by several percent, and the mean forecast errs less than its
networks do on average (on the scale they are averaged on, never more: absolute error is convex;
BENCHMARKS.md, figure 12's section "Seeds of the refit").

The networks' forecast is combined with gradient boosting's (on lags and the same inputs, fitted on
train + validation, beside the trials' own networks too) with equal weights by default
(`--boosting-weight`, 0: the networks alone): a neural and a tree model err in different places,
and their mean erred less than the networks alone on validation parts no trial was chosen on
(reliably on three series of five, no reliable difference on two) and on the test part of all five
(BENCHMARKS.md, figure 19). For one series, that mix is then mixed with a linear member (`tuner.linear`:
ridge regression on lags and the same inputs, in the data's own units, fitted on train + validation)
at the share, in steps of 0.1, that erred least on held-out validation rows (`--linear-weight`):
a linear model carries a level, a trend or an additive effect past the fitted rows' range.
For monthly data without planned inputs, that mix is then mixed with
exponential smoothing (`tuner.ets`, the mean of each series' own ETS form and Theta method, fitted
on train + validation) at the share, in steps of 0.1, that erred least on held-out validation rows
(`tuner.heldout`; `--ets-weight` sets it): a classical model of the series' own level, trend and
season, where the networks and the trees lean on lags and inputs.
Quantile models are not combined: their quantiles are the networks' own.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.baselines import smoothable
from tuner.boosting import Boosting
from tuner.config import Config, ParamsConfig, with_params
from tuner.data import Dataset
from tuner.device import resolve_device
from tuner.errors import ConfigError, DataError, ModelDirError
from tuner.ets import SeriesSmoothing, Smoothing
from tuner.heldout import (
    calibration,
    linear_scores,
    own_weights_held_out,
    part_residuals,
    refit_held_out,
    smoothing_scores,
)
from tuner.inputs import ForecastInputs, chosen_series, series_inputs
from tuner.intervals import Calibration, level_name
from tuner.linear import Linear
from tuner.loading import load_frame, load_with_plan
from tuner.members import Member, resolved_seeds, train_member
from tuner.metrics import forecast_errors, quantile_pairs
from tuner.models import LSTMForecaster
from tuner.names import DATA_VARIANTS
from tuner.scaling import Scaling
from tuner.scoring import TestForecast, quantile_interval_metrics, series_errors, test_metrics
from tuner.seasonal import season_positions
from tuner.series import SeriesIndex
from tuner.shares import (
    blend,
    resolved_boosting_weight,
    resolved_linear_weight,
    resolved_smoothing_weight,
    unsmoothed_weight,
)
from tuner.static import StaticEncoding
from tuner.train import predict, predict_windows
from tuner.trialweights import load_trial_network

log = logging.getLogger(__name__)

COMBINES = {"mean": np.mean, "median": np.median}  # how an ensemble's members' forecasts are combined
NO_INTERVALS = "no calibration.json (fitted with --no-intervals, or before prediction intervals existed)"


@dataclass
class Forecaster:
    members: list[Member]
    scaling: Scaling
    config: Config  # data.window: the longest member's
    metrics: dict[str, Any]  # "model" and each baseline -> test metrics; "by_step" -> per step
    seen: dict[str, tuple[float, float]]  # column -> (min, max) over the fitted rows
    trained_through: str = ""  # the last fitted date, ISO
    scaled_on: str = "train+validation"  # the rows scaling and networks were fitted on ("train": trials' own)
    combine: str = "mean"  # how an ensemble's forecasts are combined: mean or median
    calibration: Calibration | None = None  # residuals for prediction intervals; None: NO_INTERVALS
    series: tuple[tuple[str, ...], ...] = ((),)  # the fitted series' id values, in scaling's row order
    encoding: StaticEncoding = field(default_factory=lambda: StaticEncoding({}, {}))  # how a series' id and static covariates are given to the networks
    series_metrics: pd.DataFrame | None = None  # a panel's test metrics per series (`series_errors`)
    boosting: Boosting | None = None  # the gradient boosting combined with the networks; None: networks alone
    boosting_weight: float = 0.0  # its share of the forecast
    boosting_on: str = "train+validation"  # the rows its member was fitted on (older --from-trial models: "train")
    smoothing: Smoothing | None = None  # exponential smoothing mixed into the forecast; None: without it
    smoothing_weight: float = 0.0  # its share of the forecast
    smoothing_scores: dict[float, float] = field(default_factory=dict)  # each share tried -> the study's metric on
    # held-out validation rows (`tuner.heldout`); empty where the share was given (--ets-weight)
    linear: Linear | None = None  # the linear member mixed into the forecast before smoothing; None: without it
    linear_weight: float = 0.0  # its share of the forecast
    linear_scores: dict[float, float] = field(default_factory=dict)  # as smoothing_scores, for --linear-weight

    @property
    def params(self) -> ParamsConfig:
        """The (first) member's parameters."""
        return self.members[0].params

    @property
    def seeds(self) -> int:
        """Networks per trial, each trained with its own seed (`--seeds`) and combined as an
        ensemble's; 1 for the trials' own networks (`--from-trial`) and older model directories."""
        return len({member.seed for member in self.members})

    @property
    def network(self) -> LSTMForecaster:
        return self.members[0].network

    @property
    def label(self) -> str:
        """What the model is, for titles: "lstm", "ensemble (mean) of lstm, lstm_transformer", then
        " (mean of 5 seeds)" when each trial's network was trained with several, and " + gradient
        boosting (weight 0.5)" when combined with boosting ("levelled gradient boosting" with
        data.boosting_scaling = "level"), then " + linear (weight 0.8)" and " + exponential
        smoothing (weight 0.3)" when mixed with them."""
        trials = self.members[::self.seeds]
        kinds = ", ".join(member.params.model for member in trials)
        label = kinds if len(trials) == 1 else f"ensemble ({self.combine}) of {kinds}"
        if self.seeds > 1:
            label += f" ({self.combine} of {self.seeds} seeds{' each' if len(trials) > 1 else ''})"
        if self.boosting:
            label += f" + {self.boosting.name} (weight {self.boosting_weight:g})"
        if self.linear:
            label += f" + linear (weight {self.linear_weight:g})"
        if self.smoothing:
            label += f" + exponential smoothing (weight {self.smoothing_weight:g})"
        return label

    # ---- fit ----

    @classmethod
    def fit(cls, config: Config, params: ParamsConfig | list[ParamsConfig], seed: int | None = None,
            combine: str = "mean", weights: list[Path] | None = None,
            intervals: bool = True, boosting_weight: float | None = None,
            smoothing_weight: float | str | None = None, seeds: int | None = None,
            linear_weight: float | str | None = None) -> tuple[Forecaster, TestForecast]:
        """Train each of `params` on train + validation for its `epochs`, `seeds` times with the
        seeds `seed`, `seed + 1`, ... (default `train.refit_seeds`), or, with `weights`, take
        each trial's own network from its stored weights, trained on the training rows only;
        combine them all, and with gradient boosting fitted on train + validation (also beside the
        trials' own networks: it takes seconds to fit) at `boosting_weight` (default
        `shares.BOOSTING_WEIGHT` for point models, 0 for quantile models), then mix in the linear member at
        `linear_weight` ("auto", the default for one-series point models: chosen as smoothing's share is;
        `shares.resolved_linear_weight`), then exponential smoothing
        at `smoothing_weight` ("auto": the share, in steps of 0.1, that erred least on held-out
        validation rows; the default where `shares.smoothing_by_default`, else 0), then score the test
        part once. The held-out rows'
        forecasts come from the recipe trained once more on the rows before them (a refit) or from
        the trials' own networks. `intervals`: calibrate prediction intervals on their residuals
        (then adapted over the test residuals); without, the model forecasts points only."""
        resolve_device(config.train.device, config.train.precision)  # a device this machine lacks fails first
        seeds = resolved_seeds(config, seeds, weights is not None)
        boosting_weight = resolved_boosting_weight(config, boosting_weight)
        smoothing_weight = resolved_smoothing_weight(config, smoothing_weight)
        linear_weight = resolved_linear_weight(config, linear_weight)
        listed = params if isinstance(params, list) else [params]
        configs = [with_params(config, p.trial_params()) for p in listed]
        for key in DATA_VARIANTS:
            values = sorted({str(getattr(c.data, key)) for c in configs})
            if len(values) > 1:
                raise ConfigError(f"--ensemble: its trials were tuned with different data.{key} values "
                                  f"({', '.join(values)}), but an ensemble's members share one scaled copy of the "
                                  f"data; combine fewer trials, or tune with one {key.replace('_', ' ')}")
        windows = tuple(c.data.window for c in configs)
        config = replace(configs[0], data=replace(configs[0].data, window=max(windows)))
        scale_on = "train+validation" if weights is None else "train"
        seed = config.study.seed if seed is None else seed
        frame = load_frame(config.data)
        dataset = Dataset(frame, config.data, config.split, scale_on, search_windows=windows)
        if not smoothable(dataset):
            smoothing_weight = unsmoothed_weight(smoothing_weight, len(dataset.index))
        if weights is None:
            runs = [(c, p, w, s) for c, p, w in zip(configs, listed, windows) for s in range(seed, seed + seeds)]
            configs = [c for c, *_ in runs]  # each member's, as `refit_held_out` trains them again
            members = [Member(train_member(dataset, c, p, s), p, w, s) for c, p, w, s in runs]
        else:
            members = [Member(load_trial_network(dataset, c, p, path), p, w)
                       for c, p, w, path in zip(configs, listed, windows, weights)]
        forecaster = cls(members, dataset.scaling, config, {}, dataset.fitted_range(scale_on),
                         dataset.last_date(scale_on).isoformat(), scale_on, combine,
                         series=dataset.index.keys, encoding=dataset.encoding)
        if boosting_weight:  # cheap to fit: on train + validation beside the trials' own networks too
            forecaster.boosting = Boosting.fit(dataset.windows("train+validation"), config.data.boosting_levelled)
            forecaster.boosting_weight = boosting_weight
        held_out = []
        if intervals or smoothing_weight is None or linear_weight is None:
            smoothed, linear = smoothing_weight != 0, linear_weight != 0  # to choose their shares, or to calibrate the mix
            held_out = (refit_held_out(forecaster, Dataset.folds(frame, config.data, config.split, windows), configs,
                                       smoothed, linear) if weights is None
                        else own_weights_held_out(forecaster, dataset, smoothed, linear))
        if linear_weight is None:
            forecaster.linear_scores = linear_scores(held_out, config.study.metric)
            linear_weight = min(forecaster.linear_scores, key=forecaster.linear_scores.get)
        if linear_weight:
            forecaster.linear = Linear.fit_part(dataset, "train+validation")
            forecaster.linear_weight = linear_weight
        if smoothing_weight is None:
            forecaster.smoothing_scores = smoothing_scores(held_out, config.study.metric, linear_weight)
            smoothing_weight = min(forecaster.smoothing_scores, key=forecaster.smoothing_scores.get)
        if smoothing_weight:
            forecaster.smoothing = Smoothing.fit_part(dataset, "train+validation")
            forecaster.smoothing_weight = smoothing_weight
        if intervals:
            forecaster.calibration = calibration(held_out, smoothing_weight, bool(config.data.series), linear_weight)
        else:
            log.info("no prediction intervals: calibration skipped")
        test = TestForecast.of(forecaster, dataset)
        if forecaster.calibration is not None:
            forecaster.calibration = forecaster.calibration.adapted(
                part_residuals(dataset, "test", test.forecast),
                dataset.windows("test").series if config.data.series else None)
        forecaster.metrics = test_metrics(test, forecaster.calibration)
        for name, forecast in test.parts.items():  # what the networks alone, and the mix without smoothing, reach
            forecaster.metrics[name] = forecast_errors(dataset.actuals("test"), forecast, prefix="test_")
        if config.data.series:
            forecaster.series_metrics = series_errors(test)
        if forecaster.quantiles and intervals:
            forecaster.metrics["intervals"] = quantile_interval_metrics(forecaster, dataset)
        return forecaster, test

    def test_forecast(self) -> TestForecast:
        """The test part of the data the model was fitted on, read again, and its forecast."""
        windows = tuple(member.window for member in self.members)
        dataset = Dataset(load_frame(self.config.data), self.config.data, self.config.split, self.scaled_on,
                          search_windows=windows)
        if not dataset.scaling.same_as(self.scaling):
            raise DataError(f"{self.config.data.path}: the data changed since the model was fitted on it; "
                            "fit the model again")
        return TestForecast.of(self, dataset)

    # ---- forecast ----

    def combined(self, forecasts: list[np.ndarray]) -> np.ndarray:
        """The members' scaled forecasts combined (still scaled)."""
        return COMBINES[self.combine](np.stack(forecasts), axis=0)

    def mixed(self, networks: np.ndarray, boosted: np.ndarray) -> np.ndarray:
        """The networks' combined forecast mixed with the boosting member's at its weight (both scaled)."""
        return blend(networks, boosted, self.boosting_weight)

    def forecast_part(self, dataset: Dataset, part: str, quantiles: bool = False) -> np.ndarray:
        """Forecasts of every sample of a split part, in the target's units; with `quantiles`, a
        quantile model's (samples, horizon, quantiles)."""
        return self.part_forecasts(dataset, part, quantiles)["model"]

    def part_forecasts(self, dataset: Dataset, part: str, quantiles: bool = False) -> dict[str, np.ndarray]:
        """`forecast_part` as "model" and what it mixes, each made once: for a model combined with
        boosting, its networks' forecast ("networks") and its boosting member's ("boosting"); for
        one mixed with the linear member, the mix without it ("without_linear"); for one mixed with
        exponential smoothing, that member's ("ets") and the mix without it ("without_ets")."""
        windows = dataset.windows(part)
        networks = self.combined([predict_windows(member.network, dataset.windows(part, member.window), quantiles)
                                  for member in self.members])
        positions = dataset.step_positions(part)
        if self.boosting is None:
            forecasts = {"model": self.scaling.to_units(networks, windows.series, positions)}
        else:
            boosted = self.boosting.predict_windows(windows)
            forecasts = {name: self.scaling.to_units(scaled, windows.series, positions) for name, scaled in
                         (("model", self.mixed(networks, boosted)), ("networks", networks), ("boosting", boosted))}
        if self.linear is not None:
            forecasts["without_linear"] = forecasts["model"]
            forecasts["model"] = self.lineared(forecasts["model"], self.linear.forecast_part(dataset, part))
        if self.smoothing is None:
            return forecasts
        smoothed = self.smoothing.forecast_part(dataset, part)
        return {**forecasts, "model": self.smoothed(forecasts["model"], smoothed), "without_ets": forecasts["model"],
                "ets": smoothed}

    def lineared(self, forecast: np.ndarray, linear: np.ndarray) -> np.ndarray:
        """A forecast in the target's units mixed with the linear member's at its weight."""
        return blend(forecast, linear, self.linear_weight)

    def smoothed(self, forecast: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
        """A forecast in the target's units mixed with exponential smoothing's at its weight."""
        return blend(forecast, smoothed, self.smoothing_weight)

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles the networks forecast (train.loss = "quantile"); empty for point models."""
        return self.network.config.quantiles

    def quantile_levels(self) -> dict[float, tuple[int, int]]:
        """Interval level in % -> the indices of the quantile pair that bounds it (0.1, 0.9 -> 80)."""
        quantiles = self.quantiles
        return {round(100 * (high - low), 6): (quantiles.index(low), quantiles.index(high))
                for low, high in reversed(quantile_pairs(quantiles))}  # narrowest first

    def read_inputs(self, csv: Path, chosen: dict[str, str] | None = None) -> list[ForecastInputs]:
        """Read `csv`: each series' last `window` rows of history and, for models with known-future
        inputs, its planned values for the forecast dates (rows after its last target value);
        `chosen`: only the series with these id values (`--series`)."""
        data = replace(self.config.data, path=csv)
        frame, plan = load_with_plan(data)
        if chosen:
            frame = chosen_series(frame, chosen, data)
        index = SeriesIndex.of(frame, data.series)
        fitted = {key: code for code, key in enumerate(self.series)}
        unseen = [code for code in range(len(index)) if index.keys[code] not in fitted]
        if unseen:
            self.check_unseen(csv, index, unseen)
        inputs = []
        for code, key in enumerate(index.keys):
            rows = frame.iloc[index.offsets[code] : index.offsets[code + 1]]
            where = f"{csv}: series {index.label(code)}" if data.series else f"{csv}"
            known = fitted.get(key)
            scaling = self.scaling.series(known) if known is not None else Scaling.fit(
                rows[data.columns].to_numpy(), log=self.scaling.log, season=data.seasonality,
                positions=season_positions(rows.index, data.frequency, data.seasonality) if data.seasonally_adjusted
                else None)
            series_plan = plan[(plan[list(data.series)].to_numpy() == np.array(key)).all(axis=1)] if data.series else plan
            fields = self.encoding.encode(rows[list(data.static)].iloc[:1], [-1 if known is None else known])[0] \
                if data.series else None
            inputs.append(series_inputs(rows, series_plan, data, where, scaling, key, fields, known))
        return inputs

    def check_unseen(self, csv: Path, index: SeriesIndex, unseen: list[int]) -> None:
        """Series the model was not fitted on: an error for a model that learned each series' own
        embedding; else a notice, as they are forecast from their own history and scaling."""
        listed = f"{len(unseen)} series the model was not fitted on ({index.listed(unseen)})"
        if any(member.network.config.series_count for member in self.members):
            raise DataError(f"{csv}: {listed}; this model learned an embedding of each fitted series, so it "
                            "forecasts only those: fit it again with these series in the data")
        log.warning("%s: %s: forecast from their own history, scaled on it", csv, listed)

    def forecast_values(self, inputs: ForecastInputs, plan: pd.DataFrame | None = None,
                        quantiles: bool = False) -> np.ndarray:
        """The `horizon` forecasts of one series in the target's units, under `plan` (default: the
        CSV's own); with `quantiles`, a quantile model's (horizon, quantiles)."""
        data = self.config.data
        plan = inputs.plan if plan is None else plan
        future = None
        if data.known_inputs:
            future = inputs.scaling.apply(plan[data.known_inputs].to_numpy(), list(data.known_future_columns))[None]
        history = inputs.scaling.apply(inputs.history, positions=inputs.positions[: len(inputs.history)])[None]
        forecast = self.combined([predict(m.network, history[:, -m.window:], future, quantiles, inputs.fields)
                                  for m in self.members])
        if self.boosting is not None:
            forecast = self.mixed(forecast, self.boosting.predict(history, future))
        forecast = inputs.scaling.to_units(forecast, positions=inputs.positions[None, len(inputs.history):])[0]
        if quantiles:
            return forecast
        if self.linear is not None:
            linear = self.linear.predict(inputs.history[None, :, -1], history[:, -1, :-1], future)[0]
            forecast = self.lineared(forecast, linear)
        if self.smoothing is None:
            return forecast
        smoothing = self.series_smoothing(inputs)
        first = (inputs.positions[0] - (len(inputs.past) - len(inputs.history))) % data.seasonality
        past = smoothing.aligned(inputs.past, int(first))
        return self.smoothed(forecast, smoothing.forecast(past, np.array([len(past)]), data.horizon)[0])

    def series_smoothing(self, inputs: ForecastInputs) -> SeriesSmoothing:
        """The exponential smoothing of one series: as fitted, or for a series the model was not
        fitted on, fitted on its history."""
        if inputs.fitted is not None:
            return self.smoothing.series[inputs.fitted]
        return SeriesSmoothing.fit(inputs.past, self.config.data.seasonality)

    def forecast(self, csv: Path, levels: list[float] | None = None, chosen: dict[str, str] | None = None) -> pd.DataFrame:
        """Forecast the `horizon` steps after each series' last target value in `csv`, from its last
        `window` rows: one row per series and date, with the series columns; with `levels` (in %),
        each level's interval as `<target>_lo_<level>` and `_hi_` columns."""
        return pd.concat([self.forecast_series(inputs, levels) for inputs in self.read_inputs(csv, chosen)],
                         ignore_index=True)

    def forecast_series(self, inputs: ForecastInputs, levels: list[float] | None) -> pd.DataFrame:
        """One series' forecast rows (see `forecast`)."""
        data = self.config.data
        outputs = self.forecast_values(inputs, quantiles=True) if self.quantiles and levels else None
        values = self.forecast_values(inputs) if outputs is None else outputs[:, self.quantiles.index(0.5)]
        result = pd.DataFrame({**dict(zip(data.series, inputs.key)), data.date_column: inputs.dates.strftime("%Y-%m-%d"),
                               f"{data.target}_forecast": values})
        for level in levels or []:
            if outputs is not None:
                pair = self.quantile_pair(level)
                low, high = outputs[:, pair[0]], outputs[:, pair[1]]
            else:
                low, high = self.intervals().bounds(values, level, inputs.scaling.target_scale(), inputs.fitted)
            result[f"{data.target}_lo_{level_name(level)}"] = low
            result[f"{data.target}_hi_{level_name(level)}"] = high
        return result

    def quantile_pair(self, level: float) -> tuple[int, int]:
        """A quantile model's pair of quantiles for `level` %; an error for a level they do not bound."""
        pairs = self.quantile_levels()
        match = next((pair for known, pair in pairs.items() if math.isclose(known, level)), None)
        if match is None:
            given = ", ".join(f"{known:g} %" for known in pairs) or "none"
            raise ModelDirError(f"a {level:g} % interval needs the quantiles {(100 - level) / 200:g} and "
                                f"{(100 + level) / 200:g}, but this model forecasts {', '.join(map(str, self.quantiles))} "
                                f"(intervals: {given}); fit it with train.quantiles including them")
        return match

    def interval_warnings(self, levels: list[float], per_date: bool = True) -> list[str]:
        """An error when this model cannot give intervals at `levels` (a quantile model's per-date
        intervals are its quantile pairs; the rest need its calibration); else a warning per level
        its calibration has too few samples for."""
        if per_date and self.quantiles:
            for level in levels:
                self.quantile_pair(level)
            return []
        calibration = self.intervals() if levels else None
        return [f"warning: {calibration.samples} calibration samples are too few for a {level:g} % interval: it uses "
                "the largest residual, and may cover less than that" for level in levels if not calibration.supports(level)]

    def intervals(self) -> Calibration:
        """The calibration intervals come from; an error for a model without one (NO_INTERVALS)."""
        if self.calibration is None:
            raise ModelDirError(f"this model has {NO_INTERVALS}; fit it again with `tuner fit CONFIG -o DIR` for "
                                "intervals (point forecasts still work)")
        return self.calibration

    # ---- save and load: tuner/modeldir.py ----

    def save(self, folder: Path) -> None:
        """Write the model directory `folder` (created; existing model files are replaced)."""
        from tuner.modeldir import save

        save(self, folder)

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Read a model directory, checking its format, completeness and weights checksums."""
        from tuner.modeldir import load

        return load(folder)
