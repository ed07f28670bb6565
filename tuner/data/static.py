"""What the network knows of a series beyond its rows: its id and its static covariates
(`data.static`), encoded per series as numbers. The first field is the series' code + 1 (for a
learned series embedding), then each categorical column's category index + 1, then each numeric
column standardised across series; index 0 stands for a series or category the model was not
fitted with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StaticEncoding:
    categories: dict[str, list[str]]  # categorical column -> its fitted values, in index order (from 1)
    numeric: dict[str, tuple[float, float]]  # numeric column -> (mean, scale) over the fitted series

    @classmethod
    def fit(cls, static: pd.DataFrame) -> StaticEncoding:
        """A column whose every value is a number is numeric; any other is categorical."""
        categories, numeric = {}, {}
        for column in static.columns:
            numbers = pd.to_numeric(static[column], errors="coerce")
            if numbers.notna().all() and np.isfinite(numbers).all():
                spread = float(numbers.std(ddof=0))
                numeric[column] = (float(numbers.mean()), spread if spread > 0 else 1.0)
            else:
                categories[column] = sorted(static[column].astype(str).unique().tolist())
        return cls(categories, numeric)

    @property
    def levels(self) -> tuple[int, ...]:
        """Each categorical column's embedding rows: its categories and one for an unseen value."""
        return tuple(len(values) + 1 for values in self.categories.values())

    def encode(self, static: pd.DataFrame, codes: np.ndarray | None = None) -> np.ndarray:
        """(series, 1 + categorical + numeric) float32 for the series in `static` (one row each);
        `codes`: their codes in the fitted model (-1: not fitted with it), default their rows' order."""
        codes = np.arange(len(static)) if codes is None else np.asarray(codes)
        fields = [codes + 1.0]
        for column, values in self.categories.items():
            index = pd.Index(values).get_indexer(static[column].astype(str))
            fields.append(index + 1.0)  # -1 (unseen) -> 0
        for column, (mean, scale) in self.numeric.items():
            fields.append((pd.to_numeric(static[column], errors="coerce").to_numpy(dtype=np.float64) - mean) / scale)
        return np.stack(fields, axis=1).astype(np.float32)

    def as_dict(self) -> dict[str, dict]:
        return {"categories": self.categories, "numeric": {k: list(v) for k, v in self.numeric.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, dict]) -> StaticEncoding:
        return cls(dict(data["categories"]), {k: (v[0], v[1]) for k, v in data["numeric"].items()})
