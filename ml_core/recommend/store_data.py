"""The store's own interactions for the recommender: shopper events and order lines.

Built only from what the database records, never from the generated world's truth files, so
`aisle recommend train` works on any store. Items are products (a shopper likes a jacket; the
size is chosen when it is served). Views and add-to-carts come from `shopper_events`; purchases
come from order lines of orders that were not cancelled, because imported orders (tau2) have no
events and the generated world logs every purchase both ways, so purchase events would count
twice. Events without a customer (anonymous sessions) are left out: they name no user.
An order without a date (tau2's) takes the earliest known time, so it counts least when trending.

`store_item_features` describes the products themselves (category, brand, price, the embedded
name and description) for the models that recommend items nobody has touched yet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, or_, select

from ml_core.recommend.base import ItemFeatures
from ml_core.recommend.data import TIME, WEIGHT
from ml_core.recommend.features import embed_texts
from ml_core.recommend.metrics import ITEM, USER
from retail.errors import AisleError
from retail.store.models import Customer, Order, OrderItem, Product, ShopperEvent

EVENT, PURCHASE = "event", "purchase"
# How much one event says about a customer's taste: a purchase outweighs a look.
EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "add_to_cart": 3.0, PURCHASE: 5.0}


def store_interactions(engine: Engine) -> tuple[pd.DataFrame, dict[str, str]]:
    """user_id, item_id, event, weight, timestamp rows; each customer's home store by id.

    `event` is view, add_to_cart or purchase; the home stores are the customers' segments.
    """
    with engine.connect() as conn:
        events = pd.read_sql(
            select(
                ShopperEvent.customer_id.label(USER),
                ShopperEvent.product_id.label(ITEM),
                ShopperEvent.event_type.label(EVENT),
                ShopperEvent.occurred_at.label(TIME),
            ).where(
                ShopperEvent.customer_id.is_not(None),
                ShopperEvent.product_id.is_not(None),
                ShopperEvent.event_type.in_(["view", "add_to_cart"]),
            ),
            conn,
        )
        purchases = pd.read_sql(
            select(
                Order.customer_id.label(USER),
                OrderItem.product_id.label(ITEM),
                Order.created_at.label(TIME),
            )
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status != "cancelled"),
            conn,
        )
        homes = pd.read_sql(
            select(Customer.id, Customer.home_store_id).where(Customer.home_store_id.is_not(None)),
            conn,
        )
    purchases[EVENT] = PURCHASE
    frame = pd.concat([events, purchases], ignore_index=True)
    frame[WEIGHT] = frame[EVENT].map(EVENT_WEIGHTS).astype(float)
    if frame.empty:
        raise AisleError(
            "There are no shopper events or orders to learn from; seed or import data first."
        )
    times = pd.to_datetime(frame[TIME], utc=True)
    frame[TIME] = times.fillna(times.min()) if times.notna().any() else times
    frame[USER] = frame[USER].astype(str)
    frame[ITEM] = frame[ITEM].astype(str)
    segments = dict(zip(homes["id"].astype(str), homes["home_store_id"].astype(str), strict=True))
    return frame, segments


def purchase_lines(engine: Engine, basket: Literal["order", "customer"]) -> list[tuple[str, str]]:
    """(basket id, product id) for every line of an order that was not cancelled.

    The basket is the order ("bought in one go": the knowledge graph's co-purchase lift) or its
    customer ("bought by the same people": the recommender's bought-together neighbours).
    """
    key = Order.id if basket == "order" else Order.customer_id
    with engine.connect() as conn:
        rows = conn.execute(
            select(key, OrderItem.product_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status != "cancelled")
        ).all()
    return [(str(b), str(p)) for b, p in rows]


def store_item_features(
    engine: Engine, cache_dir: Path | None = None, *, launched_by: dt.date | None = None
) -> ItemFeatures:
    """Every product's category, brand, base price and embedded "name. description".

    `launched_by` leaves out products launched later (a product without a launch date is kept);
    `cache_dir` keeps the text embeddings between runs (see `features.embed_texts`).
    """
    query = select(
        Product.id,
        Product.category_id,
        Product.brand_id,
        Product.base_price,
        Product.name,
        Product.description,
    ).order_by(Product.id)
    if launched_by is not None:
        query = query.where(or_(Product.launched_on.is_(None), Product.launched_on <= launched_by))
    with engine.connect() as conn:
        products = pd.read_sql(query, conn)
    texts = (products["name"].fillna("") + ". " + products["description"].fillna("")).tolist()
    return ItemFeatures(
        item_ids=products["id"].astype(str).to_numpy(dtype=str),
        category=products["category_id"].fillna("").astype(str).to_numpy(dtype=str),
        brand=products["brand_id"].fillna("").astype(str).to_numpy(dtype=str),
        price=pd.to_numeric(products["base_price"]).to_numpy(dtype=np.float64),
        text=embed_texts(texts, cache_dir),
    )
