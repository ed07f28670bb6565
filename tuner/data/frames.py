"""A pandas DataFrame as the CSV file `tuner` reads (`tuner.data.reading`): data given to the Python
API is written once per content, named by its SHA-256, and then read and checked as any file."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pandas as pd

from tuner.errors import DataError


def snapshot_name(sha256: str) -> str:
    """The file name of data with this SHA-256 (hex)."""
    return f"{sha256[:16]}.csv"


def frame_csv(frame: pd.DataFrame, date_column: str) -> bytes:
    """The CSV `tuner` would read for `frame`: its columns, and its index too where it holds the
    dates (a DatetimeIndex, or an index named `date_column`)."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"df: expected a pandas DataFrame or a path to a CSV file, got {type(frame).__name__}")
    if date_column not in frame.columns and (frame.index.name == date_column or isinstance(frame.index, pd.DatetimeIndex)):
        frame = frame.rename_axis(date_column).reset_index()
    text = io.StringIO()
    frame.to_csv(text, index=False)
    return text.getvalue().encode("utf-8")


def frame_file(frame: pd.DataFrame, date_column: str, folder: Path) -> tuple[Path, bool]:
    """`frame` written into `folder` as `<SHA-256 prefix>.csv`, once per content: its path, and
    whether this call wrote it (False: the same rows were there already). Whole or not at all:
    renamed into place."""
    content = frame_csv(frame, date_column)
    path = folder / snapshot_name(hashlib.sha256(content).hexdigest())
    if path.is_file():
        return path, False
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(content)
    partial.replace(path)
    return path, True
