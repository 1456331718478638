"""The product routes against a real database: listing filters, paging, detail, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from retail.store.db import transaction
from retail.store.models import Variant
from tests.factories import Catalogue, make_product, seed_catalogue


@pytest.fixture(autouse=True)
def catalogue(engine: Engine) -> Catalogue:
    """Seeded before the app starts, so every test sees the same catalogue."""
    return seed_catalogue(engine)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_lists_every_product_by_name_with_summary_fields(
    client: TestClient, catalogue: Catalogue
) -> None:
    response = client.get("/v1/products")

    assert ids(response) == catalogue.product_ids
    body = response.json()
    assert body["total"] == 5
    assert body["next_offset"] is None
    alpine = body["items"][0]
    assert alpine == {
        "id": catalogue.alpine,
        "name": "Alpine Rain Jacket",
        "category_id": catalogue.jackets,
        "category_name": "Jackets",
        "brand_id": catalogue.summit,
        "brand_name": "Summit Gear",
        "price_min": 129.0,
        "price_max": 139.0,
        "rating": 3.67,
        "review_count": 3,
        "in_stock": True,
        "stock_status": "in_stock",
        "source": "generated",
    }


def test_pages_carry_total_and_next_offset(client: TestClient, catalogue: Catalogue) -> None:
    first = client.get("/v1/products", params={"limit": 2})
    second = client.get("/v1/products", params={"limit": 2, "offset": 2})
    last = client.get("/v1/products", params={"limit": 2, "offset": 4})
    beyond = client.get("/v1/products", params={"limit": 2, "offset": 10})

    assert ids(first) + ids(second) + ids(last) == catalogue.product_ids
    assert [r.json()["next_offset"] for r in (first, second, last)] == [2, 4, None]
    assert {r.json()["total"] for r in (first, second, last, beyond)} == {5}
    assert ids(beyond) == []
    assert beyond.json()["next_offset"] is None
    assert first.json()["limit"] == 2 and second.json()["offset"] == 2


def test_category_filter_includes_every_category_below(
    client: TestClient, catalogue: Catalogue
) -> None:
    c = catalogue

    def in_category(category_id: str) -> list[str]:
        return ids(client.get("/v1/products", params={"category_id": category_id}))

    assert in_category(c.outdoor) == [c.alpine, c.breeze, c.canyon, c.evergreen]
    assert in_category(c.outdoor_clothing) == [c.alpine, c.breeze, c.evergreen]
    assert in_category(c.jackets) == [c.alpine, c.breeze, c.evergreen]
    assert in_category(c.footwear) == [c.canyon]
    assert in_category(c.home) == [c.skillet]


def test_brand_filter(client: TestClient, catalogue: Catalogue) -> None:
    response = client.get("/v1/products", params={"brand_id": catalogue.trailhead})

    assert ids(response) == [catalogue.breeze, catalogue.canyon]
    assert response.json()["total"] == 2


def test_price_range_matches_any_variant_inclusively(
    client: TestClient, catalogue: Catalogue
) -> None:
    c = catalogue

    def priced(**params: float) -> list[str]:
        return ids(client.get("/v1/products", params=params))

    assert priced(min_price=100, max_price=150) == [c.alpine, c.canyon]
    # Bounds are inclusive, and one variant in range is enough (Canyon's 10 costs 159.99).
    assert priced(min_price=139, max_price=149.99) == [c.alpine, c.canyon]
    assert priced(min_price=150) == [c.canyon, c.evergreen]
    assert priced(max_price=59.5) == [c.breeze, c.skillet]
    assert priced(min_price=1000) == []


def test_in_stock_without_a_store_uses_every_location(
    client: TestClient, catalogue: Catalogue
) -> None:
    c = catalogue

    in_stock = ids(client.get("/v1/products", params={"in_stock": "true"}))
    out_of_stock = ids(client.get("/v1/products", params={"in_stock": "false"}))

    # Canyon has no inventory rows: available and untracked counts as in stock.
    assert in_stock == [c.alpine, c.canyon, c.evergreen]
    # Breeze's units are all reserved; the Skillet is not available at all.
    assert out_of_stock == [c.breeze, c.skillet]


def test_in_stock_at_a_store_needs_stock_at_that_store(
    client: TestClient, catalogue: Catalogue
) -> None:
    c = catalogue

    def at(store_id: str, in_stock: bool) -> list[str]:
        params = {"store_id": store_id, "in_stock": str(in_stock).lower()}
        return ids(client.get("/v1/products", params=params))

    assert at(c.downtown, True) == [c.alpine]
    assert at(c.uptown, True) == [c.evergreen]
    assert at(c.dc, True) == []
    assert at(c.downtown, False) == [c.breeze, c.canyon, c.skillet, c.evergreen]


def test_store_id_alone_scopes_the_stock_flags(client: TestClient, catalogue: Catalogue) -> None:
    response = client.get("/v1/products", params={"store_id": catalogue.uptown})

    flags = {item["id"]: item["in_stock"] for item in response.json()["items"]}
    assert ids(response) == catalogue.product_ids
    assert flags == {
        catalogue.alpine: False,
        catalogue.breeze: False,
        catalogue.canyon: False,
        catalogue.skillet: False,
        catalogue.evergreen: True,
    }


def test_price_and_stock_must_hold_for_the_same_variant(
    client: TestClient, catalogue: Catalogue
) -> None:
    # Alpine's M ($139) is in range but has no stock; its S has stock but costs $129.
    in_range_only = {"min_price": 135, "max_price": 145, "in_stock": True}
    assert ids(client.get("/v1/products", params=in_range_only)) == []
    cheap_in_stock = {"max_price": 130, "in_stock": True}
    assert ids(client.get("/v1/products", params=cheap_in_stock)) == [catalogue.alpine]


def test_name_search_is_a_case_insensitive_substring_of_the_name_or_category(
    client: TestClient, catalogue: Catalogue
) -> None:
    jackets = {catalogue.alpine, catalogue.breeze, catalogue.evergreen}
    # A word of the category's name finds its products too, whatever they are named.
    assert set(ids(client.get("/v1/products", params={"q": "JACKET"}))) == jackets
    assert ids(client.get("/v1/products", params={"q": "footwear"})) == [catalogue.canyon]
    assert ids(client.get("/v1/products", params={"q": "iron sk"})) == [catalogue.skillet]
    # Each word, singular or plural, in any order: an associate types "skillets iron".
    assert ids(client.get("/v1/products", params={"q": "skillets iron"})) == [catalogue.skillet]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert ids(client.get("/v1/products", params={"q": "%"})) == []
    assert ids(client.get("/v1/products", params={"q": "_"})) == []


def test_a_sku_or_product_id_finds_its_product_and_noise_finds_none(
    engine: Engine, client: TestClient, catalogue: Catalogue
) -> None:
    with transaction(engine) as session:
        make_product(session, "prod-jordan", "Court Jordan 1 Sneaker", variants=[{"price": 90}])
        sku, product = session.execute(
            select(Variant.id, Variant.product_id).where(Variant.product_id == catalogue.canyon)
        ).first()
    # A SKU from a shelf label, in any case, finds the product it belongs to; so does its id.
    assert ids(client.get("/v1/products", params={"q": f" {sku.lower()} "})) == [product]
    assert ids(client.get("/v1/products", params={"q": product.upper()})) == [product]
    # "or" is inside "Jordan" and "1" is a word of its name: neither is a word that names it.
    assert ids(client.get("/v1/products", params={"q": "' OR 1=1 --"})) == []
    assert ids(client.get("/v1/products", params={"q": "'; --"})) == []
    assert ids(client.get("/v1/products", params={"q": "jordan 1"})) == ["prod-jordan"]


def test_filters_combine(client: TestClient, catalogue: Catalogue) -> None:
    params = {"category_id": catalogue.outdoor, "brand_id": catalogue.summit, "in_stock": "true"}
    response = client.get("/v1/products", params={**params, "limit": 1})

    assert ids(response) == [catalogue.alpine]
    assert response.json()["total"] == 2
    assert response.json()["next_offset"] == 1


def test_product_without_variants_has_no_price_and_no_stock(
    engine: Engine, client: TestClient, catalogue: Catalogue
) -> None:
    with transaction(engine) as session:
        make_product(session, "prod-gift-card", "Gift Card")

    item = client.get("/v1/products", params={"q": "gift"}).json()["items"][0]
    assert (item["price_min"], item["price_max"], item["in_stock"]) == (None, None, False)
    assert item["category_id"] is None and item["brand_name"] is None


def test_listing_runs_a_fixed_number_of_queries(app: FastAPI, client: TestClient) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    app_engine = app.state.engine
    event.listen(app_engine, "before_cursor_execute", record)
    try:
        small = client.get("/v1/products", params={"limit": 1, "in_stock": "true"})
        count_small = len(statements)
        statements.clear()
        large = client.get("/v1/products", params={"limit": 100, "in_stock": "true"})
        count_large = len(statements)
    finally:
        event.remove(app_engine, "before_cursor_execute", record)

    assert len(small.json()["items"]) == 1 and len(large.json()["items"]) == 3
    # Count, page and its variants; a larger page must not add a query per product.
    assert count_small == count_large == 3


def test_product_detail_has_variants_stock_and_reviews(
    client: TestClient, catalogue: Catalogue
) -> None:
    response = client.get(f"/v1/products/{catalogue.alpine}")

    assert response.status_code == 200
    product = response.json()
    assert product["name"] == "Alpine Rain Jacket"
    assert product["description"] == "A waterproof, breathable shell for wet hikes."
    assert product["materials"] == "100% recycled nylon, PFC-free DWR"
    assert product["care"].startswith("Machine wash cold")
    assert product["size_guide"].startswith("True to size")
    assert product["attributes"] == {"waterproof": True, "weight_g": 380}
    assert product["launched_on"] == "2024-03-01"
    assert (product["price_min"], product["price_max"], product["in_stock"]) == (129.0, 139.0, True)

    small, medium = product["variants"]
    assert small == {
        "id": f"{catalogue.alpine}-v1",
        "options": {"size": "S", "color": "blue"},
        "price": 129.0,
        "available": True,
        "in_stock": True,
        "stock_status": "in_stock",
        "list_price": None,  # not on sale: no markdown in force
        "stock": [
            {
                "location_id": catalogue.downtown,
                "location_name": "Downtown Store",
                "on_hand": 5,
                "available_to_sell": 4,
            }
        ],
    }
    assert medium["in_stock"] is False
    assert medium["stock"] == [
        {
            "location_id": catalogue.uptown,
            "location_name": "Uptown Store",
            "on_hand": 0,
            "available_to_sell": 0,
        }
    ]

    reviews = product["reviews"]
    assert reviews["count"] == 3
    assert reviews["average_rating"] == pytest.approx(3.67)
    assert reviews["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    # Newest first; a review without a date comes last.
    assert [r["id"] for r in reviews["recent"]] == ["rev-alpine-2", "rev-alpine-1", "rev-alpine-3"]
    assert reviews["recent"][1]["title"] == "Great"


def test_product_detail_of_untracked_and_unavailable_variants(
    client: TestClient, catalogue: Catalogue
) -> None:
    canyon = client.get(f"/v1/products/{catalogue.canyon}").json()
    skillet = client.get(f"/v1/products/{catalogue.skillet}").json()

    assert [(v["in_stock"], v["stock"]) for v in canyon["variants"]] == [(True, []), (True, [])]
    assert canyon["reviews"] == {
        "count": 0,
        "average_rating": None,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "recent": [],
    }
    assert skillet["in_stock"] is False
    assert skillet["variants"][0]["available"] is False


def test_unknown_product_is_404(client: TestClient) -> None:
    response = client.get("/v1/products/prod-nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "No product with id 'prod-nothing-here'."}


@pytest.mark.parametrize(
    ("param", "value", "detail"),
    [
        ("category_id", "cat-nope", "No category with id 'cat-nope'."),
        ("brand_id", "brand-nope", "No brand with id 'brand-nope'."),
        ("store_id", "store-nope", "No location with id 'store-nope'."),
    ],
    ids=["category", "brand", "store"],
)
def test_unknown_filter_ids_are_404(
    client: TestClient, param: str, value: str, detail: str
) -> None:
    response = client.get("/v1/products", params={param: value})

    assert response.status_code == 404
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"limit": 0}, "query parameter 'limit'"),
        ({"limit": 101}, "query parameter 'limit'"),
        ({"offset": -1}, "query parameter 'offset'"),
        ({"min_price": "abc"}, "query parameter 'min_price'"),
        ({"max_price": "nan"}, "query parameter 'max_price'"),
        ({"min_price": -1}, "query parameter 'min_price'"),
        ({"in_stock": "maybe"}, "query parameter 'in_stock'"),
        ({"q": "a\x00b"}, "query parameter 'q'"),
        ({"category_id": ""}, "query parameter 'category_id'"),
    ],
    ids=[
        "limit-0",
        "limit-101",
        "negative-offset",
        "price-not-a-number",
        "price-nan",
        "negative-price",
        "in-stock-not-a-bool",
        "nul-in-q",
        "empty-category",
    ],
)
def test_bad_parameters_are_422_with_a_sentence(
    client: TestClient, params: dict[str, Any], where: str
) -> None:
    response = client.get("/v1/products", params=params)

    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith(f"Invalid request: {where}: ")
    assert body["detail"].endswith(".")
    assert body["errors"] and body["errors"][0]["loc"][0] == "query"


def test_a_parameter_the_listing_does_not_take_is_422(client: TestClient) -> None:
    """`?store=ZZZ` (for store_id) and `?sort=foo` (nothing sorts) were ignored: a typo read
    as a filter that matched everything."""
    response = client.get("/v1/products", params={"store": "ZZZ", "sort": "foo", "limit": 2})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(
        "Invalid request: query parameter 'store': not a parameter of /v1/products (it takes "
        "brand_id, category_id, in_stock, limit, max_price, min_price, offset, q, store_id); "
        "query parameter 'sort': not a parameter"
    )
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "store"], ["query", "sort"]]
    # One product: its route takes no query parameters at all.
    one = client.get("/v1/products/nope", params={"store_id": "S001"})
    assert one.status_code == 422 and "(it takes none)" in one.json()["detail"]


def test_min_price_above_max_price_is_422(client: TestClient) -> None:
    response = client.get("/v1/products", params={"min_price": 50, "max_price": 20})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: query parameter 'min_price': min_price (50) must not exceed "
        "max_price (20)."
    )
    assert response.json()["errors"][0]["type"] == "price_range"


def test_nul_in_a_product_id_is_422_not_a_database_error(client: TestClient) -> None:
    response = client.get("/v1/products/prod%00x")

    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]
