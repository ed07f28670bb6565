"""What-if forecasts: the sales response to scenarios of the known-future inputs (planned ad
impressions, discounts), and the return on ad spend (ROAS) each scenario implies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.inputs import ForecastInputs
from tuner.data.series import key_label
from tuner.ensemble.forecaster import Forecaster
from tuner.errors import TunerError
from tuner.evaluation.intervals import level_name

BASE_FACTOR = 1.0


@dataclass(frozen=True)
class Scenario:
    factor: float  # the scaled column's planned values times this
    forecast: np.ndarray  # (series, horizon) in the target's units
    spend: float | None  # ad spend over the forecast dates, when a cost is given

    @property
    def sales(self) -> float:
        """Over every series and forecast date."""
        return float(self.forecast.sum())

    @property
    def series_sales(self) -> np.ndarray:
        """Each series' total over the forecast dates."""
        return self.forecast.sum(axis=1)

    @property
    def roas(self) -> float:
        return self.sales / self.spend if self.spend else math.nan


@dataclass(frozen=True)
class WhatIf:
    column: str  # the scaled known-future input
    series: list[str]  # the labels of the series planned (one empty label for a one-series model)
    dates: pd.DatetimeIndex
    fixed: dict[str, float]  # known-future inputs set to one value on every forecast date
    scenarios: list[Scenario]
    warnings: list[str]  # scenarios whose plans leave the range the model was fitted on
    sum_half_widths: dict[float, float] = field(default_factory=dict)  # level % -> half width of the sum's interval

    @property
    def base(self) -> Scenario:
        """The unchanged plan (factor 1), or the first scenario when 1 is not among them."""
        return next((s for s in self.scenarios if s.factor == BASE_FACTOR), self.scenarios[0])

    def incremental_roas(self, scenario: Scenario) -> float:
        """Extra sales per extra unit of spend, against the base scenario."""
        base = self.base
        if scenario.spend is None or scenario.spend == base.spend:
            return math.nan
        return (scenario.sales - base.sales) / (scenario.spend - base.spend)


def parse_scale(text: str) -> tuple[str, list[float]]:
    """`column=0.5,1,1.5` -> ("column", [0.5, 1.0, 1.5])."""
    column, sep, values = text.partition("=")
    try:
        factors = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        factors = []
    if not sep or not column.strip() or not factors or any(not math.isfinite(f) or f < 0 for f in factors):
        raise TunerError(f"--scale {text!r}: expected COLUMN=FACTOR,FACTOR,... with factors >= 0, "
                         "e.g. ad_impressions=0.5,1,1.5,2")
    return column.strip(), factors


def parse_fixed(texts: list[str]) -> dict[str, float]:
    """`["discount_rate=0.2"]` -> {"discount_rate": 0.2}."""
    fixed = {}
    for text in texts:
        column, sep, value = text.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not column.strip() or not math.isfinite(number):
            raise TunerError(f"--set {text!r}: expected COLUMN=NUMBER, e.g. discount_rate=0.2")
        fixed[column.strip()] = number
    return fixed


def run(forecaster: Forecaster, inputs: list[ForecastInputs], column: str, factors: list[float], fixed: dict[str, float],
        cost_per_impression: float | None = None, ad_spend: float | None = None,
        levels: list[float] | None = None) -> WhatIf:
    """Forecast under each factor on `column`'s planned values, with `fixed` inputs held constant.

    Spend is `cost_per_impression` times the scenario's planned `column` (impressions), or
    `ad_spend` (the base plan's spend) times the factor. With `levels` (in %), each total gets
    an interval from the residuals of sums over the forecast dates (one series only:
    the residuals of a sum over series are not calibrated). Every series in `inputs` is scaled.
    """
    if levels and len(inputs) > 1:
        raise TunerError(f"--intervals: the plan covers {len(inputs)} series; intervals of a total are calibrated for "
                         "one series: choose it with --series")
    known = forecaster.config.data.known_future
    for name in [column, *fixed]:
        if name not in known:
            has = f"its known-future inputs are {', '.join(known)}" if known else "it has no known-future inputs"
            raise TunerError(f"{name!r} is not a known-future input of this model ({has}); fit it with "
                             f"data.known_future listing {name!r} to plan with it")
    plans = [series.plan.copy() for series in inputs]
    for plan in plans:
        for name, value in fixed.items():
            plan[name] = value
    scenarios, warnings = [], []
    for factor in factors:
        forecasts, planned = [], 0.0
        for series, plan in zip(inputs, plans):
            scenario_plan = plan.copy()
            scenario_plan[column] = plan[column] * factor
            where = f"at {factor:g} x" + (f", series {label(forecaster, series)}" if series.key else "")
            warnings += outside_seen(forecaster, scenario_plan, where)
            forecasts.append(forecaster.scenario_values(series, scenario_plan))
            planned += float(scenario_plan[column].sum())
        if cost_per_impression is not None:
            spend = cost_per_impression * planned
        else:
            spend = None if ad_spend is None else ad_spend * factor
        scenarios.append(Scenario(factor, np.stack(forecasts), spend))
    scale = inputs[0].scaling.target_scale()  # the one series' (a panel's calibration is in units of it)
    half_widths = {level: forecaster.intervals().sum_half_width(level, scale, inputs[0].fitted) for level in levels or []}
    return WhatIf(column, [label(forecaster, series) for series in inputs], inputs[0].dates, fixed, scenarios,
                  list(dict.fromkeys(warnings)), half_widths)


def label(forecaster: Forecaster, inputs: ForecastInputs) -> str:
    return key_label(forecaster.config.data.series, inputs.key)


def outside_seen(forecaster: Forecaster, plan: pd.DataFrame, where: str) -> list[str]:
    """A warning per planned column that leaves the range of values the model was fitted on."""
    warnings = []
    for column in plan.columns:
        if column not in forecaster.seen:
            continue
        low, high = forecaster.seen[column]
        lowest, highest = float(plan[column].min()), float(plan[column].max())
        if lowest < low or highest > high:
            warnings.append(f"warning: {where}, planned {column} spans {_number(lowest)} to {_number(highest)}, outside "
                            f"the {_number(low)} to {_number(high)} the model was fitted on: that forecast is an "
                            "extrapolation")
    return warnings


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(result: WhatIf, target: str) -> str:
    """The scenarios as aligned text: sales over the forecast dates, change, spend and ROAS."""
    dates = f"{result.dates[0]:%Y-%m-%d} to {result.dates[-1]:%Y-%m-%d}"
    held = "".join(f", {name} = {value:g}" for name, value in result.fixed.items())
    lines = [f"{target} forecast for {len(result.dates)} date(s), {dates}, by planned {result.column}{held}:"]
    with_spend = result.base.spend is not None
    header = f"  {result.column + ' x':>18}  {target + ' (sum)':>14}  {'vs base':>8}"
    header += "".join(f"  {f'{level:g} % interval':>25}" for level in result.sum_half_widths)
    if with_spend:
        header += f"  {'ad spend':>12}  {'ROAS':>7}  {'incr. ROAS':>10}"
    lines.append(header)
    for scenario in result.scenarios:
        change = scenario.sales / result.base.sales - 1 if result.base.sales else math.nan
        line = f"  {scenario.factor:>18g}  {scenario.sales:>14,.1f}  {change:>+8.1%}"
        line += "".join(f"  {f'{scenario.sales - half:,.1f} to {scenario.sales + half:,.1f}':>25}"
                        for half in result.sum_half_widths.values())
        if with_spend:
            line += f"  {scenario.spend:>12,.2f}  {scenario.roas:>7.2f}  {result.incremental_roas(scenario):>10.2f}"
        lines.append(line)
    if with_spend:
        lines.append("ROAS = forecast sales / ad spend; incremental ROAS = extra sales / extra spend against the base plan.")
    if len(result.series) > 1:
        lines.append(f"{target} (sum) by series:")
        lines.append(f"  {'series':>24}" + "".join(f"  {f'{s.factor:g} x':>12}" for s in result.scenarios))
        for index, name in enumerate(result.series):
            lines.append(f"  {name:>24}" + "".join(f"  {s.series_sales[index]:>12,.1f}" for s in result.scenarios))
    if result.sum_half_widths:
        lines.append(f"Intervals of the sum over the {len(result.dates)} date(s), from residuals of such sums on rows the "
                     "model did not train on (not a sum of per-date intervals).")
    lines += result.warnings
    return "\n".join(lines)


def frame(result: WhatIf, target: str) -> pd.DataFrame:
    """One row per scenario: its factor, totals, ROAS and the forecast of every date; for a panel,
    one row per scenario and series (series "all": the totals), with the series' own totals."""
    rows = []
    panel = len(result.series) > 1
    for scenario in result.scenarios:
        row = {f"{result.column}_factor": scenario.factor, f"{target}_sum": scenario.sales,
               "ad_spend": scenario.spend, "roas": scenario.roas, "incremental_roas": result.incremental_roas(scenario)}
        for level, half in result.sum_half_widths.items():
            row[f"{target}_sum_lo_{level_name(level)}"] = scenario.sales - half
            row[f"{target}_sum_hi_{level_name(level)}"] = scenario.sales + half
        if panel:
            rows.append({"series": "all", **row, **dict(zip(map("{:%Y-%m-%d}".format, result.dates),
                                                             scenario.forecast.sum(axis=0)))})
            rows += [{"series": name, f"{result.column}_factor": scenario.factor, f"{target}_sum": float(sales),
                      **dict(zip(map("{:%Y-%m-%d}".format, result.dates), forecast))}
                     for name, sales, forecast in zip(result.series, scenario.series_sales, scenario.forecast)]
        else:
            rows.append({**row, **dict(zip(map("{:%Y-%m-%d}".format, result.dates), scenario.forecast[0]))})
    return pd.DataFrame(rows)


def write_png(result: WhatIf, target: str, path: Path) -> None:
    """The sales response curve (and ROAS, when spend is known) as a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    axes = fig.subplots()
    factors = [s.factor for s in result.scenarios]
    axes.plot(factors, [s.sales for s in result.scenarios], marker="o", color="#1f77b4", label=f"{target} (sum)")
    axes.set(title=f"What-if: {target} over {len(result.dates)} forecast date(s) by planned {result.column}",
             xlabel=f"{result.column} x planned", ylabel=f"{target} (sum)")
    axes.grid(alpha=0.3)
    if result.base.spend is not None:
        roas = axes.twinx()
        roas.plot(factors, [s.roas for s in result.scenarios], marker="s", linestyle="--", color="#ff7f0e")
        roas.set_ylabel("ROAS", color="#ff7f0e")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
