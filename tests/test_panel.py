"""Many series in one file: loading, the shared date split, windows within a series, scaling per
series, static covariates, a global model's fit, predict and whatif per series, and bad input."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tuner.cli.parser import main
from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig
from tuner.data.dataset import Dataset
from tuner.data.demo import panel
from tuner.data.reading import load_frame
from tuner.data.static import StaticEncoding
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import DataError
from tuner.networks.training import epoch_samples
from tuner.reports import whatif

SERIES = 4
DAYS = 200
CONFIG = """
[data]
path = "panel.csv"
series = ["product"]
static = ["category"]
features = ["ad_impressions", "discount_rate", "seasonality_index"]
known_future = ["ad_impressions", "discount_rate", "seasonality_index"]
window = 14
horizon = 2

[train]
epochs = 2
batch_size = 64
threads = 1
samples_per_epoch = 256

[search]
hidden_size = [16]
series_embedding = [0, 4]

[study]
name = "panel"
metric = "val_wape"
n_trials = 2
seed = 1
startup_trials = 1

[fit]
seeds = 1
"""
PARAMS = ParamsConfig(model="lstm", hidden_size=16, num_layers=1, dropout=0.0, lr=1e-3, epochs=2)


def write_panel(folder: Path, frame: pd.DataFrame | None = None) -> Path:
    (panel(SERIES, DAYS) if frame is None else frame).to_csv(folder / "panel.csv", index=False)
    path = folder / "panel.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def config(tmp_path):
    return load_config(write_panel(tmp_path))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A global model with a series embedding, fitted once, and its directory."""
    folder = tmp_path_factory.mktemp("panel")
    config = load_config(write_panel(folder))
    forecaster, test = Forecaster.fit(config, replace(PARAMS, series_embedding=4))
    forecaster.save(folder / "model")
    return config, forecaster, test, folder


def test_rows_come_back_sorted_by_series_then_date_whatever_the_file_order(config, tmp_path):
    shuffled = panel(SERIES, DAYS).sample(frac=1, random_state=0)
    ordered = load_frame(config.data)
    again = load_frame(replace(config.data, path=write_panel(tmp_path, shuffled).parent / "panel.csv"))
    pd.testing.assert_frame_equal(again, ordered)
    assert list(ordered["product"].unique()) == ["P001", "P002", "P003", "P004"]
    for _, rows in ordered.groupby("product"):
        assert rows.index.is_monotonic_increasing and len(rows) == DAYS


def test_windows_never_cross_series_and_equal_a_loop_per_series(config):
    dataset = Dataset.from_config(config.data, config.split)
    codes = dataset.index.codes
    for part in ("train", "validation", "test"):
        windows = dataset.windows(part)
        expected_inputs, expected_targets = [], []
        for code in range(SERIES):
            first, end = dataset.index.offsets[code], dataset.index.offsets[code + 1]
            rows = windows.target_rows[windows.series == code]
            assert (codes[rows - 14] == code).all() and (codes[rows + 1] == code).all()
            assert rows.min() >= first + 14 and rows.max() + 2 <= end
            expected_inputs += [dataset.scaled[row - 14 : row] for row in rows]
            expected_targets += [dataset.scaled[row : row + 2, -1] for row in rows]
        np.testing.assert_array_equal(windows.inputs, np.array(expected_inputs))
        np.testing.assert_array_equal(windows.targets, np.array(expected_targets))


def test_every_series_is_cut_at_the_same_dates(config):
    dataset = Dataset.from_config(config.data, config.split)
    for part in ("train", "validation", "test"):
        dates = [set(dataset.dates[dataset.windows(part).target_rows[dataset.windows(part).series == code]])
                 for code in range(SERIES)]
        assert all(d == dates[0] for d in dates)
    train_end = dataset.dates[dataset.windows("train").target_rows].max()
    assert train_end < dataset.dates[dataset.windows("validation").target_rows].min()


def test_each_series_is_scaled_on_its_own_training_rows_only(config):
    frame = load_frame(config.data)
    dataset = Dataset(frame, config.data, config.split)
    cut = dataset.timeline[dataset.bounds["train"][1]]
    for code, (_, rows) in enumerate(frame.groupby("product")):
        train = rows[rows.index < cut][config.data.columns]
        np.testing.assert_allclose(dataset.scaling.mean[code], train.mean())
        np.testing.assert_allclose(dataset.scaling.scale[code], train.std(ddof=0).replace(0, 1))
    changed = frame.copy()
    changed.loc[changed.index >= cut, "sales"] *= 100
    np.testing.assert_array_equal(Dataset(changed, config.data, config.split).scaling.mean, dataset.scaling.mean)


def test_a_series_too_short_for_a_part_is_left_out_of_it_with_one_line(config, tmp_path, caplog):
    frame = panel(SERIES, DAYS)
    late = frame[(frame["product"] != "P002") | (frame.index % DAYS >= DAYS - 40)]  # P002: only its last 40 days
    dataset = Dataset.from_config(replace(config.data, path=write_panel(tmp_path, late).parent / "panel.csv"),
                                  config.split)
    assert 1 not in dataset.windows("train").series and 1 not in dataset.windows("test").series
    lines = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(lines) == 1 and "product=P002" in lines[0] and "of 4 series" in lines[0]


def test_samples_per_epoch_draws_that_many_uniformly():
    generator = torch.Generator().manual_seed(0)
    drawn = epoch_samples(1_000_000, 4096, 640, generator)
    assert len(drawn) == 4096 and drawn.max() < 1_000_000 and drawn.float().mean() == pytest.approx(500_000, rel=0.05)
    assert sorted(epoch_samples(1000, 0, 640, generator).tolist()) == list(range(1000))


def test_static_columns_are_encoded_as_categories_and_scaled_numbers():
    static = pd.DataFrame({"category": ["home", "toys", "home"], "size": ["10", "20", "30"]})
    encoding = StaticEncoding.fit(static)
    assert encoding.categories == {"category": ["home", "toys"]} and encoding.levels == (3,)
    fields = encoding.encode(static)
    np.testing.assert_array_equal(fields[:, 0], [1, 2, 3])  # series code + 1
    np.testing.assert_array_equal(fields[:, 1], [1, 2, 1])  # category index + 1
    np.testing.assert_allclose(fields[:, 2], (np.array([10, 20, 30]) - 20) / np.std([10, 20, 30]), rtol=1e-6)
    unseen = encoding.encode(pd.DataFrame({"category": ["garden"], "size": ["20"]}), [-1])
    np.testing.assert_array_equal(unseen[0, :2], [0, 0])


def test_pooled_metrics_per_series_metrics_and_predict_agree_with_the_test_forecast(fitted):
    config, forecaster, test, folder = fitted
    actual = test.dataset.actuals("test")
    assert forecaster.metrics["model"]["test_mae"] == pytest.approx(np.abs(actual - test.forecast).mean())
    calibration = forecaster.calibration  # each series adapts over its own test residuals
    np.testing.assert_array_equal(calibration.realized_series, test.dataset.windows("test").series)
    assert calibration.per_series and forecaster.metrics["intervals"]["method"] == "adaptive conformal"
    per_series = pd.read_csv(folder / "model" / "series_metrics.csv")
    assert sorted(per_series["product"]) == ["P001", "P002", "P003", "P004"]
    assert per_series["vs_seasonal_naive"].is_monotonic_decreasing
    # a forecast from a file cut where the test part's last sample starts equals that sample's test forecast
    windows = test.dataset.windows("test")
    loaded = Forecaster.load(folder / "model")
    for code in (0, 3):
        row = windows.target_rows[windows.series == code][-1]
        cut = load_frame(config.data).reset_index()
        key = test.dataset.index.keys[code][0]
        history = cut[cut["product"] == key].iloc[: row - test.dataset.index.offsets[code]]
        plan = cut[cut["product"] == key].iloc[row - test.dataset.index.offsets[code] :][:2].assign(sales=np.nan)
        raw = pd.concat([history, plan])[["date", "product", "category", *config.data.features, "sales"]]
        raw.to_csv(folder / "cut.csv", index=False)
        forecast = loaded.forecast(folder / "cut.csv")
        expected = test.forecast[windows.series == code][-1]
        np.testing.assert_allclose(forecast["sales_forecast"], expected, rtol=1e-5)
        assert list(forecast["product"]) == [key, key]
        inputs = loaded.read_inputs(folder / "cut.csv")[0]
        assert "linear" in loaded.members  # a panel's, in each series' scaled units
        for name, values in loaded.member_values(inputs).items():  # every member, from its own series' rows
            np.testing.assert_allclose(values, test.members[name][windows.series == code][-1], rtol=1e-5, err_msg=name)


def test_predict_writes_a_row_per_series_and_date_and_filters_with_series(fitted, capsys):
    _, _, _, folder = fitted
    plan = panel(SERIES, DAYS + 2)
    plan = plan[plan.index % (DAYS + 2) < DAYS + 2]
    plan.loc[plan["date"] > plan["date"].iloc[DAYS - 1], ["ctr", "cvr", "sales", "expected_sales"]] = np.nan
    plan.to_csv(folder / "plan.csv", index=False)
    assert main(["predict", str(folder / "model"), str(folder / "plan.csv"), "--intervals", "80"]) == 0
    out = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert len(out) == SERIES * 2 and list(out.columns[:2]) == ["product", "date"]
    assert (out["sales_lo_80"] < out["sales_forecast"]).all()
    model = Forecaster.load(folder / "model")
    for code, (product,) in enumerate(model.series):  # each series from its own adapted level, at its own scale
        rows = out[out["product"] == product]
        half = model.calibration.half_widths(80, code) * float(model.scaling.target_scale(code))
        np.testing.assert_allclose(rows["sales_hi_80"] - rows["sales_forecast"], half, rtol=1e-4)
    assert main(["predict", str(folder / "model"), str(folder / "plan.csv"), "--series", "product=P003"]) == 0
    assert set(pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))["product"]) == {"P003"}
    inputs = Forecaster.load(folder / "model").read_inputs(folder / "plan.csv")
    result = whatif.run(Forecaster.load(folder / "model"), inputs, "ad_impressions", [0.5, 1, 2], {})
    assert result.series == [f"product=P00{i}" for i in range(1, 5)]
    assert result.base.sales == pytest.approx(sum(result.base.series_sales))
    assert "by series" in whatif.table(result, "sales")


def test_a_series_the_model_never_saw(fitted, tmp_path, caplog):
    config, forecaster, _, _ = fitted
    stranger = panel(1, DAYS + 2).assign(product="P999")
    stranger.loc[DAYS:, "sales"] = np.nan  # the last two days: the plan
    stranger.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(DataError, match=r"new.csv: 1 series the model was not fitted on \(product=P999\)"):
        forecaster.forecast(tmp_path / "new.csv")
    plain = Forecaster.fit(replace(config, fit=replace(config.fit, weights={"ets": 0.5})), PARAMS, intervals=False)[0]
    # no series embedding; its exponential smoothing of the new series is fitted on that series' history
    forecast = plain.forecast(tmp_path / "new.csv")
    assert list(forecast["product"]) == ["P999", "P999"] and forecast["sales_forecast"].notna().all()
    assert any("forecast from their own history" in r.getMessage() for r in caplog.records)


def test_a_panel_study_tunes_the_series_embedding(tmp_path):
    path = write_panel(tmp_path)
    assert main(["tune", str(path), "--n-trials", "2"]) == 0
    import optuna

    study = optuna.load_study(study_name="panel", storage=f"sqlite:///{tmp_path / 'panel.db'}")
    assert all("series_embedding" in trial.params for trial in study.trials)
    assert all("val_wape" in trial.user_attrs for trial in study.trials)


def change(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    frame = frame.copy()
    if how == "duplicate":
        return pd.concat([frame, frame.iloc[[DAYS + 5]]])
    if how == "static":
        frame.loc[DAYS + 7, "category"] = "garden"
    elif how == "dates":
        frame.loc[2 * DAYS + 3, "date"] = "someday"
    elif how == "gap":
        frame = frame.drop(index=3 * DAYS + 9)
    return frame


@pytest.mark.parametrize(("how", "message"), [
    ("duplicate", r"duplicate \(product, date\) at row \d+ \(series product=P002\)"),
    ("static", r"column category: varies within .*\(series product=P002\).*one value per series"),
    ("dates", r"column date: unparseable dates at row \d+ \(series product=P003\)"),
    ("gap", r"series product=P004: column date: 1 missing day"),
])
def test_bad_panel_files_fail_in_one_line_naming_the_series(tmp_path, capsys, how, message):
    path = write_panel(tmp_path, change(panel(SERIES, DAYS), how))
    assert main(["tune", str(path), "--n-trials", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and pytest.importorskip("re").search(message, err), err


def test_a_missing_series_column_a_plan_for_an_unknown_series_and_an_unknown_series_filter(fitted, tmp_path, capsys):
    _, _, _, folder = fitted
    write_panel(tmp_path, panel(SERIES, DAYS).drop(columns="product"))
    assert main(["tune", str(tmp_path / "panel.toml")]) == 2
    assert "missing column product (data.series / data.static" in capsys.readouterr().err
    strangers = pd.concat([panel(SERIES, DAYS), panel(1, 30).iloc[:2].assign(product="P777", sales=np.nan)])
    strangers.to_csv(tmp_path / "plan.csv", index=False)
    assert main(["predict", str(folder / "model"), str(tmp_path / "plan.csv")]) == 2
    assert "plan rows for series without history in the file: product=P777" in capsys.readouterr().err
    assert main(["predict", str(folder / "model"), str(folder / "panel.csv"), "--series", "product=P404"]) == 2
    assert "--series product=P404: no such series in the file" in capsys.readouterr().err
    assert main(["predict", str(folder / "model"), str(folder / "panel.csv"), "--series", "store=1"]) == 2
    assert "'store' is not a series column" in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "message"), [
    ("data.series=[]", "data.static = ['category']: needs data.series"),
    ("data.static=['sales']", "'sales' is already the date, target"),
])
def test_series_settings_are_checked(tmp_path, capsys, setting, message):
    path = write_panel(tmp_path)
    assert main(["tune", str(path), "--set", setting]) == 2
    assert message in capsys.readouterr().err
