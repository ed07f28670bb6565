import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from tuner.evaluation.metrics import forecast_errors, mape, smape, wape


def test_metrics_against_hand_computed_values():
    actual = np.array([100.0, 200.0, 0.0, 50.0])
    forecast = np.array([110.0, 180.0, 10.0, 50.0])
    errors = forecast_errors(actual, forecast, prefix="val_")
    assert errors["val_mae"] == pytest.approx((10 + 20 + 10 + 0) / 4)
    assert errors["val_rmse"] == pytest.approx(math.sqrt((100 + 400 + 100 + 0) / 4))
    assert errors["val_mape"] == pytest.approx(100 * (0.1 + 0.1 + 0.0) / 3)  # the zero-sales row is skipped
    assert errors["val_smape"] == pytest.approx(100 * (20 / 210 + 40 / 380 + 2 + 0) / 4)
    assert errors["val_wape"] == pytest.approx(100 * 40 / 350)


def test_mae_and_rmse_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    actual, forecast = rng.lognormal(6, 1, (50, 7)), rng.lognormal(6, 1, (50, 7))
    errors = forecast_errors(actual, forecast)
    assert errors["mae"] == pytest.approx(mean_absolute_error(actual.ravel(), forecast.ravel()), rel=1e-12)
    assert errors["rmse"] == pytest.approx(root_mean_squared_error(actual.ravel(), forecast.ravel()), rel=1e-12)


def test_zero_sales_edge_cases():
    zeros = np.zeros(3)
    assert math.isnan(mape(zeros, np.ones(3)))
    assert math.isnan(wape(zeros, np.ones(3)))
    assert smape(zeros, zeros) == 0.0


def test_multi_step_forecasts_are_averaged_over_every_step():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = actual + np.array([[1.0, 3.0], [0.0, 0.0]])
    assert forecast_errors(actual, forecast)["mae"] == pytest.approx(1.0)
