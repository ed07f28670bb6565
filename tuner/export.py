"""Write a config back out, as TOML or JSON: for `tuner export` and model directories."""

from __future__ import annotations

import json
import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from tuner.config import SECTIONS, Config, Range


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
    elif config.params.model != "lstm_transformer":
        for key in ("num_heads", "ff_size"):
            del result["params"][key]
    return result


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
    """TOML text for sections of scalars, lists and flat inline tables (all a config holds)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for name, section in data.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in section.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")
