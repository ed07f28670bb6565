"""Figure 18: which pruner setup pays, on the demo and on a real daily series.

Each setup tunes the same study (trials, epochs, patience, sampler seed) as the others; only the
pruner differs. Per setup and seed: the epochs trained by all trials against the same seed's
study without pruning (epochs saved), the best validation MAE against that study's (the quality
kept), and the time-to-quality curve: the best validation MAE reached by each fraction of the
unpruned study's wall time. Nothing here touches a test part: pruning only decides which trials
finish, so validation is what it is judged on.

    python benchmarks/pruners.py [--quick] [--seeds 3] [--series demo,chicago]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules

from common import DEMO_CONFIG, Figure, figure, finished_trials, quiet_optuna, skipped
from realdata import SERIES, available

from tuner.config.loading import load_config
from tuner.config.schema import StudyConfig
from tuner.networks.threads import configure_threads
from tuner.tuning.runner import tune

log = logging.getLogger("benchmarks")

EPOCH_SAVING_TARGET = 40.0  # % fewer epochs than without pruning, at least (the default setup)
MAE_TOLERANCE = 1.02  # best validation MAE with pruning / without, at most
CURVE_FRACTIONS = (0.25, 0.5, 1.0)  # of the unpruned study's wall time
SETUPS: dict[str, tuple[str, ...]] = {  # name: `--set` overrides; "none" is what the others are measured against
    "none": ("study.pruner='none'",),
    "median, 5 start-up trials": ("study.pruner='median'", "study.prune_startup_trials=5"),
    "median, 2 start-up trials": ("study.pruner='median'", "study.prune_startup_trials=2"),
    "percentile 25, 2 start-up trials": ("study.pruner='percentile'", "study.prune_startup_trials=2"),
    "hyperband": ("study.pruner='hyperband'",),
    "successive halving": ("study.pruner='successive_halving'",),
}


@dataclass(frozen=True)
class Outcome:
    """One study: its epochs, best validation value and wall time, and when each best was reached."""

    epochs: int
    best: float
    seconds: float
    improvements: list[tuple[float, float]]  # (seconds since the start, best value so far)

    def best_by(self, seconds: float) -> float:
        """The best value reached within `seconds` (inf before the first completed trial)."""
        return min((value for at, value in self.improvements if at <= seconds), default=float("inf"))


def outcome(study: optuna.Study, started: float, seconds: float) -> Outcome:
    trials = finished_trials(study)
    complete = sorted((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
                      key=lambda t: t.datetime_complete)
    improvements, best = [], float("inf")
    for trial in complete:
        if trial.value < best:
            best = trial.value
            improvements.append((trial.datetime_complete.timestamp() - started, best))
    return Outcome(sum(t.user_attrs.get("epochs_run", 0) for t in trials), best, seconds, improvements)


def study_source(name: str, folder: Path, epochs: int) -> tuple[Path, list[str]]:
    """The config file of `name` ("demo" or a series of realdata.SERIES) and the overrides every
    setup shares."""
    if name == "demo":
        return DEMO_CONFIG, []
    series = SERIES[name]
    path = folder / f"{name}.toml"
    path.write_text(series.write(folder, epochs=epochs, trials=1, patience=6), encoding="utf-8")
    calendar = '["day_of_week"]' if series.frequency == "D" else '["month"]'
    return path, [f"data.calendar={calendar}"]


def compare(name: str, folder: Path, setups: dict[str, tuple[str, ...]], trials: int, epochs: int,
            seeds: int) -> dict[str, list[Outcome]]:
    """Each of `setups` on one study, `seeds` times (study.seed = 0 ..); the setups of a seed run back to back."""
    path, shared = study_source(name, folder, epochs)
    outcomes: dict[str, list[Outcome]] = {setup: [] for setup in setups}
    for seed in range(seeds):
        for number, (setup, overrides) in enumerate(setups.items()):
            config = load_config(path, [*shared, f"study.n_trials={trials}", f"train.epochs={epochs}",
                                        f"study.seed={seed}", "train.threads=1", *overrides,
                                        f"study.name=pruners-{name}-{seed}-{number}"])
            started = time.time()
            study = tune(config, f"sqlite:///{folder / 'pruners.db'}", progress=False).study
            found = outcome(study, started, time.time() - started)
            outcomes[setup].append(found)
            log.warning("figure 18: %s seed %d, %s: %d epochs, best %.4g, %.0f s", name, seed, setup,
                        found.epochs, found.best, found.seconds)
    return outcomes


def figures_for(name: str, outcomes: dict[str, list[Outcome]], default: str) -> list[Figure]:
    """Per setup: epochs saved and best MAE against the same seed's unpruned study, and the
    curve; the target rows are the default setup's."""
    unpruned = outcomes["none"]
    found = []
    for setup, runs in outcomes.items():
        if setup == "none":
            continue
        saved = [100 * (1 - run.epochs / base.epochs) for run, base in zip(runs, unpruned)]
        ratios = [run.best / base.best for run, base in zip(runs, unpruned)]
        curve = {f"{fraction:g}": [run.best_by(fraction * base.seconds) / base.best for run, base in zip(runs, unpruned)]
                 for fraction in CURVE_FRACTIONS}
        curve_text = ", ".join(f"{fraction}× time: {statistics.median(values):.3f}" for fraction, values in curve.items())
        is_default = setup == default
        found.append(figure(
            f"18. epochs saved, {name}, {setup}" + (" (default)" if is_default else ""), saved, "%",
            "no pruner, same study and seed", target=f"≥ {EPOCH_SAVING_TARGET:g} %" if is_default else None,
            check=(lambda v: v >= EPOCH_SAVING_TARGET) if is_default else None,
            note=f"epochs {[run.epochs for run in runs]} vs {[base.epochs for base in unpruned]}; "
                 f"wall {statistics.median(run.seconds for run in runs):.0f} s vs "
                 f"{statistics.median(base.seconds for base in unpruned):.0f} s",
            details={"epochs": [run.epochs for run in runs], "unpruned_epochs": [base.epochs for base in unpruned]}))
        found.append(figure(
            f"18. best validation MAE, {name}, {setup}" + (" (default)" if is_default else ""), ratios, "× no pruner",
            "best validation MAE without pruning, same seed", target=f"≤ {MAE_TOLERANCE}" if is_default else None,
            check=(lambda v: v <= MAE_TOLERANCE) if is_default else None,
            note=f"best MAE by a fraction of the unpruned study's wall time, × its final best: {curve_text}",
            details={"best": [run.best for run in runs], "unpruned_best": [base.best for base in unpruned],
                     "curve": curve}))
    return found


def pruner_comparison(quick: bool, workdir: Path, seeds: int | None = None,
                      names: tuple[str, ...] = ("demo", "chicago")) -> list[Figure]:
    """Figure 18 on each study of `names`; a real series that cannot be read here is skipped."""
    default = default_setup(StudyConfig())
    setups = {name: SETUPS[name] for name in ("none", default)} if quick else SETUPS
    trials, epochs = (3, 2) if quick else (20, 40)
    seeds = seeds or (1 if quick else 3)
    names = ("demo",) if quick else names
    found: list[Figure] = []
    for name in names:
        if name != "demo" and (reason := available()):
            found.append(skipped(f"18. epochs saved, {name}, {default} (default)", "%", "no pruner", reason,
                                 target=f"≥ {EPOCH_SAVING_TARGET:g} %"))
            continue
        folder = workdir / f"pruners-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        found += figures_for(name, compare(name, folder, setups, trials, epochs, seeds), default)
    return found


def default_setup(study: object) -> str:
    """The SETUPS name of the shipped defaults (`study.pruner`, `study.prune_startup_trials`)."""
    pruner, startup = study.pruner, study.prune_startup_trials
    for setup, overrides in SETUPS.items():
        if f"study.pruner='{pruner}'" in overrides and (pruner not in ("median", "percentile")
                                                       or f"study.prune_startup_trials={startup}" in overrides):
            return setup
    return f"{pruner}, {startup} start-up trials (not compared)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--series", default="demo,chicago", help="comma-separated: demo and/or realdata series")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.WARNING)
    quiet_optuna()
    configure_threads(1)
    with tempfile.TemporaryDirectory(prefix="tuner-pruners-") as folder:
        for found in pruner_comparison(args.quick, Path(folder), args.seeds, tuple(args.series.split(","))):
            print(f"{found.name}: {found.value if found.value is None else round(found.value, 3)} {found.unit} "
                  f"(min {found.min}, max {found.max}; target {found.target}, met {found.met}); {found.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
