"""Quantile training: ordered quantile heads, the pinball loss, `study.metric = "val_pinball"`,
and a quantile model's intervals in `tuner fit` and `predict`."""

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import write_study

from tuner.cli.parser import main
from tuner.config.loading import load_config
from tuner.config.schema import ModelConfig
from tuner.errors import ConfigError
from tuner.evaluation.metrics import quantile_errors
from tuner.networks.models import build_model, ordered
from tuner.networks.training import PinballLoss

QUANTILES = (0.1, 0.5, 0.9)


def test_quantile_outputs_never_cross_and_keep_the_median_raw():
    raw = torch.randn(64, 7, 5) * 5
    quantiles = ordered(raw, median=2)
    assert (quantiles.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(quantiles[..., 2], raw[..., 2])


@pytest.mark.parametrize("scaling", ["global", "level", "window"])
def test_a_quantile_model_forecasts_its_median_as_the_point(scaling):
    config = ModelConfig(kind="lstm", n_inputs=3, horizon=4, hidden_size=8, scaling=scaling, quantiles=QUANTILES,
                         autoregressive_skip=True, window=10)
    model = build_model(config).eval()
    inputs = torch.randn(5, 10, 3)
    outputs = model.outputs(inputs)
    assert outputs.shape == (5, 4, 3) and (outputs.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(model(inputs), outputs[..., 1])


def test_the_pinball_loss_of_the_median_is_half_the_absolute_error():
    forecast, target = torch.randn(10, 3, 1), torch.randn(10, 3)
    torch.testing.assert_close(PinballLoss((0.5,))(forecast, target), 0.5 * (forecast[..., 0] - target).abs().mean())
    high = PinballLoss((0.9,))(torch.zeros(1, 1, 1), torch.ones(1, 1))  # under-forecast: 0.9 per unit
    assert high.item() == pytest.approx(0.9)


def test_quantile_errors_give_pinball_and_the_coverage_of_each_pair():
    actual = np.array([[0.0], [1.0], [2.0], [3.0]])
    forecast = np.repeat(np.array([[[0.5, 1.5, 2.5]]]), 4, axis=0)
    errors = quantile_errors(actual, forecast, QUANTILES)
    assert errors["val_coverage_10_90"] == 50.0  # 1 and 2 lie inside [0.5, 2.5]
    assert errors["val_pinball"] > 0 and set(errors) == {"val_pinball", "val_coverage_10_90"}


@pytest.mark.parametrize("overrides, message", [
    (["train.quantiles=[0.9, 0.1, 0.5]"], r"train.quantiles = \[0.9, 0.1, 0.5\]: must be increasing, each strictly between 0 and 1"),
    (["train.quantiles=[0.0, 0.5]"], r"train.quantiles = \[0.0, 0.5\]: must be increasing"),
    (["train.quantiles=[0.1, 0.9]"], r"must include 0.5: the median is the point forecast"),
    (["study.metric='val_pinball'", "train.loss='mae'"], r"study.metric = 'val_pinball': needs train.loss = \"quantile\""),
])
def test_bad_quantile_settings_are_refused_naming_the_key(small_study, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(small_study, overrides)


def test_val_pinball_picks_the_quantile_loss_by_itself(small_study):
    config = load_config(small_study, ["study.metric='val_pinball'"])
    assert config.train.loss == "quantile" and config.train.quantiles == QUANTILES


@pytest.fixture(scope="module")
def quantile_study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quantiles")
    config = write_study(folder, horizon=2, epochs=3)
    assert main(["tune", str(config), "--n-trials", "2", "--no-progress", "--set", "study.metric='val_pinball'"]) == 0
    return config


def test_a_pinball_study_stores_pinball_and_coverage_per_trial(quantile_study):
    config = load_config(quantile_study, ["study.metric='val_pinball'"])
    study = optuna.load_study(study_name=config.study.name, storage=f"sqlite:///{quantile_study.parent / 'small.db'}")
    trial = study.best_trial
    assert trial.value == trial.user_attrs["val_pinball"]
    assert 0 <= trial.user_attrs["val_coverage_10_90"] <= 100 and "val_mae" in trial.user_attrs


def test_a_quantile_model_gives_intervals_from_its_quantile_pairs_only(quantile_study, capsys):
    folder = quantile_study.parent
    model = folder / "model"
    assert main(["fit", str(quantile_study), "-o", str(model), "--set", "study.metric='val_pinball'"]) == 0
    assert "the quantiles the model was trained on (0.1, 0.5, 0.9)" in capsys.readouterr().out
    intervals = json.loads((model / "metrics.json").read_text())["intervals"]
    assert intervals["method"] == "quantile" and set(intervals) == {"method", "source", "80"}
    out = folder / "f.csv"
    assert main(["predict", str(model), str(folder / "sales.csv"), "--intervals", "80", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert (table["sales_lo_80"] < table["sales_forecast"]).all() and (table["sales_forecast"] < table["sales_hi_80"]).all()
    capsys.readouterr()
    assert main(["predict", str(model), str(folder / "sales.csv"), "--intervals", "95"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert re.search(r"a 95 % interval needs the quantiles 0.025 and 0.975, but this model forecasts 0.1, 0.5, 0.9", error)
