"""The associate's chat over the real tools: what a message names (a SKU, a product id, a store,
online, the customer looked up) decides what is looked up, and the answers agree with the store.

Each expected figure is read from the database here, by SQL, not copied from an answer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from agents.assistant import Assistant, TurnResult
from agents.checkpoint import open_checkpointer
from agents.compose import NEARBY_NAMED, STOCK_LINES
from retail.store.db import transaction
from retail.store.models import (
    Category,
    Customer,
    InventoryPosition,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Variant,
)
from tests.tools.world import ToolWorld
from tools.base import Principal, Services

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


def test_a_sku_typed_alone_in_a_thread_is_that_skus_stock_never_a_size(
    assistant: Assistant, tool_world: ToolWorld, incoming: Incoming
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        category = session.scalar(
            select(Category.name)
            .join(Product, Product.category_id == Category.id)
            .where(Product.id == tool_world.product_id)
        )
    assert category
    # A thread on another product's stock, and one with a product search in force.
    on_stock = assistant.ask(associate, f"is {tool_world.product_id} in stock here?")
    searching = assistant.ask(associate, f"{category} please")
    assert "search_products" in [c[0] for c in _calls(searching)]
    for thread in (on_stock.thread_id, searching.thread_id):
        for typed in (incoming.sku, f"and {incoming.sku.lower()}?"):
            turn = assistant.ask(associate, typed, thread_id=thread)
            assert _calls(turn) == [("stock_nearby", {"variant_id": incoming.sku}, "ok")], (
                typed,
                turn.answer,
            )


def _unique_name(session: Session, *, consent: bool) -> tuple[str, str, str]:
    """A customer whose full name no other customer has: (id, first name, last name)."""
    full = Customer.first_name + " " + Customer.last_name
    unique = select(full).group_by(full).having(func.count() == 1)
    return session.execute(
        select(Customer.id, Customer.first_name, Customer.last_name)
        .where(Customer.marketing_consent.is_(consent), full.in_(unique))
        .order_by(Customer.id)
        .limit(1)
    ).one()


def test_a_customer_is_found_by_name_and_a_shared_name_lists_who_it_may_be(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        customer, first, last = _unique_name(session, consent=True)
        withheld, w_first, w_last = _unique_name(session, consent=False)
        shared, count = session.execute(
            select(Customer.first_name, func.count())
            .group_by(Customer.first_name)
            .having(func.count() >= 2)
            .order_by(func.count().desc(), Customer.first_name)
            .limit(1)
        ).one()
        listed = list(
            session.scalars(
                select(Customer.id)
                .where(
                    func.lower(Customer.first_name + " " + Customer.last_name).contains(
                        shared.lower()
                    )
                )
                .order_by(Customer.last_name, Customer.first_name, Customer.id)
            )
        )
    found = assistant.ask(associate, f"look up {first} {last}")
    assert _calls(found) == [
        ("find_customers", {"query": f"{first} {last}", "limit": 5}, "ok"),
        ("customer_profile", {"customer_id": customer}, "ok"),
    ], found.answer
    assert customer in found.answer
    # Found by name, the customer is who "her" means next.
    suggest = assistant.ask(associate, "what should I recommend to her?", thread_id=found.thread_id)
    assert _calls(suggest) == [("customer_recommendations", {"customer_id": customer}, "ok")]

    lower = assistant.ask(associate, f"find customer {w_first.lower()} {w_last.lower()}")
    assert [c[0] for c in _calls(lower)] == ["find_customers", "customer_profile"]
    assert _calls(lower)[1][1] == {"customer_id": withheld}
    assert "withheld" in lower.answer  # consent rules the profile found by name too

    several = assistant.ask(associate, f"find customer {shared}")
    assert [c[0] for c in _calls(several)] == ["find_customers"], several.answer
    assert len(listed) >= count >= 2
    assert f"{len(listed)} customers match" in several.answer, several.answer
    rows = [line for line in several.answer.splitlines() if line.startswith("- ")]
    assert [r.split("(", 1)[1].split(",", 1)[0] for r in rows] == listed[:5]
    assert "Which one?" in several.answer

    # A shopper's words are never a look-up of someone else.
    shopper = assistant.ask(Principal.parse(f"shopper:{customer}"), f"look up {first} {last}")
    assert "find_customers" not in [c[0] for c in _calls(shopper)]


def test_recommendations_for_a_customer_are_told_to_the_associate(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        first = session.scalar(
            select(Customer.first_name).where(Customer.id == tool_world.shopper_id)
        )
    profile = assistant.ask(associate, f"look up customer {tool_world.shopper_id}")
    suggest = assistant.ask(
        associate, "what should I recommend to her?", thread_id=profile.thread_id
    )
    assert _calls(suggest) == [
        ("customer_recommendations", {"customer_id": tool_world.shopper_id}, "ok")
    ]
    # About the customer ("Ava viewed ..."), never to them ("because you viewed ...").
    assert not re.search(r"\b(?:you|your)\b", suggest.answer, re.I), suggest.answer
    assert f"{first} " in suggest.answer, suggest.answer


def test_which_stores_have_it_names_the_nearest_and_counts_every_other_store(
    assistant: Assistant, tool_world: ToolWorld, incoming: Incoming, tmp_path: Path
) -> None:
    associate = Principal.parse(tool_world.associate)
    with Session(tool_world.engine) as session:
        having = session.scalar(
            select(func.count())
            .select_from(InventoryPosition)
            .join(Location, Location.id == InventoryPosition.location_id)
            .where(
                InventoryPosition.variant_id == incoming.sku,
                Location.kind == "store",
                Location.id != tool_world.store_id,
                InventoryPosition.on_hand - InventoryPosition.reserved > 0,
            )
        )
    assert having and having >= 1
    near = assistant.ask(associate, f"which stores have {incoming.sku}?")
    assert _calls(near) == [("stock_nearby", {"variant_id": incoming.sku}, "ok")], near.answer
    named = min(having, NEARBY_NAMED)
    assert f"nearest {'store' if named == 1 else f'{named} stores'} with it" in near.answer
    if having > named:
        assert f"{having - named} more" in near.answer, near.answer
    # With "nearby" a few metres, every store that has it is farther: counted, not dropped.
    settings = tool_world.settings.model_copy(
        update={"nearby_store_km": 0.01, "var_dir": tmp_path / "var"}
    )
    services = Services(tool_world.engine, settings)
    try:
        with open_checkpointer(settings) as checkpointer:
            far = Assistant(services, checkpointer).ask(
                associate, f"which stores have {incoming.sku}?"
            )
    finally:
        services.close()
    more = f"{having} farther away {'does' if having == 1 else 'do'}"
    assert "no other store within 0.01 km has it" in far.answer and more in far.answer, far.answer
