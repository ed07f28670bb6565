"""Calendar features, computed from the dates alone and so known for every forecast date: each
`data.calendar` feature as sines and cosines of its position in its cycle (`data.calendar_harmonics`
pairs: harmonic k completes k cycles per period, as in a Fourier series), and, with
`data.holidays`, the number of public holidays in each period (a 0/1 flag for daily data)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuner.config.names import CALENDAR_PERIODS, HOLIDAY_COLUMN, calendar_waves
from tuner.config.schema import DataConfig

PERIODS = {"D": "D", "W": "W-SUN", "M": "M"}  # the span of one row at each data.frequency


def position(dates: pd.DatetimeIndex, name: str) -> np.ndarray:
    """0-based position of each date in the cycle `name` (Monday = 0, January = 0, ...)."""
    if name == "week_of_year":
        return dates.isocalendar().week.to_numpy(dtype=np.float64) - 1
    values = {"day_of_week": dates.day_of_week, "day_of_month": dates.day - 1, "day_of_year": dates.day_of_year - 1,
              "month": dates.month - 1, "quarter": dates.quarter - 1}[name]
    return np.asarray(values, dtype=np.float64)


def holiday_counts(dates: pd.DatetimeIndex, country: str, frequency: str) -> np.ndarray:
    """Public holidays of `country` within each row's period (the day, week or month ending at it)."""
    import holidays

    starts = dates.to_period(PERIODS[frequency]).start_time
    calendar = holidays.country_holidays(country, years=range(starts.min().year, dates.max().year + 1))
    days = pd.DatetimeIndex(sorted(calendar)).normalize()
    return (days.searchsorted(dates.normalize(), side="right") - days.searchsorted(starts, side="left")).astype(float)


def calendar_frame(dates: pd.DatetimeIndex, data: DataConfig) -> pd.DataFrame:
    """The calendar columns (`data.calendar_columns`) for `dates`."""
    columns: dict[str, np.ndarray] = {}
    for name in data.calendar:
        angle = 2 * np.pi * position(dates, name) / CALENDAR_PERIODS[name]
        for column, wave, k in calendar_waves(name, data.calendar_harmonics):
            columns[column] = np.sin(k * angle) if wave == "sin" else np.cos(k * angle)
    if data.holidays:
        columns[HOLIDAY_COLUMN] = holiday_counts(dates, data.holidays, data.frequency)
    return pd.DataFrame(columns, index=dates)
