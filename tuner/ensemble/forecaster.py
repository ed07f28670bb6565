"""The fitted forecaster: its members (the networks of each tuned configuration, each trained with
several seeds, gradient boosting, the linear member, exponential smoothing and the naive
forecasters; `tuner.members`), the weights of the ensemble they make, the scaling the networks
were trained with and the config, and fit / forecast / save / load. `tuner fit`, `predict`,
`whatif`, `report --model` and the benchmarks all go through it.

The weights are chosen on backtest windows (`tuner.ensemble`): every candidate forecasts the same
windows at the end of train + validation, fitted on the rows before each, and greedy ensemble
selection weighs them on the study's metric there; fit.weights fixes shares instead. Every member
is then fitted on train + validation, the test part is scored once, for the ensemble and for each
member alone (the baselines among them), and prediction intervals are calibrated on the
ensemble's backtest residuals. Quantile models are not combined: their quantiles are the
networks' own.

A model directory (`tuner.ensemble.modeldir`) holds:

    model.json     format, tuner version, each member's weight, backtest score and state (the
                   networks' architecture, parameters, window, training seed and weights files
                   with their checksums), scaling and fitted ranges
    weights.pt     the networks' state dicts (tensors only; loaded with weights_only=True): one
                   per seed, weights-2.pt, weights-3.pt, ...; the other configurations' (fit.configs)
                   networks_2-weights.pt, ...
    boosting.skops, levelled_boosting.skops  the boosting members (skops format: read without
                   pickle, only the sklearn types it names as trusted)
    config.json    the full study config the model was fitted with
    metrics.json   test metrics of the ensemble ("model") and of each member alone, and the
                   intervals' test coverage
    series_metrics.csv  a panel's test MAE and WAPE per series, for the model and each member,
                   worst against seasonal-naive first (absent for one series)
    calibration.json  the backtest residuals that prediction intervals are calibrated on, and the
                   test residuals they adapt over (absent in directories fitted with --no-intervals)

No pickled Python objects: a model directory can be read by anyone without running code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.config.names import DATA_VARIANTS, VALIDATION_METRICS, display_name, member_kind, members_of, networks_member
from tuner.config.schema import Config, ParamsConfig, model_quantiles, with_params
from tuner.data.dataset import Dataset
from tuner.data.inputs import ForecastInputs, read_inputs
from tuner.data.reading import load_frame
from tuner.data.scaling import Scaling
from tuner.data.static import StaticEncoding
from tuner.ensemble.backtest import Backtest, own_weights_backtest, refit_backtest
from tuner.ensemble.choice import Choice, choose
from tuner.ensemble.selection import greedy_weights, weighted
from tuner.errors import ConfigError, DataError, ModelDirError
from tuner.evaluation.intervals import Calibration, level_name
from tuner.evaluation.metrics import quantile_pairs
from tuner.evaluation.scoring import (
    TestForecast,
    part_residuals,
    quantile_interval_metrics,
    series_errors,
    test_metrics,
)
from tuner.members import Member, Recipe, kind_of
from tuner.members.networks import Network, Networks, resolved_seeds
from tuner.networks.device import resolve_device
from tuner.networks.models import LSTMForecaster
from tuner.networks.trialweights import load_trial_network

log = logging.getLogger(__name__)

NO_INTERVALS = "no calibration.json (fitted with --no-intervals)"


@dataclass
class Forecaster:
    members: dict[str, Member]  # every fitted member, by name (`names.members_of` order); "networks" always
    weights: dict[str, float]  # the ensemble: member -> its share (the shares sum to 1)
    scaling: Scaling
    config: Config  # data.window: the longest network's
    metrics: dict[str, Any]  # "model" and each member -> test metrics; "by_step" -> per step
    seen: dict[str, tuple[float, float]]  # column -> (min, max) over the fitted rows
    trained_through: str = ""  # the last fitted date, ISO
    scaled_on: str = "train+validation"  # the rows scaling and networks were fitted on ("train": trials' own)
    calibration: Calibration | None = None  # residuals for prediction intervals; None: NO_INTERVALS
    series: tuple[tuple[str, ...], ...] = ((),)  # the fitted series' id values, in scaling's row order
    encoding: StaticEncoding = field(default_factory=lambda: StaticEncoding({}, {}))  # how a series' id and static covariates are given to the networks
    series_metrics: pd.DataFrame | None = None  # a panel's test metrics per series (`series_errors`)
    backtest: dict[str, float] = field(default_factory=dict)  # each candidate's (and "model": the ensemble's)
    # `selection_metric` on the backtest windows; empty where nothing was chosen there

    @property
    def networks(self) -> Networks:
        """The networks of the best tuned configuration."""
        return self.members["networks"]

    @property
    def all_networks(self) -> list[Network]:
        """Every network of every networks member (one per configuration, fit.configs), best first."""
        return [network for name, member in self.members.items() if member_kind(name) == "networks"
                for network in member.networks]

    @property
    def params(self) -> ParamsConfig:
        """The (first) network's parameters."""
        return self.networks.networks[0].params

    @property
    def seeds(self) -> int:
        """Networks per trial, each trained with its own seed (`--seeds`); 1 for the trials' own
        networks (`--from-trial`)."""
        return len({network.seed for network in self.networks.networks})

    @property
    def network(self) -> LSTMForecaster:
        return self.networks.networks[0].network

    @property
    def label(self) -> str:
        """What the model is, for titles: "lstm", or "ensemble of lstm, lstm_transformer" for several
        configurations (fit.configs), then " (mean of 5 seeds)" when each was trained with several;
        then, for an ensemble of several members, each member's weight ("networks 0.6 + gradient
        boosting 0.4")."""
        combine = self.networks.combine
        trials = self.all_networks[::self.seeds]
        kinds = ", ".join(network.params.model for network in trials)
        label = kinds if len(trials) == 1 else f"ensemble of {kinds}"
        if self.seeds > 1:
            label += f" ({combine} of {self.seeds} seeds{' each' if len(trials) > 1 else ''})"
        if list(self.weights) != ["networks"]:
            label += ": " + " + ".join(f"{display_name(name)} {weight:.2g}" for name, weight in self.weights.items())
        return label

    # ---- fit ----

    @classmethod
    def fit(cls, config: Config, params: ParamsConfig | list[ParamsConfig], seed: int | None = None,
            trial_weights: list[Path] | None = None, intervals: bool = True,
            seeds: int | None = None) -> tuple[Forecaster, TestForecast]:
        """Train each of `params` (the best tuned configurations, best first: each a networks member
        of its own, `names.networks_member`) on train + validation for its `epochs`, `seeds` times
        with the seeds `seed`, `seed + 1`, ... (default `fit.seeds`), or, with `trial_weights`, take
        each trial's own network from its stored weights, trained on the training rows only; fit the
        other members on train + validation; weigh the candidates on backtest windows (`choose`,
        `weigh`); score the test part once. `intervals`: calibrate prediction intervals on the
        ensemble's backtest residuals (then adapted over the test residuals); without, the model
        forecasts points only."""
        resolve_device(config.train.device, config.train.precision)  # a device this machine lacks fails first
        seeds = resolved_seeds(config, seeds, trial_weights is not None)
        listed = params if isinstance(params, list) else [params]
        configs = [with_params(config, p.trial_params()) for p in listed]
        for key in DATA_VARIANTS:
            values = sorted({str(getattr(c.data, key)) for c in configs})
            if len(values) > 1:
                raise ConfigError(f"fit.configs = {len(configs)}: its trials were tuned with different data.{key} values "
                                  f"({', '.join(values)}), but an ensemble's networks share one scaled copy of the "
                                  f"data; combine fewer trials, or tune with one {key.replace('_', ' ')}")
        windows = tuple(c.data.window for c in configs)
        config = replace(configs[0], data=replace(configs[0].data, window=max(windows)))
        scale_on = "train+validation" if trial_weights is None else "train"
        seed = config.study.seed if seed is None else seed
        frame = load_frame(config.data)
        dataset = Dataset(frame, config.data, config.split, scale_on, search_windows=windows)
        trials = list(zip(configs, listed, trial_weights or [None] * len(listed)))
        groups = [trials] if model_quantiles(config) else [[trial] for trial in trials]  # quantiles are not weighed
        runs = range(seed, seed + seeds) if trial_weights is None else [None]  # a trial's own network: no seed
        recipes = {networks_member(rank): network_recipe(group, runs, config.fit.combine, networks_member(rank))
                   for rank, group in enumerate(groups, 1)}
        choice = choose(config, dataset, tuple(recipes))
        networks = {name: (Networks.fit(dataset, "train+validation", recipe) if trial_weights is None else
                           Networks([Network(load_trial_network(dataset, c, p, path), p, c.data.window)
                                     for c, p, path in group], config.fit.combine, name))
                    for (name, recipe), group in zip(recipes.items(), groups)}
        first = recipes["networks"]
        members = {name: networks[name] if name in networks else kind_of(name).fit(dataset, "train+validation", first)
                   for name in choice.fitted}
        forecaster = cls(members, {}, dataset.scaling, config, {}, dataset.fitted_range(scale_on),
                         dataset.last_date(scale_on).isoformat(), scale_on,
                         series=dataset.index.keys, encoding=dataset.encoding)
        backtest = None
        if intervals or len(choice.candidates) > 1:
            backtest = (refit_backtest(frame, config, recipes, choice.candidates, windows) if trial_weights is None
                        else own_weights_backtest(dataset, networks, first, choice.candidates))
        forecaster.weights = weigh(choice, backtest, config)
        if backtest is not None and len(choice.candidates) > 1:
            metric = selection_metric(config)
            forecaster.backtest = {**backtest.scores(metric),
                                   "model": backtest.score(weighted({n: backtest.joined(n) for n in forecaster.weights},
                                                                    forecaster.weights), metric)}
        if intervals:
            forecaster.calibration = backtest.calibration(forecaster.weights, bool(config.data.series))
        else:
            log.info("no prediction intervals: calibration skipped")
        test = forecaster.scored_test(dataset)
        if forecaster.calibration is not None:
            forecaster.calibration = forecaster.calibration.adapted(
                part_residuals(dataset, "test", test.forecast),
                dataset.windows("test").series if config.data.series else None)
        forecaster.metrics = test_metrics(test, forecaster.calibration)
        if config.data.series:
            forecaster.series_metrics = series_errors(test)
        if forecaster.quantiles and intervals:
            forecaster.metrics["intervals"] = quantile_interval_metrics(
                dataset, forecaster.forecast_part(dataset, "test", quantiles=True), forecaster.quantile_levels(),
                forecaster.quantiles)
        return forecaster, test

    def test_forecast(self) -> TestForecast:
        """The test part of the data the model was fitted on, read again, and its forecast."""
        windows = tuple(network.window for network in self.all_networks)
        dataset = Dataset(load_frame(self.config.data), self.config.data, self.config.split, self.scaled_on,
                          search_windows=windows)
        if not dataset.scaling.same_as(self.scaling):
            raise DataError(f"{self.config.data.path}: the data changed since the model was fitted on it; "
                            "fit the model again")
        return self.scored_test(dataset)

    def scored_test(self, dataset: Dataset) -> TestForecast:
        """The ensemble's and every member's forecasts of the test part of `dataset`."""
        forecasts = self.part_forecasts(dataset, "test")
        return TestForecast(dataset, forecasts.pop("model"), forecasts)

    # ---- forecast ----

    def forecast_part(self, dataset: Dataset, part: str, quantiles: bool = False) -> np.ndarray:
        """The ensemble's forecasts of every sample of a split part, in the target's units; with
        `quantiles`, a quantile model's networks' (samples, horizon, quantiles)."""
        if quantiles:
            return self.networks.forecast_part(dataset, part, quantiles=True)
        return weighted({name: self.members[name].forecast_part(dataset, part) for name in self.weights}, self.weights)

    def part_forecasts(self, dataset: Dataset, part: str) -> dict[str, np.ndarray]:
        """Every member's forecasts of `part`, each made once, and the ensemble's ("model")."""
        forecasts = {name: member.forecast_part(dataset, part) for name, member in self.members.items()}
        return {"model": weighted(forecasts, self.weights), **forecasts}

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
        """Read `csv` once: each series' forecast inputs (`data.inputs.read_inputs`); `chosen`: only
        the series with these id values (`--series`)."""
        learned_ids = any(network.network.config.series_count for network in self.all_networks)
        return read_inputs(csv, self.config.data, self.series, self.scaling, self.encoding, learned_ids, chosen)

    def forecast_values(self, inputs: ForecastInputs, plan: pd.DataFrame | None = None,
                        quantiles: bool = False) -> np.ndarray:
        """The ensemble's `horizon` forecasts of one series in the target's units, under `plan`
        (default: the CSV's own); with `quantiles`, a quantile model's networks' (horizon, quantiles)."""
        plan = inputs.plan if plan is None else plan
        if quantiles:
            return self.networks.forecast_series(inputs, plan, self.config.data, quantiles=True)
        return weighted(self.member_values(inputs, plan, self.weights), self.weights)

    def member_values(self, inputs: ForecastInputs, plan: pd.DataFrame | None = None,
                      names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Each member's (of `names`; default every one) `horizon` forecasts of one series, under `plan`."""
        plan = inputs.plan if plan is None else plan
        return {name: self.members[name].forecast_series(inputs, plan, self.config.data)
                for name in (self.members if names is None else names)}

    def responders(self) -> dict[str, float]:
        """The members a scenario's change from the base plan comes from, with their shares: the
        ensemble's members that read the plans of data.known_future, their weights renormalised to
        sum to 1; the networks alone where the ensemble has none."""
        reading = {name: weight for name, weight in self.weights.items() if kind_of(name).reads_plans}
        total = sum(reading.values())
        return {name: weight / total for name, weight in reading.items()} if total else {"networks": 1.0}

    def scenario_values(self, inputs: ForecastInputs, plan: pd.DataFrame) -> np.ndarray:
        """One series' forecast under a scenario `plan`: the ensemble's under the CSV's own plan, plus
        the change `plan` makes to the `responders`' forecasts, at their shares."""
        responders = self.responders()
        changed, unchanged = (self.member_values(inputs, given, responders) for given in (plan, None))
        return self.forecast_values(inputs) + weighted(
            {name: changed[name] - unchanged[name] for name in responders}, responders)

    def forecast(self, csv: Path, levels: list[float] | None = None, chosen: dict[str, str] | None = None) -> pd.DataFrame:
        """Forecast the `horizon` steps after each series' last target value in `csv`, from its last
        `window` rows: one row per series and date, with the series columns; with `levels` (in %),
        each level's interval as `<target>_lo_<level>` and `_hi_` columns."""
        return self.forecast_inputs(self.read_inputs(csv, chosen), levels)

    def forecast_inputs(self, inputs: list[ForecastInputs], levels: list[float] | None = None) -> pd.DataFrame:
        """`forecast` of series already read (`read_inputs`)."""
        return pd.concat([self.forecast_series(series, levels) for series in inputs], ignore_index=True)

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

    # ---- save and load: tuner/ensemble/modeldir.py ----

    def save(self, folder: Path) -> None:
        """Write the model directory `folder` (created; existing model files are replaced)."""
        from tuner.ensemble.modeldir import save

        save(self, folder)

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Read a model directory, checking its format, completeness and weights checksums."""
        from tuner.ensemble.modeldir import load

        return load(folder)


def network_recipe(group: list[tuple[Config, ParamsConfig, Path | None]], seeds: Iterable[int | None], combine: str,
                   member: str) -> Recipe:
    """What fitting networks member `member` takes: each (config, params) of `group`, once per seed."""
    runs = [(config, params, seed) for config, params, _ in group for seed in seeds]
    return Recipe(tuple(run[0] for run in runs), tuple(run[1] for run in runs), tuple(run[2] for run in runs),
                  combine, member)


def selection_metric(config: Config) -> str:
    """The metric the ensemble is chosen on: the study's, or val_mae for a quantile study's pinball
    loss (the ensemble forecasts points)."""
    return config.study.metric if config.study.metric in VALIDATION_METRICS else "val_mae"


def weigh(choice: Choice, backtest: Backtest | None, config: Config) -> dict[str, float]:
    """The ensemble's weights: the fixed shares, and the rest by greedy ensemble selection over the
    chosen candidates' backtest forecasts (`fit.rounds` rounds); the one candidate's, alone."""
    if len(choice.candidates) == 1:
        return {choice.candidates[0]: 1.0}
    fixed = weighted({name: backtest.joined(name) for name in choice.fixed}, choice.fixed) if choice.fixed else None
    metric = selection_metric(config)
    chosen = greedy_weights({name: backtest.joined(name) for name in choice.chosen},
                            lambda forecast: backtest.score(forecast, metric), config.fit.rounds, fixed,
                            choice.share) if choice.share > 1e-9 else {}
    weights = {**choice.fixed, **chosen}
    return {name: weights[name] for name in members_of(weights)}
