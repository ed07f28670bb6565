"""Deterministic generator of the demo e-commerce data (`studies/ecommerce_daily.csv`).

Sales follow a trend, weekly and yearly seasonality, promotions whose discount lifts sales,
and ad impressions whose effect carries over several days (geometric adstock), times
multiplicative noise. `expected_sales` is the noise-free value: not a model input, it lets
benchmarks measure the noise floor.

Regenerate with `python -m tuner.data.demo studies/ecommerce_daily.csv`; `--plan N` appends N days
of plans (drivers known in advance, sales and the rates left empty) for `tuner predict` and
`tuner whatif`. `--series N` writes a panel instead (`studies/ecommerce_panel.csv`): N products
of three categories, each with its own sales level, ad response and promotion calendar, sharing
the weekly and yearly seasonality.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

WEEKDAY_EFFECT = np.array([0.92, 0.95, 0.97, 1.0, 1.06, 1.16, 1.12])  # Monday .. Sunday
AD_CARRYOVER = 0.6  # share of yesterday's ad stock that is still working today
NOISE_SIGMA = 0.08  # multiplicative (log-normal) noise on sales


def expected(dates: pd.DatetimeIndex, ad_impressions: np.ndarray, ctr: np.ndarray, cvr: np.ndarray,
             discount_rate: np.ndarray, seasonality_index: np.ndarray, level: float = 600.0,
             ad_response: float = 4.0) -> np.ndarray:
    """Noise-free sales of each day given the drivers: the generator's own response, which
    benchmarks use as the truth that what-if forecasts should find."""
    organic, ad_driven = components(dates, ad_impressions, ctr, cvr, seasonality_index, level, ad_response)
    return organic * (1 + 1.8 * discount_rate) + ad_driven


def components(dates: pd.DatetimeIndex, ad_impressions: np.ndarray, ctr: np.ndarray, cvr: np.ndarray,
               seasonality_index: np.ndarray, level: float = 600.0,
               ad_response: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Each day's organic sales before a discount's lift, and its sales driven by the ad stock
    carried over from earlier days: the two terms of `expected`."""
    days = len(dates)
    conversions = ad_impressions * ctr * cvr
    ad_stock = np.zeros(days)
    for i in range(days):  # adstock is a recursion; 1k steps, run once when the file is made
        ad_stock[i] = conversions[i] + (AD_CARRYOVER * ad_stock[i - 1] if i else 0.0)
    organic = level * (1 + 0.25 * np.arange(days) / days) * WEEKDAY_EFFECT[dates.day_of_week] * seasonality_index
    ad_driven = ad_response * np.concatenate([[ad_stock[0]], ad_stock[:-1]])  # clicks buy from the next day on
    return organic, ad_driven


def generate(start: str = "2023-01-01", days: int = 1096, seed: int = 7, level: float = 600.0,
             ad_response: float = 4.0) -> pd.DataFrame:
    """Return one row per day: date, the five drivers, sales and expected_sales; `level`: the
    organic sales of an average day, `ad_response`: sales per ad conversion."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    t = np.arange(days)
    day_of_year = dates.day_of_year.to_numpy()

    seasonality_index = (
        1.0
        + 0.18 * np.sin(2 * np.pi * (day_of_year - 100) / 365.25)
        + 0.35 * np.exp(-(((day_of_year - 330) / 12.0) ** 2))  # late-November shopping peak
    )

    discount_rate = np.zeros(days)
    day = int(rng.integers(10, 30))
    while day < days:  # promotions of 3-7 days every 3-7 weeks
        length = int(rng.integers(3, 8))
        discount_rate[day : day + length] = rng.choice([0.1, 0.15, 0.2, 0.3])
        day += length + int(rng.integers(20, 50))

    campaign = np.convolve(rng.random(days) < 0.04, np.ones(10), mode="same") > 0  # ~10-day ad bursts
    ad_impressions = np.round(
        40_000 * level / 600 * (1 + 0.002 * t) * (1 + 1.5 * campaign) * rng.lognormal(0, 0.15, days)
    )
    ctr = np.clip(0.021 + 0.006 * campaign + 0.02 * discount_rate + rng.normal(0, 0.0015, days), 0.005, None)
    cvr = np.clip(0.032 + 0.08 * discount_rate + rng.normal(0, 0.002, days), 0.005, None)

    expected_sales = expected(dates, ad_impressions, ctr, cvr, discount_rate, seasonality_index, level, ad_response)
    sales = expected_sales * rng.lognormal(-NOISE_SIGMA**2 / 2, NOISE_SIGMA, days)

    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "ad_impressions": ad_impressions.astype(int),
            "ctr": ctr.round(5),
            "cvr": cvr.round(5),
            "discount_rate": discount_rate,
            "seasonality_index": seasonality_index.round(4),
            "sales": sales.round(2),
            "expected_sales": expected_sales.round(2),
        }
    )


def with_plan(days: int = 1096, plan_days: int = 7) -> pd.DataFrame:
    """`generate(days)` followed by `plan_days` plan rows: impressions, discounts and seasonality
    from a longer run of the generator, with sales, expected sales, CTR and CVR left empty."""
    plan = generate(days=days + plan_days).iloc[days:].copy()
    plan[["ctr", "cvr", "sales", "expected_sales"]] = np.nan
    return pd.concat([generate(days=days), plan], ignore_index=True)


CATEGORIES = ("home", "beauty", "toys")


def panel(series: int, days: int = 1096, seed: int = 11) -> pd.DataFrame:
    """`series` products, one after another: columns product and category, then `generate`'s.
    Levels are log-normal (a few large sellers, many small ones), ad responses uniform."""
    rng = np.random.default_rng(seed)
    levels = np.round(np.exp(rng.normal(np.log(150), 0.9, series)), 1)
    responses = np.round(rng.uniform(1.0, 6.0, series), 2)
    frames = []
    for index in range(series):
        frame = generate(days=days, seed=seed * 1000 + index, level=levels[index], ad_response=responses[index])
        frame.insert(1, "product", f"P{index + 1:03d}")
        frame.insert(2, "category", CATEGORIES[index % len(CATEGORIES)])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tuner.data.demo", description="Write the demo sales CSV.")
    parser.add_argument("output", nargs="?", default="studies/ecommerce_daily.csv")
    parser.add_argument("--plan", type=int, default=0, metavar="N", help="append N days of plans after the history")
    parser.add_argument("--series", type=int, default=0, metavar="N", help="write a panel of N products instead")
    args = parser.parse_args(argv)
    if args.series > 0:
        frame = panel(args.series)
    else:
        frame = with_plan(plan_days=args.plan) if args.plan > 0 else generate()
    frame.to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
