"""Figures 15 and 16: panels at scale, each measured side by side in one run.

* 15: loading a panel CSV (read, validate, the daily resample check, split, scale, window) at
  10 to 10,000 series × 3 years of daily rows, each load in a fresh process so that its peak
  RSS is the whole cost, against pandas' own `read_csv` + `groupby` on the same file;
* 16: one training epoch of `train.samples_per_epoch` windows on a 10,000-series panel against
  the same on a 10-series panel: an epoch's cost should not grow with the panel;
* 15 also: the exponential smoothing baseline's form searches on a 50-series panel's training
  rows, shared over every core against one process (its cost at each panel study's start).

    python benchmarks/panel_speed.py    # all three, quick sizes (up to 300 series)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common, when run as a script or imported from elsewhere

from common import REPO, Figure, figure, interleaved

from tuner.config.loading import load_config
from tuner.config.schema import Config, ModelConfig, TrainConfig
from tuner.data.dataset import Dataset, Windows
from tuner.data.demo import AD_CARRYOVER, CATEGORIES, NOISE_SIGMA, WEEKDAY_EFFECT
from tuner.data.reading import load_frame
from tuner.members.ets import Ets
from tuner.networks.models import build_model, model_config
from tuner.networks.threads import configure_threads
from tuner.networks.training import WindowTensors, fit

PANEL_CONFIG = REPO / "studies" / "ecommerce_panel.toml"
DAYS = 1096  # 3 years of daily rows per series
START = "2023-01-01"
CHUNK_SERIES = 250  # series generated and written at a time
LOAD_SERIES = (10, 100, 1_000, 10_000)
LOAD_SERIES_QUICK = (10, 100, 300)
LINEAR_FROM = 100  # smallest size whose time is not mostly fixed costs
LOAD_REPEATS = 3
LOAD_REPEATS_QUICK = 1
LOAD_SECONDS_TARGET = 60.0  # at 10,000 series
LOAD_GIB_TARGET = 4.0  # peak RSS at 10,000 series
TARGET_SIZE = 10_000
EPOCH_SERIES = (10, 10_000)
EPOCH_SERIES_QUICK = (10, 100)
EPOCH_REPEATS = 9
EPOCH_REPEATS_QUICK = 3
SAMPLES_PER_EPOCH = 4096
EPOCH_RATIO_TARGET = 1.10
SMOOTHING_SERIES = 50
SMOOTHING_SERIES_QUICK = 4
SMOOTHING_REPEATS = 2
SPREAD_SLACK = 1.3  # target: every core's time at most this × one core's / the cores in use
PARAMS = {"model": "lstm", "hidden_size": 32, "num_layers": 1, "dropout": 0.0, "lr": 1e-3}

# A fresh interpreter per load (Linux: /proc), so that its peak RSS is this load's alone. Both kinds import
# pandas before the clock starts; the tuner kind also its own modules and the study config.
CHILD = """
import json, sys, time
import pandas as pd
def high_water_kib():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
kind, csv, config_path = sys.argv[1:4]
if kind == "tuner":
    from tuner.config.loading import load_config
    from tuner.data.dataset import Dataset
    from tuner.data.reading import load_frame
    config = load_config(config_path, values={"data.path": csv})
imported = high_water_kib()
started = time.perf_counter()
if kind == "tuner":
    frame = load_frame(config.data)
    loaded = time.perf_counter() - started
    dataset = Dataset(frame, config.data, config.split)
    windows = [dataset.windows(part) for part in ("train", "validation", "test")]
    result = {"load_seconds": loaded, "rows": len(dataset.values), "series": len(dataset.index),
              "columns": dataset.scaled.shape[1], "samples": sum(len(w) for w in windows),
              "window_bytes": sum(w.target_rows.nbytes + w.series.nbytes + w.fields.nbytes for w in windows)}
else:
    frame = pd.read_csv(csv)
    by_product = frame.groupby("product").agg({"sales": "mean", "ad_impressions": "sum", "discount_rate": "max"})
    result = {"rows": len(frame), "series": len(by_product)}
result.update(seconds=time.perf_counter() - started, imports_kib=imported, peak_kib=high_water_kib())
print(json.dumps(result))
"""


def _panel_chunk(first: int, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """Products first .. first + count - 1, `DAYS` rows each, with the demo's columns and response
    (`tuner.data.demo`), generated for all of them at once instead of one product at a time."""
    dates = pd.date_range(START, periods=DAYS, freq="D")
    t = np.arange(DAYS)
    day_of_year = dates.day_of_year.to_numpy()
    season = 1.0 + 0.18 * np.sin(2 * np.pi * (day_of_year - 100) / 365.25) + 0.35 * np.exp(
        -(((day_of_year - 330) / 12.0) ** 2))
    level = np.round(np.exp(rng.normal(np.log(150), 0.9, (count, 1))), 1)
    response = np.round(rng.uniform(1.0, 6.0, (count, 1)), 2)

    def bursts(chance: float, length: int) -> np.ndarray:
        """(count, DAYS) True on the `length` days from each start, starts drawn with `chance` a day."""
        starts = np.cumsum(rng.random((count, DAYS)) < chance, axis=1)
        return starts - np.pad(starts, ((0, 0), (length, 0)))[:, :DAYS] > 0

    discount = bursts(1 / 35, 5) * rng.choice([0.1, 0.15, 0.2, 0.3], (count, 1))
    campaign = bursts(0.004, 10)
    noise = rng.lognormal(0, 0.15, (count, DAYS))
    ads = np.round(40_000 * level / 600 * (1 + 0.002 * t) * (1 + 1.5 * campaign) * noise)
    ctr = np.clip(0.021 + 0.006 * campaign + 0.02 * discount + rng.normal(0, 0.0015, (count, DAYS)), 0.005, None)
    cvr = np.clip(0.032 + 0.08 * discount + rng.normal(0, 0.002, (count, DAYS)), 0.005, None)
    ad_stock = lfilter([1.0], [1.0, -AD_CARRYOVER], ads * ctr * cvr, axis=1)
    ad_driven = response * np.pad(ad_stock, ((0, 0), (1, 0)), mode="edge")[:, :DAYS]  # from the next day on
    organic = level * (1 + 0.25 * t / DAYS) * WEEKDAY_EFFECT[dates.day_of_week] * season
    expected = organic * (1 + 1.8 * discount) + ad_driven
    sales = expected * rng.lognormal(-NOISE_SIGMA**2 / 2, NOISE_SIGMA, (count, DAYS))
    codes = np.arange(first, first + count)
    return pd.DataFrame({
        "date": np.tile(dates.strftime("%Y-%m-%d").to_numpy(), count),
        "product": np.repeat([f"P{code + 1:05d}" for code in codes], DAYS),
        "category": np.repeat([CATEGORIES[code % len(CATEGORIES)] for code in codes], DAYS),
        "ad_impressions": ads.astype(np.int64).ravel(),
        "ctr": ctr.round(5).ravel(),
        "cvr": cvr.round(5).ravel(),
        "discount_rate": discount.ravel(),
        "seasonality_index": np.tile(season.round(4), count),
        "sales": sales.round(2).ravel(),
        "expected_sales": expected.round(2).ravel(),
    })


def panel_csv(workdir: Path, series: int) -> Path:
    """A panel of `series` products × `DAYS` days in `workdir` (written once, then reused): the
    columns of `tuner.data.demo.panel`, rows sorted by product, then date."""
    path = workdir / f"panel-{series}.csv"
    if not path.exists():
        rng = np.random.default_rng(series)
        partial = path.with_suffix(".part")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            for first in range(0, series, CHUNK_SERIES):
                _panel_chunk(first, min(CHUNK_SERIES, series - first), rng).to_csv(handle, header=first == 0,
                                                                                     index=False)
        partial.rename(path)
    return path


def panel_config(csv: Path) -> Config:
    """The panel demo study's config (studies/ecommerce_panel.toml) reading `csv`."""
    return load_config(PANEL_CONFIG, values={"data.path": str(csv)})


def measure_load(kind: str, csv: Path) -> dict[str, float]:
    """One load of `csv` in a fresh interpreter: "tuner" (load_frame, Dataset, the three parts'
    windows) or "pandas" (read_csv, groupby product); its seconds, peak RSS and what it built."""
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(csv), str(PANEL_CONFIG)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} load of {csv.name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def panel_loading(quick: bool, workdir: Path) -> list[Figure]:
    """Figure 15: loading panels of 10 .. 10,000 series (quick: .. 300) by tuner and by pandas,
    each load in a fresh process; `LOAD_REPEATS` (quick: `LOAD_REPEATS_QUICK`) rounds over every
    size and both kinds, in a rotating order, so that machine noise hits every size alike."""
    sizes = LOAD_SERIES_QUICK if quick else LOAD_SERIES
    csvs = {size: panel_csv(workdir, size) for size in sizes}
    loads = [(size, kind) for size in sizes for kind in ("tuner", "pandas")]
    runs: dict[int, dict[str, list[dict[str, float]]]] = {size: {"tuner": [], "pandas": []} for size in sizes}
    repeats = LOAD_REPEATS_QUICK if quick else LOAD_REPEATS
    for repeat in range(repeats):
        shift = repeat * len(loads) // repeats
        for size, kind in loads[shift:] + loads[:shift]:
            runs[size][kind].append(measure_load(kind, csvs[size]))

    def values(size: int, kind: str, key: str) -> list[float]:
        return [run[key] for run in runs[size][kind]]

    def median(size: int, kind: str, key: str) -> float:
        return statistics.median(values(size, kind, key))

    def gib(kib: float) -> float:
        return kib / 2**20

    rows = {size: runs[size]["tuner"][0]["rows"] for size in sizes}
    per_row = {size: [seconds / rows[size] for seconds in values(size, "tuner", "seconds")] for size in sizes}
    window_bytes = {size: runs[size]["tuner"][0]["window_bytes"] / rows[size] for size in sizes}
    figures = []
    for size in sizes:
        own, reference = median(size, "tuner", "seconds"), median(size, "pandas", "seconds")
        figures.append(figure(
            f"15. panel load, {size:,} series × {DAYS} days", [seconds * 1e6 for seconds in per_row[size]],
            "s/M rows", "pandas read_csv + groupby(product).agg, same file, fresh process each",
            note=f"{rows[size]:,} rows: {own:.2f} s (load_frame {median(size, 'tuner', 'load_seconds'):.2f} s of it) "
                 f"vs pandas {reference:.2f} s ({own / reference:.1f}×); peak RSS "
                 f"{gib(median(size, 'tuner', 'peak_kib')):.2f} vs {gib(median(size, 'pandas', 'peak_kib')):.2f} GiB",
            details={"rows": rows[size], "csv_mib": round(csvs[size].stat().st_size / 2**20, 1),
                     "tuner": runs[size]["tuner"], "pandas": runs[size]["pandas"]},
        ))

    top = sizes[-1]
    at_target = top == TARGET_SIZE
    figures.append(figure(
        f"15. panel load linearity, {top:,} vs {LINEAR_FROM} series", [
            big / small for big, small in zip(per_row[top], per_row[LINEAR_FROM])], "× time/row",
        f"tuner's time per row at {LINEAR_FROM} series ({rows[LINEAR_FROM]:,} rows)",
        note="1 = linear in rows; " + ", ".join(f"{size:,}: {statistics.median(per_row[size]) * 1e6:.2f} s/M rows"
                                                 for size in sizes),
    ))
    figures.append(figure(
        f"15. panel load wall time, {top:,} series", values(top, "tuner", "seconds"), "s",
        "load_frame + Dataset + train/validation/test windows",
        target=f"< {LOAD_SECONDS_TARGET:.0f} s" if at_target else None,
        check=(lambda seconds: seconds < LOAD_SECONDS_TARGET) if at_target else None,
        note=f"{rows[top]:,} rows, {csvs[top].stat().st_size / 2**20:.0f} MiB of CSV",
    ))
    imports = gib(median(top, "tuner", "imports_kib"))
    figures.append(figure(
        f"15. panel load peak memory, {top:,} series", [gib(k) for k in values(top, "tuner", "peak_kib")], "GiB",
        f"pandas read_csv + groupby: {gib(median(top, 'pandas', 'peak_kib')):.2f} GiB",
        target=f"< {LOAD_GIB_TARGET:.0f} GiB" if at_target else None,
        check=(lambda g: g < LOAD_GIB_TARGET) if at_target else None,
        note=f"peak RSS of a fresh process, {imports:.2f} GiB of it the interpreter and imports",
    ))
    figures.append(figure(
        f"15. panel load vs pandas, {top:,} series",
        [own / reference for own, reference in zip(values(top, "tuner", "seconds"), values(top, "pandas", "seconds"))],
        "× pandas", "pandas read_csv + groupby(product).agg, same file (repeats paired in run order)",
        note="tuner also validates every cell, sorts, checks for gaps, splits, scales per series and windows",
    ))
    first = runs[top]["tuner"][0]
    copy_per_row = first["columns"] * 4 * panel_config(csvs[top]).data.window
    figures.append(figure(
        f"15. panel windows memory, {top:,} series", [window_bytes[top]], "bytes/row",
        f"copied float32 windows: {copy_per_row} bytes/row", target=f"O(rows): well below {copy_per_row} bytes/row",
        check=lambda b: b < copy_per_row / 4,
        note=f"target rows + series codes (+ per-series fields) of {first['samples']:,} samples; the scaled rows are "
             "shared, not copied; " + ", ".join(f"{size:,}: {window_bytes[size]:.1f}" for size in sizes),
        details={"bytes_per_row": window_bytes},
    ))
    return figures


def _one_epoch(architecture: ModelConfig, train: Windows, settings: TrainConfig) -> None:
    """One epoch of `fit` on a new model, without validation."""
    torch.manual_seed(0)
    fit(build_model(architecture), train, None, PARAMS["lr"], settings, seed=0, epochs=1)


def panel_epoch(quick: bool, workdir: Path) -> list[Figure]:
    """Figure 16: an epoch of `SAMPLES_PER_EPOCH` windows on a large panel against a 10-series one,
    interleaved; each Dataset is built once beforehand, outside the timing."""
    configure_threads(1)
    small, large = EPOCH_SERIES_QUICK if quick else EPOCH_SERIES
    repeats = EPOCH_REPEATS_QUICK if quick else EPOCH_REPEATS
    configs = {size: panel_config(panel_csv(workdir, size)) for size in (small, large)}
    settings = TrainConfig(batch_size=configs[small].train.batch_size, samples_per_epoch=SAMPLES_PER_EPOCH,
                           threads=1, device="cpu")
    runs, built, setup, samples = {}, {}, {}, {}
    for size, config in configs.items():
        started = time.perf_counter()
        dataset = Dataset(load_frame(config.data), config.data, config.split)
        train = dataset.windows("train")
        built[size], samples[size] = time.perf_counter() - started, len(train)
        runs[size] = partial(_one_epoch, model_config(PARAMS, config.data, (), dataset.shape), train, settings)
        setup[size] = interleaved({"setup": partial(WindowTensors, train, torch.device("cpu"))}, repeats)["setup"]
    seconds = interleaved(runs, repeats)
    return [figure(
        f"16. epoch time, {large:,} vs {small} series", [big / few for big, few in zip(seconds[large], seconds[small])],
        "× small panel", f"the same epoch ({SAMPLES_PER_EPOCH} samples, lstm hidden 32, batch {settings.batch_size}, "
                         f"1 CPU thread) on {small} series",
        target=f"≤ {EPOCH_RATIO_TARGET:.2f}", check=lambda r: r <= EPOCH_RATIO_TARGET,
        note=f"{statistics.median(seconds[large]):.3f} s vs {statistics.median(seconds[small]):.3f} s per epoch, "
             f"of which fit's WindowTensors set-up {statistics.median(setup[large]) * 1e3:.1f} vs "
             f"{statistics.median(setup[small]) * 1e3:.1f} ms; not timed: load_frame + Dataset "
             f"{built[large]:.1f} s vs {built[small]:.2f} s",
        details={"epoch_seconds": seconds, "setup_seconds": setup, "dataset_seconds": built,
                 "train_samples": samples},
    )]


def panel_ets(quick: bool, workdir: Path) -> list[Figure]:
    """Figure 15 (start-up): `Ets.fit` on a panel's training rows in one process against
    every core (joblib's process pool), interleaved."""
    size = SMOOTHING_SERIES_QUICK if quick else SMOOTHING_SERIES
    config = panel_config(panel_csv(workdir, size))
    dataset = Dataset(load_frame(config.data), config.data, config.split)
    rows = dataset.rows("train")
    history = (dataset.target[rows], dataset.index.codes[rows], len(dataset.index), config.data.seasonality)
    cores = min(os.cpu_count() or 1, size)
    seconds = interleaved({jobs: partial(Ets.fit, *history, jobs=jobs) for jobs in (1, cores)},
                          1 if quick else SMOOTHING_REPEATS)
    target = SPREAD_SLACK / cores
    return [figure(
        f"15. exponential smoothing baseline, {size} series, {cores} cores vs 1",
        [shared / alone for shared, alone in zip(seconds[cores], seconds[1])], "× one core",
        f"the same ETS form searches and Theta fits ({len(rows) // size} training days each) in one process",
        target=f"≤ {target:.2f}", check=lambda r: r <= target,
        note=f"{statistics.median(seconds[cores]):.1f} s vs {statistics.median(seconds[1]):.1f} s",
        details={"seconds": {str(jobs): values for jobs, values in seconds.items()}, "cores": cores},
    )]


def main() -> None:
    """The three figures at the quick sizes, printed one per line."""
    with tempfile.TemporaryDirectory(prefix="tuner-panel-") as folder:
        for run in (panel_loading, panel_ets, panel_epoch):
            started = time.perf_counter()
            for found in run(True, Path(folder)):
                print(json.dumps({key: value for key, value in asdict(found).items() if key != "details"},
                                 ensure_ascii=False))
            print(f"{run.__name__}: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
