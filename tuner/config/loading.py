"""Reading a study config: TOML (or JSON) file + `--set` overrides -> the frozen dataclasses of
`tuner.config.schema`.

Every key is checked: unknown keys name the closest known one, wrong types name the key
and the expected type, and cross-field rules (ranges, splits, heads; `tuner.config.checks`) are
checked once here so later stages can trust the values. Older keys are read with a notice.
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
import types
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from tuner.config.names import METRIC_LOSS
from tuner.config.schema import SECTIONS, Config, Range
from tuner.errors import ConfigError

log = logging.getLogger(__name__)

MOVED = {"train.refit_seeds": "fit.seeds", "search.linear_skip": "search.autoregressive_skip",
         "params.linear_skip": "params.autoregressive_skip"}  # old key -> the key it is read as, with a notice
RETIRED = {"data.boosting_scaling": "both forms of gradient boosting are candidate members (boosting, "
           "levelled_boosting), weighed on backtest windows; choose among them with fit.members"}  # read, not used


def load_config(path: str | Path, overrides: typing.Sequence[str] = (), values: dict[str, Any] | None = None) -> Config:
    """Read a TOML config, apply `section.key=value` overrides, then `values` (typed, by
    dotted key, from dedicated CLI flags), and validate everything."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table of sections, got {type(raw).__name__}")
    for override in overrides:
        apply_override(raw, override, path)
    for dotted, value in (values or {}).items():
        *tables, key = dotted.split(".")
        table = raw
        for name in tables:
            table = table.setdefault(name, {})
        table[key] = value
    return build_config(raw, path)


def apply_override(raw: dict[str, Any], override: str, source: Path) -> None:
    """Set `section.key=value` in a raw config dict; the value is read as TOML, else as text."""
    dotted, sep, text = override.partition("=")
    section, dot, key = dotted.strip().partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. train.epochs=5")
    problem = _unknown(section, SECTIONS, "section") or (
        None if f"{section}.{key}" in {**MOVED, **RETIRED} else _unknown(key, _field_names(SECTIONS[section]), "key"))
    if problem:
        raise ConfigError(f"{source}: --set {dotted}: {problem}")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    raw.setdefault(section, {})[key] = value


def build_config(raw: dict[str, Any], source: Path) -> Config:
    """Turn a parsed TOML dict into a validated `Config`, reporting every problem at once."""
    from tuner.config.checks import check_config

    problems = [problem for section in raw if (problem := _unknown(section, SECTIONS, "section"))]
    if "data" not in raw or "path" not in raw.get("data", {}):
        raise ConfigError(f"{source}: [data] path is required (the CSV file with your sales)")
    raw = renamed_keys(raw, source)
    parts, bad_keys = {}, set()
    for name, cls in SECTIONS.items():
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: [{name}] must be a table, got {section!r}")
        parts[name], found = _build_section(cls, section, name)
        problems += found.values()
        bad_keys |= set(found)
    data_path = Path(parts["data"].path).expanduser()
    if not data_path.is_absolute():
        data_path = (source.parent / data_path).resolve()
    parts["data"] = replace(parts["data"], path=data_path)
    if parts["train"].loss == "auto":
        parts["train"] = replace(parts["train"], loss=METRIC_LOSS.get(parts["study"].metric, "mae"))
    config = Config(**parts, source=source)
    problems += [problem for key, problem in check_config(config) if key not in bad_keys]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return config


def renamed_keys(raw: dict[str, Any], source: Path | None) -> dict[str, Any]:
    """`raw` with each old key of `MOVED` read as its new key and each of `RETIRED` dropped, with a
    one-line notice for each that a file (`source`) holds; quietly for settings a study stored
    (`source` None)."""
    raw = {name: dict(section) if isinstance(section, dict) else section for name, section in raw.items()}
    for old, reason in [*((old, None) for old in MOVED), *RETIRED.items()]:
        section, _, key = old.partition(".")
        if not isinstance(raw.get(section), dict) or key not in raw[section]:
            continue
        value = raw[section].pop(key)
        if reason is None:
            new_section, _, new_key = MOVED[old].partition(".")
            raw.setdefault(new_section, {}).setdefault(new_key, value)
            reason = f"read as {MOVED[old]}"
        if source is not None:
            log.warning("notice: %s: %s is an older key; %s", source, old, reason)
    return raw


def _field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _unknown(name: str, known: typing.Iterable[str], what: str) -> str | None:
    """A problem when `name` is not among `known`, suggesting the closest known name."""
    known = list(known)
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"unknown {what} {name!r}; {hint}"


def _build_section(cls: type, values: dict[str, Any], name: str) -> tuple[Any, dict[str, str]]:
    """The section built from its valid keys, and a problem per invalid key (by dotted key)."""
    hints = typing.get_type_hints(cls)
    known = _field_names(cls)
    kwargs, problems = {}, {}
    for key, value in values.items():
        problem = _unknown(key, known, "key")
        if problem:
            problems[f"{name}.{key}"] = f"[{name}]: {problem}"
            continue
        try:
            kwargs[key] = _coerce(value, hints[key], f"{name}.{key}")
        except ConfigError as exc:
            problems[f"{name}.{key}"] = str(exc)
    return cls(**kwargs), problems


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check one TOML value against a field's type hint and convert it (lists to tuples...)."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str or hint is Path:
        if isinstance(value, str):
            return hint(value)
    elif hint is Range:
        if isinstance(value, dict) and set(value) == {"low", "high"}:
            return Range(_coerce(value["low"], float, key + ".low"), _coerce(value["high"], float, key + ".high"))
    elif origin is tuple:
        if isinstance(value, list):
            item = typing.get_args(hint)[0]
            return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    elif origin is dict:
        if isinstance(value, dict):
            item = typing.get_args(hint)[1]
            return {str(k): _coerce(v, item, f"{key}.{k}") for k, v in value.items()}
    elif origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
    raise ConfigError(f"{key} = {value!r}: expected {_describe(hint)}")


def _describe(hint: Any) -> str:
    if hint is Range:
        return "a range like { low = 1, high = 3 }"
    if typing.get_origin(hint) is tuple:
        item = _describe(typing.get_args(hint)[0])
        return f"a list of {item.removeprefix('an ').removeprefix('a ')}s"
    if typing.get_origin(hint) is dict:
        return f"a table of column = {_describe(typing.get_args(hint)[1])}"
    return {int: "an integer", float: "a number", str: "a string", Path: "a path", bool: "true or false"}.get(
        hint, str(hint)
    )
