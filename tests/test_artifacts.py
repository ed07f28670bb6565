"""export -> fit -> predict, through the CLI and in-process; model directories that cannot be trusted."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tuner, write_study

from tuner.config.loading import load_config
from tuner.config.names import MEMBERS
from tuner.config.schema import ParamsConfig
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import DataError, ModelDirError


@pytest.mark.parametrize("backend, horizon", [("sqlite", 1), ("sqlite", 3), ("postgresql", 3)])
def test_export_fit_predict_end_to_end(request, tmp_path, study_name, backend, horizon):
    storage = f"sqlite:///{tmp_path / 'studies.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    config = write_study(tmp_path, horizon=horizon, epochs=3)
    common = ["--storage", storage, "--study", study_name]
    assert tuner("tune", str(config), *common, "--n-trials", "3", "--no-progress").returncode == 0

    best = tuner("best", str(config), *common, "--format", "json", "--top", "2")
    assert best.returncode == 0, best.stderr
    report = json.loads(best.stdout)
    assert len(report["best"]) == 2 and {"val_mae", "val_rmse", "val_mape"} <= set(report["best"][0]["metrics"])
    assert set(report["baselines"]) == {"naive", "seasonal_naive", "adjusted_naive", "ets", "boosting"}

    exported = tmp_path / "exports" / "best.toml"
    run = tuner("export", str(config), *common, "-o", str(exported))
    assert run.returncode == 0, run.stderr
    params = load_config(exported).params
    best_epoch = report["best"][0]["best_epoch"]  # refit: epochs to the best one, scaled by the rows, floor 10
    assert params.model and params.epochs == max(math.ceil((best_epoch + 1) * 0.85 / 0.70), min(10, 3))
    assert params.trial_params() == report["best"][0]["params"]

    model_dir = tmp_path / "models" / "best"
    run = tuner("fit", str(exported), "-o", str(model_dir), "--seeds", "2")
    assert run.returncode == 0, run.stderr
    assert "seasonal-naive" in run.stdout and "test MAE" in run.stdout and "exponential smoothing" in run.stdout
    assert "mean of 2 seeds (--seeds)" in run.stdout  # two networks, their mean
    assert sorted(p.name for p in model_dir.iterdir()) == ["boosting.skops", "calibration.json", "config.json",
                                                          "levelled_boosting.skops", "metrics.json", "model.json",
                                                          "weights-2.pt", "weights.pt"]

    forecast_csv = tmp_path / "forecast.csv"
    run = tuner("predict", str(model_dir), str(tmp_path / "sales.csv"), "-o", str(forecast_csv))
    assert run.returncode == 0, run.stderr
    forecast = pd.read_csv(forecast_csv)
    last = pd.read_csv(tmp_path / "sales.csv")["date"].iloc[-1]
    expected = pd.date_range(last, periods=horizon + 1, freq="D")[1:].strftime("%Y-%m-%d").tolist()
    assert forecast["date"].tolist() == expected
    assert np.isfinite(forecast["sales_forecast"]).all()


def test_fit_on_json_export(tmp_path):
    config = write_study(tmp_path, epochs=2)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert tuner("tune", str(config), "--storage", storage, "--n-trials", "2").returncode == 0
    assert tuner("export", str(config), "--storage", storage, "-o", str(tmp_path / "best.json")).returncode == 0
    assert json.loads((tmp_path / "best.json").read_text())["params"]["model"]
    assert tuner("fit", str(tmp_path / "best.json"), "-o", str(tmp_path / "m")).returncode == 0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    config = load_config(write_study(folder, horizon=2))
    params = ParamsConfig(model="lstm_transformer", hidden_size=16, num_layers=1, dropout=0.1, lr=1e-3,
                          num_heads=2, ff_size=32, epochs=2)
    result, test = Forecaster.fit(config, params)
    result.save(folder / "model")
    return config, result, test, folder / "model"


def test_reloaded_model_predicts_exactly_what_the_fitted_one_did(fitted):
    config, result, _, folder = fitted
    reloaded = Forecaster.load(folder)
    expected = result.forecast(config.data.path)
    pd.testing.assert_frame_equal(reloaded.forecast(config.data.path), expected, check_exact=True)
    for name, tensor in result.network.state_dict().items():
        assert torch.equal(reloaded.network.state_dict()[name], tensor)


def test_scaler_of_the_final_fit_covers_train_and_validation(fitted):
    config, result, test, _ = fitted
    end = test.dataset.bounds["validation"][1]
    np.testing.assert_allclose(result.scaling.mean[0], test.dataset.values[:end].mean(axis=0))
    assert set(result.metrics) == {"model", *MEMBERS, "by_step", "intervals"}  # every member alone; horizon 2: per step
    assert all(len(errors["test_mae"]) == 2 for errors in result.metrics["by_step"].values())


def copy_model(folder, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    for path in folder.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_tampered_weights_are_refused(fitted, tmp_path):
    folder = copy_model(fitted[3], tmp_path)
    data = bytearray((folder / "weights.pt").read_bytes())
    data[-100] ^= 0xFF
    (folder / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelDirError, match=r"weights.pt: checksum does not match model.json"):
        Forecaster.load(folder)


def test_missing_file_and_other_format_are_refused(fitted, tmp_path):
    folder = copy_model(fitted[3], tmp_path)
    manifest = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**manifest, "format": 99, "tuner_version": "9.0.0"}))
    with pytest.raises(ModelDirError, match=r"written by tuner 9.0.0 in model format 99"):
        Forecaster.load(folder)
    (folder / "metrics.json").unlink()
    with pytest.raises(ModelDirError, match=r"incomplete model directory, missing metrics.json"):
        Forecaster.load(folder)
    run = tuner("predict", str(tmp_path / "nothing"), str(fitted[0].data.path))
    assert run.returncode == 2 and "model directory not found" in run.stderr


def test_predict_checks_the_files_columns(fitted, tmp_path):
    config, _, _, folder = fitted
    pd.read_csv(config.data.path).drop(columns=["ctr"]).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(DataError, match=r"new.csv: missing column ctr"):
        Forecaster.load(folder).forecast(tmp_path / "new.csv")
