"""`tuner.demo_data`: the demo study's generated e-commerce data as a DataFrame."""

from __future__ import annotations

import pandas as pd

from tuner.data import demo


def demo_data(days: int = 1096, series: int = 0, plan_days: int = 0) -> pd.DataFrame:
    """Daily sales with ad impressions, CTR, CVR, discount rate and a seasonality index, as in
    `studies/ecommerce_daily.csv` (`series` > 0: a panel of that many products, as
    `studies/ecommerce_panel.csv`); `plan_days` rows of plans after the history, whose sales are
    left empty, for `Model.predict` and `Model.whatif`. The same arguments give the same rows."""
    if series:
        return demo.panel(series, days)
    return demo.with_plan(days, plan_days) if plan_days else demo.generate(days=days)
