"""Split and window a loaded sales series, or a panel of them (`tuner.data.reading` reads the CSV).

`Dataset` splits the rows chronologically (at cut dates every series shares), fits its `Scaling`
on each series' training rows only and cuts model windows as row indices into the scaled rows:
strided views for one series, gathered batch by batch for a panel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from tuner.config.schema import DataConfig, SeriesShape, SplitConfig
from tuner.data.reading import load_frame
from tuner.data.scaling import Scaling
from tuner.data.seasonal import season_positions
from tuner.data.series import SeriesIndex
from tuner.data.static import StaticEncoding
from tuner.errors import DataError

log = logging.getLogger(__name__)

PARTS = ("train", "validation", "test")


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
    fields: np.ndarray | None = None  # (series, fields) float32: each series' id and static covariates (`tuner.data.static`)

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
        self.fields = self.encoding.encode(self.static) if data.series else None  # each series' id and static covariates
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
        positions = self.positions if data.seasonally_adjusted else None  # only a seasonal transform needs them
        self.scaling = Scaling.fit(self.values[rows], self.index.codes[rows], len(self.index), data.logged,
                                   None if positions is None else positions[rows], data.seasonality)
        self.scaled = self.scaling.apply(self.values, series=self.index.codes, positions=positions)
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
                                         self.fields)
        return self._windows[key]

    def actuals(self, part: str) -> np.ndarray:
        """Targets of `part`'s samples in the data's units, shape (samples, horizon)."""
        rows = self.windows(part).target_rows
        return self.target[rows[:, None] + np.arange(self.config.horizon)]

    def to_units(self, scaled_target: np.ndarray, part: str) -> np.ndarray:
        """Undo the target's scaling of forecasts of `part`'s samples."""
        return self.scaling.to_units(scaled_target, self.windows(part).series, self.step_positions(part))

    @cached_property
    def positions(self) -> np.ndarray:
        """Each row's place in the season (`tuner.data.seasonal`)."""
        return season_positions(self.dates, self.config.frequency, self.config.seasonality)

    def step_positions(self, part: str) -> np.ndarray:
        """The place in the season of each of `part`'s samples' forecast steps (samples, horizon)."""
        return self.positions[self.windows(part).target_rows[:, None] + np.arange(self.config.horizon)]

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
