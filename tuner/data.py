"""Load, validate, resample, split and window a sales CSV.

The flow: `load_frame` reads and checks the file (every problem reported at once; trailing rows
without a target value are plans, which `load_with_plan` returns too), `resample`
turns daily rows into weeks or months, and `Dataset` splits the rows chronologically, fits
its `Scaling` on the training rows only and cuts model windows as strided views (no copies).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from tuner.calendar import calendar_frame
from tuner.config import DataConfig, SplitConfig
from tuner.errors import DataError
from tuner.scaling import Scaling

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
    """The history (as `load_frame` reads it) and the plan: the rows after the last target
    value, whose known-future columns hold planned values for the forecast dates.

    The plan is indexed by date, with NaN where a planned value is empty.
    """
    raw = _read_csv(config.path, config.max_file_mb)
    raw.columns = [str(c).strip() for c in raw.columns]
    planned = pd.Series(False, index=raw.index)
    if config.target in raw.columns:
        has_target = ~raw[config.target].str.strip().isin(EMPTY_CELLS)
        planned = ~has_target & (np.arange(len(raw)) > np.flatnonzero(has_target).max(initial=-1))
    if planned.all():
        raise DataError(f"{config.path}: column {config.target}: no row has a value; the history comes first, "
                        "then rows for the forecast dates with the target left empty")
    if planned.any():
        log.info("%s: %d row(s) after the last %s value are read as plans, not history",
                 config.path, planned.sum(), config.target)
    history = resample(_validate(raw[~planned].copy(), config), config)
    if config.calendar_columns:
        history = history.join(calendar_frame(history.index, config))
    return history, _read_plan(raw[planned], config)


def _read_plan(raw: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Dates and known-future values of the plan rows; bad cells are named by row. Their columns
    exist: the history's check has passed."""
    problems = []
    dates = pd.to_datetime(raw[config.date_column].str.strip(), errors="coerce", format="mixed")
    if dates.isna().any():
        problems.append(f"column {config.date_column}: unparseable dates at {_rows(dates.isna(), raw.index)}")
    values = {}
    for column in config.known_future:
        text = raw[column].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna() & ~text.isin(EMPTY_CELLS) | np.isinf(numbers)
        if bad.any():
            problems.append(f"column {column}: non-numeric planned values at {_rows(bad, raw.index)}")
        values[column] = numbers.to_numpy(dtype=np.float64)
    if problems:
        raise DataError(f"{config.path}: " + "; ".join(problems))
    return pd.DataFrame(values, index=pd.DatetimeIndex(dates, name=config.date_column))


def _read_csv(path: Path, max_mb: float) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: data file not found (set data.path, relative to the config file)")
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        raise DataError(f"{path}: {size_mb:.3g} MB is over data.max_file_mb = {max_mb:g}; "
                        "aggregate it first or raise data.max_file_mb if the machine has the memory")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"{path}: not a readable CSV file ({reason})") from None
    if raw.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return raw


def _rows(mask: pd.Series | np.ndarray, positions: pd.Index | None = None) -> str:
    """Spreadsheet-style row numbers (header = row 1) of the True entries; `positions`: the
    rows' places in the file when `mask` covers only some of them."""
    rows = np.flatnonzero(np.asarray(mask))
    rows = (rows if positions is None else np.asarray(positions)[rows]) + 2
    listed = ", ".join(str(r) for r in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {listed}{more}"


def _validate(raw: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Check columns and cells, collecting every problem before raising one DataError."""
    path = config.path
    raw.columns = [str(c).strip() for c in raw.columns]
    problems: list[str] = []
    wanted = [config.date_column, *config.file_columns]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(the file has {', '.join(raw.columns)})")

    dates = None
    if config.date_column in raw.columns:
        text = raw[config.date_column].str.strip()
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
        if dates.isna().any():
            problems.append(f"column {config.date_column}: unparseable dates at {_rows(dates.isna())}")
        elif dates.duplicated().any():
            problems.append(f"column {config.date_column}: duplicate dates at {_rows(dates.duplicated())}")

    values = {}
    for column in config.file_columns:
        if column not in raw.columns:
            continue
        text = raw[column].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        empty = text.isin(EMPTY_CELLS)
        bad = numbers.isna() & ~empty
        if empty.any() and config.fill_missing == "error":
            problems.append(f"column {column}: empty or NaN cells at {_rows(empty)} "
                            "(fill them, or set data.fill_missing to zero, ffill or interpolate)")
        if bad.any():
            example = text[bad].iloc[0]
            problems.append(f"column {column}: non-numeric values at {_rows(bad)} (e.g. {example!r})")
        infinite = np.isinf(numbers)
        if infinite.any():
            problems.append(f"column {column}: infinite values at {_rows(infinite)}")
        if column == config.target and (numbers < 0).any():
            problems.append(f"column {column}: negative sales at {_rows(numbers < 0)}")
        values[column] = numbers.to_numpy(dtype=np.float64)

    if problems:
        raise DataError(f"{path}: " + "; ".join(problems))

    frame = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name=config.date_column))
    if not frame.index.is_monotonic_increasing:
        log.warning("%s: rows are not in date order; sorted them by %s", path, config.date_column)
        frame = frame.sort_index()
    return _fill(frame, config)


def _fill(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Apply `data.fill_missing` to empty cells (only reached when it is not "error")."""
    if not frame.isna().any().any():
        return frame
    if config.fill_missing == "zero":
        return frame.fillna(0.0)
    filled = frame.ffill() if config.fill_missing == "ffill" else frame.interpolate(method="time", limit_direction="both")
    leading = filled.columns[filled.isna().any()].tolist()
    if leading:
        raise DataError(f"{config.path}: column {leading[0]}: empty cells at the start cannot be forward-filled; "
                        "use data.fill_missing = interpolate or zero")
    return filled


def resample(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Aggregate to the configured frequency (sum volumes, average rates); check for gaps.

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
    """Model samples of one split part, as views into the scaled series."""

    inputs: np.ndarray  # (samples, window, columns), scaled, float32, the target last
    targets: np.ndarray  # (samples, horizon), scaled, float32
    target_rows: np.ndarray  # row index of each sample's first target step
    future: np.ndarray | None = None  # (samples, horizon, known-future columns) at the forecast steps

    def __len__(self) -> int:
        return len(self.target_rows)


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
    """A validated series, split chronologically, scaled on its training rows only."""

    def __init__(self, frame: pd.DataFrame, data: DataConfig, split: SplitConfig, scale_on: str = "train",
                 fold: int | None = None, search_windows: tuple[int, ...] = ()) -> None:
        """`scale_on`: the part whose rows fit the scaler: "train" while tuning,
        "train+validation" for the final fit. `fold`: a walk-forward fold (see `split_bounds`).
        `search_windows`: the window lengths trials may sample (search.window), all of which must fit."""
        self.config = data
        self.fold = fold
        self.search_windows = search_windows
        self.dates = frame.index
        self.values = frame[data.columns].to_numpy(dtype=np.float64)
        self.bounds = self._checked(split_bounds(len(frame), split, fold), split)
        start, end = self.bounds[scale_on]
        if np.ptp(self.values[start:end, -1]) == 0:
            raise DataError(f"{data.path}: column {data.target}: the target is constant over the {scale_on} part, "
                            "so there is nothing to learn and scaling would divide by zero")
        self.scaling = Scaling.fit(self.values[start:end])
        self.scaled = self.scaling.apply(self.values)
        self._windows: dict[tuple[str, int], Windows] = {}

    @classmethod
    def from_config(cls, data: DataConfig, split: SplitConfig, scale_on: str = "train") -> Dataset:
        return cls(load_frame(data), data, split, scale_on)

    @classmethod
    def folds(cls, frame: pd.DataFrame, data: DataConfig, split: SplitConfig,
              search_windows: tuple[int, ...] = ()) -> list[Dataset]:
        """The walk-forward folds, earliest first, each scaled on its own training rows."""
        return [cls(frame, data, split, fold=k, search_windows=search_windows) for k in range(split.folds)]

    def _checked(self, bounds: dict[str, tuple[int, int]], split: SplitConfig) -> dict[str, tuple[int, int]]:
        window = max(self.search_windows, default=self.config.window)
        key = "the longest search.window" if self.search_windows else "data.window"
        need = window + self.config.horizon
        where = f"fold {self.fold + 1} of split.folds = {split.folds}: " if self.fold is not None and split.folds > 1 else ""
        for part in PARTS:
            start, end = bounds[part]
            if end - start < need:
                raise DataError(
                    f"{self.config.path}: {where}the {part} part has {end - start} of {len(self.values)} rows but "
                    f"needs at least {key} + data.horizon = {need}; use more rows, a shorter {key.split()[-1]}, "
                    "fewer split.folds or other split shares"
                )
        if bounds["train"][1] <= self.config.seasonality:
            raise DataError(f"{self.config.path}: {where}the train part has {bounds['train'][1]} rows, not more "
                            f"than one season ({self.config.seasonality}); use more rows, fewer split.folds or "
                            "set data.season_length")
        return bounds

    @property
    def target(self) -> np.ndarray:
        """The target series in its own units."""
        return self.values[:, -1]

    def windows(self, part: str, window: int | None = None) -> Windows:
        """Samples whose targets lie in `part`; their inputs may reach back into earlier parts.

        Built once per (part, window) and cached, so every trial reuses the same arrays.
        """
        window = window or self.config.window
        key = (part, window)
        if key not in self._windows:
            horizon = self.config.horizon
            start, end = self.bounds[part]
            rows = np.arange(max(start, window), end - horizon + 1)
            # writeable only so torch can wrap the views without a copy; nothing writes to them
            inputs = sliding_window_view(self.scaled, window, axis=0, writeable=True).transpose(0, 2, 1)
            targets = sliding_window_view(self.scaled[:, -1], horizon, writeable=True)
            first, last = rows[0], rows[-1] + 1  # slices, so the arrays stay views
            future = None
            if self.config.known_inputs:
                known = np.ascontiguousarray(self.scaled[:, list(self.config.known_future_columns)])
                future = sliding_window_view(known, horizon, axis=0, writeable=True).transpose(0, 2, 1)[first:last]
            self._windows[key] = Windows(inputs[first - window : last - window], targets[first:last], rows, future)
        return self._windows[key]

    def actuals(self, part: str) -> np.ndarray:
        """Targets of `part`'s samples in the data's units, shape (samples, horizon)."""
        rows = self.windows(part).target_rows
        return self.target[rows[:, None] + np.arange(self.config.horizon)]

    def to_units(self, scaled_target: np.ndarray) -> np.ndarray:
        """Undo the target's scaling."""
        return self.scaling.to_units(scaled_target)

    def fitted_range(self, part: str = "train+validation") -> dict[str, tuple[float, float]]:
        """Each column's (min, max) over `part`'s rows: what a model fitted on them has seen."""
        rows = self.values[slice(*self.bounds[part])]
        return dict(zip(self.config.columns, zip(rows.min(axis=0).tolist(), rows.max(axis=0).tolist())))

    def baseline_forecasts(self, part: str) -> dict[str, np.ndarray]:
        """Naive (last value) and seasonal-naive (same step one season back) forecasts for `part`."""
        rows = self.windows(part).target_rows[:, None]
        steps = np.arange(self.config.horizon)
        season = self.config.seasonality
        return {
            "naive": np.broadcast_to(self.target[rows - 1], (len(rows), len(steps))),
            "seasonal_naive": self.target[rows + steps - season * (steps // season + 1)],
        }
