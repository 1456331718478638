"""The one product card a page shows (`tools.catalog.product_cards`): in the order asked, with
the product's first image, and with the prices a tool listed this turn when it listed the
product (those are what the answer quoted)."""

from __future__ import annotations

from sqlalchemy import Engine

from retail.store.db import transaction
from tests.factories import make_product
from tools.catalog import ProductCard, listed_cards, product_cards


def _catalogue(engine: Engine) -> None:
    with transaction(engine) as session:
        make_product(
            session,
            "p-photo",
            "Trail Shell",
            attributes={"images": ["https://img.example/shell-1.jpg", "https://x/2.jpg"]},
            variants=[{"price": 80.0}, {"price": 120.0}],
        )
        make_product(
            session,
            "p-thumb",
            "Camp Mug",
            attributes={"thumbnail": "https://img.example/mug.jpg"},
            variants=[{"price": 12.5}],
        )
        make_product(session, "p-plain", "Tent Pegs", variants=[{"price": 4.0}])


def test_cards_come_in_the_order_asked_with_the_first_image_or_the_thumbnail(
    engine: Engine,
) -> None:
    _catalogue(engine)

    cards = product_cards(engine, ["p-plain", "p-missing", "p-thumb", "p-photo", "p-plain"])

    assert [c.product_id for c in cards] == ["p-plain", "p-thumb", "p-photo"]
    assert [c.image for c in cards] == [
        None,
        "https://img.example/mug.jpg",
        "https://img.example/shell-1.jpg",
    ]
    # Read whole: every SKU's price.
    assert (cards[2].price_min, cards[2].price_max) == (80.0, 120.0)
    assert product_cards(engine, []) == []


def test_a_product_a_tool_listed_keeps_the_prices_the_answer_quoted(engine: Engine) -> None:
    _catalogue(engine)
    # What a search for "under $100" listed: only the matching SKU's price, plus fields of a
    # subclass (a recommendation's reason) that a card does not carry.
    output = {
        "total_matches": 1,
        "items": [
            {
                "product_id": "p-photo",
                "name": "Trail Shell",
                "brand": None,
                "category": None,
                "price_min": 80.0,
                "price_max": 80.0,
                "colours": [],
                "sizes": [],
                "rating": None,
                "review_count": 0,
                "in_stock": True,
                "stock_status": "in_stock",
                "snippet": "",
                "reason": "under your budget",
            },
            {"product_id": "p-thumb", "name": "not a card"},
        ],
    }

    listed = listed_cards(output)
    cards = product_cards(engine, ["p-thumb", "p-photo"], listed=listed)

    assert [c.product_id for c in listed] == ["p-photo"]
    assert isinstance(cards[1], ProductCard)
    assert (cards[1].price_min, cards[1].price_max) == (80.0, 80.0)
    assert cards[1].image == "https://img.example/shell-1.jpg"
    assert (cards[0].name, cards[0].price_min) == ("Camp Mug", 12.5)
