"""Figure 12: forecasting recipes compared on several real series, the way an honest comparison
asks: same data, split and trial budget for every recipe, several seeds, the median test MAE with
its min-max spread, the baselines beside it, and "no reliable difference" when spreads overlap.

A recipe is a list of `section.key=value` overrides (`RECIPES`). For each series, recipe and seed
(`study.seed`): tune `budget.recipe_trials` trials in a fresh SQLite study, `Forecaster.fit` the
best trial on train + validation and score the test part once. A recipe whose keys this version
of tuner does not know (a `ConfigError`) is reported as skipped with the reason, so the figure
runs today and picks new keys up as they land.
"""

from __future__ import annotations

import logging
import re
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from common import Budget, Figure, figure, skipped
from realdata import SERIES, RealSeries, available

from tuner.config.loading import load_config
from tuner.config.names import BASELINES, display_name
from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import ConfigError, TunerError
from tuner.evaluation.baselines import member_forecast
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params, best_trial, fitted_trials

log = logging.getLogger("benchmarks")

# name -> overrides. `{windows}`, `{calendar}` and `{holidays}` are filled in per series (see
# PLACEHOLDERS); an override left with nothing after "=" is dropped for that series.
RECIPES: dict[str, list[str]] = {
    "global + mse (before)": ["data.scaling='global'", "train.loss='mse'"],
    "global + mae": ["data.scaling='global'", "train.loss='mae'"],
    "window + mae": ["data.scaling='window'", "train.loss='mae'"],
    "level + mae": ["data.scaling='level'", "train.loss='mae'"],
    "defaults + calendar": ["data.calendar={calendar}", "data.holidays={holidays}"],
    "defaults + calendar + window search": ["data.calendar={calendar}", "data.holidays={holidays}",
                                            "search.window={windows}"],
    "defaults + calendar + log target": ["data.calendar={calendar}", "data.holidays={holidays}",
                                         "data.transform='log'"],
    "defaults + calendar + transform search": ["data.calendar={calendar}", "data.holidays={holidays}",
                                               "search.transform=['none', 'log']"],
    "defaults + calendar, 3 harmonics": ["data.calendar={calendar}", "data.holidays={holidays}",
                                         "data.calendar_harmonics=3"],
    "defaults + calendar + seasonal adjustment": ["data.calendar={calendar}", "data.holidays={holidays}",
                                                  "data.transform='seasonal'"],
    "defaults + calendar + seasonal search": ["data.calendar={calendar}", "data.holidays={holidays}",
                                              "search.transform=['none', 'seasonal']"],
    "defaults + calendar + levelled features": ["data.calendar={calendar}", "data.holidays={holidays}",
                                                "data.feature_scaling='level'"],
    "defaults + calendar + feature scaling search": ["data.calendar={calendar}", "data.holidays={holidays}",
                                                     "search.feature_scaling=['global', 'level']"],
}
FIT_VARIANTS_RECIPE = "defaults + calendar"  # its studies are also fitted the other ways (`fit_variants`)
ENSEMBLE = 3  # fit.configs of the variants compared there (all completed trials, when a study has fewer)
CALENDAR = {"D": ["day_of_week", "month", "day_of_year"], "W": ["month", "day_of_year"], "M": ["month"]}
HOLIDAYS: dict[str, str] = {}  # data.holidays per series (chicago's file has its own US holiday flag already)
DEFAULT_TARGETS = (15.0, 5.0)  # % better MAE than the better of naive and seasonal-naive, and than boosting
CLASSICAL_BASELINES = ("adjusted_naive", "ets")  # baselines each figure's note compares with, beside its targets
TARGETS = {"wineind": (10.0, 10.0)}  # wineind: than seasonal-naive (the better one there) and than boosting
MIN_SEEDS_FOR_VERDICT = 3  # with fewer, min-max ranges say nothing about noise: no verdict is given
UNITS = {"chicago": "thousand entries/day", "txhousing": "homes sold/month", "avocado": "avocados/week",
         "wineind": "bottles/month"}


def placeholders(series: RealSeries) -> dict[str, str]:
    holidays = HOLIDAYS.get(series.name)
    return {"windows": str(list(series.windows)), "calendar": str(CALENDAR[series.frequency]),
            "holidays": f"'{holidays}'" if holidays else ""}


def overrides_for(recipe: list[str], series: RealSeries) -> list[str]:
    """The recipe's overrides with the series' values filled in; empty ones dropped."""
    filled = [override.format(**placeholders(series)) for override in recipe]
    return [override for override in filled if override.partition("=")[2].strip()]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def improvement(baseline: float, model: float) -> float:
    """How much lower the model's error is, in % of the baseline's."""
    return 100 * (1 - model / baseline)


def fit_variants(study: optuna.Study, config: Config, url: str, seeds: int | None) -> dict[str, float]:
    """Test MAE of the other ways `tuner fit` can turn the same study into a model: the refit of one
    seed (before `--seeds`), the refit for the trial's best epoch + 1 (before), the networks alone
    (fit.members = ["networks"]), the best trial's own weights, and ensembles of the best 3 (each
    weighed with the other members, as by default)."""
    top = min(ENSEMBLE, len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))))
    with tempfile.TemporaryDirectory(prefix="tuner-weights-") as folder:
        members, weights = fitted_trials(study, config, url, top, -1, Path(folder))
        best = members[0]  # the best trial, as best_params(study) gives it
        old_epochs = replace(best, epochs=best_trial(study).user_attrs["best_epoch"] + 1)
        variants = {  # point forecasts only: figure 13 measures the intervals
            "refit of one seed (--seeds 1, before)": lambda: fit_points(config, best, seeds=1),
            "refit for best epoch + 1 (before)": lambda: fit_points(config, old_epochs, seeds=seeds),
            "networks alone (fit.members = ['networks'])": lambda: fit_points(with_fit(config, members=("networks",)),
                                                                              best, seeds=seeds),
            "trial's own weights (--from-trial)": lambda: fit_points(config, best, trial_weights=weights[:1]),
            f"best {ENSEMBLE} configurations as candidates (refit)": lambda: fit_points(config, members, seeds=seeds),
            f"best {ENSEMBLE} configurations, median of seeds (refit)":
                lambda: fit_points(with_fit(config, combine="median"), members, seeds=seeds),
            f"best {ENSEMBLE} configurations (own weights)": lambda: fit_points(config, members, trial_weights=weights),
        }
        return {name: make()[0].metrics["model"]["test_mae"] for name, make in variants.items()}


def with_fit(config: Config, **changes: Any) -> Config:
    """`config` with these [fit] keys changed."""
    return replace(config, fit=replace(config.fit, **changes))


def fit_points(config: Config, params: Any, **options: Any) -> tuple[Forecaster, Any]:
    """`Forecaster.fit` without the calibration for intervals."""
    return Forecaster.fit(config, params, intervals=False, **options)


def run_once(config: Config, url: str, variants: bool, seeds: int | None) -> dict[str, Any]:
    """Tune, fit the best trial (`seeds`: networks per refit, None for the config's), score the test
    part once; with `variants`, the other fits too."""
    started = time.perf_counter()
    study = tune(config, url, progress=False).study
    params = best_params(study)
    fitted, _ = fit_points(config, params, seeds=seeds)
    maes = {name: m["test_mae"] for name, m in fitted.metrics.items() if isinstance(m, dict) and "test_mae" in m}
    result = {"test_mae": maes.pop("model"), "val_mae": study.best_value,
              "baselines": {name: maes[name] for name in BASELINES if name in maes}, "members": maes,
              "weights": fitted.weights, "backtest": fitted.backtest,
              "params": {k: v for k, v in asdict(params).items() if v not in (0, "")},
              "seconds": round(time.perf_counter() - started, 1)}
    if variants:
        result["fit_variants"] = fit_variants(study, config, url, seeds)
    return result


def short_reason(exc: Exception, config_path: Path) -> str:
    text = str(exc).replace(f"{config_path}: ", "")
    unknown = re.match(r"--set (\S+): unknown key", text)
    if unknown:
        return f"this version of tuner has no key {unknown.group(1)}"
    return text if len(text) <= 160 else text[:157] + "..."


def compare_series(series: RealSeries, budget: Budget, workdir: Path) -> dict[str, Any]:
    """Every recipe on one series: the details table (JSON-able)."""
    folder = workdir / "recipes" / series.name
    folder.mkdir(parents=True, exist_ok=True)
    toml = folder / f"{series.name}.toml"
    toml.write_text(series.write(folder, budget.recipe_epochs, budget.recipe_trials, budget.threads,
                                 budget.recipe_patience), encoding="utf-8")
    base = load_config(toml)
    dataset = Dataset.from_config(base.data, base.split, scale_on="train+validation")
    actual = dataset.actuals("test")[:, 0]
    simple = {name: float(np.mean(np.abs(actual - forecast[:, 0])))
              for name, forecast in dataset.baseline_forecasts("test").items()}
    hgb = float(np.mean(np.abs(actual - member_forecast("boosting", dataset, "test", "train+validation")[:, 0])))
    ets = float(np.mean(np.abs(actual - member_forecast("ets", dataset, "test", "train+validation")[:, 0])))
    rows = dataset.windows("test").target_rows
    table: dict[str, Any] = {
        "source": series.source, "unit": UNITS.get(series.name, ""), "frequency": series.frequency,
        "rows": len(dataset.values), "window": series.window, "features": list(series.features),
        "known_future": list(series.known_future),
        "split": {part: list(dataset.bounds[part]) for part in ("train", "validation", "test")},
        "test_dates": [str(dataset.dates[rows[0]].date()), str(dataset.dates[rows[-1]].date())],
        "budget": {"seeds": list(range(budget.recipe_seeds)), "trials": budget.recipe_trials,
                   "epochs": budget.recipe_epochs, "patience": budget.recipe_patience},
        "baselines_test_mae": {**{k: round(v, 4) for k, v in simple.items()},
                               "ets": round(ets, 4), "boosting (as configured, without calendar inputs)": round(hgb, 4)},
        "recipes": {},
    }
    for index, (name, recipe) in enumerate(RECIPES.items()):
        overrides = overrides_for(recipe, series)
        entry: dict[str, Any] = {"overrides": overrides, "runs": {}}
        table["recipes"][name] = entry
        for seed in range(budget.recipe_seeds):
            run_name = f"{series.name}-{index}-{slug(name)}-s{seed}"
            try:
                config = load_config(toml, [*overrides, f"study.seed={seed}", f"study.name={run_name}"])
            except ConfigError as exc:
                entry["skipped"] = short_reason(exc, toml)
                break
            try:
                entry["runs"][seed] = run_once(config, f"sqlite:///{folder / (run_name + '.db')}",
                                               variants=name == FIT_VARIANTS_RECIPE, seeds=budget.refit_seeds)
            except TunerError as exc:
                entry["runs"][seed] = {"failed": short_reason(exc, toml)}
        summarize(entry, simple, hgb)
    judge(table)
    return table


def summarize(entry: dict[str, Any], simple: dict[str, float], hgb: float) -> None:
    """Median, min and max over seeds, and the improvements over the baselines (median over seeds)."""
    runs = [run for run in entry["runs"].values() if "test_mae" in run]
    if not runs:
        if "skipped" not in entry:
            entry["skipped"] = "; ".join(sorted({run["failed"] for run in entry["runs"].values()})) or "no runs"
        return
    test = [run["test_mae"] for run in runs]
    best_simple = min(simple, key=simple.get)
    boosting = [run["baselines"]["boosting"] for run in runs]  # same inputs as the recipe's model
    entry.update({
        "seeds_ran": len(runs),
        "test_mae": {"median": statistics.median(test), "min": min(test), "max": max(test), "all": test},
        "val_mae_median": statistics.median(run["val_mae"] for run in runs),
        "better_simple_baseline": best_simple,
        "improvement_vs_simple_pct": statistics.median(improvement(simple[best_simple], t) for t in test),
        "boosting_test_mae": statistics.median(boosting),
        "improvement_vs_boosting_pct": statistics.median(improvement(b, t) for b, t in zip(boosting, test)),
        "seconds_median": statistics.median(run["seconds"] for run in runs),
    })
    for name in CLASSICAL_BASELINES:
        values = [run["baselines"].get(name) for run in runs]  # runs from before it have none
        if None not in values:
            entry[f"{name}_test_mae"] = statistics.median(values)
            entry[f"improvement_vs_{name}_pct"] = statistics.median(improvement(v, t) for v, t in zip(values, test))
    if all("fit_variants" in run for run in runs):
        variants = {"refit, epoch floor, members weighed on the backtest (default)": [run["test_mae"] for run in runs]}
        for run in runs:
            for variant, value in run["fit_variants"].items():
                variants.setdefault(variant, []).append(value)
        entry["fit_variants"] = {variant: {"median": statistics.median(values), "min": min(values), "max": max(values),
                                           "all": values} for variant, values in variants.items()}


def judge(table: dict[str, Any]) -> None:
    """Pairwise verdicts (min-max ranges overlap: no reliable difference) and whether validation
    and test pick the same recipe."""
    ran = {name: entry for name, entry in table["recipes"].items() if "test_mae" in entry}
    pairs = []
    names = list(ran)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = ran[a]["test_mae"], ran[b]["test_mae"]
            if min(len(ra["all"]), len(rb["all"])) < MIN_SEEDS_FOR_VERDICT:
                verdict = f"not judged (fewer than {MIN_SEEDS_FOR_VERDICT} seeds)"
            elif ra["max"] < rb["min"]:
                verdict = f"{a} better"
            elif rb["max"] < ra["min"]:
                verdict = f"{b} better"
            else:
                verdict = "no reliable difference"
            pairs.append({"recipes": [a, b], "verdict": verdict})
    table["pairs"] = pairs
    if len(ran) > 1:
        by_val = min(ran, key=lambda n: ran[n]["val_mae_median"])
        by_test = min(ran, key=lambda n: ran[n]["test_mae"]["median"])
        table["best_by_validation"], table["best_by_test"] = by_val, by_test
        table["validation_and_test_agree"] = by_val == by_test


def verdicts(table: dict[str, Any], name: str) -> str:
    """How recipe `name` compares with each other recipe that ran, in words."""
    words = []
    for pair in table["pairs"]:
        if name not in pair["recipes"]:
            continue
        other = pair["recipes"][1 - pair["recipes"].index(name)]
        verdict = pair["verdict"]
        if verdict.startswith("not judged"):
            return verdict
        relation = ("no reliable difference from" if verdict.startswith("no") else
                    "better than" if verdict == f"{name} better" else "worse than")
        words.append(f"{relation} '{other}'")
    return "; ".join(words)


def figures_of(series: RealSeries, table: dict[str, Any], budget: Budget) -> list[Figure]:
    figures = []
    unit = f"MAE, {table['unit']}"
    simple = table["baselines_test_mae"]
    for name, entry in table["recipes"].items():
        title = f"12. {series.name} test MAE, {name}"
        if "test_mae" not in entry:
            continue
        best_simple = entry["better_simple_baseline"]
        simple_target, boosting_target = TARGETS.get(series.name, DEFAULT_TARGETS)
        ceiling = min(simple[best_simple] * (1 - simple_target / 100), entry["boosting_test_mae"] * (1 - boosting_target / 100))
        target = f"≥ {simple_target:g} % better than {best_simple.replace('_', '-')}, ≥ {boosting_target:g} % than boosting"
        note = (f"val MAE {entry['val_mae_median']:.4g}; vs {best_simple.replace('_', '-')} "
                f"{entry['improvement_vs_simple_pct']:+.1f} %, vs boosting {entry['improvement_vs_boosting_pct']:+.1f} %"
                + "".join(f", vs {display_name(key)} ({entry[f'{key}_test_mae']:.4g}) "
                          f"{entry[f'improvement_vs_{key}_pct']:+.1f} %"
                          for key in CLASSICAL_BASELINES if f"{key}_test_mae" in entry)
                + "; "
                f"{entry['seeds_ran']} seed(s) × {budget.recipe_trials} trials × "
                f"≤ {budget.recipe_epochs} epochs")
        if table["pairs"]:
            note += "; " + verdicts(table, name)
        if table.get("validation_and_test_agree") is False:
            note += (f"; validation picks '{table['best_by_validation']}', test picks '{table['best_by_test']}'")
        figures.append(figure(
            title, entry["test_mae"]["all"], unit,
            f"{best_simple.replace('_', '-')} {simple[best_simple]:.4g}, boosting {entry['boosting_test_mae']:.4g} "
            "on the same test rows",
            target=target, check=lambda v, c=ceiling: v <= c, note=note, details=table))
        for variant, values in entry.get("fit_variants", {}).items():
            figures.append(figure(
                f"12. {series.name} test MAE, {name}, fit: {variant}", values["all"], unit,
                f"{best_simple.replace('_', '-')} {simple[best_simple]:.4g}, boosting {entry['boosting_test_mae']:.4g}",
                target=target, check=lambda v, c=ceiling: v <= c,
                note=f"the same {entry['seeds_ran']} studies as '{name}', fitted this way"))
    return figures


def compare_recipes(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 12: every recipe on every series of `budget.recipe_series`."""
    reason = available()
    if reason:
        return [skipped(f"12. recipes on {', '.join(budget.recipe_series)}", "MAE", "", reason)]
    figures: list[Figure] = []
    skips: dict[str, dict[str, str]] = {name: {} for name in RECIPES}
    for name in budget.recipe_series:
        started = time.perf_counter()
        series = SERIES[name]
        table = compare_series(series, budget, workdir)
        figures += figures_of(series, table, budget)
        for recipe, entry in table["recipes"].items():
            if "skipped" in entry:
                skips[recipe][name] = entry["skipped"]
        log.warning("figure 12, %s: %.0f s", name, time.perf_counter() - started)
    for recipe, where in skips.items():  # one line per recipe and reason, not one per series
        by_reason: dict[str, list[str]] = {}
        for series_name, reason in where.items():
            by_reason.setdefault(reason, []).append(series_name)
        for reason, names in by_reason.items():
            figures.append(skipped(f"12. {', '.join(names)} test MAE, {recipe}", "MAE", "the other recipes",
                                   f"{reason} (overrides: {', '.join(RECIPES[recipe]) or 'none'})"))
    return figures
