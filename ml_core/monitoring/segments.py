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
from retail.store.models import Category, DailySales, Location, Product, Variant

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
    values: dict[str, np.ndarray]  # feature -> (F, T): units sold; SKU-days that ran out
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
    # A series weighs in the segment's price index by its usual volume, so a slow mover's
    # discount moves the index less than a best seller's.
    weight = frame.groupby(ID)[Y].transform("mean").to_numpy() + 0.05
    frame = frame.assign(
        _w=weight,
        _wlp=weight * np.log(frame["price_ratio"].clip(lower=1e-3).to_numpy()),
        _wpromo=weight * frame["on_promo"].to_numpy(),
    )
    grouped = frame.groupby(["category_id", "location_id", DS], sort=True)[
        [Y, "_w", "_wlp", "_wpromo"]
    ].sum()
    with engine.connect() as conn:
        names = dict(conn.execute(select(Category.id, Category.name)).all())
        launches = pd.read_sql(select(Product.category_id, Product.launched_on), conn)
        kinds = dict(conn.execute(select(Location.id, Location.kind)).all())
        stockouts = pd.read_sql(
            select(
                Product.category_id,
                DailySales.location_id,
                DailySales.day,
                func.count().label("stockouts"),
            )
            .join(Variant, Variant.id == DailySales.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(DailySales.stockout.is_(True))
            .group_by(Product.category_id, DailySales.location_id, DailySales.day),
            conn,
        )
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
    stockouts["day"] = pd.to_datetime(stockouts["day"])
    out_counts = (
        stockouts.set_index(["category_id", "location_id", "day"])["stockouts"]
        .reindex(full, fill_value=0)
        .to_numpy(dtype=float)
        .reshape(shape)
    )
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
        values={"demand": dense[Y].to_numpy().reshape(shape), "stockouts": out_counts},
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
