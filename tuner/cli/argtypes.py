"""The command line's value types: each turns one flag's text into its value, or raises
argparse's error with the rule and the value given (argparse prints it as a usage error)."""

from __future__ import annotations

import argparse


def png_file(text: str) -> str:
    """A file name ending in .png."""
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"must be a .png file, got {text!r}")
    return text


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def gpu_list(text: str) -> list[int]:
    """Comma-separated GPU indices, e.g. 0,1."""
    try:
        indices = [int(item) for item in text.split(",")]
    except ValueError:
        indices = [-1]
    if any(index < 0 for index in indices):
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1, got {text!r}")
    return indices


def gpu_index(text: str) -> int:
    """One GPU index, e.g. 1."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a GPU index like 0 or 1, got {text!r}")
    return int(text)


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def unit_fraction_or_auto(text: str) -> float | str:
    """A number from 0 to 1, or "auto" (chosen by the command)."""
    return text if text == "auto" else unit_fraction(text)


def unit_fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}")
    return value
