"""Every list of names that several modules share, defined once: the Optuna parameters, the
validation metrics and the baselines."""

from __future__ import annotations

from collections.abc import Iterable

MODEL_TYPES = ("lstm", "lstm_transformer")
MODEL_LABELS = {"lstm": "LSTM", "lstm_transformer": "LSTM+Transformer"}
ARCHITECTURE_PARAMS = ("hidden_size", "num_layers", "dropout", "num_heads", "ff_size", "autoregressive_skip", "series_embedding")
TRANSFORMER_PARAMS = ("num_heads", "ff_size")  # sampled for lstm_transformer only
SETTING_PARAMS = ("window", "scaling", "feature_scaling", "loss", "transform",
                  "calendar_harmonics")  # searched only when search.<name> lists choices; else the setting
DATA_VARIANTS = ("transform", "calendar_harmonics")  # data settings a trial may change besides the window: each
# needs its own scaled copy of the data (so an ensemble's members must share them)
PARAMS = ("model", "hidden_size", "num_layers", "dropout", "lr", *TRANSFORMER_PARAMS, "autoregressive_skip",
          "series_embedding", *SETTING_PARAMS)  # Optuna's names
RENAMED_PARAMS = {"linear_skip": "autoregressive_skip"}  # an older study's or model directory's name -> today's


def current_params(params: dict[str, object]) -> dict[str, object]:
    """A trial's parameters (or a saved network's) with older names read as today's."""
    return {RENAMED_PARAMS.get(name, name): value for name, value in params.items()}

SCALINGS = ("window", "level", "global")  # data.scaling: on top of the global scaler, each window's target history
# standardised by its own mean and spread (window), only shifted by its own mean (level), or neither (global)
FEATURE_SCALINGS = ("global", "level")  # data.feature_scaling: the features as the global scaler leaves them, or
# each window's own mean taken off each feature (and off its planned values), so a driver that trends past the
# training rows' range (a price, impressions, listings) stays in range
TRANSFORMS = ("none", "log", "seasonal", "log+seasonal")  # data.transform: of the target before the global scaler;
# log: log(1 + value); seasonal: its seasonal index taken out (`tuner.data.seasonal`); log+seasonal: the index taken out
# of log(1 + value), where it is additive
LOSSES = ("mae", "mse", "huber", "quantile")  # train.loss; quantile: the pinball loss over train.quantiles
METRIC_LOSS = {"val_mae": "mae", "val_wape": "mae", "val_mape": "mae", "val_smape": "mae", "val_rmse": "mse",
               "val_pinball": "quantile"}
CALENDAR_PERIODS = {"day_of_week": 7, "day_of_month": 31, "day_of_year": 366, "week_of_year": 53, "month": 12,
                    "quarter": 4}  # data.calendar: each becomes sine and cosine columns of this period
HOLIDAY_COLUMN = "holiday"
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # train.device; auto: CUDA when present, else the CPU
PRECISIONS = ("32", "bf16")  # train.precision; bf16: autocast on CUDA only

METRICS = ("mae", "rmse", "mape", "smape", "wape")  # forecast errors; stored as val_<name> and test_<name>
VALIDATION_METRICS = tuple(f"val_{name}" for name in METRICS)
PINBALL_METRIC = "val_pinball"  # mean pinball loss over train.quantiles, in the target's units (quantile loss only)
STUDY_METRICS = (*VALIDATION_METRICS, PINBALL_METRIC)  # the choices of study.metric
METRIC_LABELS = {"mae": "MAE", "rmse": "RMSE", "mape": "MAPE %", "smape": "sMAPE %", "wape": "WAPE %"}

MEMBERS = {"networks": "networks", "boosting": "gradient boosting", "levelled_boosting": "levelled gradient boosting",
           "linear": "linear", "ets": "exponential smoothing", "naive": "naive", "seasonal_naive": "seasonal-naive",
           "adjusted_naive": "seasonally-adjusted naive"}  # the members a fitted forecaster weighs (`tuner.members`):
# name -> shown as
BASELINES = ("naive", "seasonal_naive", "adjusted_naive", "ets", "boosting")  # the members a model must beat
COMBINES = ("mean", "median")  # fit.combine: how the networks' seeds are combined


def networks_member(rank: int) -> str:
    """The name of the networks member of the `rank`-th best tuned configuration (fit.configs):
    networks, networks_2, networks_3, ..."""
    return "networks" if rank == 1 else f"networks_{rank}"


def member_kind(name: str) -> str:
    """The kind of member `name` (a key of MEMBERS): networks_2, networks_3, ... are networks."""
    prefix, _, rank = name.partition("_")
    return "networks" if prefix == "networks" and rank.isdigit() else name


def members_of(names: Iterable[str]) -> list[str]:
    """The member names among `names` (other keys, such as "model", left out), in MEMBERS order and
    the networks by rank."""
    found = [name for name in names if member_kind(name) in MEMBERS]
    return sorted(found, key=lambda name: (list(MEMBERS).index(member_kind(name)),
                                           int(name.partition("_")[2] or 1) if member_kind(name) != name else 0))


def calendar_waves(name: str, harmonics: int) -> list[tuple[str, str, int]]:
    """(column, "sin" or "cos", harmonic k) of calendar feature `name` with `harmonics` sine and
    cosine pairs: k = 1 is `<name>_sin`, `<name>_cos`; k > 1 adds the suffix k. Harmonics stop at half
    the period, where the columns can represent any value per position in the cycle; the sine
    that is zero at every position there (even periods) is left out."""
    period = CALENDAR_PERIODS[name]
    waves = []
    for k in range(1, min(harmonics, period // 2) + 1):
        suffix = "" if k == 1 else str(k)
        waves += [(f"{name}_{wave}{suffix}", wave, k) for wave in ("sin", "cos")
                  if not (wave == "sin" and 2 * k == period)]
    return waves


def display_name(key: str) -> str:
    """How a forecaster stored under `key` (a member's name, or another metrics.json key) is shown in
    tables and plots: "gradient boosting", "networks #2" (the 2nd-best configuration's)."""
    kind = member_kind(key)
    if kind not in MEMBERS:
        return key
    return MEMBERS[kind] if kind == key else f"{MEMBERS[kind]} #{key.partition('_')[2]}"
