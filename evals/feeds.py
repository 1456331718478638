"""Corrupted feeds with a known truth: a generated world's last days replayed as daily files
(`aisle data export-feed`), clean or broken in one known way, for the tests and the feed-quality
benchmark to check that every broken file is quarantined and no clean one is.

`withhold_sales` takes a world's last days out of `daily_sales` (kept as feed files first), so
they can arrive again as the files a retailer's systems send each night.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from retail.feeds.formats import FeedKind
from retail.store.models import DailySales

# One store's units (and the revenue with them) multiplied by this: a decimal point lost in one
# store's extract.
SCALE_ERROR = 100
DUPLICATED_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class FeedCase:
    """What a corruption needs to know: the day's clean file, the next day's (a missing day is
    the next day's file arriving first), the store's today, and a random stream. Files are
    text: every column is a string, as `pd.read_csv(..., dtype=str)` reads them."""

    clean: pd.DataFrame
    next_clean: pd.DataFrame | None
    today: dt.date
    rng: np.random.Generator


Corruption = Callable[[FeedCase], pd.DataFrame]


def withhold_sales(engine: Engine, first_day: dt.date) -> int:
    """Remove the sales of `first_day` and after (they arrive as feed files); the rows removed."""
    with engine.begin() as conn:
        return conn.execute(delete(DailySales).where(DailySales.day >= first_day)).rowcount


def sales_digest(engine: Engine) -> tuple[int, str]:
    """How many daily sales rows the store holds and a SHA-256 over all of them, in key order:
    equal digests, equal tables."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DailySales.variant_id,
                DailySales.location_id,
                DailySales.day,
                DailySales.units,
                DailySales.revenue,
            ).order_by(DailySales.variant_id, DailySales.location_id, DailySales.day)
        ).all()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def _one_location(case: FeedCase) -> str:
    """A store named in the file (ids starting S), drawn at random; the online channel on a day
    no store sold (the stores close on Christmas Day)."""
    present = sorted(set(case.clean["location_id"]))
    stores = [i for i in present if i.startswith("S")]
    return str(case.rng.choice(stores or present))


def _scaled_store(case: FeedCase) -> pd.DataFrame:
    frame = case.clean.copy()
    rows = frame["location_id"] == _one_location(case)
    units = frame.loc[rows, "units"].astype(int) * SCALE_ERROR
    revenue = (frame.loc[rows, "revenue"].astype(float) * SCALE_ERROR).round(2)
    frame.loc[rows, "units"] = units.astype(str)
    frame.loc[rows, "revenue"] = revenue.map("{:.2f}".format)
    return frame


def _store_missing(case: FeedCase) -> pd.DataFrame:
    return case.clean[case.clean["location_id"] != _one_location(case)]


def _day_missing(case: FeedCase) -> pd.DataFrame:
    if case.next_clean is None:
        raise ValueError("a missing day needs the next day's file")
    return case.next_clean


def _duplicated(case: FeedCase) -> pd.DataFrame:
    count = max(1, int(len(case.clean) * DUPLICATED_SHARE))
    picked = case.rng.choice(len(case.clean), size=count, replace=False)
    return pd.concat([case.clean, case.clean.iloc[np.sort(picked)]], ignore_index=True)


def _renamed(column: str, wrong: str) -> Corruption:
    def corrupt(case: FeedCase) -> pd.DataFrame:
        return case.clean.rename(columns={column: wrong})

    return corrupt


def _future(column: str) -> Corruption:
    def corrupt(case: FeedCase) -> pd.DataFrame:
        frame = case.clean.copy()
        frame[column] = (case.today + dt.timedelta(days=3)).isoformat()
        return frame

    return corrupt


def _unknown_store(case: FeedCase) -> pd.DataFrame:
    frame = case.clean.copy()
    frame.loc[frame["location_id"] == _one_location(case), "location_id"] = "S999"
    return frame


def _unknown_sku(case: FeedCase) -> pd.DataFrame:
    frame = case.clean.copy()
    row = int(case.rng.integers(len(frame)))
    frame.loc[frame.index[row], "variant_id"] = "NO-SUCH-SKU"
    return frame


def _negative(column: str) -> Corruption:
    def corrupt(case: FeedCase) -> pd.DataFrame:
        frame = case.clean.copy()
        row = int(case.rng.integers(len(frame)))
        frame.loc[frame.index[row], column] = "-12"
        return frame

    return corrupt


def _scaled_stock(case: FeedCase) -> pd.DataFrame:
    frame = case.clean.copy()
    rows = frame["location_id"] == _one_location(case)
    frame.loc[rows, "on_hand"] = (frame.loc[rows, "on_hand"].astype(int) * SCALE_ERROR).astype(str)
    return frame


def _scaled_price(case: FeedCase) -> pd.DataFrame:
    frame = case.clean.copy()
    row = int(case.rng.integers(len(frame)))
    frame.loc[frame.index[row], "price"] = f"{float(frame['price'].iloc[row]) * SCALE_ERROR:.2f}"
    return frame


CORRUPTIONS: dict[FeedKind, dict[str, Corruption]] = {
    "sales": {
        "store_day_x100": _scaled_store,
        "store_day_missing": _store_missing,
        "day_missing": _day_missing,
        "duplicated_rows": _duplicated,
        "negative_units": _negative("units"),
        "wrong_columns": _renamed("units", "qty"),
        "future_date": _future("day"),
        "unknown_store": _unknown_store,
        "unknown_sku": _unknown_sku,
    },
    "inventory": {
        "negative_stock": _negative("on_hand"),
        "store_stock_x100": _scaled_stock,
        "duplicated_rows": _duplicated,
        "wrong_columns": _renamed("on_hand", "stock"),
        "future_date": _future("as_of"),
        "unknown_store": _unknown_store,
        "unknown_sku": _unknown_sku,
    },
    "catalog": {
        "price_x100": _scaled_price,
        "negative_price": _negative("price"),
        "duplicated_rows": _duplicated,
        "wrong_columns": _renamed("price", "list_price"),
        "future_date": _future("effective_on"),
        "unknown_sku": _unknown_sku,
    },
}
