"""The series of a panel file (`data.series`: one or more id columns): which rows belong to which
series, how a series is named in messages and output, and the `--series` filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tuner.errors import DataError

MAX_LISTED_SERIES = 5


@dataclass(frozen=True)
class SeriesIndex:
    """The series of rows sorted by series, then date: series `s` holds rows offsets[s]:offsets[s + 1]."""

    columns: tuple[str, ...]  # data.series; empty: the file is one series
    keys: tuple[tuple[str, ...], ...]  # each series' id values, in code order
    offsets: np.ndarray  # (series + 1,)

    @classmethod
    def of(cls, frame: pd.DataFrame, columns: tuple[str, ...]) -> SeriesIndex:
        """The series of `frame`, whose rows are sorted by series (as `loading.load_frame` leaves them)."""
        if not columns:
            return cls((), ((),), np.array([0, len(frame)]))
        ids = frame[list(columns)].astype(str)
        starts = np.flatnonzero(np.r_[True, (ids.to_numpy()[1:] != ids.to_numpy()[:-1]).any(axis=1)])
        keys = tuple(tuple(row) for row in ids.iloc[starts].itertuples(index=False))
        return cls(tuple(columns), keys, np.r_[starts, len(frame)])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def codes(self) -> np.ndarray:
        """Each row's series code."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))

    def label(self, code: int) -> str:
        """"store=3,sku=A17"; empty for a one-series file."""
        return key_label(self.columns, self.keys[code])

    def listed(self, codes: np.ndarray | list[int]) -> str:
        """Some of `codes`' labels, for a one-line message."""
        return listed_labels([self.label(code) for code in codes])


def listed_labels(labels: list[str]) -> str:
    """The first few of `labels` and how many more, for a one-line message."""
    text = "; ".join(labels[:MAX_LISTED_SERIES])
    return text + (f" and {len(labels) - MAX_LISTED_SERIES} more" if len(labels) > MAX_LISTED_SERIES else "")


def key_label(columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    return ",".join(f"{column}={value}" for column, value in zip(columns, key))


def parse_filter(text: str, columns: tuple[str, ...]) -> dict[str, str]:
    """`store=3,sku=A17` -> {"store": "3", "sku": "A17"}; every name must be a series column."""
    if not columns:
        raise DataError(f"--series {text!r}: this model was fitted on one series (data.series is empty)")
    chosen = {}
    for part in text.split(","):
        column, sep, value = part.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise DataError(f"--series {text!r}: expected COLUMN=VALUE,..., e.g. {columns[0]}=3")
        if column.strip() not in columns:
            raise DataError(f"--series {text!r}: {column.strip()!r} is not a series column "
                            f"(data.series: {', '.join(columns)})")
        chosen[column.strip()] = value.strip()
    return chosen
