"""The study config's schema: one frozen dataclass per section (`tuner.config.loading` reads a
file into them), each key with its type, default and a comment saying what it does."""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - exercised on Python 3.10 only
    pass

from tuner.config.names import (
    CALENDAR_PERIODS,
    HOLIDAY_COLUMN,
    MODEL_TYPES,
    PARAMS,
    SETTING_PARAMS,
    TRANSFORMER_PARAMS,
    calendar_waves,
)

SEASON_LENGTHS = {"D": 7, "W": 52, "M": 12}


@dataclass(frozen=True)
class Range:
    """An inclusive numeric range `{ low = ..., high = ... }` for one search parameter."""

    low: float
    high: float


@dataclass(frozen=True)
class DataConfig:
    path: Path  # CSV file; relative paths are resolved against the config file's folder
    date_column: str = "date"  # the column of dates (YYYY-MM-DD)
    target: str = "sales"  # the column forecast, in its own units
    series: tuple[str, ...] = ()  # id columns of a panel (e.g. store, sku): one series per value; empty: one series
    static: tuple[str, ...] = ()  # columns constant within a series (category, store size): embedded or scaled
    features: tuple[str, ...] = ()  # input columns besides the target's own history
    known_future: tuple[str, ...] = ()  # features also known for the forecast dates (plans: discounts, ad impressions)
    frequency: str = "D"  # D, W or M: daily rows are resampled to weeks or months
    window: int = 28  # past steps the model sees
    horizon: int = 1  # future steps it predicts
    scaling: str = "level"  # level: each window's target history less its own mean; window: also over its spread
    feature_scaling: str = "global"  # global, or level: each window's mean taken off each feature
    transform: str = "none"  # of the target before scaling: none, log, seasonal or log+seasonal
    calendar: tuple[str, ...] = ()  # date features (day_of_week, month, ...), cyclic, known for the forecast dates
    calendar_harmonics: int = 1  # sine and cosine pairs per calendar feature (its Fourier order)
    holidays: str = ""  # a country code (US, DE, ...): adds a holiday flag (a count per week or month)
    season_length: int = 0  # 0: from the frequency (7 daily, 52 weekly, 12 monthly)
    aggregation: dict[str, str] = field(default_factory=dict)  # per column; default sum for the target, mean otherwise
    interactions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # new column -> the features it is the product of
    carryover: dict[str, tuple[float, ...]] = field(default_factory=dict)  # column -> half-lives in steps of its carry-over inputs
    fill_missing: str = "error"  # empty or NaN cells: error, zero, ffill (last value) or interpolate
    max_file_mb: float = 1024  # larger files are refused before reading (memory safety)

    @property
    def calendar_columns(self) -> list[str]:
        """The generated date columns: sines and cosines per calendar feature, and the holiday flag."""
        columns = [column for name in self.calendar if name in CALENDAR_PERIODS
                   for column, _, _ in calendar_waves(name, self.calendar_harmonics)]
        return columns + ([HOLIDAY_COLUMN] if self.holidays else [])

    @property
    def file_columns(self) -> list[str]:
        """The columns read from the CSV besides the date: the features and the target."""
        return [*self.features, self.target]

    @property
    def resampled_columns(self) -> list[str]:
        """The columns aggregated per week or month: the file's and the interactions (each day's product)."""
        return [*self.file_columns, *self.interactions]

    @property
    def carryover_columns(self) -> list[tuple[str, float, str]]:
        """(source column, half-life, generated column) of each carry-over input."""
        return [(column, half_life, f"{column}_carryover_{half_life:g}")
                for column, half_lives in self.carryover.items() for half_life in half_lives]

    @property
    def derived_columns(self) -> list[str]:
        """The inputs computed from the features: the interactions, then the carry-over inputs. Both are
        history only, never planned."""
        return [*self.interactions, *(column for _, _, column in self.carryover_columns)]

    @property
    def inputs(self) -> list[str]:
        """The inputs taken from the file's values: the features and the columns derived from them."""
        return [*self.features, *self.derived_columns]

    @property
    def columns(self) -> list[str]:
        """Model inputs, the target last."""
        return [*self.inputs, *self.calendar_columns, self.target]

    @property
    def known_inputs(self) -> list[str]:
        """Inputs whose values are known for the forecast dates: the planned ones, then the calendar's."""
        return [*self.known_future, *self.calendar_columns]

    @property
    def known_future_columns(self) -> tuple[int, ...]:
        """Positions of the known inputs (planned and calendar) among `columns`."""
        return tuple(self.columns.index(column) for column in self.known_inputs)

    @property
    def seasonality(self) -> int:
        return self.season_length or SEASON_LENGTHS[self.frequency]

    @property
    def logged(self) -> bool:
        """Whether the target is modelled as log(1 + value) (`data.transform`)."""
        return self.transform in ("log", "log+seasonal")

    @property
    def seasonally_adjusted(self) -> bool:
        """Whether the target's seasonal indices are taken out before scaling (`data.transform`)."""
        return self.transform in ("seasonal", "log+seasonal")

    def how_to_aggregate(self, column: str) -> str:
        return self.aggregation.get(column, "sum" if column == self.target else "mean")


@dataclass(frozen=True)
class SplitConfig:
    train: float = 0.7  # share of rows for training (the earliest)
    validation: float = 0.15  # next share for validation; the rest is the test part
    folds: int = 1  # walk-forward folds: K validation windows of that length, each trained on all rows before it


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    batch_size: int = 64  # windows per optimiser step
    patience: int = 5  # epochs without validation improvement before stopping
    grad_clip: float = 1.0  # max gradient norm
    threads: int = 0  # threads per process (torch, BLAS, OpenMP); 0: $OMP_NUM_THREADS, else the idle cores
    loss: str = "auto"  # mae, mse, huber or quantile (on scaled targets); auto: the study metric's family (mae for val_mae)
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # loss = "quantile": the head's outputs; 0.5 is the point forecast
    device: str = "auto"  # auto (CUDA when present, else the CPU), cpu, cuda, cuda:N or mps
    devices: tuple[int, ...] = ()  # GPUs `tune --workers` spreads its workers over; empty: every GPU
    precision: str = "32"  # 32, or bf16 (autocast on CUDA only)
    samples_per_epoch: int = 0  # windows drawn per epoch, uniformly over series and time; 0: every window once
    min_samples_per_epoch: int = 640  # fewer training windows are passed over several whole times per epoch; 0: once


@dataclass(frozen=True)
class FitConfig:
    """How `tuner fit` makes the forecaster: its candidate members, weighed by greedy ensemble
    selection on backtest windows, or at fixed weights."""

    members: tuple[str, ...] = ()  # the candidates (networks, boosting, levelled_boosting, linear, ets, naive, seasonal_naive, adjusted_naive); empty: every member that serves the data
    configs: int = 1  # the best K tuned configurations, each a networks candidate of its own (networks, networks_2, ...)
    weights: dict[str, float] = field(default_factory=dict)  # fixed shares, e.g. { boosting = 0.3 }; the rest chosen
    rounds: int = 100  # greedy ensemble selection: members added, with replacement; the weights are their counts
    backtest_windows: int = 1  # windows of validation length at the end of train + validation the candidates forecast
    seeds: int = 5  # networks trained per configuration, each with its own seed
    combine: str = "mean"  # how each configuration's seeds (a quantile model's: its configurations') are combined


@dataclass(frozen=True)
class SearchConfig:
    models: tuple[str, ...] = MODEL_TYPES  # model types Optuna chooses among: lstm, lstm_transformer
    hidden_size: tuple[int, ...] = (32, 64, 128)  # choices of the LSTM hidden size (the Transformer's width too)
    num_layers: Range = Range(1, 2)  # LSTM layers, an integer in the range
    dropout: Range = Range(0.0, 0.3)  # dropout between layers
    lr: Range = Range(1e-4, 1e-3)  # sampled on a log scale
    num_heads: tuple[int, ...] = (1, 2, 4)  # lstm_transformer only; must divide every hidden_size
    ff_size: tuple[int, ...] = (64, 128, 256)  # lstm_transformer only
    autoregressive_skip: tuple[bool, ...] = ()  # [true]: every trial adds a linear map from the target history; [true, false]: Optuna chooses; empty: off
    series_embedding: tuple[int, ...] = ()  # panels: choices of a learned series-id embedding's size (0: none); empty: none
    window: tuple[int, ...] = ()  # choices of data.window, e.g. [14, 28, 56]; empty: data.window, not searched
    scaling: tuple[str, ...] = ()  # choices of data.scaling; empty: not searched
    feature_scaling: tuple[str, ...] = ()  # choices of data.feature_scaling; empty: not searched
    loss: tuple[str, ...] = ()  # choices of train.loss; empty: not searched
    transform: tuple[str, ...] = ()  # choices of data.transform, e.g. ["none", "log"]; empty: not searched
    calendar_harmonics: tuple[int, ...] = ()  # choices of data.calendar_harmonics, e.g. [1, 3]; empty: not searched


@dataclass(frozen=True)
class StudyConfig:
    name: str = "ecommerce_daily"  # the study's name in its storage; a run with the same name resumes it
    storage: str = ""  # SQLAlchemy URL; empty: sqlite:///<config folder>/<name>.db
    direction: str = "minimize"  # of study.metric: minimize (every metric is an error)
    metric: str = "val_mae"  # the objective: val_mae, val_rmse, val_mape, val_smape, val_wape or val_pinball
    n_trials: int = 20  # trials this run adds; 0: no limit (stop with timeout or Ctrl-C)
    timeout: float = 0  # seconds; 0: no limit
    sampler: str = "tpe"  # tpe or random (Optuna's samplers)
    pruner: str = "median"  # median, percentile, hyperband, successive_halving, wilcoxon or none (Optuna's pruners)
    seed: int = 0  # seeds the sampler and, with the trial number, each trial's training
    startup_trials: int = 5  # random trials before TPE
    prune_startup_trials: int = 2  # completed trials before the median or percentile pruner stops any (figure 18)
    heartbeat_interval: int = 10  # seconds between a running trial's heartbeats
    grace_period: int = 30  # seconds without a heartbeat before a trial counts as stale (FAIL)
    max_retries: int = 2  # times a stale trial is retried with the same parameters
    artifacts: str = ""  # where trials' weights go: a folder, file://..., or s3://bucket; empty: beside the study


@dataclass(frozen=True)
class ParamsConfig:
    """One trial's parameters, fixed (written by `tuner export`; read by `tuner fit`)."""

    model: str = ""  # empty: nothing fixed; `tuner fit` takes the study's best trial
    hidden_size: int = 0  # the LSTM hidden size
    num_layers: int = 1  # LSTM layers
    dropout: float = 0.0  # dropout between layers
    lr: float = 1e-3  # Adam's learning rate
    num_heads: int = 0  # lstm_transformer only
    ff_size: int = 0  # lstm_transformer only
    autoregressive_skip: bool = False  # the linear map from the target history added to the forecast (false before it existed)
    series_embedding: int = 0  # panels: the learned series-id embedding's size; 0: none
    window: int = 0  # when searched: the trial's data.window (0: the config's)
    scaling: str = ""  # when searched: the trial's data.scaling
    feature_scaling: str = ""  # when searched: the trial's data.feature_scaling
    loss: str = ""  # when searched: the trial's train.loss
    transform: str = ""  # when searched: the trial's data.transform
    calendar_harmonics: int = 0  # when searched: the trial's data.calendar_harmonics (0: the config's)
    epochs: int = 0  # epochs to retrain on train + validation

    def trial_params(self) -> dict[str, Any]:
        """The parameters by their Optuna names, as the search space samples them (`autoregressive_skip`
        only when on: a trial that searched it and left it off is the same network)."""
        return {name: getattr(self, name) for name in PARAMS
                if (self.model == "lstm_transformer" or name not in TRANSFORMER_PARAMS)
                and (name not in (*SETTING_PARAMS, "autoregressive_skip", "series_embedding") or getattr(self, name))}


@dataclass(frozen=True)
class SeriesShape:
    """What a model needs to know of the data's series to be built: how many, and the static covariates' shape."""

    count: int = 1
    static_levels: tuple[int, ...] = ()  # categorical data.static columns' embedding rows
    static_numeric: int = 0


ONE_SERIES = SeriesShape()


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one forecaster; `models.model_config` builds it from a trial's parameters."""

    kind: str  # lstm | lstm_transformer
    n_inputs: int  # columns per time step (features + target)
    horizon: int  # steps predicted at once
    known_columns: tuple[int, ...] = ()  # input columns whose values are also given for the forecast steps
    hidden_size: int = 64
    num_layers: int = 1  # stacked LSTM layers
    dropout: float = 0.1  # between LSTM layers and inside the Transformer encoder
    num_heads: int = 4  # lstm_transformer only; divides hidden_size
    ff_size: int = 128  # lstm_transformer only: the encoder's feed-forward width
    scaling: str = "global"  # window: the network normalises each window's target history and maps its output back
    levelled_columns: tuple[int, ...] = ()  # input columns whose window mean the network takes off (feature_scaling)
    quantiles: tuple[float, ...] = ()  # one output per quantile, kept from crossing (train.loss = "quantile"); empty: a point
    autoregressive_skip: bool = False  # a linear map from the (normalised) target history added to the head's output
    window: int = 0  # time steps per input window: the autoregressive skip's inputs
    series_count: int = 0  # with series_embedding: the fitted series (index 0: none of them)
    series_embedding: int = 0  # size of a learned series-id embedding; 0: none
    static_levels: tuple[int, ...] = ()  # categorical data.static columns: each one's categories (+1 for unseen)
    static_numeric: int = 0  # numeric data.static columns, scaled


@dataclass(frozen=True)
class Config:
    data: DataConfig
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    study: StudyConfig = StudyConfig()
    params: ParamsConfig = ParamsConfig()
    fit: FitConfig = FitConfig()
    source: Path = Path("tuner.toml")  # the file it came from (for messages and relative paths)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "split": SplitConfig,
    "train": TrainConfig,
    "search": SearchConfig,
    "study": StudyConfig,
    "params": ParamsConfig,
    "fit": FitConfig,
}


def model_quantiles(config: Config) -> tuple[float, ...]:
    """The quantiles a model of `config` (with its trial's settings) forecasts; empty for a point model."""
    return config.train.quantiles if config.train.loss == "quantile" else ()


def with_params(config: Config, params: typing.Mapping[str, Any]) -> Config:
    """`config` with the settings a trial searched (`names.SETTING_PARAMS`) taken from its parameters."""
    data = replace(config.data, window=params.get("window") or config.data.window,
                   scaling=params.get("scaling") or config.data.scaling,
                   feature_scaling=params.get("feature_scaling") or config.data.feature_scaling,
                   transform=params.get("transform") or config.data.transform,
                   calendar_harmonics=params.get("calendar_harmonics") or config.data.calendar_harmonics)
    return replace(config, data=data, train=replace(config.train, loss=params.get("loss") or config.train.loss))
