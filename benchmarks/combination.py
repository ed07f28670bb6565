"""Figure 19: the networks alone against the fitted ensemble (`tuner fit`'s default: every member
weighed by greedy ensemble selection on backtest windows), on rows that tuning did not select on.

A study's best validation MAE is the least of its trials', so it flatters the networks against any
model that was not chosen on those rows: it cannot decide fairly how to combine. So (choose on
validation, confirm on test) each series and seed
(`study.seed`) is run twice with figure 12's "defaults + calendar" recipe and budget:

* nested: the study on the rows before the test part only, split so that its own test part is
  the full study's validation part; tuned and fitted there, its "test" MAE is a validation score
  that no trial was chosen on. This is what the default was chosen on.
* test: the full study, tuned, fitted and scored on the test part once (the confirmation).

Each fit reports both forecasts (`metrics.json`'s "model" and "networks"), so both come from the
same networks.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from common import Budget, Figure, figure, skipped
from realdata import SERIES, available
from recipes import FIT_VARIANTS_RECIPE, RECIPES, overrides_for

from tuner.config.loading import load_config
from tuner.config.schema import Config
from tuner.ensemble.forecaster import Forecaster
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params


def nested(config: Config, folder: Path) -> Config:
    """The study on the rows before the test part, whose test part is the original validation part."""
    frame = pd.read_csv(config.data.path)
    rows = len(frame)
    train_end = int(rows * config.split.train)
    validation_end = int(rows * (config.split.train + config.split.validation))
    inner_train_end = train_end - (validation_end - train_end)
    path = folder / f"{config.data.path.stem}-before-test.csv"
    frame.iloc[:validation_end].to_csv(path, index=False)
    split = replace(config.split, train=inner_train_end / validation_end + 1e-9,  # int() of the product lands on the row
                    validation=(train_end - inner_train_end) / validation_end)
    return replace(config, data=replace(config.data, path=path), split=split)


def scored(config: Config, url: str, seeds: int | None) -> dict[str, float]:
    """Tune, fit the best trial (weighed with the other members, as by default) and return the
    ensemble's, the networks' and boosting's test MAEs."""
    study = tune(config, url, progress=False).study
    metrics = Forecaster.fit(config, best_params(study), intervals=False, seeds=seeds)[0].metrics
    return {"combined": metrics["model"]["test_mae"], "networks": metrics["networks"]["test_mae"],
            "boosting": metrics["boosting"]["test_mae"]}


def series_runs(name: str, budget: Budget, workdir: Path) -> dict[str, list[dict[str, float]]]:
    """Both runs of every seed on one series."""
    series = SERIES[name]
    folder = workdir / "combination" / name
    folder.mkdir(parents=True, exist_ok=True)
    toml = folder / f"{name}.toml"
    toml.write_text(series.write(folder, budget.recipe_epochs, budget.recipe_trials, budget.threads,
                                 budget.recipe_patience), encoding="utf-8")
    runs: dict[str, list[dict[str, float]]] = {"nested": [], "test": []}
    for seed in range(budget.recipe_seeds):
        config = load_config(toml, [*overrides_for(RECIPES[FIT_VARIANTS_RECIPE], series), f"study.seed={seed}"])
        for kind, variant in (("nested", nested(config, folder)), ("test", config)):
            study = f"{name}-{kind}-s{seed}"
            variant = replace(variant, study=replace(variant.study, name=study))
            runs[kind].append(scored(variant, f"sqlite:///{folder / (study + '.db')}", budget.refit_seeds))
    return runs


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    ratios = [run["combined"] / run["networks"] for run in runs]
    return {"ratio": ratios, "better_in": sum(ratio < 1 for ratio in ratios),
            **{key: statistics.median(run[key] for run in runs) for key in ("combined", "networks", "boosting")}}


def combination(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 19 on every series of `budget.recipe_series`: the ensemble's MAE over the networks'
    alone, median over seeds, on the nested validation part and on the test part."""
    reason = available()
    if reason:
        return [skipped("19. ensemble vs networks alone", "ratio", "", reason)]
    figures = []
    for name in budget.recipe_series:
        runs = series_runs(name, budget, workdir)
        for kind, words in (("nested", "validation part, tuned and fitted before it"), ("test", "test part")):
            found = summary(runs[kind])
            figures.append(figure(
                f"19. {name}: ensemble / networks alone, MAE on the {words}", found["ratio"],
                "ratio (below 1: the ensemble errs less)", "the same fits' networks alone",
                note=(f"ensemble better in {found['better_in']} of {len(found['ratio'])} seeds; medians: ensemble "
                      f"{found['combined']:.4g}, networks {found['networks']:.4g}, boosting {found['boosting']:.4g}"),
                details={"runs": runs[kind]}))
    return figures
