"""Write a config back out, as TOML or JSON: for `tuner export` and model directories."""

from __future__ import annotations

import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import tomli_w

from tuner.config.names import SETTING_PARAMS, TRANSFORMER_PARAMS
from tuner.config.schema import SECTIONS, Config, Range


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


BEFORE_KEY = {("train", "min_samples_per_epoch"): 0}  # keys whose default changed what leaving them out does


def value_if_absent(section: str, key: str) -> Any:
    """What a config stored before `section.key` existed meant by leaving it out, as plain data:
    the key's default, or, where the new key's default changed the behaviour, the one from before it."""
    if (section, key) in BEFORE_KEY:
        return BEFORE_KEY[section, key]
    field = next(f for f in fields(SECTIONS[section]) if f.name == key)
    return _plain(field.default if field.default is not MISSING else field.default_factory())


def _plain(value: Any) -> Any:
    if isinstance(value, Range):
        return {"low": value.low, "high": value.high}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def dump_toml(data: dict[str, dict[str, Any]], header: str = "") -> str:
    """TOML text of `data`, after a comment block `header`."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + ("\n" if comments else "") + tomli_w.dumps(data)
