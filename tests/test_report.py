"""`tuner report` (HTML with Optuna's plots) and the forecast PNGs of `tuner fit` and `tuner predict`."""

import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import tuner, write_study
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from tuner.config.loading import load_config
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import DataError
from tuner.tuning.report import html_report
from tuner.tuning.runner import tune
from tuner.tuning.storage import mask_password
from tuner.tuning.study import best_params

SECTIONS = ("summary", "best", "history", "importances", "curves", "parallel", "models")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tune_small_study(folder: Path) -> tuple[Path, Path]:
    """4 short trials, the first two one of each model type, and a model fitted from the best;
    returns the config and the model directory."""
    config_path = write_study(folder, epochs=3)
    config, url = load_config(config_path), f"sqlite:///{folder / 'small.db'}"
    study = optuna.create_study(study_name="small", storage=url)
    study.enqueue_trial({"model": "lstm"})
    study.enqueue_trial({"model": "lstm_transformer"})  # both complete: study.startup_trials = 2
    tune(config, url, progress=False)
    Forecaster.fit(config, best_params(study))[0].save(folder / "model")
    return config_path, folder / "model"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, Path]:
    return tune_small_study(tmp_path_factory.mktemp("tuned"))


def test_report_has_every_section_with_plotly_inlined_once(tuned, tmp_path):
    config, model = tuned
    run = tuner("report", str(config), "-o", str(tmp_path / "out" / "report.html"), "--model", str(model))
    assert run.returncode == 0, run.stderr
    assert "Wrote" in run.stdout and "4 trials" in run.stdout
    page = (tmp_path / "out" / "report.html").read_text()
    for anchor in (*SECTIONS, "forecast"):
        assert f'<section id="{anchor}">' in page
    assert page.count("* plotly.js v") == 1
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # nothing fetched: opens offline
    assert page.count("Plotly.newPlot") == 6  # history, importances, curves, parallel, model types, forecast
    assert 'class="empty"' not in page
    assert "LSTM+Transformer" in page and "seasonal-naive" in page and "test part" in page
    assert re.search(r"<th>test coverage</th>.*<td>80 %</td><td>\d+\.\d %</td>.*<td>95 %</td>", page, re.S)


def test_report_does_not_import_torch_without_a_model(tuned, tmp_path):
    config, _ = tuned
    code = ("import sys; from tuner.cli.parser import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code, "report", str(config), "-o", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert '<section id="forecast">' not in (tmp_path / "r.html").read_text()


def test_report_compares_the_model_types(tuned):
    config, _ = tuned
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{config.parent / 'small.db'}")
    page = html_report(study, "sqlite:///small.db")
    models = page[page.index('<section id="models">'):]
    for name, trials in (("LSTM", "lstm"), ("LSTM+Transformer", "lstm_transformer")):
        count = sum(t.params["model"] == trials and t.state == TrialState.COMPLETE for t in study.trials)
        assert re.search(rf"<td>{re.escape(name)}</td><td>{count}</td>", models)


def test_report_masks_the_storage_password():
    study = optuna.create_study()
    page = html_report(study, mask_password("postgresql+psycopg2://tuner:s3cret@db-host/tuner"))
    assert "s3cret" not in page and "tuner:***@db-host" in page


def finished_trial(number: int, model: str, mae: float) -> optuna.trial.FrozenTrial:
    return create_trial(params={"model": model, "dropout": 0.1 * number},
                        distributions={"model": CategoricalDistribution(["lstm", "lstm_transformer"]),
                                       "dropout": FloatDistribution(0.0, 0.3)},
                        value=mae, user_attrs={"val_mae": mae, "val_rmse": mae * 1.3, "best_epoch": 1},
                        intermediate_values={0: mae * 1.5, 1: mae})


@pytest.mark.parametrize("trials, notes", [
    (0, ["No completed trial yet.", "Needs a completed trial.", "Needs two completed trials",
         "No trial has reported an epoch yet.", "Needs a completed trial."]),
    (1, ["Needs two completed trials"]),
    (2, []),
])
def test_report_of_a_young_study_says_what_is_missing(trials, notes):
    study = optuna.create_study()
    for number in range(trials):
        study.add_trial(finished_trial(number, ("lstm", "lstm_transformer")[number], 100.0 + number))
    page = html_report(study, "sqlite:///young.db")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    found = re.findall(r'class="empty">([^<]*)', page)
    assert len(found) == len(notes) and all(text.startswith(note) for text, note in zip(found, notes)), found


def test_fit_logs_epochs_and_fit_and_predict_write_pngs(tuned, tmp_path):
    config, model = tuned
    run = tuner("fit", str(config), "-o", str(tmp_path / "model"), "--plot", str(tmp_path / "fit.png"), "-v")
    assert run.returncode == 0, run.stderr
    assert re.search(r"fit epoch 1/\d+: train loss", run.stderr)
    assert (tmp_path / "fit.png").read_bytes().startswith(PNG_MAGIC)
    run = tuner("predict", str(model), str(config.parent / "sales.csv"), "--plot", str(tmp_path / "p" / "pred.png"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("date,sales_forecast")
    assert (tmp_path / "p" / "pred.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "p" / "pred.png").stat().st_size > 10_000  # lines drawn, not an empty frame


def test_report_refuses_a_model_whose_data_changed(tuned):
    config, model = tuned
    data = config.parent / "sales.csv"
    original = data.read_text()
    loaded = Forecaster.load(model)
    try:
        data.write_text(original.replace(",1", ",2"))
        with pytest.raises(DataError, match=r"sales.csv: the data changed since the model was fitted on it; "
                                            r"fit the model again$"):
            loaded.test_forecast()
    finally:
        data.write_text(original)


def test_plot_must_be_a_png_file():
    run = tuner("predict", "models/x", "sales.csv", "--plot", "forecast.svg")
    assert run.returncode == 2
    assert "argument --plot: must be a .png file, got 'forecast.svg'" in run.stderr
