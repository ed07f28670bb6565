"""Inputs computed from the features (`data.interactions`, `data.carryover`), history only.

- An interaction is the product of features on each row, before rows are aggregated to weeks or
  months: ad conversions are impressions × CTR × CVR, and a week's are the sum of its days'.
- A carry-over input is a column's exponentially weighted mean over its past rows, with a given
  half-life in rows (geometric adstock, as marketing-mix models write an ad's effect that fades
  over the days after it ran). The networks could learn such a sum from their window, but from
  a few hundred windows they learn it poorly, and gradient boosting, which sees the drivers of
  the window's last row only, cannot form it at all (docs/decisions/inputs.md, "Ad
  carry-over").

Each series' carry-over starts at its first row, so its first values are not yet warmed up: a
file given to `tuner predict` should hold a few half-lives of rows before the model's window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuner.config.schema import DataConfig


def add_interactions(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """`frame` with each interaction's column: the row-wise product of its features."""
    for name, sources in data.interactions.items():
        frame[name] = np.prod(frame[list(sources)].to_numpy(dtype=np.float64), axis=1)
    return frame


def add_carryover(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """`frame` (sorted by series, then date) with each carry-over column, computed within each series."""
    for source, half_life, name in data.carryover_columns:
        column = frame[source]
        frame[name] = (column.groupby([frame[c] for c in data.series], sort=False).transform(carried_over, half_life)
                       if data.series else carried_over(column, half_life))
    return frame


def carried_over(column: pd.Series, half_life: float) -> pd.Series:
    """The exponentially weighted mean of `column` up to each row: its first value, then each row
    carries 0.5 ** (1 / half_life) of the row before."""
    return column.ewm(halflife=half_life, adjust=False).mean()
