"""The fitted forecaster: `tuner predict` on a file cut before a test date forecasts exactly what
`tuner fit` scored for that date (one scaling path, no off-by-one in the window slice)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import write_study

from tuner.forecaster import Forecaster

PARAMS = """
[params]
model = "lstm_transformer"
hidden_size = 16
num_layers = 1
dropout = 0.1
lr = 0.002
num_heads = 2
ff_size = 32
epochs = 3
"""


def tuner(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner.cli", *args], capture_output=True, text=True, timeout=300)


def cut_before(sales: pd.DataFrame, row: int, horizon: int, known: list[str]) -> pd.DataFrame:
    """The rows before `row`, then, for a model with known-future inputs, `horizon` plan rows:
    the known-future values as they were, every other cell empty."""
    plan = sales.iloc[row : row + horizon if known else row].copy()
    for column in plan.columns:
        if column not in ("date", *known):
            plan[column] = np.nan
    return pd.concat([sales.iloc[:row], plan])


@pytest.mark.parametrize("horizon, known", [(1, []), (7, []), (7, ["ad_impressions", "discount_rate"])])
def test_predict_on_a_cut_file_equals_the_test_forecast_fit_scored(tmp_path, horizon, known):
    config = write_study(tmp_path, days=260, horizon=horizon, extra=PARAMS)
    if known:
        text = config.read_text().replace("[data]\n", f"[data]\nknown_future = {json.dumps(known)}\n", 1)
        config.write_text(text)
    model = tmp_path / "model"
    run = tuner("fit", str(config), "-o", str(model))
    assert run.returncode == 0, run.stderr

    forecaster = Forecaster.load(model)
    test = forecaster.test_forecast()
    scored = json.loads((model / "metrics.json").read_text())["model"]["test_mae"]
    assert np.mean(np.abs(test.forecast - test.dataset.actuals("test"))) == pytest.approx(scored, rel=1e-9)

    sales = pd.read_csv(tmp_path / "sales.csv")
    rows = test.dataset.windows("test").target_rows
    for sample in (0, len(rows) // 2, len(rows) - 1):
        cut = tmp_path / f"cut-{sample}.csv"
        cut_before(sales, rows[sample], horizon, known).to_csv(cut, index=False)
        run = tuner("predict", str(model), str(cut), "-o", str(tmp_path / "forecast.csv"))
        assert run.returncode == 0, run.stderr
        predicted = pd.read_csv(tmp_path / "forecast.csv")
        assert predicted["date"].tolist() == sales["date"].iloc[rows[sample] : rows[sample] + horizon].tolist()
        np.testing.assert_allclose(predicted["sales_forecast"].to_numpy(), test.forecast[sample], rtol=1e-5)
