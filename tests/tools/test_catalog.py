"""Catalogue tools through `invoke`: hybrid search with exact filters, details, comparison."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from rag.graph import sellable_at
from retail.audit import verify_chain
from retail.catalog_queries import category_and_descendants, find_products, list_products
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import AuditEvent, Location, Product, Review, Variant
from tests.factories import make_category, make_product, seed_catalogue
from tests.tools.world import ToolWorld, ok, run
from tools.base import Principal, Services, ToolContext
from tools.catalog import _with_twins
from tools.catalog import card as card_of


def _options(engine: Engine, variant_id: str) -> dict[str, Any]:
    with Session(engine) as session:
        return session.get_one(Variant, variant_id).options


def _ids(output: dict[str, Any]) -> list[str]:
    return [p["product_id"] for p in output["products"]]


def test_colour_and_size_in_stock_at_a_store_mean_one_sku_that_is_all_three(
    tool_world: ToolWorld,
) -> None:
    w = tool_world
    ctx = w.ctx(f"shopper:{w.shopper_id}")
    sold_out = _options(w.engine, w.out_of_stock_variant_id)
    colour, size = sold_out["color"], sold_out["size"]

    here = ok(
        run(
            ctx, "search_products", text="leggings", colours=[colour], sizes=[size],
            store_id=w.store_id, limit=10,
        )
    )  # fmt: skip
    assert w.product_id not in _ids(here), "its only such SKU has nothing to sell at the store"
    anywhere = ok(run(ctx, "search_products", text="leggings", colours=[colour], sizes=[size]))
    assert w.product_id in _ids(anywhere), "online still has it"

    with Session(w.engine) as session:
        sibling = session.scalars(
            select(Variant.id).where(
                Variant.product_id == w.product_id, Variant.id != w.out_of_stock_variant_id
            )
        ).all()
    in_store = sellable_at(w.engine, sibling, w.store_id)
    other_size = _options(w.engine, next(v for v in sibling if v in in_store))["size"]
    found = ok(
        run(
            ctx, "search_products", text="leggings", sizes=[other_size], store_id=w.store_id,
            limit=10,
        )
    )  # fmt: skip
    assert w.product_id in _ids(found)
    for card in found["products"]:
        assert card["sizes"] == [other_size] and card["in_stock"]
        with Session(w.engine) as session:
            skus = session.scalars(
                select(Variant.id).where(
                    Variant.product_id == card["product_id"],
                    func.lower(Variant.options["size"].as_string()) == other_size.lower(),
                )
            ).all()
        assert sellable_at(w.engine, skus, w.store_id), card["product_id"]


def test_a_price_bound_filters_and_nothing_left_is_said_not_padded(tool_world: ToolWorld) -> None:
    w = tool_world
    ctx = w.ctx("evaluator:eve")
    unbounded = ok(run(ctx, "search_products", text="down jacket", in_stock_only=False))
    assert unbounded["retrieval"] == "hybrid" and unbounded["relaxed"] == []
    assert unbounded["query"]["categories"], "the type was taken from the nearest products"
    cheapest = min(p["price_min"] for p in unbounded["products"])

    bounded = ok(
        run(
            ctx, "search_products", text="down jacket", max_price=cheapest,
            in_stock_only=False,
        )
    )  # fmt: skip
    assert bounded["products"] and bounded["relaxed"] == []
    assert all(p["price_min"] <= cheapest for p in bounded["products"])
    assert bounded["total_matches"] == len(bounded["products"])

    nothing = ok(run(ctx, "search_products", text="down jacket", max_price=1, in_stock_only=False))
    assert nothing["total_matches"] == 0 and nothing["relaxed"] == ["price"]
    types = set(unbounded["query"]["categories"])
    with Session(w.engine) as session:
        shown = session.scalars(
            select(Product.category_id).where(Product.id.in_(_ids(nothing)))
        ).all()
    assert shown and set(shown) <= types, "the closest products are of the same type"


def test_closest_matches_say_per_product_which_constraints_they_miss(
    tool_world: ToolWorld,
) -> None:
    w = tool_world
    ctx = w.ctx("evaluator:eve")
    size = _options(w.engine, w.out_of_stock_variant_id)["size"]
    # No leggings are in a colour that exists nowhere and under $1: both are left out, but the
    # size asked is one some of them come in.
    found = ok(
        run(
            ctx, "search_products", text="leggings", colours=["chartreuse"], sizes=[size],
            max_price=1, in_stock_only=False, limit=10,
        )
    )  # fmt: skip
    assert found["total_matches"] == 0 and found["products"]
    assert {"colours", "price", "sizes"} <= set(found["relaxed"])
    misses = found["misses"]
    assert set(misses) == set(_ids(found))
    for card in found["products"]:
        said = misses[card["product_id"]]
        assert "colours" in said and "price" in said, card["product_id"]
        with Session(w.engine) as session:
            sizes = {
                str(o.get("size", "")).lower()
                for o in session.scalars(
                    select(Variant.options).where(Variant.product_id == card["product_id"])
                )
            }
        assert ("sizes" in said) == (size.lower() not in sizes), card["product_id"]
    assert any("sizes" not in said for said in misses.values()), "some come in the size asked"


def test_the_closest_matches_keep_the_budget_when_something_fits_it(
    tool_world: ToolWorld,
) -> None:
    ctx = tool_world.ctx("evaluator:eve")
    # A colour and a size no legging has: leaving out either alone finds nothing, so both go,
    # but the budget stays, since leggings under it exist.
    found = ok(
        run(
            ctx, "search_products", text="leggings", colours=["chartreuse"], sizes=["5XL"],
            max_price=200, in_stock_only=False, limit=10,
        )
    )  # fmt: skip
    assert found["total_matches"] == 0 and found["products"]
    assert "price" not in found["relaxed"] and {"colours", "sizes"} <= set(found["relaxed"])
    with Session(tool_world.engine) as session:
        cheapest = session.execute(
            select(func.min(Variant.price))
            .where(Variant.product_id.in_(_ids(found)))
            .group_by(Variant.product_id)
        ).scalars()
        assert all(float(p) <= 200 for p in cheapest), "each shown fits the budget"


def test_a_request_near_no_product_finds_nothing_instead_of_listing_everything(
    tool_world: ToolWorld,
) -> None:
    ctx = tool_world.ctx("evaluator:eve")
    # The world sells outdoor gear and apparel; a lawn mower is near none of it in meaning, so
    # the other filters (a price any product meets) must not turn into the answer.
    found = ok(
        run(ctx, "search_products", text="a petrol lawn mower", max_price=100_000,
            in_stock_only=False)
    )  # fmt: skip
    assert found["products"] == [] and found["total_matches"] == 0
    assert found["query"]["categories"] == [] and found["relaxed"] == []
    near = ok(run(ctx, "search_products", text="down jacket", max_price=100_000))
    assert near["products"], "a request near some products still finds them"


def test_a_long_message_is_searched_for_what_it_means_not_a_word_in_passing(
    tool_world: ToolWorld,
) -> None:
    ctx = tool_world.ctx("evaluator:eve")
    story = (
        "so my dad keeps moaning that his feet freeze every time he shovels the driveway, "
        "he does not care about grills or fashion at all, just wants his feet warm and dry "
        "in the snow when he walks, what boots would you recommend for him"
    )
    found = ok(run(ctx, "search_products", text=story, categories=["tau2-grill"]))
    assert found["retyped"] and "tau2-grill" not in found["query"]["categories"]
    assert found["products"] and all("boot" in p["name"].lower() for p in found["products"])
    short = ok(run(ctx, "search_products", text="a grill", categories=["tau2-grill"]))
    assert not short["retyped"] and short["query"]["categories"] == ["tau2-grill"]


def test_categories_of_one_kind_in_two_taxonomies_are_searched_together(
    tool_world: ToolWorld,
) -> None:
    """The fresh2 dev half: "men's navy fleece in a large, under 100" named Fleece & Midlayers,
    and the message's meaning put tau2's Fleece Jacket first, so the named type was dropped for
    it; a category whose name means the same kind is a twin, searched beside the named one."""
    ctx = tool_world.ctx("evaluator:eve")
    with Session(tool_world.engine) as session:
        kettles = _with_twins(ctx, session, ["tau2-electric-kettle"])
        laptops = _with_twins(ctx, session, ["tau2-laptop"])
    assert kettles[0] == "tau2-electric-kettle" and "tau2-tea-kettle" in kettles
    assert laptops == ["tau2-laptop"]  # a notebook is paper


def test_an_empty_query_lists_a_category_subtree_best_rated_first(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(run(w.ctx("associate:ann"), "search_products", categories=["Apparel"], limit=20))
    assert out["retrieval"] == "filters" and out["products"]
    with Session(w.engine) as session:
        allowed = set(session.scalars(category_and_descendants("apparel")))
        categories = dict(
            session.execute(
                select(Product.id, Product.category_id).where(Product.id.in_(_ids(out)))
            ).all()
        )
    assert {categories[p] for p in _ids(out)} <= allowed
    ratings = [p["rating"] or 0.0 for p in out["products"]]
    assert ratings == sorted(ratings, reverse=True)


def test_bad_filters_are_typed_errors(tool_world: ToolWorld) -> None:
    ctx = tool_world.ctx("shopper:someone")
    unknown = run(ctx, "search_products", categories=["spaceships"])
    assert unknown.status == "not_found" and unknown.error is not None
    assert unknown.error.message == "No category called 'spaceships'."
    assert run(ctx, "search_products", min_price=50, max_price=10).status == "invalid"
    assert run(ctx, "search_products", store_id="S999").status == "not_found"
    assert run(ctx, "search_products", limit=0).status == "invalid"
    assert run(ctx, "search_products", colours=["red"], shade="dark").status == "invalid"


def test_a_never_built_index_is_a_typed_error_but_filters_still_list(
    tool_world: ToolWorld, tmp_path: Path
) -> None:
    w = tool_world
    bare = Services(w.engine, w.settings.model_copy(update={"var_dir": tmp_path}))
    ctx = ToolContext(principal=Principal.parse("shopper:someone"), services=bare)
    searched = run(ctx, "search_products", text="jacket")
    assert searched.status == "not_found" and searched.error is not None
    assert searched.error.details == {"missing": "rag_index"}
    assert "aisle rag ingest" in searched.error.message
    assert ok(run(ctx, "search_products", categories=["apparel"]))["products"]


def test_product_details_has_variants_reviews_and_care(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(run(w.ctx(w.associate), "product_details", product_id=w.product_id))
    colours = {v["options"]["color"] for v in out["variants"]}
    sizes = {v["options"]["size"] for v in out["variants"]}
    assert len(colours) > 1 and len(sizes) > 1
    sold_out = next(v for v in out["variants"] if v["id"] == w.out_of_stock_variant_id)
    at_store = {s["location_id"]: s["available_to_sell"] for s in sold_out["stock"]}
    assert at_store[w.store_id] == 0
    assert out["care"] and out["size_guide"] and out["reviews"]["recent"]
    missing = run(w.ctx(w.associate), "product_details", product_id="nope")
    assert missing.status == "not_found"


def test_compare_products_side_by_side(tool_world: ToolWorld) -> None:
    w = tool_world
    ctx = w.ctx(f"shopper:{w.shopper_id}")
    with Session(w.engine) as session:
        other = session.scalars(
            select(Product.id)
            .where(Product.source == "generated", Product.id != w.product_id)
            .order_by(Product.id)
        ).first()
    assert other is not None
    out = ok(run(ctx, "compare_products", product_ids=[other, w.product_id]))
    assert [p["product_id"] for p in out["products"]] == [other, w.product_id]
    cheapest = min(out["products"], key=lambda p: p["price_min"])
    assert out["cheapest"] == cheapest["product_id"]
    first, second = (p["attributes"] for p in out["products"])
    assert out["shared_attributes"] == {k: v for k, v in first.items() if second.get(k) == v}

    assert run(ctx, "compare_products", product_ids=[other]).status == "invalid"
    assert run(ctx, "compare_products", product_ids=[other, other]).status == "invalid"
    assert run(ctx, "compare_products", product_ids=[other, "nope"]).status == "not_found"


def test_grants_and_the_audit_chain(tool_world: ToolWorld) -> None:
    w = tool_world
    with Session(w.engine) as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    denied = run(w.ctx("planner:pat"), "search_products", text="tent")
    assert denied.status == "forbidden"
    ok(run(w.ctx("admin:root"), "search_products", text="tent"))
    with Session(w.engine) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)
        ).all()
    assert [(e.tool_name, e.status) for e in events] == [
        ("search_products", "forbidden"),
        ("search_products", "ok"),
    ]
    assert verify_chain(w.engine, settings=w.settings).ok


def test_search_filters_and_stock_nearby_on_both_databases(engine: Engine, tmp_path: Path) -> None:
    """The SQL the tools run, on SQLite and PostgreSQL alike (hand-built catalogue, no index)."""
    c = seed_catalogue(engine)
    services = Services(engine, Settings(var_dir=tmp_path, environment="test"))
    ctx = ToolContext(principal=Principal.parse("associate:ann@store-uptown"), services=services)

    def search(**filters: Any) -> list[str]:
        return _ids(ok(run(ctx, "search_products", **filters)))

    assert search(colours=["BLUE"], sizes=["s"], store_id=c.downtown) == [c.alpine]
    assert search(colours=["blue"], sizes=["M"], store_id=c.downtown) == []
    assert search(categories=["jacket"], max_price=130) == [c.alpine]
    assert sorted(search(categories=["jackets"], max_price=130, in_stock_only=False)) == sorted(
        [c.alpine, c.breeze]
    )
    assert search(brands=["Hearth & Co"]) == [], "the skillet is not available"

    with Session(engine) as session, session.begin():
        for store, lat, lon in ((c.downtown, 45.5152, -122.6784), (c.uptown, 45.5400, -122.7000)):
            session.execute(
                update(Location).where(Location.id == store).values(latitude=lat, longitude=lon)
            )
    out = ok(run(ctx, "stock_nearby", product_id=c.alpine))
    assert out["store_id"] == c.uptown
    small, medium = out["variants"]
    assert small["at_store"] == 0 and medium["at_store"] == 0
    assert [(n["store_id"], n["available_to_sell"]) for n in small["nearby"]] == [(c.downtown, 4)]
    assert 3.0 < small["nearby"][0]["distance_km"] < 3.5
    assert medium["nearby"] == []
    # Uptown keeps no stock record of the small one (only Downtown stocks it): it is not
    # carried there, which is not sold out; the medium one is stocked there and sold out.
    assert (small["stock_status"], medium["stock_status"]) == ("not_carried", "out_of_stock")
    assert verify_chain(engine, settings=services.settings).ok


def test_a_sku_the_store_does_not_stock_reads_not_carried_never_out_of_stock(
    engine: Engine,
) -> None:
    """Stock at a store is one rule (`catalog_queries.stock_status`) for every listing: a SKU
    with no stock record there is not carried, one with a record and nothing to sell is out of
    stock, and a product reads as the best of its SKUs."""
    c = seed_catalogue(engine)
    with Session(engine) as session:
        at_uptown = {
            m.summary.id: m for m in find_products(session, ids=c.product_ids, store_id=c.uptown)
        }
        listed, _ = list_products(session, store_id=c.uptown, limit=10)
    alpine = {v.id: v.stock_status for v in at_uptown[c.alpine].variants}
    assert alpine == {f"{c.alpine}-v1": "not_carried", f"{c.alpine}-v2": "out_of_stock"}
    assert at_uptown[c.alpine].summary.stock_status == "out_of_stock"
    # The breeze is stocked at Downtown only, the evergreen at Uptown.
    assert at_uptown[c.breeze].summary.stock_status == "not_carried"
    assert at_uptown[c.evergreen].summary.stock_status == "in_stock"
    assert {p.id: p.stock_status for p in listed}[c.breeze] == "not_carried"
    with Session(engine) as session:
        anywhere = {m.summary.id: m.summary for m in find_products(session, ids=c.product_ids)}
    # Asked about no store, a SKU some location stocks is carried.
    assert anywhere[c.breeze].stock_status == "out_of_stock"


def test_a_price_range_is_over_the_skus_sold_and_the_same_wherever_it_is_shown(
    engine: Engine, tmp_path: Path
) -> None:
    c = seed_catalogue(engine)
    services = Services(engine, Settings(var_dir=tmp_path, environment="test"))
    ctx = ToolContext(principal=Principal.parse("evaluator:eve"), services=services)
    small, medium = f"{c.alpine}-v1", f"{c.alpine}-v2"

    def prices(available: bool) -> set[tuple[float | None, float | None]]:
        with Session(engine) as session, session.begin():
            session.execute(update(Variant).where(Variant.id == small).values(price=100.0))
            session.execute(
                update(Variant).where(Variant.id == medium).values(price=150.0, available=available)
            )
        details = ok(run(ctx, "product_details", product_id=c.alpine))
        found = ok(run(ctx, "search_products", categories=["jackets"], in_stock_only=False))
        with Session(engine) as session:
            in_stock = find_products(session, ids=[c.alpine], in_stock=True)
            listed = {p.id: p for p in list_products(session, limit=10)[0]}[c.alpine]
        cards = [
            *(p for p in found["products"] if p["product_id"] == c.alpine),
            *(card_of(m) for m in in_stock),
            details,
            listed.model_dump(),
        ]
        return {(p["price_min"], p["price_max"]) for p in cards}

    # The medium is not sold: its price is no price a shopper can pay.
    assert prices(available=False) == {(100.0, 100.0)}
    # Sold, the medium's price is in the range on every listing, in stock now or not.
    assert prices(available=True) == {(100.0, 150.0)}


def test_a_capacity_asked_for_prices_the_card_over_that_capacitys_skus(
    tool_world: ToolWorld,
) -> None:
    """A tent sold for one and for two people, searched for two: its card's range is the range
    of the SKUs for two that are sold, not of every SKU."""
    w = tool_world
    with Session(w.engine) as session:
        rows = session.execute(
            select(Variant.product_id, Variant.options, Variant.price, Product.category_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.available.is_(True))
        ).all()
    by_product: dict[str, dict[str, list[float]]] = {}
    category: dict[str, str] = {}
    for row in rows:
        if row.options.get("capacity"):
            by_product.setdefault(row.product_id, {}).setdefault(
                str(row.options["capacity"]), []
            ).append(float(row.price))
            category[row.product_id] = row.category_id
    # A product whose capacities differ in price, so that the whole range is not the answer.
    product_id, capacity = next(
        (pid, cap)
        for pid, caps in sorted(by_product.items())
        if len(caps) > 1
        for cap, prices in sorted(caps.items())
        if (min(prices), max(prices))
        != (min(min(p) for p in caps.values()), max(max(p) for p in caps.values()))
    )
    out = ok(
        run(
            w.ctx(f"shopper:{w.shopper_id}"),
            "search_products",
            categories=[category[product_id]],
            features=[capacity.lower()],
        )
    )
    (found,) = [p for p in out["products"] if p["product_id"] == product_id]
    prices = by_product[product_id][capacity]
    assert (found["price_min"], found["price_max"]) == (min(prices), max(prices))


def test_the_vocabulary_holds_the_words_of_descriptions_and_reviews(
    tool_world: ToolWorld,
) -> None:
    """The language the catalogue writes in, read from its own descriptions and reviews: every
    word of three letters or more of one product's description and of one review is there."""
    w = tool_world
    vocabulary = ok(run(w.ctx("shopper:" + w.shopper_id), "catalogue_vocabulary"))
    written = set(vocabulary["text_words"])
    with Session(w.engine) as session:
        description = session.scalars(
            select(Product.description).where(Product.description != "").order_by(Product.id)
        ).first()
        review = session.scalars(
            select(Review.body).where(Review.body != "").order_by(Review.id)
        ).first()
    for text in (description, review):
        assert text
        said = {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) >= 3}
        assert said and said <= written, said - written


def test_a_comparative_filters_past_the_products_compared_and_says_when_none_is(
    engine: Engine, tmp_path: Path
) -> None:
    """ "Lighter", "warmer", "roomier": past the products shown on the first measure they state,
    in one unit ("1.0 kg" is under "1.2 kg" and over "900 g"), per SKU (a tent sold as 2P and
    4P is roomier than a 2P in its 4P); nothing past them is an empty answer, never the
    closest (dearer, heavier) products; a measure they do not state compares nothing."""
    c = seed_catalogue(engine)
    tents = "cat-tents"
    with transaction(engine) as session:
        make_category(session, tents, "Tents", c.outdoor)
        for product_id, weight, temperature, capacities in (
            ("tent-a", "1.2 kg (2.6 lb)", "30°F", ["2P"]),
            ("tent-b", "900 g (31.7 oz)", "40°F", ["1P"]),
            ("tent-c", "2.0 kg (4.4 lb)", "15°F", ["2P", "4P"]),
        ):
            make_product(
                session,
                product_id,
                f"Tent {product_id}",
                category_id=tents,
                rating=4.0,
                attributes={"weight": weight, "temperature rating": temperature},
                variants=[{"price": 100.0, "options": {"capacity": p}} for p in capacities],
            )
    services = Services(engine, Settings(var_dir=tmp_path, environment="test"))
    ctx = ToolContext(principal=Principal.parse("shopper:cus-1"), services=services)

    def compare(word: str, measures: list[list[str]], than: list[str]) -> dict[str, Any]:
        beyond = {
            "word": word,
            "measures": [{"name": n, "direction": d} for n, d in measures],
            "than": than,
        }
        return ok(run(ctx, "search_products", categories=[tents], beyond=beyond))

    lighter = compare("lighter", [["weight", "less"]], ["tent-a"])
    assert _ids(lighter) == ["tent-b"]
    assert lighter["query"]["beyond"]["bound_text"] == "1.2 kg (2.6 lb)"
    # Carried to the next turn as the search gave it back, it still holds.
    again = ok(run(ctx, "search_products", categories=[tents], beyond=lighter["query"]["beyond"]))
    assert _ids(again) == ["tent-b"] and again["uncompared"] is None
    warmer = compare("warmer", [["thickness", "more"], ["temperature rating", "less"]], ["tent-a"])
    assert (
        _ids(warmer) == ["tent-c"] and warmer["query"]["beyond"]["measure"] == "temperature rating"
    )
    roomier = compare("roomier", [["capacity", "more"]], ["tent-a"])
    assert _ids(roomier) == ["tent-c"]
    assert [p["price_min"] for p in roomier["products"]] == [100.0]
    nothing = compare("lighter", [["weight", "less"]], ["tent-b"])
    assert (nothing["total_matches"], nothing["products"], nothing["relaxed"]) == (0, [], [])
    unstated = compare("brighter", [["brightness", "more"]], ["tent-a"])
    assert unstated["uncompared"] == "brighter" and len(_ids(unstated)) == 3
