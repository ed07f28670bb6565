"""How much of a fitted model's forecast each member gives: gradient boosting's share
(`--boosting-weight`), the linear member's (`--linear-weight`) and exponential smoothing's
(`--ets-weight`), their defaults and the shares a model cannot take."""

from __future__ import annotations

import logging

import numpy as np

from tuner import ets
from tuner.config import Config, model_quantiles
from tuner.errors import ConfigError

log = logging.getLogger(__name__)

BOOSTING_WEIGHT = 0.5  # the boosting member's share of a point model's forecast (`--boosting-weight`)
AUTO = "auto"  # `--ets-weight auto`: the share of exponential smoothing chosen on held-out validation rows


def blend(forecast: np.ndarray, member: np.ndarray, weight: float) -> np.ndarray:
    """`forecast` with `member`'s forecast mixed in at its share `weight` (the same units for both)."""
    return (1 - weight) * forecast + weight * member


def resolved_boosting_weight(config: Config, weight: float | None) -> float:
    """`--boosting-weight`, or its default: `BOOSTING_WEIGHT` for a point model, 0 for a quantile
    model (whose quantiles are the networks' own); an error for a weight a model cannot take."""
    if weight is None:
        return 0.0 if model_quantiles(config) else BOOSTING_WEIGHT
    check_share(config, "--boosting-weight", weight, "the networks alone", "combined with boosting")
    return weight


def resolved_linear_weight(config: Config, weight: float | str | None) -> float | None:
    """`--linear-weight`: a share, or None for "auto" (chosen on held-out validation rows, the
    default for a one-series point model); 0 by default for a quantile model (whose quantiles are
    the networks' own) and a panel. An error for a weight a model cannot take."""
    if weight is None:
        return 0.0 if model_quantiles(config) or config.data.series else None
    check_share(config, "--linear-weight", weight, "without the linear member", "mixed with a linear member")
    if weight and config.data.series:
        raise ConfigError(f"--linear-weight {weight if weight == AUTO else f'{weight:g}'}: the linear member is "
                          "fitted on one series' own units, and this model is a panel (data.series); use 0 or leave "
                          "it out")
    return None if weight == AUTO else weight


def smoothing_by_default(config: Config) -> bool:
    """Whether `tuner fit` chooses a share of exponential smoothing without being asked: for a
    point model (a quantile model forecasts its networks' own quantiles) whose data it suits
    (`unsuited_data`)."""
    return not model_quantiles(config) and unsuited_data(config) is None


def unsuited_data(config: Config) -> str | None:
    """Why `tuner fit` leaves exponential smoothing out of this data by default, in words; None for
    monthly data (`ets.SMOOTHED_FREQUENCIES`) without data.known_future (a model that reads plans
    is meant to answer them, and smoothing does not)."""
    if config.data.known_future:
        return "which does not read the plans of data.known_future"
    if config.data.frequency not in ets.SMOOTHED_FREQUENCIES:
        return "whose one season misses the others of daily and weekly data"
    return None


def resolved_smoothing_weight(config: Config, weight: float | str | None) -> float | None:
    """`--ets-weight`: a share, or None for "auto" (chosen on held-out validation rows). Its default
    is "auto" for a monthly point model without planned inputs (`smoothing_by_default`), else 0.
    An error for a weight a model cannot take."""
    if weight is None:
        return None if smoothing_by_default(config) else 0.0
    check_share(config, "--ets-weight", weight, "without exponential smoothing", "mixed with exponential smoothing")
    return None if weight == AUTO else weight


def unsmoothed_weight(weight: float | None, series: int) -> float:
    """0 for a panel too large for exponential smoothing (`ets.MAX_SERIES`); an error where a share
    of it was asked for."""
    if weight:
        raise ConfigError(f"--ets-weight {weight:g}: this panel has {series:,} series, and exponential smoothing is "
                          f"fitted per series on panels of at most {ets.MAX_SERIES}; use 0 or leave it out")
    if weight is None:
        log.info("exponential smoothing left out: %d series, more than %d", series, ets.MAX_SERIES)
    return 0.0


def check_share(config: Config, flag: str, weight: float | str, zero: str, joined: str) -> None:
    """An error for a share outside 0 .. 1 (`zero`: what 0 means), or any share ("auto" too) of a
    quantile model, which forecasts its networks' own quantiles and is not `joined`."""
    given = weight if weight == AUTO else f"{weight:g}"
    if weight != AUTO and not 0 <= weight <= 1:
        raise ConfigError(f"{flag} {given}: must lie between 0 ({zero}) and 1")
    if weight and model_quantiles(config):
        raise ConfigError(f"{flag} {given}: a quantile model (train.loss = \"quantile\") forecasts its networks' own "
                          f"quantiles and is not {joined}; use 0 or leave it out")
