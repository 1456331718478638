"""Stock tools through `invoke`: stock here and at the nearest stores, substitutes in stock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.graph import sellable_at
from retail.catalog_queries import find_products
from retail.store.models import InventoryPosition, Location, Product, Variant
from retail.world.geography import haversine_km
from tests.tools.world import ToolWorld, ok, run
from tools.base import Principal, Services, ToolContext


def variant_tracked_for_product() -> Any:
    """SQL truth of "some SKU of the `Product` in scope has a stock record"."""
    return (
        select(InventoryPosition.variant_id)
        .join(Variant, Variant.id == InventoryPosition.variant_id)
        .where(Variant.product_id == Product.id)
        .exists()
    )


def test_stock_nearby_lists_the_nearest_stores_that_have_each_sku(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(run(w.ctx(w.associate), "stock_nearby", product_id=w.product_id, limit=2))
    assert (out["store_id"], out["tracked"]) == (w.store_id, True)
    with Session(w.engine) as session:
        stores = session.scalars(select(Location).where(Location.kind == "store")).all()
        skus = session.scalars(select(Variant.id).where(Variant.product_id == w.product_id)).all()
    here = next(s for s in stores if s.id == w.store_id)
    assert [v["variant_id"] for v in out["variants"]] == sorted(skus)
    for variant in out["variants"]:
        sku = variant["variant_id"]
        assert variant["at_store"] == sellable_at(w.engine, [sku], w.store_id).get(sku, 0)
        having = sorted(
            (haversine_km(here.latitude, here.longitude, s.latitude, s.longitude), s.id)
            for s in stores
            if s.id != w.store_id and sellable_at(w.engine, [sku], s.id)
        )[:2]
        assert [(n["store_id"], n["distance_km"]) for n in variant["nearby"]] == [
            (store, round(km, 1)) for km, store in having
        ]
    sold_out = next(v for v in out["variants"] if v["variant_id"] == w.out_of_stock_variant_id)
    assert sold_out["at_store"] == 0 and sold_out["nearby"], "another store has it"


def test_stock_nearby_narrows_to_the_colour_and_size_asked(tool_world: ToolWorld) -> None:
    w = tool_world
    with Session(w.engine) as session:
        options = dict(
            session.execute(
                select(Variant.id, Variant.options).where(Variant.product_id == w.product_id)
            ).all()
        )
    colour, size = next((o["color"], o["size"]) for o in options.values() if o.get("size"))
    # "large" and "L" are one size; a colour's name in any case is that colour.
    spoken = {"l": "large", "m": "medium", "s": "small"}.get(str(size).lower(), str(size))
    out = ok(
        run(
            w.ctx(w.associate),
            "stock_nearby",
            product_id=w.product_id,
            colour=colour.upper(),
            size=spoken,
        )
    )
    assert out["sku_count"] == len(options)
    assert [v["variant_id"] for v in out["variants"]] == sorted(
        sku
        for sku, o in options.items()
        if str(o["color"]).lower() == str(colour).lower() and o["size"] == size
    )
    missing = run(w.ctx(w.associate), "stock_nearby", product_id=w.product_id, size="17.5")
    assert missing.status == "not_found"


def test_nearby_stores_are_those_within_the_distance_setting(tool_world: ToolWorld) -> None:
    w = tool_world
    everywhere = ok(run(w.ctx(w.associate), "stock_nearby", product_id=w.product_id, limit=10))
    distances = sorted({n["distance_km"] for v in everywhere["variants"] for n in v["nearby"]})
    assert everywhere["nearby_within_km"] == w.settings.nearby_store_km
    assert distances and distances[-1] <= w.settings.nearby_store_km
    bound = distances[0] + 0.05  # the distances shown are rounded to 0.1 km
    near = Services(w.engine, w.settings.model_copy(update={"nearby_store_km": bound}))
    ctx = ToolContext(principal=Principal.parse(w.associate), services=near)
    bounded = ok(run(ctx, "stock_nearby", product_id=w.product_id, limit=10))
    assert bounded["nearby_within_km"] == bound
    listed = [n["distance_km"] for v in bounded["variants"] for n in v["nearby"]]
    assert listed and set(listed) == {distances[0]}


def test_untracked_stock_reads_not_tracked_never_in_stock(tool_world: ToolWorld) -> None:
    w = tool_world
    with Session(w.engine) as session:
        untracked = session.scalars(
            select(Product.id)
            .where(Product.source == "tau2", ~variant_tracked_for_product())
            .order_by(Product.id)
        ).first()
    assert untracked is not None, "tau2's products keep no stock records"
    out = ok(run(w.ctx(w.associate), "stock_nearby", product_id=untracked))
    assert out["tracked"] is False
    assert {v["stock_status"] for v in out["variants"] if v["offered"]} == {"not_tracked"}
    with Session(w.engine) as session:
        (summary,) = [m.summary for m in find_products(session, ids=[untracked])]
    assert summary.stock_status == "not_tracked"
    tracked = ok(run(w.ctx(w.associate), "stock_nearby", product_id=w.product_id))
    assert {v["stock_status"] for v in tracked["variants"]} <= {"in_stock", "out_of_stock"}


def test_the_store_defaults_to_the_shoppers_home_store(tool_world: ToolWorld) -> None:
    w = tool_world
    mine = ok(
        run(w.ctx(f"shopper:{w.shopper_id}"), "stock_nearby", variant_id=w.out_of_stock_variant_id)
    )
    assert mine["store_id"] == w.store_id
    assert [v["variant_id"] for v in mine["variants"]] == [w.out_of_stock_variant_id]
    elsewhere = ok(
        run(
            w.ctx(w.associate),
            "stock_nearby",
            variant_id=w.out_of_stock_variant_id,
            store_id="S002",
        )
    )
    assert elsewhere["store_id"] == "S002"
    homeless = run(w.ctx(f"shopper:{w.tau2_customer_id}"), "stock_nearby", product_id=w.product_id)
    assert homeless.status == "invalid"


@pytest.mark.parametrize(
    ("arguments", "status"),
    [
        ({}, "invalid"),
        ({"variant_id": "nope"}, "not_found"),
        ({"product_id": "nope"}, "not_found"),
        ({"product_id": "P90001", "variant_id": "P00011-BLK-L"}, "invalid"),
        ({"product_id": "P90001", "store_id": "ONLINE"}, "not_found"),
        ({"product_id": "P90001", "limit": 0}, "invalid"),
    ],
)
def test_stock_nearby_bad_input(
    tool_world: ToolWorld, arguments: dict[str, object], status: str
) -> None:
    assert run(tool_world.ctx(tool_world.associate), "stock_nearby", **arguments).status == status


def test_substitutes_are_in_stock_at_the_store_with_their_path(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(
        run(
            w.ctx(w.associate),
            "in_stock_substitutes",
            variant_id=w.out_of_stock_variant_id,
            limit=8,
        )
    )
    assert out["available_to_sell"] == 0 and out["store_id"] == w.store_id
    subs = out["substitutes"]
    assert len(subs) == 8
    assert {s["kind"] for s in subs} == {"same_product", "same_category"}
    assert w.sibling_product_id in {s["product_id"] for s in subs}
    live = sellable_at(w.engine, [s["variant_id"] for s in subs], w.store_id)
    for s in subs:
        assert s["variant_id"] != w.out_of_stock_variant_id
        assert s["available_to_sell"] == live[s["variant_id"]] > 0
        assert s["path"][-1] == f"sku:{s['variant_id']} -STOCKED_AT-> store:{w.store_id}"
        assert s["path"][0].startswith(f"sku:{w.out_of_stock_variant_id} -")
    scores = [s["score"] for s in subs]
    assert scores == sorted(scores, reverse=True)


def test_a_whole_products_substitutes_are_other_products(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(run(w.ctx(w.associate), "in_stock_substitutes", product_id=w.product_id))
    assert [s["product_id"] for s in out["substitutes"]] == [w.sibling_product_id]
    elsewhere = ok(
        run(w.ctx(w.associate), "in_stock_substitutes", product_id=w.product_id, store_id="S003")
    )
    assert elsewhere["substitutes"] == [], "the sibling is stocked only at the first store"


def test_substitutes_need_a_built_graph(tool_world: ToolWorld, tmp_path: Path) -> None:
    w = tool_world
    bare = Services(w.engine, w.settings.model_copy(update={"var_dir": tmp_path}))
    ctx = ToolContext(principal=Principal.parse(w.associate), services=bare)
    out = run(ctx, "in_stock_substitutes", variant_id=w.out_of_stock_variant_id)
    assert out.status == "not_found" and out.error is not None
    assert out.error.details == {"missing": "knowledge_graph"}


def test_stock_tools_grants(tool_world: ToolWorld) -> None:
    w = tool_world
    assert ok(run(w.ctx("planner:pat@S001"), "stock_nearby", product_id=w.product_id))
    denied = run(w.ctx("pricing_manager:max@S001"), "in_stock_substitutes", product_id=w.product_id)
    assert denied.status == "forbidden"
