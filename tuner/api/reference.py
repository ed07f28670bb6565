"""The API reference, `docs/api.md`, generated from `tuner.__all__` and the docstrings: each public
name with its signature and what it does, and each class's methods and properties. Regenerate it with

    python -m tuner.api.reference > docs/api.md

and `tests/test_api.py` fails while the file and the code differ."""

from __future__ import annotations

import inspect
from typing import Any

import tuner

HEADER = """# Python API

`import tuner` gives the CLI's tasks on pandas DataFrames; [quickstart.ipynb](quickstart.ipynb) runs
the whole flow. Options are the config's keys ([configuration reference](configuration.md)), given as
a TOML path, a dict of sections, or keyword sections such as `train={"epochs": 5}`. Importing
`tuner` loads neither torch nor Optuna; each name loads what it needs when first used. Errors
are `tuner.TunerError`s (`ConfigError`, `DataError`, `StorageError`, `ModelDirError`) with the CLI's
one-line messages; where the CLI names a CSV file, they name the `DataFrame`, and count its rows
as in that CSV (the header is row 1). Library calls leave the process as they found it: threads,
log levels and signal handlers are set for the call and restored after it.

Generated from the docstrings by `python -m tuner.api.reference > docs/api.md`.
"""


def first_paragraph(thing: Any) -> str:
    """A docstring's first paragraph, on one line."""
    doc = inspect.getdoc(thing) or ""
    return " ".join(doc.split("\n\n")[0].split())


def signature(function: Any) -> str:
    """The parameters and their defaults, without `self` and the type hints (see the docstring)."""
    parameters = [parameter.replace(annotation=inspect.Parameter.empty)
                  for parameter in inspect.signature(function).parameters.values() if parameter.name not in ("self", "cls")]
    return str(inspect.Signature(parameters))


def members(cls: type) -> list[str]:
    """A class's public properties and methods, in the order its body defines them."""
    lines = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            lines.append(f"  - `.{name}`: {first_paragraph(value)}")
        elif inspect.isfunction(value) or isinstance(value, classmethod):
            function = value.__func__ if isinstance(value, classmethod) else value
            lines.append(f"  - `.{name}{signature(function)}`: {first_paragraph(function)}")
    return lines


def render() -> str:
    lines = [HEADER]
    for name in tuner.__all__:
        thing = getattr(tuner, name)
        if inspect.isclass(thing) and issubclass(thing, Exception):
            lines.append(f"- `tuner.{name}`: {first_paragraph(thing)}")
        elif inspect.isclass(thing):
            lines.append(f"- `tuner.{name}`: {first_paragraph(thing)}")
            lines += members(thing)
        else:
            lines.append(f"- `tuner.{name}{signature(thing)}`: {first_paragraph(thing)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
