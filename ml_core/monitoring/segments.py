"""The store's daily sales as segment series for the drift monitor: one series per category and
location (the finest segment), with the covariates that move demand on purpose (the segment's
price index and its share on promotion), and the segment levels the monitor reads them at.

Built from what the database records only (the forecaster's own sales panel, so a price or a
promotion means here what it means to the forecaster), never from the generated world's truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from ml_core.forecasting.base import DS, ID, Y
from ml_core.forecasting.store_panel import sales_panel
from retail.store.models import Category, DailySales, Location, Product

FEATURES = ("demand", "stockouts")
# Coarse to fine: a whole category, a whole location, a category in one channel, a category at
# one location.
LEVELS = ("category", "location", "category_channel", "category_location")


@dataclass(frozen=True, slots=True)
class SegmentPanel:
    """Dense (segment x day) arrays of the finest segments, category x location."""

    days: pd.DatetimeIndex  # (T,)
    category: np.ndarray  # (F,) category name
    location: np.ndarray  # (F,) location id
    online: np.ndarray  # (F,) bool: the online channel, else a store
    # feature -> (F, T): units sold by the SKU-days in stock; SKU-days that ran out
    values: dict[str, np.ndarray]
    availability: np.ndarray  # (F, T) share of the segment's usual volume that was in stock
    sold: np.ndarray  # (F, T) units sold by every SKU-day, in stock or not
    off_shelf: np.ndarray  # (F, T) SKUs out of stock (ran out that day or still empty)
    listed: np.ndarray  # (F, T) SKUs on sale
    log_price: np.ndarray  # (F, T) volume-weighted mean log of price over reference price
    promo: np.ndarray  # (F, T) volume-weighted share of the segment's SKUs on promotion
    launched: np.ndarray  # (F, T) products of the segment's category launched by each day

    def day_index(self, day: dt.date) -> int:
        return int(self.days.get_loc(pd.Timestamp(day)))


@dataclass(frozen=True, slots=True)
class Segments:
    """Every monitored segment: its level, its key, and which finest segments it sums."""

    level: np.ndarray  # (S,) one of LEVELS
    keys: list[dict[str, str]]  # (S,) e.g. {"category": "Tents", "location": "S003"}
    members: np.ndarray  # (S, F) 0/1


def load_segment_panel(
    engine: Engine, *, as_of: dt.date | None = None, history_days: int | None = None
) -> SegmentPanel:
    """The segment panel of the store's sales up to `as_of` (default: its last day), over the
    last `history_days` days before it (default: all)."""
    needed = None
    if history_days is not None:
        with engine.connect() as conn:
            last = conn.execute(select(func.max(DailySales.day))).scalar_one()
        last = pd.Timestamp(last).date() if last is not None else None
        lag = 0 if as_of is None or last is None else max(0, (last - as_of).days)
        needed = history_days + lag
    data, last_day = sales_panel(engine, history_days=needed)
    frame = data.frame
    if as_of is not None:
        frame = frame[frame[DS] <= pd.Timestamp(as_of)]
    with engine.connect() as conn:
        names = dict(conn.execute(select(Category.id, Category.name)).all())
        launches = pd.read_sql(select(Product.category_id, Product.launched_on), conn)
        kinds = dict(conn.execute(select(Location.id, Location.kind)).all())
        ran_out = pd.read_sql(
            select(DailySales.variant_id, DailySales.location_id, DailySales.day).where(
                DailySales.stockout.is_(True)
            ),
            conn,
        )
    ran_out = pd.DataFrame(
        {
            ID: ran_out["variant_id"] + "@" + ran_out["location_id"],
            DS: pd.to_datetime(ran_out["day"]).astype(frame[DS].dtype),
            "_out": 1.0,
        }
    )
    frame = frame.merge(ran_out, on=[ID, DS], how="left").sort_values([ID, DS], ignore_index=True)
    # A SKU-day that ran out sold what was on the shelf, not what was wanted: its sales are
    # censored and say nothing about demand. So are the zero-sale days after it until the SKU
    # sells again (its shelf was empty; the next sale shows a delivery came). Demand is read off
    # the SKU-days in stock, and the reference expects only the share of the segment's usual
    # volume that was on the shelf.
    state = frame["_out"].where(frame["_out"].notna(), np.where(frame[Y] > 0, 0.0, np.nan))
    in_stock = 1.0 - state.groupby(frame[ID]).ffill().fillna(0.0).to_numpy()
    out = frame["_out"].fillna(0.0).to_numpy()
    # A series weighs (in the price index and in availability) by its usual volume in stock, so
    # a slow mover's discount or stock-out moves the segment less than a best seller's.
    usual = (frame[Y] * in_stock).groupby(frame[ID]).transform("sum") / pd.Series(
        in_stock, index=frame.index
    ).groupby(frame[ID]).transform("sum").clip(lower=1.0)
    weight = usual.to_numpy() + 0.05
    frame = frame.assign(
        _sold=frame[Y].to_numpy() * in_stock,
        _raw=frame[Y].to_numpy(),
        _out=out,
        _off=1.0 - in_stock,
        _listed=1.0,
        _w=weight,
        _wstock=weight * in_stock,
        _wlp=weight * np.log(frame["price_ratio"].clip(lower=1e-3).to_numpy()),
        _wpromo=weight * frame["on_promo"].to_numpy(),
    )
    grouped = frame.groupby(["category_id", "location_id", DS], sort=True)[
        ["_sold", "_raw", "_out", "_off", "_listed", "_w", "_wstock", "_wlp", "_wpromo"]
    ].sum()
    days = pd.date_range(frame[DS].min(), frame[DS].max(), freq="D")
    segments = grouped.index.droplevel(DS).unique()
    full = pd.MultiIndex.from_tuples(
        [(c, loc, d) for c, loc in segments for d in days],
        names=["category_id", "location_id", DS],
    )
    dense = grouped.reindex(full, fill_value=0.0)
    shape = (len(segments), len(days))
    w = dense["_w"].to_numpy().reshape(shape)
    safe = np.where(w > 0, w, 1.0)
    category_ids = segments.get_level_values(0).to_numpy()
    launch_day = pd.to_datetime(launches["launched_on"]).to_numpy()
    launched = np.stack(
        [
            (launch_day[launches["category_id"].to_numpy() == c][:, None] <= days.to_numpy()).sum(
                axis=0
            )
            for c in category_ids
        ]
    ).astype(float)
    location_ids = segments.get_level_values(1).to_numpy()
    return SegmentPanel(
        days=days,
        category=np.array([names.get(c, c) for c in category_ids], dtype=object),
        location=location_ids.astype(object),
        online=np.array([kinds.get(loc) == "online" for loc in location_ids]),
        values={
            "demand": dense["_sold"].to_numpy().reshape(shape),
            "stockouts": dense["_out"].to_numpy().reshape(shape),
        },
        availability=np.where(w > 0, dense["_wstock"].to_numpy().reshape(shape) / safe, 1.0),
        sold=dense["_raw"].to_numpy().reshape(shape),
        off_shelf=dense["_off"].to_numpy().reshape(shape),
        listed=dense["_listed"].to_numpy().reshape(shape),
        log_price=dense["_wlp"].to_numpy().reshape(shape) / safe,
        promo=dense["_wpromo"].to_numpy().reshape(shape) / safe,
        launched=launched,
    )


def build_segments(panel: SegmentPanel) -> Segments:
    """Every segment of every level over the panel's finest segments."""
    channel = np.where(panel.online, "online", "stores")
    columns_of: dict[str, dict[str, np.ndarray]] = {
        "category": {"category": panel.category},
        "location": {"location": panel.location},
        "category_channel": {"category": panel.category, "channel": channel},
        "category_location": {"category": panel.category, "location": panel.location},
    }
    levels, keys, rows = [], [], []
    for level in LEVELS:
        table = pd.DataFrame(columns_of[level])
        names = list(table.columns)
        for key, index in table.groupby(names, sort=True).indices.items():
            values = key if isinstance(key, tuple) else (key,)
            row = np.zeros(len(panel.category))
            row[index] = 1.0
            levels.append(level)
            keys.append({n: str(v) for n, v in zip(names, values, strict=True)})
            rows.append(row)
    return Segments(np.array(levels), keys, np.array(rows))
