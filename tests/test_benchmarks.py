"""Smoke test of `python benchmarks/run.py --quick`: it runs and writes results of the documented shape.

Only the structure is checked: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIELDS = {"name", "value", "unit", "compared_with", "repeats", "min", "median", "max", "target", "met", "note", "details",
          "date"}


SHARES = ("1,2,3,4,6,7,8,10,12,13,14,16,17,20,21,22", "5,9,11,15,18,19")  # two runs side by side


@pytest.mark.benchmark  # about 4 minutes of both cores: run apart from the suite (`python -m pytest -m benchmark`)
def test_quick_run_writes_one_record_per_figure(tmp_path: Path) -> None:
    outputs = [tmp_path / f"results-{index}.json" for index in range(len(SHARES))]
    runs = [subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--only", share,
                              "--output", str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path) for share, output in zip(SHARES, outputs)]
    done = [(run, *run.communicate(timeout=900)) for run in runs]
    for run, _, stderr in done:
        assert run.returncode == 0, stderr[-3000:]
    assert all("| figure |" in stdout for _, stdout, _ in done)
    figures = []
    for output in outputs:
        results = json.loads(output.read_text(encoding="utf-8"))
        assert results["quick"] is True
        assert {"cores", "cpu", "torch", "optuna"} <= set(results["machine"])
        figures += results["figures"]
    numbers = {record["name"].split(".")[0] for record in figures}
    assert numbers == {str(n) for n in range(1, 23)}
    for record in figures:
        assert set(record) == FIELDS, record["name"]
        if record["value"] is None:  # not measurable here, or a peer's best never reached
            assert record["note"].startswith("skipped: ") or record["met"] is False, record["name"]
            continue
        assert record["repeats"] >= 1
        assert record["min"] <= record["median"] == record["value"] <= record["max"], record["name"]
        assert (record["met"] is None) == (record["target"] is None), record["name"]


def test_benchmarks_md_is_generated_from_results_json():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from markdown import BENCHMARKS, RESULTS, render

    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert BENCHMARKS.read_text(encoding="utf-8") == render(results), "regenerate it: python benchmarks/markdown.py"
    assert "| 3. bookkeeping share of wall time, sqlite |" in render(results)  # a figure per record, missed ones too
    assert "| **no** |" in render(results)


def test_a_run_of_some_figures_keeps_the_other_figures_latest_records(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from run import merged

    output = tmp_path / "results.json"
    earlier = {"date": "2026-11-30T00:00:00+00:00", "quick": False,
               "figures": [{"name": "1. a"}, {"name": "2. b"}, {"name": "12. c"}]}
    output.write_text(json.dumps(earlier))
    now = {"date": "2026-12-07T00:00:00+00:00", "quick": False, "figures": [{"name": "2. b again", "date": "2026-12-07"}]}
    figures = merged(output, now, {2})["figures"]
    assert [f["name"] for f in figures] == ["1. a", "2. b again", "12. c"]
    assert figures[0]["date"] == earlier["date"] and figures[1]["date"] == "2026-12-07"
    assert merged(output, {**now, "quick": True}, {2})["figures"] == now["figures"]  # a quick run never mixes in
