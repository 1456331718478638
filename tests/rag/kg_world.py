"""A hand-built store whose knowledge-graph answers are known by hand (used by the graph's and
the `aisle kg` CLI's tests).

Categories: Apparel > Jackets, Apparel Accessories; Footwear > Boots.
Jackets (all in Jackets): Alpine $100 (S blue, M blue; waterproof), Ridge $110 (M blue;
waterproof), Parka $150 (L black; waterproof), Budget $40 (M blue; waterproof: more than twice
cheaper than Alpine, so no substitute of it). Boots $120, Beanie $25 (Apparel Accessories).
Stock at store-north: Alpine-M 3, Ridge-M 2, Budget-M 5, Boots 5, Beanie 4 (2 reserved);
Parka has a row with 0 on hand. store-south stocks only Parka (6).

Orders that were not cancelled (10):
  o1 Alpine Boots Beanie, o2 Alpine Boots Beanie, o3 Alpine Boots, o4 Alpine, o5-o7 Beanie,
  o8 Beanie Alpine, o9-o10 Ridge.
So Alpine is in 5, Boots in 3, Beanie in 6: lift(Alpine, Boots) = 10*3/(5*3) = 2.0 (support 3),
lift(Alpine, Beanie) = 10*3/(5*6) = 1.0 (not above 1), lift(Boots, Beanie) = 10*2/(3*6) = 1.11.
Three cancelled orders of Alpine with Ridge count for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.store.db import transaction
from retail.store.models import Customer, Order, OrderItem
from tests.factories import make_category, make_inventory, make_location, make_product


@dataclass(frozen=True)
class KgWorld:
    jackets: str = "cat-jackets"
    accessories: str = "cat-accessories"
    boots_cat: str = "cat-boots"
    north: str = "store-north"
    south: str = "store-south"
    dc: str = "dc-main"
    alpine_s: str = "alpine-v1"
    alpine_m: str = "alpine-v2"
    ridge_m: str = "ridge-v1"
    parka_l: str = "parka-v1"
    budget_m: str = "budget-v1"
    boots: str = "boots-v1"
    beanie: str = "beanie-v1"


def _order(session: Session, order_id: str, skus: list[str], status: str = "delivered") -> None:
    session.add(Order(id=order_id, customer_id="cust-1", status=status, source="generated"))
    session.flush()
    for position, sku in enumerate(skus):
        product = sku.split("-v")[0]
        session.add(
            OrderItem(
                id=f"{order_id}:{position}",
                order_id=order_id,
                position=position,
                variant_id=sku,
                product_id=product,
                name=product,
                price=10.0,
            )
        )
    session.flush()


def seed_kg_world(engine: Engine) -> KgWorld:
    w = KgWorld()
    blue_m = {"size": "M", "color": "blue"}
    with transaction(engine) as s:
        make_category(s, "dept-apparel", "Apparel")
        make_category(s, w.jackets, "Jackets", "dept-apparel")
        make_category(s, w.accessories, "Apparel Accessories", "dept-apparel")
        make_category(s, "dept-footwear", "Footwear")
        make_category(s, w.boots_cat, "Boots", "dept-footwear")
        make_location(s, w.north, "North Store")
        make_location(s, w.south, "South Store")
        make_location(s, w.dc, "Main DC", kind="dc")
        waterproof = {"waterproof": True}
        make_product(
            s,
            "alpine",
            "Alpine Jacket",
            category_id=w.jackets,
            attributes=waterproof,
            variants=[
                {"options": {"size": "S", "color": "blue"}, "price": 100.0},
                {"options": blue_m, "price": 100.0},
            ],
        )
        make_product(
            s,
            "ridge",
            "Ridge Jacket",
            category_id=w.jackets,
            attributes=waterproof,
            variants=[{"options": blue_m, "price": 110.0}],
        )
        make_product(
            s,
            "parka",
            "Evergreen Parka",
            category_id=w.jackets,
            attributes=waterproof,
            variants=[{"options": {"size": "L", "color": "black"}, "price": 150.0}],
        )
        make_product(
            s,
            "budget",
            "Budget Jacket",
            category_id=w.jackets,
            attributes=waterproof,
            variants=[{"options": blue_m, "price": 40.0}],
        )
        make_product(
            s, "boots", "Trail Boots", category_id=w.boots_cat, variants=[{"price": 120.0}]
        )
        make_product(
            s,
            "beanie",
            "Wool Beanie",
            category_id=w.accessories,
            variants=[{"options": {"color": "blue"}, "price": 25.0}],
        )
        for sku, store, units in [
            (w.alpine_m, w.north, 3),
            (w.ridge_m, w.north, 2),
            (w.budget_m, w.north, 5),
            (w.boots, w.north, 5),
            (w.parka_l, w.north, 0),
            (w.parka_l, w.south, 6),
        ]:
            make_inventory(s, sku, store, on_hand=units)
        make_inventory(s, w.beanie, w.north, on_hand=4, reserved=2)
        s.add(Customer(id="cust-1", first_name="Ada", last_name="Shopper", source="generated"))
        s.flush()
        a, b, h, r = w.alpine_m, w.boots, w.beanie, w.ridge_m
        baskets = [[a, b, h], [a, b, h], [a, b], [a], [h], [h], [h], [h, a], [r], [r]]
        for n, skus in enumerate(baskets, start=1):
            _order(s, f"o{n}", skus)
        for n in range(3):
            _order(s, f"x{n}", [a, r], status="cancelled")
    return w
