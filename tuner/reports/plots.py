"""Forecast-vs-actual charts: plotly figures for the HTML report, PNG files for `fit` and `predict`.

Every chart is a few named lines over dates (`Lines`), so the report and the PNGs draw the
same thing. Plotting libraries are imported inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tuner.config.names import display_name
from tuner.config.schema import DataConfig

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from tuner.data.inputs import ForecastInputs
    from tuner.evaluation.scoring import TestForecast

Lines = dict[str, pd.Series]  # label -> values indexed by date
Bands = dict[str, tuple[pd.Series, pd.Series]]  # label (e.g. "80 % interval") -> lower and upper bounds by date

# label -> (colour, line style); other labels are drawn like "model"
STYLES = {
    "actual": ("#222222", "solid"),
    "history": ("#222222", "solid"),
    "model": ("#1f77b4", "solid"),
    "forecast": ("#1f77b4", "solid"),
    "naive": ("#999999", "dash"),
    "seasonal-naive": ("#ff7f0e", "dot"),
}
MATPLOTLIB_DASHES = {"solid": "-", "dash": "--", "dot": ":"}
HISTORY_WINDOWS = 3  # `predict --plot` shows this many model windows of history before the forecast


def lines_on_test_part(test: TestForecast) -> Lines:
    """Actual, model and baseline values on the test part, at the first forecast step of each
    sample; a panel's summed over its series, date by date."""
    dataset = test.dataset
    dates = dataset.dates[dataset.windows("test").target_rows]
    lines = {"actual": dataset.actuals("test")[:, 0], "model": test.forecast[:, 0]}
    for name, values in test.baselines.items():
        lines[display_name(name)] = values[:, 0]
    return {label: pd.Series(values, index=dates).groupby(level=0).sum() for label, values in lines.items()}


def prediction_lines(data: DataConfig, inputs: ForecastInputs, forecast: pd.DataFrame) -> Lines:
    """The tail of one series' target history and the forecast that `Forecaster.forecast` made from it."""
    history = pd.Series(inputs.past, index=inputs.past_dates, name=data.target).iloc[-HISTORY_WINDOWS * data.window:]
    dates = pd.to_datetime(forecast[data.date_column])
    future = pd.Series(forecast[f"{data.target}_forecast"].to_numpy(), index=dates)
    joined = pd.concat([history.iloc[-1:], future])  # starts at the last actual value, so the lines meet
    return {"history": history, "forecast": joined}


def prediction_bands(data: DataConfig, forecast: pd.DataFrame, levels: list[float], lines: Lines) -> Bands:
    """The intervals of `predict --intervals` as bands, widest first (so narrower ones draw on top),
    each starting from the last actual value, where the forecast line starts."""
    from tuner.evaluation.intervals import level_name

    start = lines["forecast"].iloc[:1]
    dates = pd.to_datetime(forecast[data.date_column])
    bands = {}
    for level in sorted(levels, reverse=True):
        name = level_name(level)
        low, high = (pd.Series(forecast[f"{data.target}_{side}_{name}"].to_numpy(), index=dates) for side in ("lo", "hi"))
        bands[f"{name} % interval"] = (pd.concat([start, low]), pd.concat([start, high]))
    return bands


def title_on_test_part(data: DataConfig, model: str) -> str:
    step = f" (forecast step 1 of {data.horizon})" if data.horizon > 1 else ""
    return f"Test part: {model} forecast vs actual {data.target}{step}"


def figure(lines: Lines, title: str, y_label: str) -> go.Figure:
    """An interactive plotly line chart of `lines`."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, series in lines.items():
        colour, dash = STYLES.get(label, STYLES["model"])
        fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), name=label, mode="lines",
                                 line={"color": colour, "dash": dash, "width": 1.5}))
    fig.update_layout(title=title, xaxis_title="date", yaxis_title=y_label, hovermode="x unified")
    return fig


def write_png(lines: Lines, title: str, y_label: str, path: Path, bands: Bands | None = None) -> None:
    """Write `lines` as a PNG line chart (matplotlib, no display needed), with `bands` shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots()
    for index, (label, (low, high)) in enumerate((bands or {}).items()):
        axes.fill_between(low.index, low.to_numpy(), high.to_numpy(), color=STYLES["forecast"][0],
                          alpha=0.15 + 0.1 * index, linewidth=0, label=label)
    for label, series in lines.items():
        colour, dash = STYLES.get(label, STYLES["model"])
        axes.plot(series.index, series.to_numpy(), label=label, color=colour, linestyle=MATPLOTLIB_DASHES[dash],
                  linewidth=1.2, marker="o" if label == "forecast" else None, markersize=4)
    axes.set(title=title, xlabel="date", ylabel=y_label)
    axes.grid(alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
