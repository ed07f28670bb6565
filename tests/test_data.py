import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import write_study

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.data.scaling import Scaling
from tuner.errors import DataError


@pytest.fixture
def config(tmp_path):
    return load_config(write_study(tmp_path, days=200, horizon=3))


def naive_windows(values: np.ndarray, window: int, horizon: int, start: int, end: int):
    """The reference loop: inputs are the `window` rows before t, targets the `horizon` rows from t."""
    inputs, targets = [], []
    for t in range(max(start, window), end - horizon + 1):
        inputs.append(values[t - window : t])
        targets.append(values[t : t + horizon, -1])
    return np.array(inputs), np.array(targets)


def test_windows_equal_a_naive_loop_in_every_part(config):
    dataset = Dataset.from_config(config.data, config.split)
    for part in ("train", "validation", "test"):
        start, end = dataset.bounds[part]
        expected_x, expected_y = naive_windows(dataset.scaled, 14, 3, start, end)
        windows = dataset.windows(part)
        np.testing.assert_array_equal(windows.inputs, expected_x)
        np.testing.assert_array_equal(windows.targets, expected_y)


def test_windows_are_cached_views_not_copies(config):
    dataset = Dataset.from_config(config.data, config.split)
    windows = dataset.windows("train")
    assert dataset.windows("train") is windows
    assert np.shares_memory(windows.inputs, dataset.scaled)


def test_validation_and_test_lose_no_target_row(config):
    dataset = Dataset.from_config(config.data, config.split)
    for part in ("validation", "test"):
        start, end = dataset.bounds[part]
        rows = dataset.windows(part).target_rows
        assert rows[0] == start and rows[-1] == end - 3  # every start row of a full horizon


def test_scaler_sees_only_training_rows(config):
    frame = load_frame(config.data)
    dataset = Dataset(frame, config.data, config.split)
    train_end = dataset.bounds["train"][1]
    changed = frame.copy()
    changed.iloc[train_end:] *= 1000  # wildly different validation and test rows
    other = Dataset(changed, config.data, config.split)
    np.testing.assert_array_equal(dataset.scaling.mean, other.scaling.mean)
    np.testing.assert_array_equal(dataset.scaling.scale, other.scaling.scale)
    np.testing.assert_array_equal(dataset.windows("train").inputs, other.windows("train").inputs)
    np.testing.assert_allclose(dataset.scaling.mean[0], frame.iloc[:train_end][config.data.columns].mean())


@pytest.mark.parametrize("transform", ["seasonal", "log+seasonal"])
def test_the_seasonal_transform_maps_forecasts_back_to_units_one_series_or_a_panel(config, transform):
    frame = load_frame(config.data)
    adjusted = Dataset(frame, replace(config.data, transform=transform), config.split)
    plain = Dataset(frame, replace(config.data, transform={"seasonal": "none", "log+seasonal": "log"}[transform]),
                    config.split)
    assert adjusted.scaling.seasonal is not None and adjusted.scaling.seasonal.indices.shape == (1, 7)
    assert not np.allclose(adjusted.scaled[:, -1], plain.scaled[:, -1])
    np.testing.assert_allclose(adjusted.scaled[:, :-1], plain.scaled[:, :-1])  # the inputs are left as they were
    for part in ("validation", "test"):
        np.testing.assert_allclose(adjusted.to_units(adjusted.windows(part).targets, part), adjusted.actuals(part),
                                   rtol=1e-5)
    codes = np.repeat([0, 1], len(frame) // 2)
    rows, positions = frame[config.data.columns].to_numpy()[: len(codes)], adjusted.positions[: len(codes)]
    panel = Scaling.fit(rows, codes, 2, adjusted.config.logged, positions, 7)
    assert panel.seasonal.indices.shape == (2, 7)
    scaled = panel.apply(rows, series=codes, positions=positions)[:, -1]
    np.testing.assert_allclose(panel.to_units(scaled[:, None], codes, positions[:, None])[:, 0], rows[:, -1], rtol=1e-5)
    restored = Scaling.from_dict(json.loads(json.dumps(panel.as_dict())))
    assert restored.same_as(panel) and not restored.same_as(Scaling.fit(rows, codes, 2, adjusted.config.logged))


def test_the_log_transform_scales_log_sales_and_maps_forecasts_back_to_units(config):
    frame = load_frame(config.data)
    logged = Dataset(frame, replace(config.data, transform="log"), config.split)
    train_end = logged.bounds["train"][1]
    target = np.log1p(frame[config.data.target].to_numpy())
    assert logged.scaling.log and logged.scaling.mean[0, -1] == pytest.approx(target[:train_end].mean())
    np.testing.assert_allclose(logged.scaled[:, -1], (target - target[:train_end].mean()) / target[:train_end].std(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logged.scaled[:, :-1], Dataset(frame, config.data, config.split).scaled[:, :-1])
    for part in ("validation", "test"):  # actuals stay in units; scaled targets map back to them
        np.testing.assert_allclose(logged.to_units(logged.windows(part).targets, part), logged.actuals(part), rtol=1e-5)
    assert logged.scaling.target_scale() == pytest.approx(np.exp(target[:train_end].mean()))  # a level in units
    codes = np.repeat([0, 1], len(frame) // 2)  # a panel's: each series its own, a chunk of rows at a time
    rows = frame[config.data.columns].to_numpy()[: len(codes)]
    panel = Scaling.fit(rows, codes, 2, log=True)
    np.testing.assert_allclose(panel.to_units(panel.apply(rows, series=codes)[:, -1], codes), rows[:, -1], rtol=1e-5)


def test_baselines_match_hand_computation(config):
    dataset = Dataset.from_config(config.data, config.split)
    rows = dataset.windows("validation").target_rows
    y = dataset.target
    forecasts = dataset.baseline_forecasts("validation")
    t = rows[0]
    np.testing.assert_array_equal(forecasts["naive"][0], [y[t - 1]] * 3)
    np.testing.assert_array_equal(forecasts["seasonal_naive"][0], [y[t - 7], y[t - 6], y[t - 5]])


def test_weekly_resampling_sums_volumes_averages_rates_and_drops_partial_weeks(config):
    weekly = load_frame(replace(config.data, frequency="W"))
    daily = pd.read_csv(config.data.path, parse_dates=["date"]).set_index("date")
    # 2023-01-01 is a Sunday: the first week (ending that day) has one row and is dropped
    assert weekly.index[0] == pd.Timestamp("2023-01-08")
    week = daily.loc["2023-01-02":"2023-01-08"]
    assert weekly["sales"].iloc[0] == pytest.approx(week["sales"].sum())
    assert weekly["ad_impressions"].iloc[0] == pytest.approx(week["ad_impressions"].sum())
    assert weekly["ctr"].iloc[0] == pytest.approx(week["ctr"].mean())
    last_day = daily.index[-1]
    assert weekly.index[-1] <= last_day and (weekly.index.to_series().diff().dropna() == pd.Timedelta(days=7)).all()


def test_monthly_resampling_labels_month_ends(config):
    monthly = load_frame(replace(config.data, frequency="M"))
    assert monthly.index[0] == pd.Timestamp("2023-01-31")
    assert all(d.is_month_end for d in monthly.index)


def test_rows_out_of_order_are_sorted(config):
    frame = pd.read_csv(config.data.path)
    frame.iloc[::-1].to_csv(config.data.path, index=False)
    assert load_frame(config.data).index.is_monotonic_increasing


def test_every_problem_is_reported_at_once(config):
    frame = pd.read_csv(config.data.path).drop(columns=["cvr", "ctr"])
    frame["sales"] = frame["sales"].astype(object)
    frame.loc[3, "sales"] = "n/a"
    frame.loc[5, "ad_impressions"] = None
    frame.loc[9, "date"] = frame.loc[8, "date"]
    frame.to_csv(config.data.path, index=False)
    with pytest.raises(DataError) as error:
        load_frame(config.data)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(config.data.path))
    assert "missing columns ctr, cvr" in message
    assert "column sales: non-numeric values at row 5 (e.g. 'n/a')" in message
    assert "column ad_impressions: empty or NaN cells at row 7" in message
    assert "column date: duplicate dates at row 11" in message


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.assign(sales=-f["sales"]), r"column sales: negative sales at rows 2, 3, 4, 5, 6 and \d+ more"),
        (lambda f: f.assign(date="yesterday"), r"column date: unparseable dates"),
        (lambda f: f.drop(index=[10, 11]), r"column date: 2 missing day\(s\) \(2023-01-11, 2023-01-12\)"),
        (lambda f: f.head(40), r"the validation part has 6 of 40 rows but needs at least data.window \+ data.horizon = 17"),
        (lambda f: f.assign(sales=5.0), r"column sales: the target is constant over the train part"),
        (lambda f: f.assign(ctr=float("inf")), r"column ctr: infinite values at rows 2"),
    ],
)
def test_bad_data_gets_one_line_naming_the_fault(config, change, message):
    change(pd.read_csv(config.data.path)).to_csv(config.data.path, index=False)
    with pytest.raises(DataError, match=message):
        Dataset.from_config(config.data, config.split)


def test_missing_and_empty_files(config, tmp_path):
    with pytest.raises(DataError, match=r"nothing.csv: data file not found"):
        load_frame(replace(config.data, path=tmp_path / "nothing.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: the file is empty"):
        load_frame(replace(config.data, path=tmp_path / "empty.csv"))


@pytest.mark.parametrize("policy, expected", [("zero", 0.0), ("ffill", "previous"), ("interpolate", "middle")])
def test_fill_policy_replaces_empty_cells(config, policy, expected):
    frame = pd.read_csv(config.data.path)
    frame.loc[10, "ctr"] = None
    frame.to_csv(config.data.path, index=False)
    filled = load_frame(replace(config.data, fill_missing=policy))["ctr"]
    want = {"previous": frame.loc[9, "ctr"], "middle": (frame.loc[9, "ctr"] + frame.loc[11, "ctr"]) / 2}.get(expected, expected)
    assert filled.iloc[10] == pytest.approx(want)


def test_huge_file_is_refused_with_its_size_before_reading(config):
    with pytest.raises(DataError, match=r"sales.csv: 0.0[0-9]+ MB is over data.max_file_mb = 0.001; aggregate it first"):
        load_frame(replace(config.data, max_file_mb=0.001))
