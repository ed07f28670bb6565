"""The configuration reference, `docs/configuration.md`, generated from the schema itself: one
table per section, each key with its type, its default and the comment beside it in
`tuner/config/schema.py`. Regenerate it with

    python -m tuner.config.reference > docs/configuration.md

and `tests/test_config.py` fails while the file and the schema differ."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import re
import textwrap
import tokenize
from typing import Any

from tuner.config.schema import SECTIONS, Range

TYPES = {"str": "text", "int": "integer", "float": "number", "bool": "true or false", "Path": "path",
         "Range": "{ low, high }"}
SECTION_DOCS = {
    "data": "The CSV and how it becomes model inputs: columns, panels, frequency, window, horizon, scaling.",
    "split": "The chronological split: train, validation and the test part, and walk-forward folds.",
    "train": "How each network trains: epochs, batches, early stopping, loss, threads and device.",
    "search": "The search space Optuna samples trials from.",
    "study": "The Optuna study: its name, storage, metric, budget, sampler, pruner and heartbeat.",
    "params": "One trial's parameters, fixed (written by `tuner export`, read by `tuner fit`).",
    "fit": "How `tuner fit` makes the forecaster: candidates, weights, backtest and seeds.",
}


def type_name(annotation: str) -> str:
    """A field's annotation in words: "list of text", "table of numbers", ..."""
    if match := re.fullmatch(r"tuple\[(\w+), \.\.\.\]", annotation):
        return f"list of {TYPES.get(match[1], match[1])}"
    if match := re.fullmatch(r"dict\[str, (.+)\]", annotation):
        return f"table of {type_name(match[1])}"
    return TYPES.get(annotation, annotation)


def toml_value(value: Any) -> str:
    """A default as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Range):
        return f"{{ low = {toml_value(value.low)}, high = {toml_value(value.high)} }}"
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }" if value else "{}"
    return repr(value)


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class source (the text after `#` on its line)."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments = {token.start[0]: token.string.lstrip("# ").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    body = ast.parse(source).body[0].body
    return {node.target.id: comments.get(node.end_lineno, "") for node in body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}


def default_text(spec: dataclasses.Field) -> str:
    if spec.default is not dataclasses.MISSING:
        return f"`{toml_value(spec.default)}`"
    if spec.default_factory is not dataclasses.MISSING:
        return f"`{toml_value(spec.default_factory())}`"
    return "required"


def render() -> str:
    """The whole of docs/configuration.md."""
    lines = ["# Configuration reference", "",
             "Every key of a study config, by section, generated from `tuner/config/schema.py` "
             "(`python -m tuner.config.reference > docs/configuration.md`). Set any key in the TOML file, "
             "or on the command line with `--set section.key=value` (the value read as TOML).", ""]
    for section, cls in SECTIONS.items():
        comments = field_comments(cls)
        lines += [f"## [{section}]", "", SECTION_DOCS[section], "", "| key | type | default | what it does |",
                  "| --- | --- | --- | --- |"]
        for spec in dataclasses.fields(cls):
            text = comments[spec.name].replace("|", "\\|")
            lines.append(f"| `{section}.{spec.name}` | {type_name(str(spec.type))} | {default_text(spec)} | {text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
