"""Write a config back out, as TOML or JSON: for `tuner export` and model directories."""

from __future__ import annotations

import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import tomli_w

from tuner.config import SECTIONS, SINCE_ADDED, Config, Range
from tuner.names import SETTING_PARAMS, TRANSFORMER_PARAMS


def config_to_dict(config: Config, relative_to: Path | None = None) -> dict[str, dict[str, Any]]:
    """The config as plain TOML/JSON data; `data.path` relative to `relative_to` when given."""
    result: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        section = getattr(config, name)
        result[name] = {f.name: _plain(getattr(section, f.name)) for f in fields(section)}
    data_path = config.data.path
    if relative_to is not None:
        data_path = Path(os.path.relpath(data_path, relative_to))
    result["data"]["path"] = data_path.as_posix()
    if not config.params.model:
        del result["params"]
    else:
        unused = [key for key in SETTING_PARAMS if not result["params"][key]]
        if config.params.model != "lstm_transformer":
            unused += TRANSFORMER_PARAMS
        for key in unused:
            del result["params"][key]
    return result


def value_if_absent(section: str, key: str) -> Any:
    """What a config stored before `section.key` existed meant by leaving it out, as plain data:
    `SINCE_ADDED`'s value where the key's default has changed that since, else the default."""
    if f"{section}.{key}" in SINCE_ADDED:
        return SINCE_ADDED[f"{section}.{key}"]
    field = next(f for f in fields(SECTIONS[section]) if f.name == key)
    return _plain(field.default if field.default is not MISSING else field.default_factory())


def with_keys_added_since(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored config (a model directory's) with each `SINCE_ADDED` key it lacks set to what
    leaving it out meant then, so that a newer default does not change an older model."""
    completed = {name: dict(section) if isinstance(section, dict) else section for name, section in raw.items()}
    for dotted, value in SINCE_ADDED.items():
        section, key = dotted.split(".")
        if isinstance(completed.get(section), dict):
            completed[section].setdefault(key, value)
    return completed


def _plain(value: Any) -> Any:
    if isinstance(value, Range):
        return {"low": value.low, "high": value.high}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, dict):
        return dict(value)
    return value


def dump_toml(data: dict[str, dict[str, Any]], header: str = "") -> str:
    """TOML text of `data`, after a comment block `header`."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + ("\n" if comments else "") + tomli_w.dumps(data)
