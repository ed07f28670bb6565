"""Figure 11: `tuner whatif` against the truth, on demo data whose generator knows the true
sales response to a change in planned ad impressions.

A week-ahead model with known-future inputs is fitted on the demo data; then, for successive
plan weeks of a longer run of the same generator, each scenario's forecast total is compared
with the generator's noise-free total under the same plan.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import REPO, Budget, Figure, figure

from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig
from tuner.data import demo
from tuner.ensemble.forecaster import Forecaster
from tuner.reports import whatif

FACTORS = (0.5, 0.75, 1.0)
PLAN_DAYS = 7
FIRST_PLAN_DAY = 1096  # the demo file's length: plans start where its history ends
UNKNOWN_AHEAD = ["ctr", "cvr", "sales", "expected_sales"]
# the best trial of `tuner tune studies/ecommerce_weekly_plan.toml` (20 trials, 2026-11-29)
WEEKLY_PLAN_PARAMS = ParamsConfig(model="lstm_transformer", hidden_size=64, num_layers=2, dropout=0.215,
                                  lr=4.362e-4, num_heads=4, ff_size=128, epochs=36)


def true_totals(world: pd.DataFrame, start: int, factors: tuple[float, ...]) -> list[float]:
    """The generator's noise-free sales over the plan week with its impressions scaled."""
    totals = []
    for factor in factors:
        impressions = world["ad_impressions"].to_numpy(dtype=float).copy()
        impressions[start : start + PLAN_DAYS] *= factor
        sales = demo.expected(pd.DatetimeIndex(pd.to_datetime(world["date"])), impressions, world["ctr"].to_numpy(),
                              world["cvr"].to_numpy(), world["discount_rate"].to_numpy(),
                              world["seasonality_index"].to_numpy())
        totals.append(float(sales[start : start + PLAN_DAYS].sum()))
    return totals


def plan_csv(world: pd.DataFrame, start: int, folder: Path) -> Path:
    """The history up to `start`, then the plan week with what is unknown ahead left empty."""
    frame = world.iloc[: start + PLAN_DAYS].copy()
    frame.loc[frame.index[start:], UNKNOWN_AHEAD] = np.nan
    path = folder / f"plan-{start}.csv"
    frame.to_csv(path, index=False)
    return path


def what_if_truth(budget: Budget, workdir: Path) -> list[Figure]:
    """How close the what-if totals and the response to halving the plan's impressions come to the truth."""
    config = load_config(REPO / "studies" / "ecommerce_weekly_plan.toml", [f"train.threads={budget.threads}"])
    params = replace(WEEKLY_PLAN_PARAMS, epochs=budget.response_epochs)
    Forecaster.fit(config, params, intervals=False, seeds=budget.refit_seeds)[0].save(workdir / "weekly-plan")
    loaded = Forecaster.load(workdir / "weekly-plan")
    weeks = budget.response_weeks
    world = demo.generate(days=FIRST_PLAN_DAY + PLAN_DAYS * weeks)
    errors, response_ratios, monotone, flagged = [], [], 0, 0
    for week in range(weeks):
        start = FIRST_PLAN_DAY + PLAN_DAYS * week
        inputs = loaded.read_inputs(plan_csv(world, start, workdir))
        result = whatif.run(loaded, inputs, "ad_impressions", list(FACTORS), {})
        model = [scenario.sales for scenario in result.scenarios]
        truth = true_totals(world, start, FACTORS)
        errors += [100 * abs(m - t) / t for m, t in zip(model, truth)]
        response_ratios.append((model[-1] - model[0]) / (truth[-1] - truth[0]))
        monotone += model == sorted(model)
        flagged += len(result.warnings)
    details = {"weeks": weeks, "factors": list(FACTORS), "scenario_error_pct": [round(e, 1) for e in errors],
               "response_ratio": [round(r, 3) for r in response_ratios], "monotone_weeks": monotone,
               "extrapolation_warnings": flagged}
    note = (f"{weeks} plan weeks after the fitted history x factors {', '.join(f'{f:g}' for f in FACTORS)}; "
            f"monotone in {monotone} of {weeks} weeks; {flagged} extrapolation warnings; fixed parameters of the "
            f"weekly-plan study's best trial, {budget.response_epochs} epochs")
    return [
        figure("11. what-if scenario totals vs the generator's truth", errors, "% error",
               "noise-free sales under the same plan (demo generator)", note=note, details=details),
        figure("11. what-if response to halving impressions / the true response", response_ratios, "×",
               "the generator's sales(1x) - sales(0.5x) over the plan week (1 = exact)",
               note=f"median of {weeks} weeks; spread {statistics.pstdev(response_ratios):.2f}"),
    ]
