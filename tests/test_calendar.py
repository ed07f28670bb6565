"""Calendar features: cyclic encodings of the date and public holidays per day, week or month."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_study

from tuner.config.loading import load_config
from tuner.config.schema import DataConfig
from tuner.data.calendar import calendar_frame
from tuner.data.reading import load_frame
from tuner.errors import ConfigError


def data(frequency: str = "D", **keys) -> DataConfig:
    return DataConfig(path=Path("x.csv"), frequency=frequency, **keys)


def test_cyclic_features_put_neighbours_of_the_cycle_close_together():
    dates = pd.date_range("2024-12-29", periods=9, freq="D")  # Sunday .. Monday a week later
    frame = calendar_frame(dates, data(calendar=("day_of_week", "month"), calendar_harmonics=1))
    assert list(frame.columns) == ["day_of_week_sin", "day_of_week_cos", "month_sin", "month_cos"]
    monday = 2 * np.pi * 0 / 7
    np.testing.assert_allclose(frame.loc["2024-12-30", ["day_of_week_sin", "day_of_week_cos"]],
                               [np.sin(monday), np.cos(monday)], atol=1e-12)
    week = ["day_of_week_sin", "day_of_week_cos"]
    np.testing.assert_allclose(frame.loc["2024-12-30", week], frame.loc["2025-01-06", week], atol=1e-12)
    december, january = frame.loc["2024-12-31", "month_cos"], frame.loc["2025-01-01", "month_cos"]
    assert december == pytest.approx(january, abs=0.14)  # one month apart on the circle, not eleven


@pytest.mark.parametrize("frequency, dates, counts", [
    ("D", ["2024-07-03", "2024-07-04", "2024-12-25"], [0, 1, 1]),
    ("W", ["2024-07-07", "2024-07-14", "2024-12-01"], [1, 0, 1]),  # weeks ending Sunday; Thanksgiving: Nov 28
    ("M", ["2024-11-30", "2024-12-31", "2024-08-31"], [2, 1, 0]),  # Veterans Day + Thanksgiving; Christmas
])
def test_holidays_are_counted_per_period(frequency, dates, counts):
    frame = calendar_frame(pd.DatetimeIndex(dates), data(frequency, holidays="US"))
    assert frame["holiday"].tolist() == counts


def test_calendar_columns_join_the_history_as_known_inputs(tmp_path):
    config = load_config(write_study(tmp_path, days=120, extra=""), ["data.calendar=['day_of_week']",
                                                                     "data.holidays='US'",
                                                                     "data.calendar_harmonics=1"])
    frame = load_frame(config.data)
    assert config.data.columns[-4:] == ["day_of_week_sin", "day_of_week_cos", "holiday", "sales"]
    assert set(config.data.calendar_columns) <= set(frame.columns)
    assert config.data.known_inputs == ["day_of_week_sin", "day_of_week_cos", "holiday"]
    assert frame.loc["2023-01-02", "holiday"] == 1  # New Year's Day observed


def test_harmonics_add_higher_waves_up_to_a_complete_set_per_cycle():
    dates = pd.date_range("2024-01-01", periods=24, freq="MS") + pd.offsets.MonthEnd(0)
    two = calendar_frame(dates, data("M", calendar=("month",), calendar_harmonics=2))
    assert list(two.columns) == ["month_sin", "month_cos", "month_sin2", "month_cos2"]
    angle = 2 * np.pi * (dates.month - 1) / 12
    np.testing.assert_allclose(two["month_sin2"], np.sin(2 * angle), atol=1e-12)
    np.testing.assert_allclose(two["month_cos2"], np.cos(2 * angle), atol=1e-12)

    complete = calendar_frame(dates, data("M", calendar=("month",), calendar_harmonics=50))
    assert len(complete.columns) == 11 and "month_sin6" not in complete  # sin(pi * month) is 0 every month
    one_year = np.column_stack([np.ones(12), complete.to_numpy()[:12]])
    assert np.linalg.matrix_rank(one_year) == 12  # any value per month is a linear function of the columns
    np.testing.assert_allclose(complete.to_numpy()[:12], complete.to_numpy()[12:], atol=1e-12)
    week = calendar_frame(pd.date_range("2024-01-01", periods=7), data(calendar=("day_of_week",), calendar_harmonics=3))
    assert np.linalg.matrix_rank(np.column_stack([np.ones(7), week.to_numpy()])) == 7
    assert data(calendar=("day_of_week",), calendar_harmonics=9).calendar_columns == list(week.columns)


def test_harmonics_below_one_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"data.calendar_harmonics = 0: must be greater than 0"):
        load_config(write_study(tmp_path, days=60), ["data.calendar=['month']", "data.calendar_harmonics=0"])
