"""The baselines beside every result: gradient boosting on lags and the same inputs, and the
warning when a model is not better than the best baseline."""

import numpy as np
import pytest

from tuner.baselines import baseline_forecasts
from tuner.boosting import boosting_inputs
from tuner.config import load_config
from tuner.data import Dataset
from tuner.tables import not_better_warning

from conftest import write_study


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = load_config(write_study(tmp_path_factory.mktemp("baselines"), horizon=3),
                         ["data.known_future=['discount_rate']"])
    return Dataset.from_config(config.data, config.split)


def test_boosting_sees_the_target_history_the_last_inputs_and_the_plan_of_its_step(dataset):
    windows = dataset.windows("validation")
    rows = boosting_inputs(windows.inputs, windows.future, step=2)
    window, columns = dataset.config.window, len(dataset.config.columns)
    assert rows.shape == (len(windows), window + columns - 1 + 1)
    np.testing.assert_array_equal(rows[:, :window], windows.inputs[:, :, -1])
    np.testing.assert_array_equal(rows[:, -1], windows.future[:, 2, 0])


def test_every_baseline_forecasts_every_step_in_the_targets_units(dataset):
    forecasts = baseline_forecasts(dataset, "validation", fit_part="train")
    assert set(forecasts) == {"naive", "seasonal_naive", "boosting"}
    actual = dataset.actuals("validation")
    for values in forecasts.values():
        assert values.shape == actual.shape
    boosting_mae = np.abs(forecasts["boosting"] - actual).mean()
    assert boosting_mae < np.abs(forecasts["seasonal_naive"] - actual).mean()  # the demo's drivers matter
    assert boosting_mae < 0.5 * actual.mean()


def test_the_warning_names_the_best_baseline_and_by_how_much():
    baselines = {"naive": {"val_mae": 100.0}, "seasonal_naive": {"val_mae": 80.0}, "boosting": {"val_mae": 90.0}}
    assert not_better_warning("the best trial (#3)", 79.0, baselines, "val_mae") is None
    message = not_better_warning("the best trial (#3)", 88.0, baselines, "val_mae")
    assert message == ("warning: the best trial (#3) is not better than seasonal-naive on val_mae: 88 vs 80 "
                       "(10.0 % worse); the baseline may serve you better")
    assert "\n" not in message
