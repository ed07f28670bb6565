"""Load, validate, resample, split and window a sales CSV.

The flow: `load_frame` reads and checks the file (every problem reported at once; trailing rows
without a target value are plans, which `load_with_plan` returns too), `resample`
turns daily rows into weeks or months, and `Dataset` splits the rows chronologically, fits
its `Scaling` on the training rows only and cuts model windows as strided views (no copies).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from tuner.calendar import calendar_frame
from tuner.config import DataConfig, SeriesShape, SplitConfig
from tuner.errors import DataError
from tuner.scaling import Scaling
from tuner.series import SeriesIndex, key_label
from tuner.static import StaticEncoding

log = logging.getLogger(__name__)

PARTS = ("train", "validation", "test")
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
    history = resample(_validate(history, config, codes[~planned], header), config)
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
    labels = [key_label(config.series, tuple(key)) for key in keys.itertuples(index=False)]
    return "; ".join(labels[:MAX_LISTED_ROWS]) + (f" and {len(labels) - MAX_LISTED_ROWS} more"
                                                 if len(labels) > MAX_LISTED_ROWS else "")


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
    codes = frame.groupby(list(config.series), sort=False).ngroup().to_numpy()
    days = frame.index.to_numpy().astype("datetime64[D]").astype(np.int64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    steps = np.diff(days)
    same = codes[1:] == codes[:-1]
    if config.frequency == "D" and np.all(steps[same] == 1):
        return frame  # every series daily without gaps: nothing to do
    parts = []
    for start, end in zip(starts, np.r_[starts[1:], len(frame)]):
        series = frame.iloc[start:end]
        label = key_label(config.series, tuple(series[list(config.series)].iloc[0]))
        try:
            resampled = _resample_series(series.drop(columns=list(config.series + config.static)), config)
        except DataError as exc:
            raise DataError(str(exc).replace(f"{config.path}: ", f"{config.path}: series {label}: ", 1)) from None
        for column in (*config.series, *config.static):
            resampled[column] = series[column].iloc[0]
        parts.append(resampled[[*config.series, *config.static, *config.file_columns]])
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


@dataclass(frozen=True)
class Windows:
    """Model samples of one split part: each sample's rows in the scaled series (every series'
    rows one after another), from which its inputs, targets and known-future values are cut.

    `inputs`, `targets` and `future` are views while the samples are consecutive rows (one
    series); a panel's are gathered, so training and forecasting gather them batch by batch
    (`batches`, `train.WindowTensors`) instead.
    """

    scaled: np.ndarray  # (rows, columns), float32, the target last
    target_rows: np.ndarray  # (samples,) row of each sample's first target step
    series: np.ndarray  # (samples,) each sample's series code
    window: int
    horizon: int
    known: np.ndarray | None = None  # (rows, known) the columns whose values are given for the forecast steps
    fields: np.ndarray | None = None  # (series, fields) float32: each series' id and static covariates (`tuner.static`)

    def __len__(self) -> int:
        return len(self.target_rows)

    def _take(self, view: np.ndarray, rows: np.ndarray) -> np.ndarray:
        consecutive = len(rows) and rows[-1] - rows[0] == len(rows) - 1
        return view[rows[0] : rows[-1] + 1] if consecutive else view[rows]

    def _views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        # writeable only so torch can wrap the views without a copy; nothing writes to them
        inputs = sliding_window_view(self.scaled, self.window, axis=0, writeable=True).transpose(0, 2, 1)
        targets = sliding_window_view(self.scaled[:, -1], self.horizon, writeable=True)
        future = None
        if self.known is not None:
            future = sliding_window_view(self.known, self.horizon, axis=0, writeable=True).transpose(0, 2, 1)
        return inputs, targets, future

    def batch(self, samples: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Inputs (n, window, columns), targets (n, horizon), known-future values (n, horizon,
        known) and series fields (n, fields) of the samples selected by `samples`."""
        rows = self.target_rows[samples]
        inputs, targets, future = self._views()
        return (self._take(inputs, rows - self.window), self._take(targets, rows),
                None if future is None else self._take(future, rows),
                None if self.fields is None else self.fields[self.series[samples]])

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """Inputs, known-future values and series fields of every sample, `size` at a time, in order."""
        for start in range(0, len(self), size):
            inputs, _, future, fields = self.batch(slice(start, start + size))
            yield inputs, future, fields

    @property
    def inputs(self) -> np.ndarray:
        return self.batch(slice(None))[0]

    @property
    def targets(self) -> np.ndarray:
        return self.batch(slice(None))[1]

    @property
    def future(self) -> np.ndarray | None:
        return self.batch(slice(None))[2]


def split_bounds(n: int, split: SplitConfig, fold: int | None = None) -> dict[str, tuple[int, int]]:
    """Row ranges of the train, validation and test parts (and "train+validation").

    With `split.folds` = K, fold k (0 = earliest) validates on the k-th of K successive
    windows, each as long as the validation part, that end where the validation part ends,
    and trains on every row before its window (an expanding window, as scikit-learn's
    `TimeSeriesSplit(test_size=...)` cuts it). The last fold is the single split; the test
    part is the same for every fold.
    """
    train_end, validation_end = int(n * split.train), int(n * (split.train + split.validation))
    if fold is not None:
        length = validation_end - train_end
        validation_end -= (split.folds - 1 - fold) * length
        train_end = max(0, validation_end - length)
    return {
        "train": (0, train_end),
        "validation": (train_end, validation_end),
        "test": (int(n * (split.train + split.validation)), n),
        "train+validation": (0, validation_end),
    }


class Dataset:
    """A validated series, or a panel of them, split chronologically: the cut dates come from the
    whole date range, so every series shares them; each series is scaled on its own rows of
    `scale_on` only, and no window crosses from one series into another."""

    def __init__(self, frame: pd.DataFrame, data: DataConfig, split: SplitConfig, scale_on: str = "train",
                 fold: int | None = None, search_windows: tuple[int, ...] = ()) -> None:
        """`scale_on`: the part whose rows fit the scaler: "train" while tuning,
        "train+validation" for the final fit. `fold`: a walk-forward fold (see `split_bounds`).
        `search_windows`: the window lengths trials may sample (search.window), all of which must fit."""
        self.config = data
        self.fold = fold
        self.search_windows = search_windows
        self.dates = frame.index
        self.index = SeriesIndex.of(frame, data.series)
        self.static = frame[list(data.static)].iloc[self.index.offsets[:-1]].reset_index(drop=True)
        self.encoding = StaticEncoding.fit(self.static)
        self.shape = SeriesShape(len(self.index), self.encoding.levels, len(self.encoding.numeric))
        self.values = frame[data.columns].to_numpy(dtype=np.float64)
        self.timeline = pd.DatetimeIndex(np.unique(self.dates.to_numpy())) if data.series else self.dates
        self.bounds = split_bounds(len(self.timeline), split, fold)
        self.longest = max(search_windows, default=data.window)
        self.ranges = {part: self._series_rows(*self.bounds[part]) for part in self.bounds}
        # a panel's series without a sample in the part scaling is fitted on: left out of every part
        self.unscaled = self._too_short(scale_on) if data.series else np.zeros(1, dtype=bool)
        self._check_parts(split)
        if not data.series and np.ptp(self.values[slice(*self.bounds[scale_on]), -1]) == 0:
            raise DataError(f"{data.path}: column {data.target}: the target is constant over the {scale_on} part, "
                            "so there is nothing to learn and scaling would divide by zero")
        rows = self.rows(scale_on)
        self.scaling = Scaling.fit(self.values[rows], self.index.codes[rows], len(self.index))
        self.scaled = self.scaling.apply(self.values, series=self.index.codes)
        self.known = np.ascontiguousarray(self.scaled[:, list(data.known_future_columns)]) if data.known_inputs else None
        self._windows: dict[tuple[str, int], Windows] = {}

    @classmethod
    def from_config(cls, data: DataConfig, split: SplitConfig, scale_on: str = "train") -> Dataset:
        return cls(load_frame(data), data, split, scale_on)

    @classmethod
    def folds(cls, frame: pd.DataFrame, data: DataConfig, split: SplitConfig,
              search_windows: tuple[int, ...] = ()) -> list[Dataset]:
        """The walk-forward folds, earliest first, each scaled on its own training rows."""
        return [cls(frame, data, split, fold=k, search_windows=search_windows) for k in range(split.folds)]

    def _series_rows(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Each series' first and end row within the dates timeline[start:end]."""
        if not self.config.series:
            return np.array([start]), np.array([end])
        firsts, dates = self.index.offsets[:-1], self.dates.to_numpy()

        def before(position: int) -> np.ndarray:  # each series' rows dated before timeline[position]
            if position >= len(self.timeline):
                return np.diff(self.index.offsets)
            return np.add.reduceat((dates < self.timeline[position].to_datetime64()).astype(np.int64), firsts)

        return firsts + before(start), firsts + before(end)

    def _first_target(self, part: str, window: int) -> np.ndarray:
        """Each series' first target row in `part`: a full window of its own rows before it, and for
        the scored parts one season too (seasonal-naive) and the longest searched window (so every
        window length and ensemble member forecasts the same samples)."""
        lead = window if part.startswith("train") else max(self.longest, self.config.seasonality)
        return np.maximum(self.ranges[part][0], self.index.offsets[:-1] + lead)

    def _samples(self, part: str, window: int) -> tuple[np.ndarray, np.ndarray]:
        """Target rows and series codes of `part`'s samples, series by series."""
        first = self._first_target(part, window)
        counts = np.clip(self.ranges[part][1] - self.config.horizon + 1 - first, 0, None)
        counts[self.unscaled] = 0
        return _ranges(first, counts), np.repeat(np.arange(len(self.index)), counts)

    def _too_short(self, part: str) -> np.ndarray:
        """Per series: whether it has no sample in `part` at the longest window."""
        first = self._first_target(part, self.longest)
        return self.ranges[part][1] - self.config.horizon + 1 - first <= 0

    def _check_parts(self, split: SplitConfig) -> None:
        """Every part must hold samples: for one series an error names the part that is too short;
        a panel's series too short for a part are left out of it (one line says which), and only a
        part that no series can fill is an error."""
        need = self.longest + self.config.horizon
        key = "the longest search.window" if self.search_windows else "data.window"
        where = f"fold {self.fold + 1} of split.folds = {split.folds}: " if self.fold is not None and split.folds > 1 else ""
        if not self.config.series:
            for part in PARTS:
                start, end = self.bounds[part]
                if end - start < need:
                    raise DataError(
                        f"{self.config.path}: {where}the {part} part has {end - start} of {len(self.values)} rows but "
                        f"needs at least {key} + data.horizon = {need}; use more rows, a shorter {key.split()[-1]}, "
                        "fewer split.folds or other split shares")
            if self.bounds["train"][1] <= self.config.seasonality:
                raise DataError(f"{self.config.path}: {where}the train part has {self.bounds['train'][1]} rows, not more "
                                f"than one season ({self.config.seasonality}); use more rows, fewer split.folds or "
                                "set data.season_length")
            return
        left_out = {part: np.flatnonzero(self._too_short(part) | self.unscaled) for part in PARTS}
        for part, codes in left_out.items():
            if len(codes) == len(self.index):
                raise DataError(f"{self.config.path}: {where}no series has enough rows in the {part} part: each needs "
                                f"{key} + data.horizon = {need} rows in it (and, in the validation and test parts, one "
                                f"season, {self.config.seasonality}, before it); use longer series, a shorter "
                                f"{key.split()[-1]}, fewer split.folds or other split shares")
        if any(len(codes) for codes in left_out.values()) and (self.fold is None or self.fold == split.folds - 1):
            parts = "; ".join(f"{part}: {len(codes)} ({self.index.listed(codes)})"
                              for part, codes in left_out.items() if len(codes))
            log.warning("%s: series too short for a part are left out of it, of %d series: %s",
                        self.config.path, len(self.index), parts)

    def rows(self, part: str) -> np.ndarray:
        """The rows of `part`, every series' in turn."""
        starts, ends = self.ranges[part]
        counts = ends - starts
        counts[self.unscaled] = 0
        return _ranges(starts, counts)

    def last_date(self, part: str) -> pd.Timestamp:
        """The last date of `part`."""
        return self.timeline[self.bounds[part][1] - 1]

    @property
    def target(self) -> np.ndarray:
        """The target series in its own units."""
        return self.values[:, -1]

    def windows(self, part: str, window: int | None = None) -> Windows:
        """Samples whose targets lie in `part`; their inputs may reach back into earlier parts
        of their own series.

        Built once per (part, window) and cached, so every trial reuses the same arrays.
        """
        window = window or self.config.window
        key = (part, window)
        if key not in self._windows:
            rows, series = self._samples(part, window)
            self._windows[key] = Windows(self.scaled, rows, series, window, self.config.horizon, self.known,
                                         self.encoding.encode(self.static) if self.config.series else None)
        return self._windows[key]

    def actuals(self, part: str) -> np.ndarray:
        """Targets of `part`'s samples in the data's units, shape (samples, horizon)."""
        rows = self.windows(part).target_rows
        return self.target[rows[:, None] + np.arange(self.config.horizon)]

    def to_units(self, scaled_target: np.ndarray, part: str) -> np.ndarray:
        """Undo the target's scaling of forecasts of `part`'s samples."""
        return self.scaling.to_units(scaled_target, self.windows(part).series)

    def fitted_range(self, part: str = "train+validation") -> dict[str, tuple[float, float]]:
        """Each column's (min, max) over `part`'s rows: what a model fitted on them has seen."""
        rows = self.values[self.rows(part)]
        return dict(zip(self.config.columns, zip(rows.min(axis=0).tolist(), rows.max(axis=0).tolist())))

    def baseline_forecasts(self, part: str) -> dict[str, np.ndarray]:
        """Naive (last value) and seasonal-naive (same step one season back) forecasts for `part`,
        each from its own series."""
        rows = self.windows(part).target_rows[:, None]
        steps = np.arange(self.config.horizon)
        season = self.config.seasonality
        return {
            "naive": np.broadcast_to(self.target[rows - 1], (len(rows), len(steps))),
            "seasonal_naive": self.target[rows + steps - season * (steps // season + 1)],
        }


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """starts[0], starts[0] + 1, ... (counts[0] values), then the same from starts[1], ..."""
    offsets = np.cumsum(counts) - counts
    return np.arange(counts.sum()) + np.repeat(starts - offsets, counts)
