"""Which members `tuner fit` fits, which of them are candidates of the ensemble, and which shares
are fixed (fit.members, fit.weights and the flags that set them), checked against the data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tuner.config.names import BASELINES, MEMBERS, display_name, members_of
from tuner.config.schema import Config, model_quantiles
from tuner.data.dataset import Dataset
from tuner.errors import ConfigError
from tuner.members import KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    candidates: tuple[str, ...]  # forecast the backtest windows: the members weighed or at a fixed share above 0
    fixed: dict[str, float]  # member -> its given share
    fitted: tuple[str, ...]  # fitted on train + validation: the candidates, and the baselines scored beside them
    left_out: dict[str, str]  # member -> why it cannot serve this data

    @property
    def chosen(self) -> tuple[str, ...]:
        """The candidates whose weights greedy selection chooses."""
        return tuple(name for name in self.candidates if name not in self.fixed)

    @property
    def share(self) -> float:
        """What the chosen candidates share: 1 less the fixed shares."""
        return max(0.0, 1.0 - sum(self.fixed.values()))


def choose(config: Config, dataset: Dataset, networks: tuple[str, ...] = ("networks",)) -> Choice:
    """The members for `config` on this data, `networks` those of the tuned configurations (a fixed
    fit.weights.networks is the best one's share); an error for a member asked for by name that
    cannot serve it, and for shares that leave nothing to choose or no one to give the rest to."""
    left_out = {name: reason for name, kind in KINDS.items() if (reason := kind.unserved(dataset))}
    asked = config.fit.members or tuple(MEMBERS)
    fixed = dict(config.fit.weights)
    for key, names in (("fit.members", config.fit.members), ("fit.weights", [n for n, w in fixed.items() if w])):
        for name in names:
            if name in left_out:
                raise ConfigError(f"{key}: the {display_name(name)} member ({name}) cannot serve this data: {left_out[name]}")
    if model_quantiles(config):
        others = [name for name, weight in fixed.items() if weight and name != "networks"]
        if others:
            raise ConfigError(f"fit.weights.{others[0]} = {fixed[others[0]]:g}: a quantile model (train.loss = "
                              "\"quantile\") forecasts its networks' own quantiles and is not combined; use 0 or leave "
                              "it out")
        asked, fixed = ("networks",), {"networks": 1.0}
    names = members_of(dict.fromkeys([*networks, *MEMBERS]))  # the networks of every configuration, then the rest
    asked = {*asked, *(networks if "networks" in asked else ())}
    candidates = tuple(name for name in names if name in {*asked, *fixed} and name not in left_out
                       and fixed.get(name, 1.0) > 0)
    choice = Choice(candidates, {name: weight for name, weight in fixed.items() if weight > 0},
                    tuple(name for name in names if name not in left_out and (name in candidates or name in BASELINES
                                                                              or name in networks)), left_out)
    if choice.share > 1e-9 and not choice.chosen:
        raise ConfigError(f"fit.weights: the fixed shares sum to {1 - choice.share:g}, and no other candidate is left to "
                          "take the rest; give shares that sum to 1, or leave a candidate out of fit.weights")
    for name, reason in left_out.items():
        log.info("member %s left out: %s", name, reason)
    return choice
