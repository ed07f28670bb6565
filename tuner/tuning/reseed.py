"""Seed robustness: retrain the best configurations with fresh seeds and rank them by the mean
and spread of their validation metric, so that a lucky seed does not pick the winner."""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass

import optuna

from tuner.config.schema import Config
from tuner.tuning.evaluation import Evaluator, tuning_folds

log = logging.getLogger(__name__)

SEED_BASE = 1_000_003  # far from the trials' own seeds (study.seed + trial number)


@dataclass(frozen=True)
class Reseeded:
    trial: optuna.trial.FrozenTrial
    values: list[float]  # the study's metric, one per seed

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def spread(self) -> float:
        """Sample standard deviation over seeds (0 with one seed)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def reseed(config: Config, trials: list[optuna.trial.FrozenTrial], seeds: int) -> list[Reseeded]:
    """Retrain each trial's configuration with the same `seeds` fresh seeds (the trial's own seed
    is left out, since it is the one that was selected), best mean first, then smallest spread."""
    evaluator = Evaluator(config, tuning_folds(config))
    metric = config.study.metric
    results = []
    for trial in trials:
        values = []
        for index in range(seeds):
            values.append(evaluator.evaluate(trial.params, config.study.seed + SEED_BASE + index).errors[metric])
            log.info("trial #%d seed %d of %d: %s %.4g", trial.number, index + 1, seeds, metric, values[-1])
        results.append(Reseeded(trial, values))
    return sorted(results, key=lambda r: (r.mean, r.spread))


def reseed_table(results: list[Reseeded], metric: str, seeds: int) -> str:
    """Aligned text: the retrained configurations, best mean first, with their original value."""
    lines = [f"Retrained with {seeds} fresh seed(s) each; ranked by mean {metric}, then spread:",
             f"  {'rank':>4}  {'trial':>7}  {'mean':>10}  {'std':>9}  {'min':>10}  {'max':>10}  {'as tuned':>10}  model"]
    for rank, result in enumerate(results, 1):
        lines.append(f"  {rank:>4}  {'#' + str(result.trial.number):>7}  {result.mean:>10.2f}  {result.spread:>9.2f}  "
                     f"{min(result.values):>10.2f}  {max(result.values):>10.2f}  {result.trial.value:>10.2f}  "
                     f"{result.trial.params.get('model')}")
    return "\n".join(lines)


def reseed_data(results: list[Reseeded]) -> list[dict]:
    """The ranking as plain data for `--format json`."""
    return [{"rank": rank, "number": r.trial.number, "mean": r.mean, "std": r.spread, "values": r.values,
             "tuned_value": r.trial.value, "params": r.trial.params} for rank, r in enumerate(results, 1)]
