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
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also in spawned workers

import busy  # noqa: E402
import combination as combination_module  # noqa: E402
import compare  # noqa: E402
import gpu  # noqa: E402
import intervals  # noqa: E402
import panel_accuracy  # noqa: E402
import pruners  # noqa: E402
import recipes  # noqa: E402
import response  # noqa: E402
import service  # noqa: E402
import walkforward  # noqa: E402
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

from tuner.networks.threads import configure_threads  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
FIGURES = range(1, 23)


def machine() -> dict[str, str | int]:
    """What the numbers were measured on."""
    import optuna
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count() or 0, "cpu": cpu, "gpu": "none used", "system": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "optuna": optuna.__version__}


def panel_speed(quick: bool, workdir: Path) -> list[Figure]:
    """Figure 15: loading panels of 10 .. 10,000 series by tuner and by pandas, and fitting
    exponential smoothing on a panel's series in one process against every core."""
    return panel_loading(quick, workdir) + panel_ets(quick, workdir)


STEPS: dict[int, Callable[[Budget, Path], list[Figure]]] = {  # figure -> its measurement (4, 6 and 7: see `run`)
    1: lambda budget, workdir: windowing(budget),
    2: lambda budget, workdir: throughput(budget),
    8: real_data,
    9: frequencies,
    10: walk_forward,
    11: what_if_truth,
    12: compare_recipes,
    13: interval_coverage,
    14: device_figures,
    15: lambda budget, workdir: panel_speed(budget.quick, workdir),
    16: lambda budget, workdir: panel_epoch(budget.quick, workdir),
    17: lambda budget, workdir: global_vs_local(budget.quick, workdir),
    18: lambda budget, workdir: pruner_comparison(budget.quick, workdir),
    19: combination,
    20: busy_machine,
}
METHODS: dict[int, Any] = {  # figure -> the function or module whose docstring says how it is measured
    1: windowing, 2: throughput, 3: overhead, 4: pruning, 5: workers, 6: compare, 7: noise_floor, 8: real_data,
    9: frequencies, 10: walkforward, 11: response, 12: recipes, 13: intervals, 14: gpu, 15: panel_speed,
    16: panel_epoch, 17: panel_accuracy, 18: pruners, 19: combination_module, 20: busy, 21: service, 22: service}


def run(budget: Budget, only: set[int], peer_python: str | None, workdir: Path) -> list[Figure]:
    """Every figure in `only`, in order; 6 and 7 reuse the study that 4 tunes, and 21 measures 22 too."""
    postgres = postgres_url()
    figures: list[Figure] = []
    for number in sorted((only | ({4} if only & {6, 7} else set()) | ({21} if 22 in only else set())) - {22}):
        started, before = time.perf_counter(), len(figures)
        if number == 3:
            figures += overhead(budget, workdir, postgres)
        elif number == 4:
            found, config, url = pruning(budget, workdir)
            figures += found
        elif number == 5:
            figures += workers(budget, workdir, postgres)
        elif number == 21:
            figures += service.service(budget, workdir, postgres)  # and 22: the overhead is a share of 21's trials
        elif number == 6:
            figures += peers(budget, peer_python, config, url, workdir)
        elif number == 7:
            figures.append(noise_floor(config, url, budget.refit_seeds))
        else:
            figures += STEPS[number](budget, workdir)
        logging.getLogger("benchmarks").warning("figure %d: %.0f s\n%s", number, time.perf_counter() - started,
                                                table(figures[before:]))  # on stderr as it comes, should a later one fail
    return figures


def figure_number(record: dict[str, Any]) -> int:
    return int(record["name"].split(".")[0])


def merged(output: Path, results: dict[str, Any], only: set[int]) -> dict[str, Any]:
    """`results` with the records of `output`'s earlier run (of the same budget) for the figures this
    run left out, so that the file holds every figure's latest measurement, each with its date."""
    if not output.is_file():
        return results
    earlier = json.loads(output.read_text(encoding="utf-8"))
    if earlier.get("quick") != results["quick"]:
        return results
    kept = [record for record in earlier["figures"] if figure_number(record) not in only]
    for record in kept:
        record.setdefault("date", earlier["date"])
    figures = sorted(kept + results["figures"], key=figure_number)  # stable: a figure's lines keep their order
    return {**results, "figures": figures}


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
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = merged(args.output, {
        "date": date,
        "quick": budget.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "figures": [{**asdict(f), "date": date} for f in figures],
    }, only)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(figures))
    print(f"\n{len(figures)} figures in {results['seconds']:.0f} s; written to {args.output}")
    if args.output == DEFAULT_OUTPUT and not budget.quick:
        from markdown import write_benchmarks

        write_benchmarks()
        print("BENCHMARKS.md written from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
