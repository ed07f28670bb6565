"""Read, validate and resample a sales CSV: one series, or a panel of them (`data.series`).

`load_frame` reads and checks the file (every problem reported at once; each series' trailing
rows without a target value are plans, which `load_with_plan` returns too), and `resample` turns
daily rows into weeks or months, series by series. `tuner.data.dataset.Dataset` splits and windows the result.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.config.schema import DataConfig
from tuner.data.calendar import calendar_frame
from tuner.data.derived import add_carryover, add_interactions
from tuner.data.series import SeriesIndex, key_label, listed_labels
from tuner.errors import DataError

log = logging.getLogger(__name__)

PANDAS_FREQ = {"D": "D", "W": "W-SUN", "M": "ME"}  # weeks end on Sunday, months on their last day
MAX_LISTED_ROWS = 5
EMPTY_CELLS = ["", "nan", "NaN", "NA", "null"]


def load_frame(config: DataConfig) -> pd.DataFrame:
    """Read the CSV into a float frame indexed by date, sorted, checked and resampled.

    Rows after the last target value are plans for the forecast dates (`load_with_plan`), not
    history: one file can serve `tuner tune` and `tuner predict`, and future days are never
    filled in as sales.
    """
    return load_with_plan(config)[0]


def load_with_plan(config: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history (as `load_frame` reads it) and the plan: each series' rows after its last
    target value, whose known-future columns hold planned values for the forecast dates.

    The plan is indexed by date, with NaN where a planned value is empty (and, for a panel,
    its series columns).
    """
    raw, header = _read_csv(config.path, config.max_file_mb,
                            [config.date_column, *config.series, *config.static, *config.file_columns], config.file_columns)
    missing = [c for c in [*config.series, *config.static] if c not in raw.columns]
    if missing:
        raise DataError(f"{config.path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(data.series / data.static; the file has {', '.join(header)})")
    for column in [*config.series, *config.static]:
        raw[column] = _per_value(raw[column], lambda values: values.str.strip())
    codes = raw.groupby(list(config.series), sort=True).ngroup().to_numpy() if config.series else np.zeros(len(raw), int)
    planned = np.zeros(len(raw), dtype=bool)
    if config.target in raw.columns:
        has_target = ~_empty(raw[config.target]).to_numpy()
        # planned: no target value on this row or any later row of its series
        planned = ~pd.Series(has_target[::-1]).groupby(codes[::-1]).cummax().to_numpy()[::-1]
    if config.series and np.bincount(codes, weights=~planned).min() == 0:
        strangers = _series_of(raw, config, ~_has_history(planned, codes))
        raise DataError(f"{config.path}: plan rows for series without history in the file: {strangers} (each series "
                        f"needs rows with {config.target} before its plan rows)")
    if planned.all():
        raise DataError(f"{config.path}: column {config.target}: no row has a value; the history comes first, "
                        "then rows for the forecast dates with the target left empty")
    if planned.any():
        log.info("%s: %d row(s) after the last %s value are read as plans, not history",
                 config.path, planned.sum(), config.target)
    history = raw[~planned].copy() if planned.any() else raw
    history = resample(add_interactions(_validate(history, config, codes[~planned], header), config), config)
    history = add_carryover(history, config)
    if config.calendar_columns:
        calendar = calendar_frame(pd.DatetimeIndex(history.index), config)
        history[calendar.columns] = calendar.to_numpy()
    return history, _read_plan(raw[planned], config)


def _has_history(planned: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """True on every row of a series that has at least one history row."""
    return pd.Series(~planned).groupby(codes).transform("any").to_numpy()


def _series_of(raw: pd.DataFrame, config: DataConfig, mask: np.ndarray) -> str:
    """The series labels of the rows in `mask` (of a panel file), for messages."""
    keys = raw.loc[mask, list(config.series)].drop_duplicates()
    return listed_labels([key_label(config.series, tuple(key)) for key in keys.itertuples(index=False)])


def _read_plan(raw: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Dates and known-future values of the plan rows (and their series); bad cells are named by
    row. Their columns exist: the history's check has passed."""
    problems = []
    dates = _dates(raw[config.date_column])
    if dates.isna().any():
        problems.append(f"column {config.date_column}: unparseable dates at {_rows(dates.isna(), raw.index)}")
    values = {column: raw[column].to_numpy() for column in config.series}
    for column in config.known_future:
        numbers, bad = _numbers(raw[column])
        bad = bad | np.isinf(numbers)
        if bad.any():
            problems.append(f"column {column}: non-numeric planned values at {_rows(bad, raw.index)}")
        values[column] = numbers.to_numpy(dtype=np.float64)
    if problems:
        raise DataError(f"{config.path}: " + "; ".join(problems))
    return pd.DataFrame(values, index=pd.DatetimeIndex(dates, name=config.date_column))


def _per_value(column: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`convert` applied to each distinct value of a text column once (a panel repeats its ids and
    dates many times), then spread back over the rows."""
    codes, values = pd.factorize(column)
    return pd.Series(convert(pd.Series(values)).to_numpy().take(codes), index=column.index)


def _empty(column: pd.Series) -> pd.Series:
    """Empty cells of a column read as text or as numbers (`_read_csv`)."""
    return column.isna() if column.dtype.kind == "f" else column.str.strip().isin(EMPTY_CELLS)


def _numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A column's values as floats (NaN where empty or not a number), and where it held text that is
    not a number."""
    if column.dtype.kind == "f":
        return column, pd.Series(False, index=column.index)
    numbers = pd.to_numeric(column.str.strip(), errors="coerce")
    return numbers, numbers.isna() & ~_empty(column)


def _dates(column: pd.Series) -> pd.Series:
    """Dates parsed as ISO 8601 (fast), the rest in any format pandas recognises; NaT where none fits."""
    def parse(values: pd.Series) -> pd.Series:
        text = values.str.strip()
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
        other = dates.isna()
        if other.any():
            dates[other] = pd.to_datetime(text[other], errors="coerce", format="mixed")
        return dates

    return _per_value(column, parse)


def _read_csv(path: Path, max_mb: float, columns: list[str], numeric: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The file's `columns` (those it has; others are not read) as text, its `numeric` columns read
    straight as floats when every cell is a number or empty (the usual case: fast and compact),
    else as text, so that each bad cell can be named; and the names of all the file's columns."""
    if not path.is_file():
        raise DataError(f"{path}: data file not found (set data.path, relative to the config file)")
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        raise DataError(f"{path}: {size_mb:.3g} MB is over data.max_file_mb = {max_mb:g}; "
                        "aggregate it first or raise data.max_file_mb if the machine has the memory")
    try:
        found = pd.read_csv(path, nrows=0, skipinitialspace=True).columns
        header = [str(c).strip() for c in found]
        wanted = [original for original, name in zip(found, header) if name in columns] or None
        numbers = [original for original, name in zip(found, header) if name in numeric]
        try:
            raw = pd.read_csv(path, usecols=wanted, dtype=defaultdict(lambda: str, dict.fromkeys(numbers, "float64")),
                              keep_default_na=False, na_values=dict.fromkeys(numbers, EMPTY_CELLS),
                              skipinitialspace=True)
        except ValueError:  # a cell that is not a number: read as text, to name it
            raw = pd.read_csv(path, usecols=wanted, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"{path}: not a readable CSV file ({reason})") from None
    if raw.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw, header


def _rows(mask: pd.Series | np.ndarray, positions: pd.Index | None = None) -> str:
    """Spreadsheet-style row numbers (header = row 1) of the True entries; `positions`: the
    rows' places in the file when `mask` covers only some of them."""
    rows = np.flatnonzero(np.asarray(mask))
    rows = (rows if positions is None else np.asarray(positions)[rows]) + 2
    listed = ", ".join(str(r) for r in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {listed}{more}"


def _validate(raw: pd.DataFrame, config: DataConfig, codes: np.ndarray, header: list[str]) -> pd.DataFrame:
    """Check columns and cells, collecting every problem before raising one DataError; the frame
    comes back sorted by series, then date, with its series and static columns first."""
    path = config.path
    problems: list[str] = []
    wanted = [config.date_column, *config.file_columns]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(the file has {', '.join(header)})")

    def where(mask: pd.Series | np.ndarray) -> str:
        """Rows, and for a panel the series they belong to."""
        rows = _rows(mask, raw.index)
        return f"{rows} (series {_series_of(raw, config, np.asarray(mask))})" if config.series else rows

    dates, order = None, None
    if config.date_column in raw.columns:
        dates = _dates(raw[config.date_column])
        order = np.lexsort((dates.to_numpy().view(np.int64), codes))  # by series, then date; stable
        ordered = dates.to_numpy()[order]
        repeated = np.r_[False, (codes[order][1:] == codes[order][:-1]) & (ordered[1:] == ordered[:-1])]
        twice = np.zeros(len(raw), dtype=bool)
        twice[order] = repeated  # the later rows of each (series, date), as pandas' duplicated() marks them
        if dates.isna().any():
            problems.append(f"column {config.date_column}: unparseable dates at {where(dates.isna())}")
        elif twice.any():
            what = f"duplicate ({', '.join(config.series)}, {config.date_column})" if config.series else "duplicate dates"
            problems.append(f"column {config.date_column}: {what} at {where(twice)}")

    for column in config.series:
        if (raw[column] == "").any():
            problems.append(f"column {column}: empty series ids at {_rows(raw[column] == '', raw.index)}")
    values: dict[str, np.ndarray] = {column: raw[column].to_numpy() for column in [*config.series, *config.static]}
    for column in config.static:
        varies = raw.groupby(codes)[column].nunique().to_numpy() > 1
        if varies.any():
            problems.append(f"column {column}: varies within {where(np.isin(codes, np.flatnonzero(varies)))}; a "
                            "data.static column must hold one value per series")
    for column in config.file_columns:
        if column not in raw.columns:
            continue
        numbers, bad = _numbers(raw[column])
        empty = _empty(raw[column])
        if empty.any() and config.fill_missing == "error":
            problems.append(f"column {column}: empty or NaN cells at {where(empty)} "
                            "(fill them, or set data.fill_missing to zero, ffill or interpolate)")
        if bad.any():
            example = raw[column][bad].iloc[0].strip()
            problems.append(f"column {column}: non-numeric values at {where(bad)} (e.g. {example!r})")
        infinite = np.isinf(numbers)
        if infinite.any():
            problems.append(f"column {column}: infinite values at {where(infinite)}")
        if column == config.target and (numbers < 0).any():
            problems.append(f"column {column}: negative sales at {where(numbers < 0)}")
        values[column] = numbers.to_numpy(dtype=np.float64)

    if problems:
        raise DataError(f"{path}: " + "; ".join(problems))

    frame = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name=config.date_column))
    if config.series:
        frame = frame.iloc[order]
    elif not frame.index.is_monotonic_increasing:
        log.warning("%s: rows are not in date order; sorted them by %s", path, config.date_column)
        frame = frame.sort_index()
    return _fill(frame, config)


def _fill(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Apply `data.fill_missing` to empty cells within each series (only reached when it is not "error")."""
    numeric = config.file_columns
    if not frame[numeric].isna().any().any():
        return frame
    if config.fill_missing == "zero":
        frame[numeric] = frame[numeric].fillna(0.0)
        return frame
    by_series = frame.groupby(list(config.series), sort=False) if config.series else None
    if config.fill_missing == "ffill":
        filled = frame[numeric].ffill() if by_series is None else by_series[numeric].ffill()
    else:
        interpolate = lambda part: part.interpolate(method="time", limit_direction="both")
        filled = interpolate(frame[numeric]) if by_series is None else by_series[numeric].transform(interpolate)
    leading = filled.columns[filled.isna().any()].tolist()
    if leading:
        where = f"series {_series_of(frame.reset_index(drop=True), config, filled[leading[0]].isna().to_numpy())}: " \
            if config.series else ""
        raise DataError(f"{config.path}: {where}column {leading[0]}: empty cells at the start cannot be forward-filled; "
                        "use data.fill_missing = interpolate or zero")
    frame[numeric] = filled.to_numpy()
    return frame


def resample(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Aggregate each series to the configured frequency (sum volumes, average rates); check for gaps."""
    if not config.series:
        return _resample_series(frame, config)
    index = SeriesIndex.of(frame, config.series)
    codes = index.codes
    steps = np.diff(frame.index.to_numpy().astype("datetime64[D]").astype(np.int64))
    if config.frequency == "D" and np.all(steps[codes[1:] == codes[:-1]] == 1):
        return frame  # every series daily without gaps: nothing to do
    parts = []
    for code in range(len(index)):
        series = frame.iloc[index.offsets[code] : index.offsets[code + 1]]
        label = index.label(code)
        try:
            resampled = _resample_series(series.drop(columns=list(config.series + config.static)), config)
        except DataError as exc:
            raise DataError(str(exc).replace(f"{config.path}: ", f"{config.path}: series {label}: ", 1)) from None
        for column in (*config.series, *config.static):
            resampled[column] = series[column].iloc[0]
        parts.append(resampled[[*config.series, *config.static, *config.resampled_columns]])
    return pd.concat(parts)


def _resample_series(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Aggregate one series to the configured frequency, checking for gaps.

    Daily input resampled to weeks or months drops a partial first or last period, so that
    a half week of sales is never mistaken for a slow week.
    """
    path, freq = config.path, PANDAS_FREQ[config.frequency]
    steps = frame.index.to_series().diff().dropna()
    daily = steps.empty or steps.median() == pd.Timedelta(days=1)
    if daily:
        expected = pd.date_range(frame.index[0], frame.index[-1], freq="D")
        gaps = expected.difference(frame.index)
        if len(gaps):
            listed = ", ".join(d.strftime("%Y-%m-%d") for d in gaps[:MAX_LISTED_ROWS])
            raise DataError(f"{path}: column {config.date_column}: {len(gaps)} missing day(s) ({listed}); "
                            "add the rows (with zero sales where nothing sold)")
        if config.frequency == "D":
            return frame
    elif config.frequency == "D":
        raise DataError(f"{path}: column {config.date_column}: rows are not daily; "
                        "set data.frequency to W or M to match the file")

    how = {column: config.how_to_aggregate(column) for column in frame.columns}
    grouped = frame.resample(freq)
    counts = grouped.size()
    if (counts == 0).any():
        raise DataError(f"{path}: column {config.date_column}: no rows for the period ending "
                        f"{counts.index[counts == 0][0]:%Y-%m-%d}")
    result = grouped.agg(how)
    if daily:
        periods = frame.index.to_period(config.frequency)
        if frame.index[0] > periods[0].start_time:
            result = result.iloc[1:]
        if frame.index[-1] < periods[-1].end_time.normalize():
            result = result.iloc[:-1]
    return result
