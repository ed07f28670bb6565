"""Figure 12: forecasting recipes compared on several real series, the way /work/shared/ACCURACY.md
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
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from common import Budget, Figure, figure, skipped
from realdata import SERIES, RealSeries, available
from tuner.config import Config, load_config
from tuner.data import Dataset
from tuner.errors import ConfigError, TunerError
from tuner.forecaster import Forecaster
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params

log = logging.getLogger("benchmarks")

# name -> overrides. `{windows}`, `{calendar}` and `{holidays}` are filled in per series (see
# PLACEHOLDERS); an override left with nothing after "=" is dropped for that series.
RECIPES: dict[str, list[str]] = {
    "as configured (no overrides)": [],
    "baseline (global, mse)": ["data.scaling='global'", "train.loss='mse'"],
    "window + mae": ["data.scaling='window'", "train.loss='mae'"],
    "window + mae + calendar": ["data.scaling='window'", "train.loss='mae'", "data.calendar={calendar}",
                                "data.holidays={holidays}"],
    "window + mae + calendar + window search": ["data.scaling='window'", "train.loss='mae'",
                                                "data.calendar={calendar}", "data.holidays={holidays}",
                                                "search.window={windows}"],
}
CALENDAR = {"D": ["day_of_week", "month", "day_of_year"], "W": ["month", "day_of_year"], "M": ["month"]}
HOLIDAYS = {"chicago": "US"}  # a holiday calendar only where the series' country and frequency make one useful
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


def boosting_forecast(dataset: Dataset) -> np.ndarray:
    """HistGradientBoostingRegressor on the last `window` target values, the past-only drivers of
    the previous row and the known-future drivers of the forecast row; fitted on train + validation."""
    data, values = dataset.config, dataset.values
    window, target = data.window, values[:, -1]
    known = list(data.known_future_columns)
    past = [i for i in range(len(data.features)) if i not in known]
    rows_all = np.arange(window, len(values))
    lags = np.lib.stride_tricks.sliding_window_view(target, window)[:-1]  # lags[r - window] precede row r
    inputs = np.hstack([lags[rows_all - window], values[rows_all - 1][:, past], values[rows_all][:, known]])
    train = rows_all < dataset.bounds["validation"][1]
    model = HistGradientBoostingRegressor(random_state=0).fit(inputs[train], target[rows_all[train]])
    test_rows = dataset.windows("test").target_rows
    return model.predict(inputs[test_rows - window])


def improvement(baseline: float, model: float) -> float:
    """How much lower the model's error is, in % of the baseline's."""
    return 100 * (1 - model / baseline)


def run_once(config: Config, url: str) -> dict[str, Any]:
    """Tune, fit the best trial, score the test part once."""
    started = time.perf_counter()
    study = tune(config, url, progress=False).study
    params = best_params(study)
    fitted, _ = Forecaster.fit(config, params)
    maes = {name: m["test_mae"] for name, m in fitted.metrics.items() if isinstance(m, dict) and "test_mae" in m}
    return {"test_mae": maes.pop("model"), "val_mae": study.best_value, "baselines": maes,
            "params": {k: v for k, v in asdict(params).items() if v not in (0, "")},
            "seconds": round(time.perf_counter() - started, 1)}


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
    hgb = float(np.mean(np.abs(actual - boosting_forecast(dataset))))
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
                               "boosting (benchmark HGB: lags + drivers)": round(hgb, 4)},
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
                entry["runs"][seed] = run_once(config, f"sqlite:///{folder / (run_name + '.db')}")
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
    # the tuner's own boosting baseline (same inputs as the recipe) when it has one, else the benchmark's
    boosting = [run["baselines"].get("boosting", hgb) for run in runs]
    entry.update({
        "seeds_ran": len(runs),
        "test_mae": {"median": statistics.median(test), "min": min(test), "max": max(test), "all": test},
        "val_mae_median": statistics.median(run["val_mae"] for run in runs),
        "better_simple_baseline": best_simple,
        "improvement_vs_simple_pct": statistics.median(improvement(simple[best_simple], t) for t in test),
        "boosting_source": "tuner (metrics['boosting'])" if "boosting" in runs[0]["baselines"] else "benchmark HGB",
        "boosting_test_mae": statistics.median(boosting),
        "improvement_vs_boosting_pct": statistics.median(improvement(b, t) for b, t in zip(boosting, test)),
        "seconds_median": statistics.median(run["seconds"] for run in runs),
    })


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
        floor = min(simple[best_simple], entry["boosting_test_mae"])
        note = (f"val MAE {entry['val_mae_median']:.4g}; vs {best_simple.replace('_', '-')} "
                f"{entry['improvement_vs_simple_pct']:+.1f} %, vs boosting {entry['improvement_vs_boosting_pct']:+.1f} % "
                f"({entry['boosting_source']}); {entry['seeds_ran']} seed(s) × {budget.recipe_trials} trials × "
                f"≤ {budget.recipe_epochs} epochs")
        if table["pairs"]:
            note += "; " + verdicts(table, name)
        if table.get("validation_and_test_agree") is False:
            note += (f"; validation picks '{table['best_by_validation']}', test picks '{table['best_by_test']}'")
        figures.append(figure(
            title, entry["test_mae"]["all"], unit,
            f"{best_simple.replace('_', '-')} {simple[best_simple]:.4g}, boosting {entry['boosting_test_mae']:.4g} "
            "on the same test rows",
            target="below both baselines", check=lambda v, f=floor: v < f, note=note, details=table))
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
