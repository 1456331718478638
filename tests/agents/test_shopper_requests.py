"""Shopper requests the catalogue does not answer as asked, through the assistant: a describing
word no product of the type states ("a cashmere fleece"), a brand the store does not carry, a
model number it does not sell; and what a product just shown costs against its list price.

Each case is checked apart from the search code, with SQL over the tool world: a request is
said to have no match only where no product of its type states the word asked.
"""

from __future__ import annotations

import pytest
from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from agents.assistant import Assistant
from retail.clock import today
from retail.store.models import LIST_CHANGE, MARKDOWN, Category, PriceChange, Product, Variant
from tests.tools.world import ToolWorld
from tools.base import Principal, invoke


def _stating(tool_world: ToolWorld, category_ids: list[str], word: str) -> int:
    """How many products of these categories state `word` anywhere in their own text or in
    their SKUs' options."""
    like = f"%{word.lower()}%"
    text = func.lower(
        Product.name
        + " "
        + func.coalesce(Product.description, "")
        + " "
        + func.coalesce(Product.materials, "")
    )
    with Session(tool_world.engine) as session:
        return (
            session.scalar(
                select(func.count(func.distinct(Product.id)))
                .outerjoin(Variant, Variant.product_id == Product.id)
                .where(
                    Product.category_id.in_(category_ids),
                    or_(
                        text.like(like),
                        func.lower(cast(Product.attributes, String)).like(like),
                        func.lower(cast(Variant.options, String)).like(like),
                    ),
                )
            )
            or 0
        )


def _category_ids(tool_world: ToolWorld, *names: str) -> list[str]:
    with Session(tool_world.engine) as session:
        return list(session.scalars(select(Category.id).where(Category.name.in_(names))))


def _categories_of(tool_world: ToolWorld, product_ids: list[str]) -> set[str]:
    with Session(tool_world.engine) as session:
        return set(session.scalars(select(Product.category_id).where(Product.id.in_(product_ids))))


@pytest.mark.parametrize(
    ("said", "word", "categories"),
    [
        ("a cashmere fleece for the cold", "cashmere", ["Fleece & Midlayers"]),
        ("motorised camp chair", "motorised", ["Camp Chairs", "Office Chair"]),
        ("do you sell kevlar backpacks?", "kevlar", ["Backpacks", "Backpack"]),
        ("patagonia hiking pants", "patagonia", ["Hiking Pants"]),
    ],
)
def test_a_describing_word_no_product_of_the_type_states_finds_no_match(
    assistant: Assistant, tool_world: ToolWorld, said: str, word: str, categories: list[str]
) -> None:
    category_ids = _category_ids(tool_world, *categories)
    assert category_ids
    assert _stating(tool_world, category_ids, word) == 0  # the catalogue does not say it
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    reply = assistant.ask(shopper, said)
    assert reply.answer.startswith("Sorry, we have no"), reply.answer
    assert word in reply.tool_calls[0].args["features"]
    # What follows is labelled as the closest things of the type asked for.
    assert _categories_of(tool_world, reply.products) <= set(category_ids)


@pytest.mark.parametrize(
    ("said", "categories"),
    [
        ("a dog bed", ["Pet Bed"]),
        ("bike helmet", ["Cycling Helmet"]),
        ("a camping chair", ["Camp Chairs", "Office Chair"]),
        ("a big roomy tent", ["Tents"]),
    ],
)
def test_a_word_that_names_the_type_or_says_how_big_still_finds_it(
    assistant: Assistant, tool_world: ToolWorld, said: str, categories: list[str]
) -> None:
    category_ids = _category_ids(tool_world, *categories)
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    reply = assistant.ask(shopper, said)
    assert not reply.answer.startswith("Sorry"), reply.answer
    assert reply.products and _categories_of(tool_world, reply.products) <= set(category_ids)


def test_a_model_number_the_store_does_not_sell_is_no_match(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    lighting = _category_ids(tool_world, "Headlamps & Lanterns")
    with Session(tool_world.engine) as session:
        name = session.scalars(
            select(Product.name).where(Product.category_id.in_(lighting)).order_by(Product.id)
        ).first()
    assert name is not None
    # The product's own name word after its brand ("Lumenpeak Stormglow ..."), with a number
    # no product states beside it.
    model = next(w for w in name.lower().split()[1:] if w.isalpha() and len(w) > 4)
    assert _stating(tool_world, lighting, f"{model} 7") == 0
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    reply = assistant.ask(shopper, f"the {model} 7 lantern")
    assert reply.answer.startswith("Sorry, we have no"), reply.answer
    assert f"{model} 7" in reply.tool_calls[0].args["features"]


def test_is_it_on_sale_answers_from_the_price_against_the_list_price(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    listed = assistant.ask(shopper, "show me jackets")
    assert len(listed.products) >= 2
    first, second = listed.products[:2]
    with Session(tool_world.engine) as session:
        # A SKU that is sold: a markdown of one that is not changes no price a shopper sees.
        variant = session.scalars(
            select(Variant)
            .where(Variant.product_id == first, Variant.available.is_(True))
            .order_by(Variant.id)
        ).first()
        assert variant is not None
        list_price = float(variant.price)
        on = today(session)
        marked = round(list_price * 0.8, 2)
        # As an approved markdown writes it (`approvals.price_changes`): the price it cuts
        # from, then the cut.
        rows = [
            PriceChange(variant_id=variant.id, effective_on=on, price=price, reason=reason)
            for price, reason in ((list_price, LIST_CHANGE), (marked, MARKDOWN))
        ]
        for row in rows:
            session.add(row)
            session.flush()
        added = [row.id for row in rows]
        variant.price = marked
        session.commit()
        variant_id = variant.id
    try:
        thread = listed.thread_id
        yes = assistant.ask(shopper, "is the first one on sale?", thread_id=thread)
        no = assistant.ask(shopper, "and is the second one discounted?", thread_id=thread)
    finally:
        with Session(tool_world.engine) as session:
            session.execute(delete(PriceChange).where(PriceChange.id.in_(added)))
            restored = session.get(Variant, variant_id)
            assert restored is not None
            restored.price = list_price
            session.commit()
    assert [c.name for c in yes.tool_calls] == ["product_details"]
    assert yes.tool_calls[0].args == {"product_id": first}
    assert yes.answer.startswith("Yes, the "), yes.answer
    assert f"${marked:,.2f}" in yes.answer and f"list price ${list_price:,.2f}" in yes.answer
    assert no.tool_calls[0].args == {"product_id": second}
    assert no.answer.startswith("No, the ") and "list price" in no.answer, no.answer


def test_a_follow_up_that_names_no_type_keeps_the_products_in_force(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    """ "needs to fit my laptop" after backpacks is about backpacks: the laptop is what they
    must go with (a wish that narrows where products say it), not a search for laptops."""
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    packs = assistant.ask(shopper, "backpacks")
    searched = packs.tool_calls[0].args["categories"]
    assert packs.products and searched
    fits = assistant.ask(shopper, "needs to fit my laptop", thread_id=packs.thread_id)
    call = fits.tool_calls[0]
    assert call.name == "search_products" and call.args["categories"] == searched
    assert "laptop" in call.args["prefer"]
    backpacks = set(_category_ids(tool_world, "Backpacks", "Backpack"))
    assert fits.products and _categories_of(tool_world, fits.products) <= backpacks


def test_a_thing_the_product_acts_on_is_not_the_product(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    """ "a way to carry my laptop", "something on my wrist that tracks my runs": what a product
    does names neither the product sought nor an order to track."""
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    tracks = assistant.ask(shopper, "something on my wrist that tracks my runs")
    assert [c.name for c in tracks.tool_calls] == ["search_products"], tracks.tool_calls
    laptops = set(_category_ids(tool_world, "Laptop"))
    assert laptops
    carry = assistant.ask(shopper, "something to carry the laptop to work every day")
    assert "categories" not in carry.tool_calls[0].args  # the type comes from the meaning
    assert carry.products and not _categories_of(tool_world, carry.products) & laptops


def test_a_request_near_no_kind_offers_the_nearest_kinds(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    """Nothing is near enough to search: the answer says so, then offers the kinds nearest in
    meaning (the store's own category names) instead of guessing one."""
    said = "do you sell pogo sticks?"
    ctx = tool_world.ctx(f"shopper:{tool_world.shopper_id}")
    outcome = invoke(ctx, "search_products", {"text": said})
    assert outcome.ok and outcome.output is not None
    assert outcome.output["products"] == []
    kinds = outcome.output["nearest_kinds"]
    with Session(tool_world.engine) as session:
        names = set(session.scalars(select(Category.name)))
    assert kinds and set(kinds) <= names
    reply = assistant.ask(Principal.parse(f"shopper:{tool_world.shopper_id}"), said)
    assert reply.answer.startswith("Sorry") and reply.products == []
    assert all(kind.lower() in reply.answer for kind in kinds), reply.answer


@pytest.mark.parametrize(
    ("said", "unbounded", "left_out"),
    [
        ("tent for 4 people under $-5", "tent for 4 people", "under -5"),
        ("jackets over minus 20 dollars", "jackets", "over -20"),
    ],
)
def test_a_budget_below_zero_is_said_to_be_left_out_not_dropped_unsaid(
    assistant: Assistant, tool_world: ToolWorld, said: str, unbounded: str, left_out: str
) -> None:
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    reply = assistant.ask(shopper, said)
    without = assistant.ask(shopper, unbounded)
    note = f"A price can't be below zero, so I left “{left_out}” out of the search. "
    assert reply.answer.startswith(note), reply.answer
    # Otherwise the same search and answer as the request without the bound.
    # The query the search ran, but for the message's own words (`text`).
    args = {k: v for k, v in reply.tool_calls[0].args.items() if k != "text"}
    assert "max_price" not in args and "min_price" not in args
    assert args == {k: v for k, v in without.tool_calls[0].args.items() if k != "text"}
    # The same products; their order may differ, since the ranking reads the message's own
    # words ("over minus 20 dollars" among them), and it did with other tests before this one.
    assert sorted(reply.products) == sorted(without.products) and reply.products
    assert reply.answer.removeprefix(note).splitlines()[0] == without.answer.splitlines()[0]
    assert reply.grounded
