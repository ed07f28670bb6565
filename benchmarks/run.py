"""Run every benchmark figure, print the table and write the results as JSON.

    python benchmarks/run.py [--quick] [--output FILE] [--peer-python PATH] [--only 1,2,...]

Speed figures are ratios of two things measured in the same run, interleaved, over several
repeats (the median is the value); accuracy figures are scored on the test part after `tuner fit`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also in spawned workers

from accuracy import frequencies, noise_floor, real_data  # noqa: E402
from busy import busy_machine  # noqa: E402
from combination import combination  # noqa: E402
from common import FULL, QUICK, Budget, Figure, postgres_url, quiet_optuna  # noqa: E402
from compare import peers  # noqa: E402
from gpu import device_figures  # noqa: E402
from intervals import interval_coverage  # noqa: E402
from panel_accuracy import global_vs_local  # noqa: E402
from panel_speed import panel_epoch, panel_ets, panel_loading  # noqa: E402
from pruners import pruner_comparison  # noqa: E402
from recipes import compare_recipes  # noqa: E402
from response import what_if_truth  # noqa: E402
from speed import throughput, windowing  # noqa: E402
from tuning import overhead, pruning, workers  # noqa: E402
from walkforward import walk_forward  # noqa: E402

from tuner.networks.training import configure_threads  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
FIGURES = range(1, 21)


def machine() -> dict[str, str | int]:
    """What the numbers were measured on."""
    import optuna
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count() or 0, "cpu": cpu, "gpu": "none used", "system": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "optuna": optuna.__version__}


def run(budget: Budget, only: set[int], peer_python: str | None, workdir: Path) -> list[Figure]:
    """Every figure in `only`, in order; 6 and 7 reuse the study that 4 tunes."""
    postgres = postgres_url()
    figures: list[Figure] = []
    steps = {
        1: lambda: windowing(budget),
        2: lambda: throughput(budget),
        3: lambda: overhead(budget, workdir, postgres),
        5: lambda: workers(budget, workdir, postgres),
        8: lambda: real_data(budget, workdir),
        9: lambda: frequencies(budget, workdir),
        10: lambda: walk_forward(budget, workdir),
        11: lambda: what_if_truth(budget, workdir),
        12: lambda: compare_recipes(budget, workdir),
        13: lambda: interval_coverage(budget, workdir),
        14: lambda: device_figures(budget, workdir),
        15: lambda: panel_loading(budget.quick, workdir) + panel_ets(budget.quick, workdir),
        16: lambda: panel_epoch(budget.quick, workdir),
        17: lambda: global_vs_local(budget.quick, workdir),
        18: lambda: pruner_comparison(budget.quick, workdir),
        19: lambda: combination(budget, workdir),
        20: lambda: busy_machine(budget, workdir),
    }
    for number in sorted(only | ({4} if only & {6, 7} else set())):  # 6 and 7 need 4's study
        started, before = time.perf_counter(), len(figures)
        if number == 4:
            found, config, url = pruning(budget, workdir)
            figures += found
        elif number == 6:
            figures += peers(budget, peer_python, config, url, workdir)
        elif number == 7:
            figures.append(noise_floor(config, url, budget.refit_seeds))
        else:
            figures += steps[number]()
        logging.getLogger("benchmarks").warning("figure %d: %.0f s\n%s", number, time.perf_counter() - started,
                                                table(figures[before:]))  # on stderr as it comes, should a later one fail
    return figures


def table(figures: list[Figure]) -> str:
    """The results as a Markdown table."""
    lines = ["| figure | value | unit | min / median / max | repeats | target | met | compared with; notes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for f in figures:
        value = "—" if f.value is None else f"{f.value:.3g}"
        spread = "—" if f.min is None else f"{f.min:.3g} / {f.median:.3g} / {f.max:.3g}"
        met = {True: "yes", False: "**no**", None: "—"}[f.met]
        lines.append(f"| {f.name} | {value} | {f.unit} | {spread} | {f.repeats} | {f.target or '—'} | {met} | "
                     f"{f.compared_with}; {f.note} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (under 3 minutes), for CI")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (default: %(default)s)")
    parser.add_argument("--peer-python", help="an interpreter where neuralforecast and pytorch-forecasting import")
    parser.add_argument("--only", default=",".join(map(str, FIGURES)),
                        help="comma-separated figure numbers (default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = {int(number) for number in args.only.split(",")}
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.WARNING)
    quiet_optuna()
    configure_threads(1)
    budget = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as folder:
        figures = run(budget, only, args.peer_python, Path(folder))
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": budget.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "figures": [asdict(f) for f in figures],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(figures))
    print(f"\n{len(figures)} figures in {results['seconds']:.0f} s; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
