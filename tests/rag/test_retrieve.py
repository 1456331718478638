"""Retrieval on Qdrant Edge and a Qdrant server alike: exact terms, hybrid fusion, filters,
MMR, citations, bad input."""

from __future__ import annotations

import pytest

from rag.documents import RagDocument
from rag.index import Encode, InvalidFilterError, QdrantRagStore, ingest_documents
from rag.retrieve import EmptyQueryError, Retriever, parse_filters

_HEADLAMPS = [
    ("HL-4417", 24.0, "black", ["s001"]),
    ("HL-8823", 39.0, "red", []),
    ("HL-2290", 55.0, "black", ["s001", "s002"]),
    ("HL-7301", 18.0, "orange", ["s002"]),
]


def _docs() -> list[RagDocument]:
    docs = [
        RagDocument(
            f"product:H{i}",
            f"Lumen trail headlamp, model {model}. Rechargeable, 300 lumens, {colour}.",
            {
                "doc_type": "product",
                "product_id": f"H{i}",
                "brand": ["lumen"],
                "colour": [colour],
                "price_min": price,
                "price_max": price,
                "in_stock": stock,
                "available": int(bool(stock)),
            },
        )
        for i, (model, price, colour, stock) in enumerate(_HEADLAMPS)
    ]
    docs.append(
        RagDocument(
            "policy:returns#condition",
            "Returns and refunds - Condition\nOpened items must be complete and in the "
            "original packaging; opened coffee is final sale.",
            {"doc_type": "policy", "policy_id": "returns", "section": "Condition"},
        )
    )
    return docs


@pytest.fixture
def retriever(rag_store: QdrantRagStore, encode: Encode) -> Retriever:
    ingest_documents(_docs(), rag_store, encode=encode)
    return Retriever(rag_store)


def test_an_exact_model_number_is_found_by_sparse_and_hybrid(retriever: Retriever) -> None:
    for mode in ("sparse", "hybrid"):
        hits = retriever.search("HL-8823", k=3, mode=mode)
        assert hits[0].doc_id == "product:H1", mode
    # The dense vector cannot tell the four model numbers apart: its top hit is not a sure bet.
    dense = retriever.search("HL-8823", k=4, mode="dense")
    assert {h.doc_id for h in dense} <= {f"product:H{i}" for i in range(4)} | {
        "policy:returns#condition"
    }


def test_policy_hits_carry_their_citation(retriever: Retriever) -> None:
    hit = retriever.search("can I return an opened item", k=1)[0]
    assert (hit.doc_id, hit.policy_id, hit.section, hit.doc_type) == (
        "policy:returns#condition",
        "returns",
        "Condition",
        "policy",
    )
    assert "final sale" in hit.text and hit.score > 0 and hit.rank == 1


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["max_price=30"], {"product:H0", "product:H3"}),
        (["min_price=50"], {"product:H2"}),
        (["colour=BLACK"], {"product:H0", "product:H2"}),
        (["color=red,orange"], {"product:H1", "product:H3"}),
        (["in_stock=S001"], {"product:H0", "product:H2"}),
        (["in_stock=any", "max_price=30"], {"product:H0", "product:H3"}),
        (["doc_type=policy"], {"policy:returns#condition"}),
    ],
)
def test_filters(retriever: Retriever, filters: list[str], expected: set[str]) -> None:
    for mode in ("dense", "sparse", "hybrid"):
        hits = retriever.search("headlamp HL-4417", k=10, mode=mode, filters=parse_filters(filters))
        assert {h.doc_id for h in hits} <= expected, mode
    # Dense search ranks everything that passes the filter.
    dense = retriever.search("headlamp", k=10, mode="dense", filters=parse_filters(filters))
    assert {h.doc_id for h in dense} == expected


def test_mmr_returns_distinct_hits(retriever: Retriever) -> None:
    hits = retriever.search("rechargeable headlamp", k=3, mode="dense", diverse=True)
    assert len({h.doc_id for h in hits}) == 3


def test_bad_input_is_a_clear_error(retriever: Retriever) -> None:
    with pytest.raises(EmptyQueryError):
        retriever.search("   ")
    with pytest.raises(InvalidFilterError, match="Unknown filter key 'weight'"):
        parse_filters(["weight=3"])
    with pytest.raises(InvalidFilterError, match="must be a number"):
        parse_filters(["max_price=cheap"])
    with pytest.raises(InvalidFilterError, match="key=value"):
        parse_filters(["brand"])
