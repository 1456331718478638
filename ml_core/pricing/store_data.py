"""The store's own sales as a weekly pricing panel: one row per product (and location) and week.

Built from what the database records (daily sales, list-price history, scheduled promotions)
through the forecasting panel, so it works on any store, never on the generated world's truth.
Prices are relative to each SKU's first recorded price (promotion discounts included); a
product's price is the mean over its SKUs, which move together. The first weeks after a
product's first sale are left out: demand is still ramping up there, whatever the price.

Stock-outs censor sales, and they cluster on promotions and markdowns (demand jumps, the shelf
empties), which would bias elasticities toward zero. A SKU-location's stocked-out days are left
out and the product's daily total is scaled up by the share of its usual sales those SKU-locations
make (each one's mean daily sales on days it was in stock).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from ml_core.forecasting.base import DS, ID, Y
from ml_core.forecasting.store_panel import sales_panel
from ml_core.pricing.elasticity import GROUP, ITEM, LOG_PRICE, PERIOD, QTY, UNIT, weekly_panel
from retail.store.models import DailySales

PROMO = "promo_share"
CONTROLS = (PROMO,)
RAMP_WEEKS = 6


def pricing_panel(
    engine: Engine,
    *,
    location_id: str | None = None,
    by_location: bool = False,
    history_days: int | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The weekly product panel (chain-wide, or per location) and the last day of sales."""
    daily, last_day = daily_pricing_panel(
        engine, location_id=location_id, by_location=by_location, history_days=history_days
    )
    return weekly_panel(daily, time_col=PERIOD, controls=CONTROLS), last_day


def daily_pricing_panel(
    engine: Engine,
    *,
    location_id: str | None = None,
    by_location: bool = False,
    history_days: int | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The daily product panel (ITEM, GROUP, optional UNIT, PERIOD, QTY, LOG_PRICE, PROMO) and
    the last day of sales; the first RAMP_WEEKS after a product's first sale are left out."""
    data, last_day = sales_panel(engine, location_id=location_id, history_days=history_days)
    frame = data.frame.assign(in_stock=~_stocked_out(engine, data.frame))
    usual = frame[Y].where(frame["in_stock"]).groupby(frame[ID]).transform("mean").fillna(0.0)
    keys = ["product_id", "category_id", *(["location_id"] if by_location else []), DS]
    daily = (
        frame.assign(
            log_price=np.log(frame["price_ratio"].clip(lower=1e-6)),
            kept=frame[Y].where(frame["in_stock"], 0.0),
            usual=usual,
            usual_kept=usual.where(frame["in_stock"], 0.0),
        )
        .groupby(keys, sort=False, observed=True)
        .agg(
            kept=("kept", "sum"),
            usual=("usual", "sum"),
            usual_kept=("usual_kept", "sum"),
            log_price=("log_price", "mean"),
            promo_share=("on_promo", "mean"),
        )
        .reset_index()
        .rename(columns={"product_id": ITEM, "category_id": GROUP, "location_id": UNIT})
    )
    # A day on which every SKU-location was out of stock says nothing about demand: dropped
    # (its week then has fewer than seven days and is left out too).
    daily = daily[daily["usual_kept"] > 0]
    daily[QTY] = daily["kept"] * daily["usual"] / daily["usual_kept"]
    daily = daily.rename(columns={DS: PERIOD})
    first = daily.groupby(ITEM)[PERIOD].transform("min")
    daily = daily[daily[PERIOD] >= first + pd.Timedelta(weeks=RAMP_WEEKS)]
    columns = [c for c in (ITEM, GROUP, UNIT, PERIOD, QTY, LOG_PRICE, PROMO) if c in daily]
    return daily[columns].reset_index(drop=True), last_day


def _stocked_out(engine: Engine, frame: pd.DataFrame) -> np.ndarray:
    """Per panel row: was the SKU out of stock at its location that day?"""
    with engine.connect() as conn:
        rows = pd.read_sql(
            select(DailySales.variant_id, DailySales.location_id, DailySales.day).where(
                DailySales.stockout.is_(True)
            ),
            conn,
        )
    if rows.empty:
        return np.zeros(len(frame), dtype=bool)
    keys = pd.MultiIndex.from_arrays(
        [rows["variant_id"] + "@" + rows["location_id"], pd.to_datetime(rows["day"])]
    )
    return pd.MultiIndex.from_arrays([frame[ID], frame[DS]]).isin(keys)
