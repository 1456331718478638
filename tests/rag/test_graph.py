"""The product knowledge graph on a hand-built store (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from rag.graph import (
    COMPLEMENTS,
    IS_A,
    STOCKED_AT,
    SUBSTITUTE_FOR,
    KnowledgeGraph,
    Neighbor,
    build_and_save,
    node_id,
)
from retail.errors import AisleError, NotFoundError
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import InventoryPosition, Location, Variant
from tests.factories import make_inventory, make_product
from tests.rag.kg_world import KgWorld, seed_kg_world


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var", environment="test")


@pytest.fixture
def world(engine: Engine) -> KgWorld:
    return seed_kg_world(engine)


def _graph(engine: Engine, settings: Settings) -> KnowledgeGraph:
    build_and_save(engine, settings)
    return KnowledgeGraph.load(engine, settings)


def _assert_path_explains(kg: KnowledgeGraph, start: str, found: Neighbor) -> None:
    """Every edge is in the graph (stock: live), and the edges form a walk from the asked SKU
    to the suggested one."""
    assert all(kg.edge_exists(edge) for edge in found.path), found.path
    walk = [e for e in found.path if e.relation != STOCKED_AT]
    at = node_id("sku", start)
    for edge in walk:
        assert at in (edge.source, edge.target), (at, walk)
        at = edge.target if at == edge.source else edge.source
    assert at == node_id("sku", found.sku)


def test_substitutes_are_same_category_in_stock_at_the_store_and_follow_stock(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    kg = _graph(engine, settings)

    north = kg.substitutes(world.alpine_s, store=world.north)

    # Alpine M (same product) first, Ridge (close price, shared attributes) next; Parka has none
    # in the north store, Budget is too cheap to stand in, Boots are another category.
    assert [n.sku for n in north] == [world.alpine_m, world.ridge_m]
    assert [n.source for n in north] == ["same_product", "same_category"]
    assert {n.category_id for n in north} == {world.jackets}
    assert [n.on_hand for n in north] == [3, 2]
    assert north[0].score > north[1].score
    assert [n.sku for n in kg.substitutes(world.alpine_s, store=world.south)] == [world.parka_l]
    for n in north:
        _assert_path_explains(kg, world.alpine_s, n)

    with transaction(engine) as s:
        s.execute(
            update(InventoryPosition)
            .where(InventoryPosition.variant_id == world.ridge_m)
            .values(on_hand=0)
        )
    # No rebuild: stock is read live.
    assert [n.sku for n in kg.substitutes(world.alpine_s, store=world.north)] == [world.alpine_m]
    everywhere = kg.substitutes(world.alpine_s)
    assert world.alpine_s not in {n.sku for n in everywhere}
    assert {n.sku for n in everywhere} == {world.alpine_m, world.ridge_m, world.parka_l}


def test_substitutes_compare_and_quote_todays_prices(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    """A markdown approved after the build: the reasons and prices are today's, and a product
    now beyond the price ratio of 2 stands in no more (walk 5: "from $172.99 vs $96.99" next to
    a stock table at $77.59)."""
    kg = _graph(engine, settings)
    assert world.parka_l in {n.sku for n in kg.substitutes(world.alpine_s)}
    with transaction(engine) as s:
        s.execute(
            update(Variant)
            .where(Variant.id.in_([world.alpine_s, world.alpine_m]))
            .values(price=70.0)
        )
    # No rebuild: prices are read live, like stock.
    everywhere = kg.substitutes(world.alpine_s)
    assert {n.sku for n in everywhere} == {world.alpine_m, world.ridge_m}, "150 / 70 > 2"
    alpine_m = next(n for n in everywhere if n.sku == world.alpine_m)
    ridge = next(n for n in everywhere if n.sku == world.ridge_m)
    assert alpine_m.price == 70.0 and ridge.price == 110.0
    assert "from $110.00 vs $70.00" in ridge.reason, ridge.reason


def test_substitute_reasons_are_words_with_the_stores_name(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    kg = _graph(engine, settings)
    with Session(engine) as session:
        store = session.get_one(Location, world.north).name
    north = kg.substitutes(world.alpine_s, store=world.north)
    ridge = next(n for n in north if n.sku == world.ridge_m)
    # Shared attributes as a person says them, not "key=value"; the store by its name.
    assert ", also " in ridge.reason, ridge.reason
    for n in north:
        assert "=" not in n.reason and n.reason.endswith(f"in stock at {store}"), n.reason


def test_complements_come_from_co_purchase_lift_above_one(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    kg = _graph(engine, settings)
    g = kg.graph

    found = kg.complements(world.alpine_m)

    bought = [n for n in found if n.source == "co_purchase"]
    assert [n.sku for n in bought] == [world.boots]  # Beanie's lift is exactly 1
    edge = g.get_edge_data(node_id("product", "alpine"), node_id("product", "boots"), COMPLEMENTS)
    assert edge["lift"] == pytest.approx(2.0) and edge["support"] == 3
    boots_beanie = g.get_edge_data(
        node_id("product", "boots"), node_id("product", "beanie"), COMPLEMENTS
    )
    assert boots_beanie["lift"] == pytest.approx(10 * 2 / (3 * 6), abs=1e-4)
    # Cancelled orders (Alpine with Ridge) and same-category pairs make no complement.
    assert not g.has_edge(node_id("product", "alpine"), node_id("product", "ridge"), COMPLEMENTS)
    # The accessory category fills in after the co-purchases.
    assert [n.sku for n in found] == [world.boots, world.beanie]
    assert found[1].source == "accessory"
    for n in found:
        _assert_path_explains(kg, world.alpine_m, n)


def test_accessories_are_restricted_to_accessory_categories_and_stock(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    kg = _graph(engine, settings)

    found = kg.accessories(world.alpine_s, store=world.north)

    assert [(n.sku, n.on_hand) for n in found] == [(world.beanie, 2)]  # 4 on hand, 2 reserved
    _assert_path_explains(kg, world.alpine_s, found[0])
    assert kg.accessories(world.alpine_s, store=world.south) == []
    assert kg.accessories(world.boots) == []


def test_the_graph_holds_the_catalogue_structure(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    g = _graph(engine, settings).graph

    sku, product = node_id("sku", world.alpine_s), node_id("product", "alpine")
    assert g.has_edge(sku, product, IS_A)
    assert g.has_edge(product, node_id("category", world.jackets), IS_A)
    assert g.has_edge(node_id("category", world.jackets), node_id("category", "dept-apparel"), IS_A)
    assert g.has_edge(sku, node_id("attr", "color=blue"), "HAS_ATTRIBUTE")
    assert g.has_edge(product, node_id("attr", "waterproof"), "HAS_ATTRIBUTE")
    assert g.has_edge(sku, node_id("sku", world.alpine_m), SUBSTITUTE_FOR)
    assert not g.has_edge(product, node_id("product", "budget"), SUBSTITUTE_FOR)
    assert not any(key == STOCKED_AT for _, _, key in g.edges(keys=True))


def test_rebuild_follows_the_catalogue_and_skips_an_unchanged_one(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    first = build_and_save(engine, settings)
    again = build_and_save(engine, settings)
    assert first.rebuilt and not again.rebuilt and again.version == first.version

    with transaction(engine) as s:
        make_product(
            s,
            "storm",
            "Storm Jacket",
            category_id=world.jackets,
            attributes={"waterproof": True},
            variants=[{"options": {"size": "M", "color": "blue"}, "price": 105.0}],
        )
        make_inventory(s, "storm-v1", world.north, on_hand=7)
        s.execute(update(Variant).where(Variant.id == world.ridge_m).values(available=False))
    stale = KnowledgeGraph.load(engine, settings)
    assert "storm-v1" not in {n.sku for n in stale.substitutes(world.alpine_m)}

    assert build_and_save(engine, settings).rebuilt
    kg = KnowledgeGraph.load(engine, settings)
    found = {n.sku for n in kg.substitutes(world.alpine_m, store=world.north)}
    assert "storm-v1" in found and world.ridge_m not in found
    with pytest.raises(NotFoundError, match="No available SKU 'ridge-v1'"):
        kg.substitutes(world.ridge_m)


def test_bad_questions_are_refused_in_one_sentence(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    with pytest.raises(AisleError, match="No knowledge graph has been built yet"):
        KnowledgeGraph.load(engine, settings)
    kg = _graph(engine, settings)
    with pytest.raises(NotFoundError, match="No store with id 'dc-main'"):
        kg.neighbors(world.alpine_s, "substitutes", store=world.dc)
    with pytest.raises(AisleError, match="Unknown relation 'friends'"):
        kg.neighbors(world.alpine_s, "friends")
    with pytest.raises(AisleError, match="at least 1"):
        kg.neighbors(world.alpine_s, "substitutes", k=0)


def test_products_for_different_genders_do_not_stand_in_for_each_other(
    engine: Engine, world: KgWorld, settings: Settings
) -> None:
    with transaction(engine) as s:
        for pid, gender in (("trek-m", "men's"), ("trek-w", "women's"), ("hike-m", "men's")):
            make_product(
                s,
                pid,
                f"{pid} jacket",
                category_id=world.jackets,
                attributes={"waterproof": True, "gender": gender},
                variants=[{"options": {"size": "M", "color": "blue"}, "price": 100.0}],
            )
            make_inventory(s, f"{pid}-v1", world.north, on_hand=4)
    kg = _graph(engine, settings)
    found = {n.sku for n in kg.substitutes("trek-m-v1", store=world.north)}
    # Same gender (or none stated, as the older jackets) stands in; the women's jacket does not.
    assert {"hike-m-v1", world.ridge_m} <= found
    assert "trek-w-v1" not in found
    assert "trek-m-v1" not in {n.sku for n in kg.substitutes("trek-w-v1", store=world.north)}
