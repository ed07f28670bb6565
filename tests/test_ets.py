"""Exponential smoothing: the form chosen per series, forecasts of any window from one smoothing
pass (checked against statsmodels' own forecast from the rows before it), each series of a panel
smoothed on its own, and none on a panel too large for it."""

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel

from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig
from tuner.data.dataset import Dataset
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import ConfigError
from tuner.evaluation.baselines import baseline_forecasts, member_forecast
from tuner.members import ets
from tuner.members.ets import FORMS, Ets, SeriesEts
from tuner.members.theta import SeriesTheta

MONTHS = 144
SEASON = np.array([0.8, 0.85, 0.9, 1.0, 1.05, 1.1, 1.2, 1.25, 1.1, 1.0, 0.9, 0.85])


def monthly_sales(seed: int = 0, months: int = MONTHS) -> np.ndarray:
    """A positive series that grows and whose season's swing grows with its level."""
    noise = np.random.default_rng(seed).normal(0, 0.02, months)
    return (100 + 1.5 * np.arange(months)) * np.tile(SEASON, months // 12 + 1)[:months] * (1 + noise)


@pytest.mark.parametrize("form", [("add", "add", True, "add"), ("mul", None, False, "mul"), ("mul", "add", False, "mul"),
                                  ("add", None, False, None)])
def test_each_windows_forecast_is_statsmodels_forecast_from_the_rows_before_it(form):
    values = monthly_sales()
    fitted = SeriesEts.fitted_form(values[:100], 12, form)[1]
    origins = np.array([100, 113, 130])
    forecast = fitted.forecast(values, origins, horizon=14)  # past one season: the season's states repeat
    for origin, row in zip(origins, forecast):
        error, trend, damped, seasonal = form
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ETSModel(values[:origin], error=error, trend=trend, damped_trend=damped, seasonal=seasonal,
                             seasonal_periods=12 if seasonal else None)
            expected = model.smooth(np.array(fitted.params)).forecast(14)
        np.testing.assert_allclose(row, expected, rtol=1e-9)


@pytest.mark.parametrize("trend", [1.5, -0.4])
def test_thetas_forecast_from_the_fitted_rows_is_statsmodels_theta_model(trend):
    values = monthly_sales() + trend * np.arange(MONTHS)
    fitted = SeriesTheta.fit(values[:100], 12)
    assert fitted.seasonal and fitted.multiplicative  # the season's swing is significant here
    expected = ThetaModel(values[:100], period=12).fit().forecast(14).to_numpy()
    np.testing.assert_allclose(fitted.forecast(values, np.array([100]), 14)[0], expected, rtol=1e-5)  # running sums
    flat = SeriesTheta.fit(np.random.default_rng(1).normal(50, 1, 60), 12)
    assert not flat.seasonal  # no season to take out of noise


def test_the_smoothing_forecast_is_the_mean_of_ets_and_theta():
    values = monthly_sales()
    chosen = SeriesEts.fit(values[:100], 12)
    origins = np.array([100, 120])
    np.testing.assert_allclose(chosen.forecast(values, origins, 3), (replace(chosen, theta=None).forecast(
        values, origins, 3) + chosen.theta.forecast(values, origins, 3)) / 2)
    assert chosen.theta == SeriesTheta.fit(values[:100], 12) and chosen.name.endswith(" + Theta")


def test_the_form_with_the_lowest_aicc_is_chosen_and_a_growing_swing_is_multiplicative():
    values = monthly_sales()
    chosen = SeriesEts.fit(values, 12)
    assert chosen.seasonal == "mul" and chosen.trend == "add"
    assert chosen.name in {"ETS(M,A,M) + Theta", "ETS(M,Ad,M) + Theta"}
    aicc = SeriesEts.fitted_form(values, 12, (chosen.error, chosen.trend, chosen.damped, chosen.seasonal))[0]
    others = [SeriesEts.fitted_form(values, 12, form) for form in FORMS]
    assert aicc == pytest.approx(min(fit[0] for fit in others if fit is not None))


def test_a_series_with_zeros_gets_no_multiplicative_form_and_a_short_one_is_naive():
    values = monthly_sales(months=60) - 100  # some months below zero
    assert values.min() <= 0
    chosen = SeriesEts.fit(values, 12)
    assert chosen.error == "add" and chosen.seasonal != "mul"
    short = np.array([5.0, 7.0, 6.0, 9.0])
    naive = SeriesEts.fit(short, 12)
    assert naive.name == "naive"
    np.testing.assert_allclose(naive.forecast(short, np.array([2, 4]), horizon=3), [[7.0] * 3, [9.0] * 3])


def test_a_multiplicative_form_forecasts_past_a_later_zero():
    values = monthly_sales()
    fitted = SeriesEts.fitted_form(values[:100], 12, ("mul", None, False, "mul"))[1]
    later = values.copy()
    later[105] = 0.0  # a month without sales after the positive rows it was fitted on
    forecast = fitted.forecast(later, np.array([100, 104, 110]), horizon=3)
    np.testing.assert_allclose(forecast[:2], fitted.forecast(values, np.array([100, 104]), horizon=3))  # before it
    assert np.isfinite(forecast).all() and (forecast > 0).all()


def test_a_panels_form_searches_shared_over_processes_give_the_forms_of_one_process():
    histories = [monthly_sales(seed, months=36 + 6 * seed) * (1 + seed) for seed in range(ets.PARALLEL_FROM)]
    target = np.concatenate(histories)
    codes = np.repeat(np.arange(len(histories)), [len(history) for history in histories])
    shared = Ets.fit(target, codes, len(histories), 1, jobs=2)  # season 1: the six unseasonal forms, quick
    assert shared == Ets.fit(target, codes, len(histories), 1, jobs=1)
    assert len({series.params for series in shared.series}) == len(histories)  # each from its own rows


def test_ets_baseline_forecasts_a_trending_seasonal_series_and_each_panel_series_from_its_own_rows(tmp_path):
    months = pd.date_range("2000-01-01", periods=MONTHS, freq="MS")
    frame = pd.concat([pd.DataFrame({"date": months, "shop": shop, "sales": monthly_sales(seed) * scale})
                       for shop, seed, scale in (("a", 1, 1.0), ("b", 2, 50.0))])
    frame.to_csv(tmp_path / "shops.csv", index=False)
    (tmp_path / "shops.toml").write_text('[data]\npath = "shops.csv"\nfrequency = "M"\nwindow = 12\nhorizon = 3\n'
                                         'series = ["shop"]\n')
    config = load_config(tmp_path / "shops.toml")
    dataset = Dataset.from_config(config.data, config.split, scale_on="train+validation")
    forecast = member_forecast("ets", dataset, "test", "train+validation")
    actual, series = dataset.actuals("test"), dataset.windows("test").series
    seasonal_naive = dataset.baseline_forecasts("test")["seasonal_naive"]
    for code in (0, 1):
        mine = series == code
        error = np.abs(forecast[mine] - actual[mine]).mean()
        assert error < 0.5 * np.abs(seasonal_naive[mine] - actual[mine]).mean()  # seasonal-naive lags the trend
        assert error < 0.05 * actual[mine].mean()  # 2 % noise
    rows = dataset.rows("train+validation")
    alone = Ets.fit(dataset.target[rows], dataset.index.codes[rows], 2, 12).series[1]
    first = dataset.index.offsets[1]
    np.testing.assert_allclose(forecast[series == 1], alone.forecast(
        dataset.target[first:], dataset.windows("test").target_rows[series == 1] - first, 3))


def test_a_panel_of_more_series_than_smoothing_takes_goes_without_it(tmp_path, monkeypatch):
    months = pd.date_range("2000-01-01", periods=MONTHS, freq="MS")
    frame = pd.concat([pd.DataFrame({"date": months, "shop": shop, "sales": monthly_sales(seed)})
                       for seed, shop in enumerate("abc")])
    frame.to_csv(tmp_path / "shops.csv", index=False)
    (tmp_path / "shops.toml").write_text('[data]\npath = "shops.csv"\nfrequency = "M"\nwindow = 12\nseries = ["shop"]\n')
    config = load_config(tmp_path / "shops.toml")
    dataset = Dataset.from_config(config.data, config.split)
    assert "ets" in baseline_forecasts(dataset, "validation", "train")
    monkeypatch.setattr(ets, "MAX_SERIES", 2)
    assert set(baseline_forecasts(dataset, "validation", "train")) == {"naive", "seasonal_naive", "adjusted_naive",
                                                                         "boosting"}
    with pytest.raises(ConfigError, match=r"fit.weights: the exponential smoothing member \(ets\) cannot serve this data: "
                                          r"it is fitted per series, on panels of at most 2 series, and this one has 3"):
        Forecaster.fit(replace(config, fit=replace(config.fit, weights={"ets": 0.5})),
                       ParamsConfig(model="lstm", hidden_size=8, epochs=1), intervals=False)
