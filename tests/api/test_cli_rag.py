"""`aisle rag ingest` and `aisle rag query` on a tiny generated world, and their bad input."""

from __future__ import annotations

import json

from retail.world.seed import ScaleSpec
from tests.conftest import Aisle
from tests.factories import seed_configured_world


def test_ingest_then_query_with_citations_and_filters(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(6, 2, 10, 30, 0.8, 10, 1.0))
    first = aisle("rag", "ingest", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["added"] == report["documents"] > 0 and report["deleted"] == 0

    again = json.loads(aisle("rag", "ingest", "--json").stdout)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, report["documents"])

    result = aisle(
        "rag", "query", "can I return an opened item", "--filter", "doc_type=policy", "--json"
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["doc_type"] == "policy" and h["policy_id"] for h in hits)
    assert {"doc_id", "section", "score", "text", "rank"} <= set(hits[0])

    products = json.loads(
        aisle("rag", "query", "jacket", "--mode", "sparse", "--k", "3", "--json").stdout
    )["hits"]
    assert len(products) <= 3


def test_query_before_ingest_is_an_error(aisle: Aisle) -> None:
    result = aisle("rag", "query", "tent")
    assert result.exit_code == 2
    assert "aisle rag ingest" in result.stderr


def test_empty_query_and_unknown_filter_are_errors(aisle: Aisle) -> None:
    empty = aisle("rag", "query", "  ")
    assert empty.exit_code == 2 and "query is empty" in empty.stderr
    unknown = aisle("rag", "query", "tent", "--filter", "weight=2")
    assert unknown.exit_code == 2 and "Unknown filter key" in unknown.stderr
