"""BENCHMARKS.md, written from `benchmarks/results.json`: the machine, one table of every figure's
latest measurement (what it measures, value, target, met, its date and the command that reruns
it), a few lines per figure on how it is measured, from its function's or module's docstring, and
where the real series come from (`benchmarks/sources.md`).

    python benchmarks/markdown.py     # after `python benchmarks/run.py [--only N,...]`

`tests/test_benchmarks.py` fails while BENCHMARKS.md and results.json differ."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
SOURCES = ROOT / "benchmarks" / "sources.md"  # where the real series come from: packages, versions, licences
BENCHMARKS = ROOT / "BENCHMARKS.md"
MAX_METHOD_LINES = 10

INTRO = """# Benchmarks

Generated from `benchmarks/results.json` by `python benchmarks/markdown.py`; do not edit by hand.
`python benchmarks/run.py` runs every figure (`--only 1,3` some of them, `--quick` the CI smoke
run) and writes each figure's latest records, with their date, into that file.

- **Speed** figures are ratios of two things measured in the same run, interleaved in a rotating
  order after one untimed warm-up round, over several repeats; the value is the median.
- **Accuracy** figures are scored on the test part after `tuner fit`; tuning and the choice of the
  forecaster see only the train and validation parts.
- A target not met reads **no**. The evidence behind each default is in
  [docs/decisions/](docs/decisions/)."""


def number(record: dict[str, Any]) -> int:
    return int(record["name"].split(".")[0])


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def value_text(record: dict[str, Any]) -> str:
    if record["value"] is None:
        return "—"
    spread = "" if record["repeats"] < 2 else f" ({record['min']:.3g}–{record['max']:.3g})"
    return f"{record['value']:.3g} {record['unit']}{spread}".strip()


def method(figure: int) -> str:
    """How figure `figure` is measured: its function's docstring, at most MAX_METHOD_LINES lines."""
    from run import METHODS  # imports the benchmarks, and tuner with them

    text = inspect.cleandoc(METHODS[figure].__doc__ or "").split("\n\n")[0]  # its first paragraph
    text = " ".join(text.splitlines()[:MAX_METHOD_LINES]).removeprefix(f"Figure {figure}: ")
    return text[:1].upper() + text[1:]


def render(results: dict[str, Any]) -> str:
    """The whole of BENCHMARKS.md for `results` (results.json's contents)."""
    machine = results["machine"]
    lines = [INTRO, "", f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['gpu']}; Python "
             f"{machine['python']}, torch {machine['torch']}, optuna {machine['optuna']}.", "",
             "| figure | what it measures | value | target | met | date | rerun |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for record in results["figures"]:
        met = {True: "yes", False: "**no**", None: "—"}[record["met"]]
        what = record["compared_with"] + (f"; {record['note']}" if record["note"] else "")
        lines.append(f"| {cell(record['name'])} | {cell(what)} | {cell(value_text(record))} | "
                     f"{cell(record['target'] or '—')} | {met} | {record.get('date', results['date'])[:10]} | "
                     f"`python benchmarks/run.py --only {number(record)}` |")
    lines += ["", "## How each figure is measured", ""]
    for figure in sorted({number(record) for record in results["figures"]}):
        lines += [f"**Figure {figure}.** {method(figure)}", ""]
    lines.append(SOURCES.read_text(encoding="utf-8").strip())
    return "\n".join(lines).rstrip() + "\n"


def write_benchmarks() -> None:
    BENCHMARKS.write_text(render(json.loads(RESULTS.read_text(encoding="utf-8"))), encoding="utf-8")


if __name__ == "__main__":
    write_benchmarks()
