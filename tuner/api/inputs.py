"""What the Python API takes: a config as a path, a dict or keyword sections (one schema,
`tuner.config.schema`, names every option), and data as a path or a pandas DataFrame, which is
written as the CSV the CLI would read (`tuner.data.frames`), so that it is checked the same way
and its errors say the same, naming the DataFrame."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import pandas as pd

from tuner.config.loading import build_config, load_config
from tuner.config.schema import Config
from tuner.errors import ConfigError, DataError, TunerError

ConfigSource = Union[str, Path, Mapping[str, Any], Config, None]
DataSource = Union[pd.DataFrame, str, Path, None]

DICT_SOURCE = Path("<config>")  # a dict's "file": relative paths are taken from the current folder
NO_DATA_PATH = "<data.path not given>"  # a study tuned from a DataFrame reads the snapshot it keeps instead
FRAME_NAME = "DataFrame"  # how messages name data given as a DataFrame, where they name a CSV file


def plain(value: Any) -> Any:
    """A Python value as a TOML parser returns it: tuples as lists, paths as text, tables as dicts."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def dotted(sections: Mapping[str, Any]) -> dict[str, Any]:
    """`{"train": {"epochs": 5}}` -> `{"train.epochs": 5}`; a section must be a dict."""
    values = {}
    for section, keys in sections.items():
        if not isinstance(keys, Mapping):
            raise ConfigError(f"{section}={keys!r}: expected a dict of the [{section}] keys, e.g. "
                              f"{section}={{...}}")
        values |= {f"{section}.{key}": plain(value) for key, value in keys.items()}
    return values


def has_data_path(config: ConfigSource) -> bool:
    """Whether `config` names its data: a file or Config always does (or fails to, with its own error)."""
    return not isinstance(config, (Mapping, type(None))) or "path" in (config or {}).get("data", {})


def config_from(config: ConfigSource, sections: Mapping[str, Any], df: DataSource = None) -> Config:
    """The validated config: `config` (a TOML or JSON path, a dict of sections, a Config, or None
    for the defaults), then `sections` (dotted keys or dicts of keys by section) on top, then
    `df` as data.path (a DataFrame: a placeholder until it is written, `data.frames.frame_file`;
    none given: `NO_DATA_PATH`, for a study that keeps its data)."""
    values = {key: plain(value) for key, value in sections.items() if "." in key}
    values |= dotted({key: value for key, value in sections.items() if "." not in key})
    if df is not None and not isinstance(df, (pd.DataFrame, str, Path)):
        raise DataError(f"df: expected a pandas DataFrame or a path to a CSV file, got {type(df).__name__}")
    if df is not None:
        values["data.path"] = FRAME_NAME if isinstance(df, pd.DataFrame) else str(Path(df).resolve())  # from here
    elif not ("data.path" in values or has_data_path(config)):
        values["data.path"] = NO_DATA_PATH
    if isinstance(config, Config) and not values:
        return config
    if isinstance(config, (str, Path)):
        return load_config(config, values=values)
    if isinstance(config, Config):
        from tuner.config.export import config_to_dict

        raw, source = config_to_dict(config), config.source
    elif config is None or isinstance(config, Mapping):
        raw, source = plain(config or {}), DICT_SOURCE
    else:
        raise ConfigError(f"config={type(config).__name__}: expected a path to a TOML file, a dict of sections or None")
    for key, value in values.items():
        *tables, name = key.split(".")
        table = raw
        for part in tables:
            table = table.setdefault(part, {})
        table[name] = value
    return build_config(raw, source)


@contextlib.contextmanager
def frame_named(path: Path | None) -> Iterator[None]:
    """Errors that name the CSV written for a DataFrame name the DataFrame instead; rows are counted
    as in that CSV (the header is row 1, the frame's first row is row 2)."""
    try:
        yield
    except TunerError as exc:
        if path is None or str(path) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(path), FRAME_NAME)) from None
