"""`aisle kg build` and `aisle kg neighbors` end to end (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import text
from typer.testing import Result

from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.conftest import Aisle
from tests.factories import seed_configured_world
from tests.rag.kg_world import KgWorld, seed_kg_world


def _seed() -> KgWorld:
    engine = open_store()
    try:
        return seed_kg_world(engine)
    finally:
        engine.dispose()


def _error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    return message


def test_build_then_neighbors_with_paths(aisle: Aisle) -> None:
    w = _seed()

    built = aisle("kg", "build", "--json")
    assert built.exit_code == 0, built.output
    report = json.loads(built.stdout)
    assert report["rebuilt"] and report["nodes"]["sku"] == 7 and report["edges"]["COMPLEMENTS"]
    assert json.loads(aisle("kg", "build", "--json").stdout)["rebuilt"] is False

    result = aisle(
        "kg",
        "neighbors",
        w.alpine_s,
        "--rel",
        "substitutes",
        "--store",
        w.north,
        "--k",
        "5",
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["graph_version"] == report["version"]
    assert [n["sku"] for n in payload["neighbors"]] == [w.alpine_m, w.ridge_m]
    first = payload["neighbors"][0]
    assert first["name"] == "Alpine Jacket" and first["on_hand"] == 3 and first["score"] > 0
    assert first["path"][-1]["relation"] == "STOCKED_AT"

    complements = json.loads(
        aisle("kg", "neighbors", w.alpine_m, "--rel", "complements", "--k", "1", "--json").stdout
    )
    (boots,) = complements["neighbors"]
    assert boots["sku"] == w.boots and boots["source"] == "co_purchase"
    assert [e["relation"] for e in boots["path"]] == ["IS_A", "COMPLEMENTS", "IS_A"]
    assert boots["path"][1]["properties"]["lift"] == 2.0

    text = aisle("kg", "neighbors", w.alpine_s, "--store", w.north)
    assert text.exit_code == 0 and "Ridge Jacket" in text.stdout


def test_errors_are_one_sentence_and_exit_2(aisle: Aisle) -> None:
    w = _seed()
    assert "aisle kg build" in _error(aisle("kg", "neighbors", w.alpine_s, "--json"))
    assert aisle("kg", "build").exit_code == 0

    assert "No available SKU 'nope'" in _error(aisle("kg", "neighbors", "nope", "--json"))
    assert "No store with id 'mars'" in _error(
        aisle("kg", "neighbors", w.alpine_s, "--store", "mars", "--json")
    )
    assert "Unknown relation 'friends'" in _error(
        aisle("kg", "neighbors", w.alpine_s, "--rel", "friends", "--json")
    )


def test_substitutes_on_a_generated_world(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(20, 2, 60, 120, 0.8, 40, 2.0))
    assert aisle("kg", "build").exit_code == 0
    engine = open_store()
    try:
        with engine.connect() as conn:
            sku, store = conn.execute(
                text(
                    "SELECT i.variant_id, i.location_id FROM inventory i "
                    "JOIN locations l ON l.id = i.location_id "
                    "WHERE l.kind = 'store' AND i.on_hand > i.reserved "
                    "ORDER BY i.variant_id, i.location_id LIMIT 1"
                )
            ).one()
            category: dict[str, str] = dict(
                conn.execute(
                    text(
                        "SELECT v.id, p.category_id FROM variants v "
                        "JOIN products p ON p.id = v.product_id"
                    )
                ).all()
            )
    finally:
        engine.dispose()

    result = aisle("kg", "neighbors", sku, "--store", store, "--k", "20", "--json")
    found = json.loads(result.stdout)["neighbors"]
    assert found, "a generated store stocks some substitute of a stocked SKU"
    assert all(category[n["sku"]] == category[sku] and n["on_hand"] > 0 for n in found)
    assert sku not in {n["sku"] for n in found}
