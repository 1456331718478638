"""The associate's chat over the real tools: what a message names (a SKU, a product id, a store,
online, the customer looked up) decides what is looked up, and the answers agree with the store.

Each expected figure is read from the database here, by SQL, not copied from an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from agents.assistant import Assistant, TurnResult
from agents.compose import STOCK_LINES
from retail.store.db import transaction
from retail.store.models import (
    Customer,
    InventoryPosition,
    Location,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Variant,
)
from tests.tools.world import ToolWorld
from tools.base import Principal

PO_ID = "po-test-associate-19"


def _calls(result: TurnResult) -> list[tuple[str, dict[str, object], str]]:
    return [(c.name, dict(c.args), c.status) for c in result.tool_calls]


@dataclass(frozen=True)
class Incoming:
    """A SKU of another product than the world's, stocked at the associate's store, online and
    at one more store, with an open purchase order bringing it to the associate's store."""

    sku: str
    expected_on: dt.date
    online_id: str
    online_name: str
    online_on_hand: int
    other_store: str
    other_store_name: str
    other_on_hand: int


@pytest.fixture(scope="module")
def incoming(tool_world: ToolWorld) -> Iterator[Incoming]:
    here = InventoryPosition
    online_pos, other_pos = aliased(InventoryPosition), aliased(InventoryPosition)
    with Session(tool_world.engine) as session:
        online = session.execute(select(Location).where(Location.kind == "online")).scalar_one()
        sku, other_store, other_on_hand, online_on_hand = session.execute(
            select(here.variant_id, other_pos.location_id, other_pos.on_hand, online_pos.on_hand)
            .join(Variant, Variant.id == here.variant_id)
            .join(online_pos, online_pos.variant_id == here.variant_id)
            .join(other_pos, other_pos.variant_id == here.variant_id)
            .join(Location, Location.id == other_pos.location_id)
            .where(
                here.location_id == tool_world.store_id,
                Variant.product_id != tool_world.product_id,
                online_pos.location_id == online.id,
                Location.kind == "store",
                other_pos.location_id != tool_world.store_id,
            )
            .order_by(here.variant_id, other_pos.location_id)
            .limit(1)
        ).one()
        other_name = session.get(Location, other_store).name  # type: ignore[union-attr]
        supplier = session.scalars(select(Supplier.id).order_by(Supplier.id)).first()
    expected_on = dt.date(2031, 3, 14)
    with transaction(tool_world.engine) as session:
        session.add(
            PurchaseOrder(
                id=PO_ID,
                supplier_id=supplier,
                location_id=tool_world.store_id,
                status="open",
                created_at=dt.datetime.now(dt.UTC),
                expected_on=expected_on,
                source="test",
            )
        )
        session.flush()
        session.add(
            PurchaseOrderLine(purchase_order_id=PO_ID, variant_id=sku, quantity=7, unit_cost=10)
        )
    try:
        yield Incoming(
            sku,
            expected_on,
            online.id,
            online.name,
            online_on_hand,
            other_store,
            other_name,
            other_on_hand,
        )
    finally:
        with transaction(tool_world.engine) as session:
            session.execute(
                delete(PurchaseOrderLine).where(PurchaseOrderLine.purchase_order_id == PO_ID)
            )
            session.execute(delete(PurchaseOrder).where(PurchaseOrder.id == PO_ID))


def test_a_typed_sku_wins_over_the_threads_product_and_a_named_location_over_the_store(
    assistant: Assistant, tool_world: ToolWorld, incoming: Incoming
) -> None:
    associate = Principal.parse(tool_world.associate)
    first = assistant.ask(associate, f"is {tool_world.product_id} in stock here?")
    assert [c[0] for c in _calls(first)] == ["stock_nearby"]
    assert first.tool_calls[0].args["product_id"] == tool_world.product_id
    thread = first.thread_id

    # In a thread about another product, the SKU typed is the one asked about, and what is on
    # order comes from the purchase orders' lines.
    coming = assistant.ask(
        associate, f"when does the next delivery of {incoming.sku.lower()} land?", thread_id=thread
    )
    assert _calls(coming) == [("why_short", {"variant_id": incoming.sku}, "ok")], coming.answer
    assert PO_ID in coming.answer and incoming.expected_on.isoformat() in coming.answer

    online = assistant.ask(associate, "why is it running low online?", thread_id=thread)
    assert _calls(online) == [
        ("why_short", {"variant_id": incoming.sku, "location_id": incoming.online_id}, "ok")
    ], online.answer
    assert incoming.online_name in online.answer
    assert f"{incoming.online_on_hand} on hand" in online.answer
    assert "no open purchase order" in online.answer

    # A fresh thread: the SKU and the store's id are all there is to go on.
    fresh = assistant.ask(
        associate, f"how come {incoming.sku} is so thin at {incoming.other_store}?"
    )
    assert _calls(fresh) == [
        ("why_short", {"variant_id": incoming.sku, "location_id": incoming.other_store}, "ok")
    ], fresh.answer
    assert incoming.other_store_name in fresh.answer
    assert f"{incoming.other_on_hand} on hand" in fresh.answer


def test_the_customer_looked_up_is_who_him_or_her_means(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        consent = dict(
            session.execute(
                select(Customer.id, Customer.marketing_consent).where(
                    Customer.id.in_([tool_world.shopper_id, tool_world.no_consent_customer_id])
                )
            ).all()
        )
    assert consent == {tool_world.shopper_id: True, tool_world.no_consent_customer_id: False}

    profile = assistant.ask(associate, f"pull up customer {tool_world.shopper_id} please")
    suggest = assistant.ask(
        associate, "what would you suggest for her?", thread_id=profile.thread_id
    )
    assert _calls(suggest) == [
        ("customer_recommendations", {"customer_id": tool_world.shopper_id}, "ok")
    ], suggest.answer
    assert suggest.products

    # Without marketing consent the recommendation is refused, as when the id is typed.
    other = assistant.ask(associate, f"look up customer {tool_world.no_consent_customer_id}")
    refused = assistant.ask(
        associate, "anything I should recommend to him?", thread_id=other.thread_id
    )
    assert _calls(refused) == [
        (
            "customer_recommendations",
            {"customer_id": tool_world.no_consent_customer_id},
            "policy_denied",
        )
    ]
    assert not refused.products


def test_a_stock_table_shows_every_sku_or_says_it_stops_and_honours_a_named_one(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        options = list(
            session.scalars(
                select(Variant.options)
                .where(Variant.product_id == tool_world.product_id)
                .order_by(Variant.id)
            )
        )
        count = session.scalar(
            select(func.count()).where(Variant.product_id == tool_world.product_id)
        )
    table = assistant.ask(associate, f"which stores carry {tool_world.product_id}?")
    rows = [line for line in table.answer.splitlines() if line.startswith("- ")]
    assert count == len(options)
    if count > STOCK_LINES:
        assert f"{STOCK_LINES} of {count} SKUs shown" in table.answer
    else:
        assert len(rows) == count, table.answer

    wanted = next(o for o in options if o.get("color") and o.get("size"))
    colour, size = str(wanted["color"]), str(wanted["size"])
    same = [
        o
        for o in options
        if str(o.get("color")).lower() == colour.lower()
        and str(o.get("size")).lower() == size.lower()
    ]
    named = assistant.ask(
        associate, f"which stores have it in {colour}, size {size}?", thread_id=table.thread_id
    )
    assert [c[0] for c in _calls(named)] == ["stock_nearby"], named.answer
    rows = [line for line in named.answer.splitlines() if line.startswith("- ")]
    assert len(rows) == len(same), named.answer
    assert f"{len(same)} of its {count} SKUs" in named.answer
