"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew and Ksikes, 2004), as AutoGluon weighs
its models: start empty; each round, add (with replacement) the candidate whose addition gives the
ensemble the best score; after the rounds, keep the rounds up to the best score seen. The weights
are the counts over the rounds kept, so the ensemble is never worse on the rows it was chosen on
than its best member alone."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Score = Callable[[np.ndarray], float]  # a forecast -> its error on the backtest rows (lower is better)


def weighted(forecasts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted sum of the members' forecasts (the same units and rows for each)."""
    return sum(weight * forecasts[name] for name, weight in weights.items() if weight)


def greedy_weights(forecasts: dict[str, np.ndarray], score: Score, rounds: int,
                   fixed: np.ndarray | None = None, share: float = 1.0) -> dict[str, float]:
    """Each candidate's weight, summing to `share`; the ensemble scored is `fixed` (the forecast of
    the members at fixed weights, summing to 1 - `share`) plus the chosen ones. Ties go to the
    candidate listed first."""
    names = list(forecasts)
    base = np.zeros_like(next(iter(forecasts.values()))) if fixed is None else fixed
    total = np.zeros_like(base)
    counts = np.zeros(len(names), dtype=int)
    trail: list[tuple[float, np.ndarray]] = []
    for done in range(1, rounds + 1):
        trials = [score(base + share * (total + forecasts[name]) / done) for name in names]
        best = int(np.argmin(trials))
        counts[best] += 1
        total = total + forecasts[names[best]]
        trail.append((trials[best], counts.copy()))
    kept = min(range(len(trail)), key=lambda index: trail[index][0])  # the first round of the best score
    chosen = trail[kept][1]
    return {name: share * count / chosen.sum() for name, count in zip(names, chosen) if count}
