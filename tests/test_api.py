"""The Python API: the same trials, forecasts and error messages as the CLI on the same data, a
study tuned from a DataFrame that other processes resume and fit from its stored snapshot, library
calls that leave the process as they found it, and an import that loads neither torch nor optuna."""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import SMALL_CONFIG
from conftest import tuner as run_cli

import tuner
from tuner.api.model import scale_of
from tuner.tuning.snapshot import SNAPSHOT_ATTR

REPO = Path(__file__).resolve().parents[1]
PANEL = {"series": ["product"], "static": ["category"],
         "features": ["ad_impressions", "discount_rate", "seasonality_index"],
         "known_future": ["ad_impressions", "discount_rate", "seasonality_index"]}
PANEL_FLAGS = ['--set=data.series=["product"]', '--set=data.static=["category"]',
               '--set=data.features=["ad_impressions", "discount_rate", "seasonality_index"]',
               '--set=data.known_future=["ad_impressions", "discount_rate", "seasonality_index"]']
ONE = {"known_future": ["ad_impressions"]}
ONE_FLAGS = ['--set=data.known_future=["ad_impressions"]']
TRIALS = 2


def small_config(folder: Path) -> Path:
    path = folder / "study.toml"
    path.write_text(SMALL_CONFIG.format(horizon=2, epochs=2))
    return path


def frame_of(kind: str) -> pd.DataFrame:
    return tuner.demo_data(days=200, series=3) if kind == "panel" else tuner.demo_data(days=200)


def plan_of(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` and two days of plans after each series' history (sales and rates left empty)."""
    parts = [frame] if kind == "one" else [part for _, part in frame.groupby("product", sort=False)]
    planned = []
    for part in parts:
        plan = part.tail(2).copy()
        plan["date"] = pd.to_datetime(plan["date"]) + pd.Timedelta(days=2)
        plan[["sales", "ctr", "cvr", "expected_sales"]] = np.nan
        planned += [part, plan.assign(date=plan["date"].dt.strftime("%Y-%m-%d"))]
    return pd.concat(planned, ignore_index=True)


def trial_record(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state, t.params, t.value) for t in study.trials]


@pytest.fixture(scope="module", params=["one", "panel"])
def tuned(request, tmp_path_factory) -> dict:
    """The same study tuned twice on the same rows and seed: by `tuner tune` on a CSV, and by
    `tuner.tune` on the DataFrame."""
    kind, folder = request.param, tmp_path_factory.mktemp(f"api-{request.param}")
    config, frame = small_config(folder), frame_of(request.param)
    frame.to_csv(folder / "sales.csv", index=False)
    flags = PANEL_FLAGS if kind == "panel" else ONE_FLAGS
    cli = run_cli("tune", str(config), "--storage", f"sqlite:///{folder / 'cli.db'}", "--n-trials", str(TRIALS),
                  "--no-progress", *flags)
    assert cli.returncode == 0, cli.stderr
    study = tuner.tune(frame, config, storage=f"sqlite:///{folder / 'api.db'}", n_trials=TRIALS, progress=False,
                       data=PANEL if kind == "panel" else ONE)
    return {"kind": kind, "folder": folder, "config": config, "frame": frame, "study": study, "flags": flags}


def test_the_apis_trials_equal_the_clis_on_the_same_data_and_seed(tuned):
    folder = tuned["folder"]
    cli = optuna.load_study(study_name="small", storage=f"sqlite:///{folder / 'cli.db'}")
    assert len(cli.trials) == TRIALS
    assert trial_record(tuned["study"].study) == trial_record(cli)
    study = tuned["study"]
    assert study.best_value == cli.best_value and study.best_params == cli.best_params
    assert set(study.baselines.index) >= {"naive", "seasonal_naive"} and "val_mae" in study.baselines.columns
    assert len(study.trials) == TRIALS and "params_model" in study.trials.columns


def test_predict_and_whatif_equal_the_clis_on_the_same_model_and_file(tuned, tmp_path):
    model = tuned["study"].fit(seeds=1)
    assert model.metrics.loc["model", "weight"] == 1 and set(model.weights) <= set(model.metrics.index)
    test = model.test
    assert {"date", "step", "actual", "model", "naive"} <= set(test.columns)
    assert len(test) == len(model.test_forecast.forecast.ravel())
    saved = model.save(tmp_path / "model")
    planned = plan_of(tuned["kind"], tuned["frame"])
    planned.to_csv(tmp_path / "plan.csv", index=False)
    cli = run_cli("predict", str(saved), str(tmp_path / "plan.csv"), "--intervals", "80,95",
                  "-o", str(tmp_path / "forecast.csv"))
    assert cli.returncode == 0, cli.stderr
    expected = pd.read_csv(tmp_path / "forecast.csv", dtype={"product": str})
    for forecaster in (model, tuner.load(saved)):
        forecast = forecaster.predict(planned, intervals=[80, 95])
        pd.testing.assert_frame_equal(forecast, expected, check_exact=False, rtol=1e-12)
    cli = run_cli("whatif", str(saved), str(tmp_path / "plan.csv"), "--scale", "ad_impressions=0.5,1,2",
                  "--cost-per-impression", "0.01", "-o", str(tmp_path / "whatif.csv"))
    assert cli.returncode == 0, cli.stderr
    scenarios = model.whatif(planned, scale={"ad_impressions": [0.5, 1, 2]}, cost_per_impression=0.01)
    pd.testing.assert_frame_equal(scenarios, pd.read_csv(tmp_path / "whatif.csv"), check_exact=False, rtol=1e-12)


def test_export_and_fit_from_the_exported_config(tuned, tmp_path):
    exported = tuned["study"].export(tmp_path / "best.toml")
    model = tuner.fit(exported, seeds=1, intervals=False)
    assert model.trials[0].model == tuned["study"].best_params["model"]
    assert np.isfinite(model.metrics.loc["model", "test_mae"])


@pytest.mark.parametrize("spoil, message", [
    (lambda frame: frame.drop(columns=["ctr"]), "missing column ctr"),
    (lambda frame: pd.concat([frame.iloc[:5], frame.iloc[4:]], ignore_index=True), "duplicate dates at row 7"),
    (lambda frame: frame.astype({"ad_impressions": object}).assign(
        ad_impressions=lambda f: f["ad_impressions"].where(f.index != 3, "lots")), "non-numeric values at row 5"),
])
def test_a_bad_frame_raises_the_message_the_cli_prints_for_the_same_csv(tmp_path, spoil, message):
    config, bad = small_config(tmp_path), spoil(frame_of("one"))
    bad.to_csv(tmp_path / "bad.csv", index=False)
    cli = run_cli("tune", str(config), "--set", "data.path='bad.csv'", "--storage", f"sqlite:///{tmp_path / 'c.db'}")
    assert cli.returncode == 2 and message in cli.stderr
    with pytest.raises(tuner.DataError) as raised:
        tuner.tune(bad, config, storage=f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    assert cli.stderr.strip() == f"tuner: error: {raised.value}".replace("DataFrame", str(tmp_path / "bad.csv"))
    assert str(raised.value).startswith("DataFrame: ")
    assert not (tmp_path / "a.db").exists() and not list((tmp_path / "small-data").glob("*.csv"))  # nothing stored


def test_config_errors_raise_and_never_exit(tmp_path):
    frame = frame_of("one")
    with pytest.raises(tuner.ConfigError, match=r"unknown key 'epoch'; did you mean 'epochs'\?"):
        tuner.tune(frame, train={"epoch": 3})
    with pytest.raises(tuner.ConfigError, match="train=3: expected a dict"):
        tuner.tune(frame, train=3)
    with pytest.raises(tuner.DataError, match="df: expected a pandas DataFrame or a path to a CSV file, got list"):
        tuner.tune([1, 2])
    with pytest.raises(tuner.TunerError, match="scale="):
        scale_of({"ad_impressions": [-1]})
    with pytest.raises(tuner.StorageError, match="no study 'absent'"):
        tuner.load_study(study_name="absent", storage=f"sqlite:///{tmp_path / 'none.db'}")


def process_state() -> dict:
    """What a library call must leave as it was."""
    root, mine = logging.getLogger(), logging.getLogger("tuner")
    return {"torch threads": torch.get_num_threads(), "torch rng": torch.get_rng_state().tolist(),
            "numpy rng": str(np.random.get_state()), "random": random.getstate(),
            "handlers": (list(root.handlers), root.level, list(mine.handlers), mine.level,
                         logging.getLogger("optuna").level),
            "signals": (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook),
            "threadpools": [pool["num_threads"] for pool in __import__("threadpoolctl").threadpool_info()],
            "environment": {name: __import__("os").environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}


def test_library_calls_leave_the_process_as_they_found_it(tmp_path):
    import sklearn.ensemble  # noqa: F401 - its OpenMP pool, loaded before the state is taken
    torch.set_num_threads(2)  # not the 1 of train.threads = 1
    np.random.seed(5)
    random.seed(5)
    before = process_state()
    frame = frame_of("one")
    study = tuner.tune(frame, small_config(tmp_path), storage=f"sqlite:///{tmp_path / 's.db'}", n_trials=1,
                       progress=False)
    model = study.fit(seeds=1)
    model.predict(plan_of("one", frame), intervals=[80])
    study.report(tmp_path / "report.html", model=model)
    assert process_state() == before


def test_a_study_tuned_from_a_frame_resumes_and_fits_in_other_processes_from_its_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    frame = frame_of("one")
    study = tuner.tune(frame, small_config(tmp_path), storage=url, n_trials=1, progress=False)
    snapshot = study.study.user_attrs[SNAPSHOT_ATTR]
    local = study.config.data.path
    assert local.read_bytes() == frame.to_csv(index=False).encode() and snapshot["bytes"] == local.stat().st_size
    local.unlink()  # another machine: only the database and the artifact store are shared
    code = ("import tuner; s = tuner.load_study(study_name='small', storage=%r); s.tune(n_trials=2, workers=2, "
            "progress=False); m = s.fit(seeds=1, intervals=False); print(len(s.study.trials), m.weights)" % url)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert other.stdout.split()[0] == "3" and local.is_file()  # fetched again, checked against its SHA-256
    with pytest.raises(tuner.StorageError, match="tuned on other data"):
        tuner.tune(frame.iloc[:-1], small_config(tmp_path), storage=url, n_trials=1, progress=False)
    local.unlink()
    artifact = next((tmp_path / "small-artifacts").rglob(snapshot["artifact_id"]))
    artifact.write_bytes(artifact.read_bytes().replace(b"2023-01-0", b"2023-01-1", 1))
    with pytest.raises(tuner.StorageError, match="does not match the SHA-256 stored with the study"):
        tuner.load_study(study_name="small", storage=url)


def test_importing_tuner_loads_neither_torch_nor_optuna():
    code = ("import sys, tuner; first = {'torch' in sys.modules, 'optuna' in sys.modules}; tuner.load; "
            "print(first, 'torch' in sys.modules, 'optuna' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["{False}", "True", "False"], run.stderr  # a model loads torch, never optuna


def test_the_api_reference_is_generated_from_the_docstrings():
    from tuner.api.reference import render

    reference = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert reference == render(), "regenerate it: python -m tuner.api.reference > docs/api.md"
    assert all(f"`tuner.{name}" in reference for name in tuner.__all__)
