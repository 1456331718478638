"""The world the read tools are tested on: a tiny generated world plus the tau2 import, with the
RAG index, the knowledge graph and a trained recommender, built once per test session.

Known facts are picked from the data after it is built (the generator may change its ids), and
two are made on purpose: `out_of_stock_variant_id` has no sellable unit at `store_id` while other
SKUs of its product do, and `sibling_product_id` is a second product of the same category, alike
and in stock there (the tiny world has one product per category), so substitutes of both kinds
are in stock at the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from evals.world import build_serving_indexes
from retail.importers.tau2 import import_tau2
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import Customer, InventoryPosition, Order, Product, Variant
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from tests.factories import make_inventory, make_product
from tools.base import Principal, Services, ToolContext, ToolOutcome, invoke

# 20 products over 3 stores: ~190 RAG documents with the tau2 catalogue and policies, which
# embed in about ten seconds here.
SPEC = ScaleSpec(20, 3, 60, 60, 0.8, 30, 2.0)


@dataclass
class ToolWorld:
    """A built store and the services the tools share, with facts tests can name."""

    engine: Engine
    settings: Settings
    services: Services
    store_id: str
    """An associate's store (the generated world's first)."""
    shopper_id: str
    """A generated customer with orders, marketing consent and `store_id` as home store."""
    no_consent_customer_id: str
    """A generated customer with orders who gave no marketing consent."""
    tau2_customer_id: str
    """A tau2 customer with several orders (no home store, no consent)."""
    product_id: str
    """A generated product with SKUs in several colours and sizes, stocked at `store_id`."""
    out_of_stock_variant_id: str
    """A SKU of `product_id` with nothing to sell at `store_id`; its siblings are in stock."""
    sibling_product_id: str
    """Another product of `product_id`'s category with the same attributes, stocked at
    `store_id`: the knowledge graph's same-category substitute."""

    def ctx(self, spec: str, **kw: Any) -> ToolContext:
        """A tool context for `spec` as `Principal.parse` reads it ("associate:ann@S001")."""
        return ToolContext(principal=Principal.parse(spec), services=self.services, **kw)

    @property
    def associate(self) -> str:
        return f"associate:ann@{self.store_id}"


def build_tool_world(
    engine: Engine, settings: Settings, tau2_dir: Path, *, spec: ScaleSpec = SPEC
) -> ToolWorld:
    """Seed (at `spec`'s size), import, index and train into `engine` and `settings.var_dir`."""
    seed_world(
        engine,
        scale="small",
        seed=9,
        end=PINNED_END,
        world_dir=settings.world_dir,
        show_progress=False,
        spec=spec,
    )
    import_tau2(engine, tau2_dir)
    with Session(engine) as session:
        store_id = "S001"
        product_id, variant_id = _product_with_options(session, store_id)
        shopper_id = _customer(session, consent=True, home=store_id)
        no_consent = _customer(session, consent=False, home=None)
        tau2_customer = session.scalars(
            select(Order.customer_id)
            .where(Order.source == "tau2")
            .group_by(Order.customer_id)
            .order_by(func.count().desc(), Order.customer_id)
            .limit(1)
        ).one()
    sibling_id = "P90001"
    with transaction(engine) as session:
        _add_sibling(session, product_id, sibling_id, store_id)
        session.execute(
            update(InventoryPosition)
            .where(
                InventoryPosition.variant_id == variant_id,
                InventoryPosition.location_id == store_id,
            )
            .values(on_hand=0, reserved=0, updated_at=dt.datetime.now(dt.UTC))
        )
    build_serving_indexes(engine, settings)
    return ToolWorld(
        engine=engine,
        settings=settings,
        services=Services(engine, settings),
        store_id=store_id,
        shopper_id=shopper_id,
        no_consent_customer_id=no_consent,
        tau2_customer_id=tau2_customer,
        product_id=product_id,
        out_of_stock_variant_id=variant_id,
        sibling_product_id=sibling_id,
    )


def _product_with_options(session: Session, store_id: str) -> tuple[str, str]:
    """The generated product with the most SKUs in stock at the store, all of them with a colour
    and a size, and the SKU of it that will be sold out there."""
    rows = session.execute(
        select(Variant.product_id, Variant.id, Variant.options)
        .join(InventoryPosition, InventoryPosition.variant_id == Variant.id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Product.source == "generated",
            Variant.available.is_(True),
            InventoryPosition.location_id == store_id,
            InventoryPosition.on_hand - InventoryPosition.reserved > 0,
        )
        .order_by(Variant.product_id, Variant.id)
    ).all()
    by_product: dict[str, list[Any]] = {}
    for row in rows:
        by_product.setdefault(row.product_id, []).append(row)
    candidates = [
        (pid, skus)
        for pid, skus in by_product.items()
        if all({"color", "size"} <= set(s.options) for s in skus)
        and len({s.options["color"] for s in skus}) > 1
        and len({s.options["size"] for s in skus}) > 1
    ]
    pid, skus = max(candidates, key=lambda c: (len(c[1]), c[0]))
    return pid, skus[0].id


def _add_sibling(session: Session, product_id: str, sibling_id: str, store_id: str) -> None:
    """A product like `product_id` (same category and attributes, a little cheaper), in black
    and one other colour in sizes S to L, all in stock at the store."""
    model = session.get_one(Product, product_id)
    price = round(float(min(v.price for v in model.variants)) * 0.9, 2)
    colours = list(dict.fromkeys(v.options["color"] for v in model.variants))[:2]
    make_product(
        session,
        sibling_id,
        f"Trailform Everyday {model.name.split()[-1]}",
        category_id=model.category_id,
        attributes=dict(model.attributes),
        description=f"An everyday take on the {model.name}, soft and easy to wear.",
        base_price=price,
        rating=4.0,
        review_count=0,
        variants=[
            {"options": {"color": colour, "size": size}, "price": price}
            for colour in colours
            for size in ("S", "M", "L")
        ],
    )
    for n in range(1, 2 * 3 + 1):
        make_inventory(session, f"{sibling_id}-v{n}", store_id, on_hand=3)


def _customer(session: Session, *, consent: bool, home: str | None) -> str:
    """The generated customer with the most orders among those with this consent (and home)."""
    query = (
        select(Customer.id)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Customer.source == "generated",
            Customer.marketing_consent.is_(consent),
            Order.status != "cancelled",
        )
        .group_by(Customer.id)
        .order_by(func.count().desc(), Customer.id)
        .limit(1)
    )
    if home is not None:
        query = query.where(Customer.home_store_id == home)
    return session.scalars(query).one()


def run(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    """Call a tool through the one door, as an agent would."""
    return invoke(ctx, name, arguments)


def ok(outcome: ToolOutcome) -> dict[str, Any]:
    """The output of a call that must have succeeded."""
    assert outcome.status == "ok", outcome.error
    assert outcome.output is not None
    return outcome.output
