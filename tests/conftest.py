"""Shared fixtures: small study configs on generated data, written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.demo import generate

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "studies" / "ecommerce_daily.toml"

SMALL_CONFIG = """
[data]
path = "sales.csv"
features = ["ad_impressions", "ctr", "cvr", "discount_rate", "seasonality_index"]
window = 14
horizon = {horizon}
aggregation = {{ ad_impressions = "sum" }}

[train]
epochs = {epochs}
batch_size = 64
patience = 3
threads = 1

[search]
hidden_size = [16, 32]
num_heads = [1, 2]
ff_size = [32]

[study]
name = "small"
n_trials = 4
seed = 1
startup_trials = 2
"""


def write_study(folder: Path, days: int = 300, horizon: int = 1, epochs: int = 4, extra: str = "") -> Path:
    """A config plus a CSV of `days` generated rows in `folder`; returns the config path."""
    generate(days=days).to_csv(folder / "sales.csv", index=False)
    path = folder / "study.toml"
    path.write_text(SMALL_CONFIG.format(horizon=horizon, epochs=epochs) + extra)
    return path


@pytest.fixture
def small_study(tmp_path: Path) -> Path:
    return write_study(tmp_path)
