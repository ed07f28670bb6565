"""The baselines beside every result: naive on the seasonally adjusted series, gradient boosting
on lags and the same inputs, and the warning when a model is not better than the best baseline."""

import numpy as np
import pandas as pd
import pytest
from conftest import write_study

from tuner.cli.tables import not_better_warning
from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.data.seasonal import centred_average
from tuner.evaluation.baselines import baseline_forecasts
from tuner.members.boosting import Boosting, boosting_inputs, window_level


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


def test_levelled_rows_hold_the_history_relative_to_the_windows_mean_and_the_mean(dataset):
    windows = dataset.windows("validation")
    level = window_level(windows.inputs)
    rows = boosting_inputs(windows.inputs, windows.future, step=0, level=level)
    window = dataset.config.window
    np.testing.assert_allclose(rows[:, :window] + level[:, None], windows.inputs[:, :, -1], atol=1e-6)
    np.testing.assert_allclose(rows[:, :window].mean(axis=1), 0, atol=1e-6)
    np.testing.assert_array_equal(rows[:, -1], level)


def test_boosting_carries_a_trend_past_the_values_it_was_fitted_on(tmp_path):
    months = pd.date_range("2000-01-31", periods=180, freq="ME")
    sales = 100 + 2.0 * np.arange(180) + 10 * SEASON[months.month - 1]  # the test part lies above every fitted value
    pd.DataFrame({"date": months, "sales": sales}).to_csv(tmp_path / "trend.csv", index=False)
    (tmp_path / "trend.toml").write_text('[data]\npath = "trend.csv"\nfrequency = "M"\nwindow = 12\n')
    config = load_config(tmp_path / "trend.toml")
    dataset = Dataset.from_config(config.data, config.split, scale_on="train+validation")
    actual, fitted = dataset.actuals("test"), dataset.windows("train+validation")
    assert actual.min() > dataset.actuals("train+validation").max()
    errors = {}
    for levelled in (True, False):
        boosting = Boosting.fit(fitted, levelled)
        errors[levelled] = np.abs(dataset.to_units(boosting.predict_windows(dataset.windows("test")), "test") - actual).mean()
    assert errors[True] < 0.1 * errors[False]  # plain trees stop at the highest value they saw
    assert errors[True] < 5.0  # against a season of ±5 and a rise of 2 a month


def test_every_baseline_forecasts_every_step_in_the_targets_units(dataset):
    forecasts = baseline_forecasts(dataset, "validation", fit_part="train")
    assert set(forecasts) == {"naive", "seasonal_naive", "adjusted_naive", "ets", "boosting"}
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


SEASON = np.array([0.8, 0.9, 1.0, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.7, 1.0, 1.3])  # a month's share of a level


@pytest.mark.parametrize("multiplicative", [True, False])
def test_the_adjusted_naive_carries_a_new_level_in_the_seasons_shape(tmp_path, multiplicative):
    months = pd.date_range("2010-01-31", periods=120, freq="ME")
    level = np.where(np.arange(120) < 102, 100.0, 150.0)  # shifts at the test part's first row
    season = SEASON[months.month - 1]
    # additive: a season of effects added to the level, one month at zero (no ratio can be taken)
    sales = level * season if multiplicative else level + 100 * (season - 1.7)
    pd.DataFrame({"date": months, "sales": sales}).to_csv(tmp_path / "monthly.csv", index=False)
    (tmp_path / "monthly.toml").write_text('[data]\npath = "monthly.csv"\nfrequency = "M"\nwindow = 12\n')
    config = load_config(tmp_path / "monthly.toml")
    dataset = Dataset.from_config(config.data, config.split, scale_on="train+validation")
    actual = dataset.actuals("test")
    forecasts = baseline_forecasts(dataset, "test", fit_part="train+validation")
    errors = {name: np.abs(values - actual)[:, 0] for name, values in forecasts.items()}
    after_shift = dataset.windows("test").target_rows > 102
    np.testing.assert_allclose(errors["adjusted_naive"][after_shift], 0, atol=1e-9)  # the new level, the old shape
    assert errors["adjusted_naive"].mean() < 0.2 * errors["seasonal_naive"].mean()
    assert errors["adjusted_naive"].mean() < 0.2 * errors["naive"].mean()


def test_the_centred_average_spans_one_season_and_is_missing_where_it_does_not_fit():
    values = np.arange(20.0) ** 2
    even = centred_average(values, 4)  # (0.5, 1, 1, 1, 0.5) / 4
    assert np.isnan(even[:2]).all() and np.isnan(even[-2:]).all()
    assert even[2] == pytest.approx((0.5 * 0 + 1 + 4 + 9 + 0.5 * 16) / 4)
    odd = centred_average(values, 3)
    assert odd[1] == pytest.approx((0 + 1 + 4) / 3) and np.isnan(odd[[0, -1]]).all()
    assert np.isnan(centred_average(values[:4], 4)).all()


def test_the_seasonal_transform_takes_out_the_seasons_own_shape(tmp_path):
    months = pd.date_range("2010-01-31", periods=120, freq="ME")
    pd.DataFrame({"date": months, "sales": 100 * SEASON[months.month - 1]}).to_csv(tmp_path / "monthly.csv", index=False)
    (tmp_path / "monthly.toml").write_text('[data]\npath = "monthly.csv"\nfrequency = "M"\nwindow = 12\n'
                                          'transform = "seasonal"\n')
    config = load_config(tmp_path / "monthly.toml")
    seasonal = Dataset.from_config(config.data, config.split).scaling.seasonal
    assert seasonal.multiplicative.tolist() == [True]
    np.testing.assert_allclose(seasonal.indices[0], SEASON / SEASON.mean())  # January first: periods since 1970-01
