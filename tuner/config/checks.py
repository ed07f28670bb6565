"""Cross-field rules of a study config, one function per section. Each returns every problem it
finds as (dotted key, message naming the key, the value and the rule), so that a file with several
mistakes is fixed in one pass."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from tuner.config.names import (
    CALENDAR_PERIODS,
    COMBINES,
    DEVICES,
    FEATURE_SCALINGS,
    HOLIDAY_COLUMN,
    LOSSES,
    MEMBERS,
    MODEL_TYPES,
    PINBALL_METRIC,
    PRECISIONS,
    SCALINGS,
    STUDY_METRICS,
    TRANSFORMS,
)
from tuner.config.schema import (
    Config,
    DataConfig,
    FitConfig,
    ParamsConfig,
    SearchConfig,
    SplitConfig,
    StudyConfig,
    TrainConfig,
)

SAMPLERS = ("tpe", "random")
SETTING_CHOICES = {"scaling": SCALINGS, "feature_scaling": FEATURE_SCALINGS, "loss": LOSSES,
                   "transform": TRANSFORMS}  # searchable settings that take one of these names
PRUNERS = ("median", "percentile", "hyperband", "successive_halving", "wilcoxon", "none")
WILCOXON_MIN_FOLDS = 5  # with p < 0.1 it can first prune after 4 worse folds; with 5 it saves the last
FREQUENCIES = ("D", "W", "M")
FILL_POLICIES = ("error", "zero", "ffill", "interpolate")
AGGREGATIONS = ("sum", "mean", "min", "max", "first", "last")

Problem = tuple[str, str]  # (dotted key, message)


class Problems:
    """Collects problems; the helpers below each check one rule."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, key: str, value: Any, rule: str) -> None:
        self.found.append((key, f"{key} = {value!r}: {rule}"))

    def one_of(self, key: str, value: Any, allowed: Sequence[str]) -> None:
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(key, value, f"must be one of {', '.join(allowed)}{hint}")

    def positive(self, key: str, value: float) -> None:
        if value <= 0:
            self.add(key, value, "must be greater than 0")

    def not_negative(self, key: str, value: float, meaning: str = "") -> None:
        if value < 0:
            self.add(key, value, f"must be {meaning or '0'} or positive")


def check_data(p: Problems, data: DataConfig) -> None:
    p.one_of("data.frequency", data.frequency, FREQUENCIES)
    if data.target in data.features:
        p.add("data.features", list(data.features), f"must not contain the target {data.target!r}")
    if len(set(data.features)) != len(data.features):
        p.add("data.features", list(data.features), "lists a column twice")
    for column, how in data.aggregation.items():
        p.one_of(f"data.aggregation.{column}", how, AGGREGATIONS)
        if column not in data.resampled_columns:
            p.add(f"data.aggregation.{column}", how, "names a column that is neither the target, a feature nor an "
                  "interaction")
    p.one_of("data.fill_missing", data.fill_missing, FILL_POLICIES)
    check_derived(p, data)
    for column in data.known_future:
        if column in data.derived_columns:
            p.add("data.known_future", list(data.known_future), f"{column!r} is computed from the history "
                  "(data.interactions, data.carryover), so it cannot be planned; plan the features it is computed from")
        elif column not in data.features:
            p.add("data.known_future", list(data.known_future), f"{column!r} is not in data.features; a known-future "
                  "input is a feature whose values are also known for the forecast dates")
    if len(set(data.known_future)) != len(data.known_future):
        p.add("data.known_future", list(data.known_future), "lists a column twice")
    p.one_of("data.scaling", data.scaling, SCALINGS)
    p.one_of("data.feature_scaling", data.feature_scaling, FEATURE_SCALINGS)
    p.one_of("data.transform", data.transform, TRANSFORMS)
    for name in data.calendar:
        p.one_of("data.calendar", name, tuple(CALENDAR_PERIODS))
    if len(set(data.calendar)) != len(data.calendar):
        p.add("data.calendar", list(data.calendar), "lists a feature twice")
    p.positive("data.calendar_harmonics", data.calendar_harmonics)
    if data.holidays:
        check_country(p, data.holidays)
    for column in sorted(set(data.calendar_columns) & {*data.file_columns, *data.derived_columns}):
        key = "data.holidays" if column == HOLIDAY_COLUMN else "data.calendar"
        p.add(key, data.holidays if column == HOLIDAY_COLUMN else list(data.calendar),
              f"adds a column {column!r}, which the file's columns (data.features, data.target) or the computed "
              "ones (data.interactions, data.carryover) already name; rename that column, or leave this out")
    named = [data.date_column, data.target, *data.features]
    for key in ("series", "static"):
        columns = getattr(data, key)
        if len(set(columns)) != len(columns):
            p.add(f"data.{key}", list(columns), "lists a column twice")
        clash = [c for c in columns if c in named or (key == "static" and c in data.series)]
        if clash:
            p.add(f"data.{key}", list(columns), f"{clash[0]!r} is already the date, target, a feature or a series column")
    if data.static and not data.series:
        p.add("data.static", list(data.static), "needs data.series: static columns describe each series of a panel")
    p.positive("data.max_file_mb", data.max_file_mb)
    p.positive("data.window", data.window)
    p.positive("data.horizon", data.horizon)
    p.not_negative("data.season_length", data.season_length, "0 (from the frequency)")


def check_derived(p: Problems, data: DataConfig) -> None:
    """`data.interactions` and `data.carryover`: new columns from features, named apart from the file's."""
    taken = [data.date_column, data.target, *data.features, *data.series, *data.static]
    for name, sources in data.interactions.items():
        key = f"data.interactions.{name}"
        if name in taken:
            p.add(key, list(sources), f"the new column {name!r} is already a column of the file; give it another name")
        if len(sources) < 2:
            p.add(key, list(sources), "must list at least two features: the column is their product")
        for source in sources:
            if source not in data.features:
                p.add(key, list(sources), f"{source!r} is not in data.features; an interaction multiplies features")
    for column, half_lives in data.carryover.items():
        key = f"data.carryover.{column}"
        if column not in data.features and column not in data.interactions:
            p.add(key, list(half_lives), f"{column!r} is neither in data.features nor in data.interactions")
        if not half_lives or any(h <= 0 for h in half_lives) or len(set(half_lives)) != len(half_lives):
            p.add(key, list(half_lives), "must list one or more different half-lives, each greater than 0 (in steps "
                  "of data.frequency)")
    clash = {name for _, _, name in data.carryover_columns} & {*taken, *data.interactions}
    if clash:
        p.add("data.carryover", {c: list(h) for c, h in data.carryover.items()},
              f"adds a column {min(clash)!r}, which the file or data.interactions already name")


def check_split(p: Problems, split: SplitConfig) -> None:
    if not 0 < split.train < 1:
        p.add("split.train", split.train, "must be between 0 and 1")
    if not 0 < split.validation < 1:
        p.add("split.validation", split.validation, "must be between 0 and 1")
    if split.train + split.validation >= 1:
        p.add("split.validation", split.validation, "split.train + split.validation must be below 1 to leave a "
              f"test part (now {split.train + split.validation:g})")
    p.positive("split.folds", split.folds)


def check_train(p: Problems, train: TrainConfig) -> None:
    for key in ("epochs", "batch_size", "patience", "grad_clip"):
        p.positive(f"train.{key}", getattr(train, key))
    p.not_negative("train.threads", train.threads, "0 (automatic)")
    p.not_negative("train.samples_per_epoch", train.samples_per_epoch, "0 (every window)")
    p.not_negative("train.min_samples_per_epoch", train.min_samples_per_epoch, "0 (one pass)")
    p.one_of("train.loss", train.loss, LOSSES)
    if not re.fullmatch(r"auto|cpu|cuda|mps|cuda:\d+", train.device):
        p.add("train.device", train.device, f"must be one of {', '.join(DEVICES)}")
    p.one_of("train.precision", train.precision, PRECISIONS)
    for index in train.devices:
        p.not_negative("train.devices", index)
    quantiles = list(train.quantiles)
    if not all(0 < q < 1 for q in quantiles) or quantiles != sorted(set(quantiles)):
        p.add("train.quantiles", quantiles, "must be increasing, each strictly between 0 and 1")
    elif 0.5 not in quantiles:
        p.add("train.quantiles", quantiles, "must include 0.5: the median is the point forecast")


def check_search(p: Problems, search: SearchConfig) -> None:
    for key in ("models", "hidden_size", "num_heads", "ff_size"):
        if not getattr(search, key):
            p.add(f"search.{key}", [], "must list at least one choice")
    for model in search.models:
        p.one_of("search.models", model, MODEL_TYPES)
    for key in ("hidden_size", "num_heads", "ff_size", "window", "calendar_harmonics"):
        for value in getattr(search, key):
            p.positive(f"search.{key}", value)
    for value in search.series_embedding:
        p.not_negative("search.series_embedding", value, "0 (none)")
    for key, choices in SETTING_CHOICES.items():
        for value in getattr(search, key):
            p.one_of(f"search.{key}", value, choices)
    for key in ("num_layers", "dropout", "lr"):
        rng = getattr(search, key)
        if rng.low > rng.high:
            p.add(f"search.{key}", {"low": rng.low, "high": rng.high}, "low must not exceed high")
    layers = search.num_layers
    if layers.low < 1 or layers.low != int(layers.low) or layers.high != int(layers.high):
        p.add("search.num_layers", layers, "must be whole numbers of at least 1")
    if not (0 <= search.dropout.low and search.dropout.high < 1):
        p.add("search.dropout", {"low": search.dropout.low, "high": search.dropout.high}, "must lie in [0, 1)")
    if search.lr.low <= 0:
        p.add("search.lr", {"low": search.lr.low, "high": search.lr.high}, "low must be greater than 0 (log scale)")
    if "lstm_transformer" in search.models:
        for heads in search.num_heads:
            bad = [h for h in search.hidden_size if h % heads]
            if bad:
                p.add("search.num_heads", list(search.num_heads),
                      f"{heads} heads do not divide hidden_size {bad[0]}; every num_heads choice must divide "
                      "every hidden_size choice so no trial samples an invalid pair")


def check_params(p: Problems, params: ParamsConfig) -> None:
    if not params.model:
        return
    p.one_of("params.model", params.model, MODEL_TYPES)
    for key in ("hidden_size", "num_layers", "lr", "epochs"):
        p.positive(f"params.{key}", getattr(params, key))
    if not 0 <= params.dropout < 1:
        p.add("params.dropout", params.dropout, "must lie in [0, 1)")
    if params.model == "lstm_transformer":
        p.positive("params.num_heads", params.num_heads)
        p.positive("params.ff_size", params.ff_size)
        if params.num_heads > 0 and params.hidden_size % params.num_heads:
            p.add("params.num_heads", params.num_heads, f"must divide params.hidden_size ({params.hidden_size})")
    p.not_negative("params.window", params.window, "0 (data.window)")
    p.not_negative("params.calendar_harmonics", params.calendar_harmonics, "0 (data.calendar_harmonics)")
    p.not_negative("params.series_embedding", params.series_embedding, "0 (none)")
    for key, choices in SETTING_CHOICES.items():
        if getattr(params, key):  # empty: not searched, the config's setting
            p.one_of(f"params.{key}", getattr(params, key), choices)


def check_study(p: Problems, study: StudyConfig, split: SplitConfig) -> None:
    if not study.name.strip():
        p.add("study.name", study.name, "must not be empty")
    p.one_of("study.direction", study.direction, ("minimize",))
    p.one_of("study.metric", study.metric, STUDY_METRICS)
    p.one_of("study.sampler", study.sampler, SAMPLERS)
    p.one_of("study.pruner", study.pruner, PRUNERS)
    if study.pruner == "wilcoxon" and split.folds < WILCOXON_MIN_FOLDS:
        p.add("study.pruner", study.pruner, f"needs split.folds >= {WILCOXON_MIN_FOLDS} (now {split.folds}): it "
              "compares a trial's per-fold values with the best trial's and cannot reach p < 0.1 on fewer; use "
              "median with fewer folds")
    p.not_negative("study.n_trials", study.n_trials, "0 (no limit)")
    p.not_negative("study.timeout", study.timeout, "0 (no limit)")
    p.not_negative("study.startup_trials", study.startup_trials)
    p.not_negative("study.prune_startup_trials", study.prune_startup_trials)
    p.not_negative("study.max_retries", study.max_retries)
    p.positive("study.heartbeat_interval", study.heartbeat_interval)
    if study.grace_period <= study.heartbeat_interval:
        p.add("study.grace_period", study.grace_period, f"must exceed study.heartbeat_interval "
              f"({study.heartbeat_interval}) or live trials would be failed")


def check_country(p: Problems, country: str) -> None:
    """The holiday calendar of `country` must be one the `holidays` package knows."""
    import holidays

    known = holidays.list_supported_countries()
    if country not in known:
        close = difflib.get_close_matches(country.upper(), list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; use a code such as US, GB, DE or FR"
        p.add("data.holidays", country, f"not a country the holidays package knows{hint}")


def check_series_embedding(p: Problems, config: Config) -> None:
    """A series embedding needs series."""
    if any(config.search.series_embedding) and not config.data.series:
        p.add("search.series_embedding", list(config.search.series_embedding), "needs data.series: a one-series file "
              "has no series to tell apart")


def check_calendar_harmonics(p: Problems, config: Config) -> None:
    """Searched harmonics need calendar features to apply to."""
    if config.search.calendar_harmonics and not config.data.calendar:
        p.add("search.calendar_harmonics", list(config.search.calendar_harmonics), "needs data.calendar: "
              "harmonics are more sine and cosine columns of its calendar features")


def check_pinball(p: Problems, config: Config) -> None:
    """val_pinball exists only for quantile models."""
    losses = set(config.search.loss) or {config.train.loss}
    if config.study.metric == PINBALL_METRIC and losses != {"quantile"}:
        p.add("study.metric", PINBALL_METRIC, 'needs train.loss = "quantile" (and search.loss, where set, only '
              '"quantile"): only quantile models have a pinball loss')


def check_fit(p: Problems, fit: FitConfig) -> None:
    for name in fit.members:
        p.one_of("fit.members", name, tuple(MEMBERS))
    if len(set(fit.members)) != len(fit.members):
        p.add("fit.members", list(fit.members), "lists a member twice")
    for name, weight in fit.weights.items():
        p.one_of(f"fit.weights.{name}", name, tuple(MEMBERS))
        if not 0 <= weight <= 1:
            p.add(f"fit.weights.{name}", weight, "must lie between 0 (left out) and 1")
        elif fit.members and name not in fit.members and weight:
            p.add(f"fit.weights.{name}", weight, "names a member that fit.members leaves out; list it there too")
    total = sum(fit.weights.values())
    if total > 1 + 1e-9:
        p.add("fit.weights", dict(fit.weights), f"the fixed shares sum to {total:g}, more than 1")
    for key in ("configs", "rounds", "backtest_windows", "seeds"):
        p.positive(f"fit.{key}", getattr(fit, key))
    p.one_of("fit.combine", fit.combine, COMBINES)


SECTION_CHECKS: tuple[Callable[[Problems, Config], None], ...] = (
    lambda p, c: check_data(p, c.data),
    lambda p, c: check_split(p, c.split),
    lambda p, c: check_train(p, c.train),
    lambda p, c: check_search(p, c.search),
    lambda p, c: check_params(p, c.params),
    lambda p, c: check_study(p, c.study, c.split),
    lambda p, c: check_fit(p, c.fit),
    check_pinball,
    check_series_embedding,
    check_calendar_harmonics,
)


def check_config(config: Config) -> list[Problem]:
    """Every rule of every section; an empty list for a valid config."""
    problems = Problems()
    for check in SECTION_CHECKS:
        check(problems, config)
    return problems.found
