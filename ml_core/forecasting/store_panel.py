"""The store's own sales as a forecasting panel: one daily series per SKU and location.

Built only from what the database knows (daily sales, list-price history, scheduled promotions),
never from the generated world's truth files, so `aisle forecast run` works on any store. Days
without a sales row are zero-sale days. Prices and promotions are known-future covariates: the
list price is carried forward and promotions already scheduled apply over the horizon.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from ml_core.forecasting.base import DS, ID, SeriesData, Y
from retail.errors import AisleError
from retail.store.models import (
    Category,
    DailySales,
    Location,
    PriceChange,
    Product,
    Promotion,
    PromotionItem,
    Variant,
)

FUTURE_EXOG = ("price_ratio", "on_promo")
STATIC_COLS = ("category_id", "location_id", "product_id")
# The grouped hierarchy a retailer reads: product levels (SKU, category, department, all) crossed
# with location levels (store, region, chain); SKU x store is the bottom. SKU x region is left
# out: with a few stores per region it nearly repeats the bottom level and doubles the nodes.
HIERARCHY_LEVELS: tuple[tuple[str, ...], ...] = (
    (),
    ("region",),
    ("location_id",),
    ("department",),
    ("department", "region"),
    ("department", "location_id"),
    ("category_id",),
    ("category_id", "region"),
    ("category_id", "location_id"),
    ("variant_id",),
)


def series_id(variant_id: str, location_id: str) -> str:
    return f"{variant_id}@{location_id}"


def sales_panel(
    engine: Engine,
    *,
    location_id: str | None = None,
    history_days: int | None = None,
    as_of: dt.date | None = None,
) -> tuple[SeriesData, pd.Timestamp]:
    """The panel and its last observed day (`as_of` at the latest: a model retrained on the day
    an alert fired sees only the sales up to it). Raises AisleError when there are no sales."""
    with engine.connect() as conn:
        if location_id is not None and not _exists(conn, location_id):
            raise AisleError(f"No location with id {location_id!r}.")
        query = select(
            DailySales.variant_id, DailySales.location_id, DailySales.day, DailySales.units
        )
        if location_id is not None:
            query = query.where(DailySales.location_id == location_id)
        if as_of is not None:
            query = query.where(DailySales.day <= as_of)
        sales = pd.read_sql(query, conn)
        if sales.empty:
            raise AisleError("There are no daily sales to forecast; seed or import data first.")
        variants = pd.read_sql(
            select(
                Variant.id.label("variant_id"),
                Product.id.label("product_id"),
                Product.category_id,
                Product.launched_on,
            ).join(Product, Product.id == Variant.product_id),
            conn,
        )
        prices, promos = load_price_events(conn)
    sales["day"] = pd.to_datetime(sales["day"])
    last_day = sales["day"].max()
    first_allowed = (
        last_day - pd.Timedelta(days=history_days - 1) if history_days else sales["day"].min()
    )
    sales = sales[sales["day"] >= first_allowed]
    frame = _dense_grid(sales, last_day)
    frame = frame.merge(variants, on="variant_id", how="left")
    frame = attach_price_covariates(frame, prices, promos)
    frame[ID] = frame["variant_id"] + "@" + frame["location_id"]
    frame = frame.sort_values([ID, DS]).reset_index(drop=True)
    columns = [ID, DS, Y, *FUTURE_EXOG, *STATIC_COLS]
    return SeriesData(frame[columns], "D", FUTURE_EXOG, STATIC_COLS), last_day


def hierarchy_attributes(engine: Engine, ids: np.ndarray) -> pd.DataFrame:
    """Per series id ("variant@location"): variant_id, category_id, department (the category's
    parent; a top-level category is its own department), location_id and region (a location
    without one, such as the online channel, is its own region)."""
    keys = pd.Series(ids).str.rsplit("@", n=1, expand=True)
    frame = pd.DataFrame(
        {"variant_id": keys[0].to_numpy(), "location_id": keys[1].to_numpy()}, index=ids
    )
    with engine.connect() as conn:
        variants = pd.read_sql(
            select(Variant.id, Product.category_id).join(Product, Product.id == Variant.product_id),
            conn,
        ).set_index("id")
        parents = pd.read_sql(select(Category.id, Category.parent_id), conn).set_index("id")
        regions = pd.read_sql(select(Location.id, Location.region), conn).set_index("id")
    frame["category_id"] = variants["category_id"].reindex(frame["variant_id"]).to_numpy()
    department = parents["parent_id"].reindex(frame["category_id"]).to_numpy()
    frame["department"] = np.where(pd.isna(department), frame["category_id"], department)
    region = regions["region"].reindex(frame["location_id"]).to_numpy()
    frame["region"] = np.where(pd.isna(region), frame["location_id"], region)
    return frame


def load_price_events(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List-price changes per SKU and promotions per product, as the database records them."""
    prices = pd.read_sql(
        select(PriceChange.variant_id, PriceChange.effective_on, PriceChange.price), conn
    )
    promos = pd.read_sql(
        select(
            PromotionItem.product_id,
            Promotion.starts_on,
            Promotion.ends_on,
            Promotion.discount_pct,
        ).join(Promotion, Promotion.id == PromotionItem.promotion_id),
        conn,
    )
    return prices, promos


def _exists(conn: Connection, location_id: str) -> bool:
    found = conn.execute(select(Location.id).where(Location.id == location_id)).first()
    return found is not None


def _dense_grid(sales: pd.DataFrame, last_day: pd.Timestamp) -> pd.DataFrame:
    """Every day from a series' first sale to the last day of the store, zeros filled in."""
    first = sales.groupby(["variant_id", "location_id"], sort=True)["day"].min()
    lengths = ((last_day - first).dt.days + 1).to_numpy()
    keys = first.index.to_frame(index=False)
    starts = np.repeat(first.to_numpy(), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = pd.DataFrame(
        {
            "variant_id": np.repeat(keys["variant_id"].to_numpy(), lengths),
            "location_id": np.repeat(keys["location_id"].to_numpy(), lengths),
            DS: starts + offsets.astype("timedelta64[D]"),
        }
    )
    observed = sales.rename(columns={"day": DS, "units": Y})
    grid = grid.merge(observed, on=["variant_id", "location_id", DS], how="left")
    grid[Y] = grid[Y].fillna(0.0).astype(float)
    return grid


def attach_price_covariates(
    frame: pd.DataFrame, prices: pd.DataFrame, promos: pd.DataFrame
) -> pd.DataFrame:
    """Add price_ratio and on_promo to rows keyed by (variant_id, product_id, ds).

    Used for history and for the forecast horizon alike: the list price in force on a day is the
    latest change on or before it; a scheduled promotion covering the day discounts it.
    """
    out = frame.copy()
    if prices.empty:
        out["price_ratio"] = 1.0
    else:
        prices = prices.assign(
            effective_on=pd.to_datetime(prices["effective_on"]).astype(out[DS].dtype),
            # merge_asof wants identical key dtypes (object from SQL, str from string ops).
            variant_id=prices["variant_id"].astype(out["variant_id"].dtype),
        )
        prices = prices.sort_values("effective_on")
        reference = prices.groupby("variant_id")["price"].first()
        out = out.sort_values(DS)
        out = pd.merge_asof(
            out, prices, left_on=DS, right_on="effective_on", by="variant_id", direction="backward"
        )
        out["price_ratio"] = (out["price"] / out["variant_id"].map(reference)).fillna(1.0)
        out = out.drop(columns=["price", "effective_on"])
    out["on_promo"] = 0.0
    if not promos.empty:
        discount = np.zeros(len(out))
        by_product = out.groupby("product_id").indices
        days = out[DS].to_numpy()
        for row in promos.itertuples(index=False):
            index = by_product.get(row.product_id)
            if index is None:
                continue
            start, end = np.datetime64(row.starts_on), np.datetime64(row.ends_on)
            inside = index[(days[index] >= start) & (days[index] <= end)]
            discount[inside] = np.maximum(discount[inside], row.discount_pct / 100.0)
        out["on_promo"] = (discount > 0).astype(float)
        out["price_ratio"] = out["price_ratio"] * (1.0 - discount)
    return out
