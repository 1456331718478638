"""`aisle data export-feed KIND`: a feed file in the load format made from what the store holds,
so a generated world can replay its days as the files a retailer's systems would send (tests,
benchmarks, the corrupted-feed cases of `evals.feeds`)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, select

from retail.errors import AisleError
from retail.feeds.formats import COLUMNS, FeedKind
from retail.store.models import DailySales, InventoryPosition, Variant


def export_feed(engine: Engine, kind: FeedKind, day: dt.date) -> pd.DataFrame:
    """The day's sales, or the stock and the catalogue as they stand, dated `day`."""
    with engine.connect() as conn:
        if kind == "sales":
            frame = pd.read_sql(
                select(
                    DailySales.day,
                    DailySales.location_id,
                    DailySales.variant_id,
                    DailySales.units,
                    DailySales.revenue,
                    DailySales.price,
                    DailySales.on_promo,
                    DailySales.stockout,
                )
                .where(DailySales.day == day)
                .order_by(DailySales.location_id, DailySales.variant_id),
                conn,
            )
            if frame.empty:
                raise AisleError(f"There are no sales of {day.isoformat()} to export.")
        elif kind == "inventory":
            frame = pd.read_sql(
                select(
                    InventoryPosition.location_id,
                    InventoryPosition.variant_id,
                    InventoryPosition.on_hand,
                    InventoryPosition.on_order,
                ).order_by(InventoryPosition.location_id, InventoryPosition.variant_id),
                conn,
            )
            frame.insert(0, "as_of", day)
        else:
            frame = pd.read_sql(
                select(
                    Variant.id.label("variant_id"),
                    Variant.product_id,
                    Variant.price,
                    Variant.unit_cost,
                    Variant.available,
                ).order_by(Variant.id),
                conn,
            )
            frame.insert(0, "effective_on", day)
    if frame.empty:
        raise AisleError(f"The store holds no {kind} rows to export; seed or import data first.")
    frame[frame.columns[0]] = pd.Series(day.isoformat(), index=frame.index)
    for column in frame.columns:
        if frame[column].dtype == bool:
            frame[column] = frame[column].map({True: "true", False: "false"})
    return frame[list(COLUMNS[kind])]
