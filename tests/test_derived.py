"""Inputs computed from the features: interactions (row-wise products, aggregated like the file's
columns) and carry-over (each series' exponentially weighted mean), through `load_frame`."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import tuner, write_study

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.data.demo import generate, panel
from tuner.data.reading import load_frame
from tuner.networks.models import model_config

DERIVED = """
[data]
interactions = { ad_conversions = ["ad_impressions", "ctr", "cvr"] }
carryover = { ad_conversions = [1, 3.5], discount_rate = [2] }
"""


def derived_config(tmp_path, overrides=()):
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace("[data]\n", DERIVED.strip() + "\n", 1))
    return load_config(path, list(overrides))


def test_interactions_and_carryover_become_history_inputs_after_the_features(tmp_path):
    config = derived_config(tmp_path)
    assert config.data.columns == ["ad_impressions", "ctr", "cvr", "discount_rate", "seasonality_index",
                                   "ad_conversions", "ad_conversions_carryover_1", "ad_conversions_carryover_3.5",
                                   "discount_rate_carryover_2", "sales"]
    assert config.data.known_inputs == []
    frame = load_frame(config.data)
    raw = generate(days=300)
    conversions = (raw["ad_impressions"] * raw["ctr"] * raw["cvr"]).to_numpy()
    np.testing.assert_allclose(frame["ad_conversions"], conversions)
    stock = np.empty_like(conversions)  # the recursion an ad stock is: a share of yesterday's carried into today
    keep = 0.5 ** (1 / 3.5)
    for i, value in enumerate(conversions):
        stock[i] = value if i == 0 else keep * stock[i - 1] + (1 - keep) * value
    np.testing.assert_allclose(frame["ad_conversions_carryover_3.5"], stock)
    dataset = Dataset.from_config(config.data, config.split)
    assert dataset.values.shape[1] == len(config.data.columns)
    levelled = model_config({"model": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0},
                            replace(config.data, feature_scaling="level"))
    assert levelled.levelled_columns == tuple(range(9))  # the derived inputs are levelled like the features


def test_weekly_interactions_aggregate_each_days_product(tmp_path):
    config = derived_config(tmp_path, ["data.frequency=W", "data.window=4",
                                       'data.aggregation={ad_impressions = "sum", ad_conversions = "sum"}'])
    frame = load_frame(config.data)
    raw = generate(days=300).assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date")
    daily = raw["ad_impressions"] * raw["ctr"] * raw["cvr"]
    weekly = daily.resample("W-SUN").sum().loc[frame.index]
    np.testing.assert_allclose(frame["ad_conversions"], weekly)
    assert not np.allclose(frame["ad_conversions"], frame["ad_impressions"] * frame["ctr"] * frame["cvr"])


def test_a_panels_carryover_starts_afresh_in_each_series(tmp_path):
    panel(3, days=120).to_csv(tmp_path / "panel.csv", index=False)
    path = tmp_path / "panel.toml"
    path.write_text('[data]\npath = "panel.csv"\nseries = ["product"]\nfeatures = ["ad_impressions"]\nwindow = 7\n'
                    'carryover = { ad_impressions = [4] }\n')
    frame = load_frame(load_config(path).data)
    for _, rows in frame.groupby("product"):
        alone = rows["ad_impressions"].ewm(halflife=4, adjust=False).mean()
        np.testing.assert_allclose(rows["ad_impressions_carryover_4"], alone)
        assert rows["ad_impressions_carryover_4"].iloc[0] == rows["ad_impressions"].iloc[0]


@pytest.mark.parametrize("bad", ['data.interactions={ads = ["ctr"]}', "data.carryover={ctr = [-1]}"])
def test_bad_derived_settings_exit_2_with_one_line(tmp_path, bad):
    path = write_study(tmp_path)
    result = tuner("tune", str(path), "--set", bad)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "data.interactions.ads" in result.stderr or "data.carryover.ctr" in result.stderr
