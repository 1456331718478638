"""The RAG evaluation: metrics checked by hand on a tiny case, and a derived query set whose
relevant ids all exist in the store."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine

from rag.documents import RagDocument, build_documents
from rag.evalset import KINDS, EvalQuery, build_evalset, build_heldout, is_test
from rag.evaluate import matched_ids, score
from rag.retrieve import Hit
from tests.factories import seed_catalogue


def _hit(rank: int, doc_id: str, product_id: str | None = None) -> Hit:
    return Hit(rank=rank, doc_id=doc_id, doc_type="", score=0.0, text="", product_id=product_id)


def test_metrics_by_hand() -> None:
    # Query a: its product at rank 1 (page) and again at rank 2 (reviews): counted once.
    # Query b: two relevant ids, one found at rank 3, the other never.
    a = EvalQuery("a", "exact", "x", ("P1",))
    b = EvalQuery("b", "policy", "y", ("policy:r#one", "policy:r#two"))
    ranked = {
        "a": matched_ids([_hit(1, "product:P1", "P1"), _hit(2, "review:P1:0", "P1")], a.relevant),
        "b": matched_ids(
            [_hit(1, "product:P9", "P9"), _hit(2, "policy:s#x"), _hit(3, "policy:r#one")],
            b.relevant,
        ),
    }
    assert ranked["a"] == [("P1", 1)]
    metrics = score(ranked, [a, b])
    assert metrics["recall@5"] == pytest.approx((1.0 + 0.5) / 2)
    ndcg_b = (1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert metrics["ndcg@10"] == pytest.approx((1.0 + ndcg_b) / 2)


def test_evalset_relevant_ids_exist_in_the_store(engine: Engine) -> None:
    seed_catalogue(engine)
    docs = build_documents(engine)
    queries = build_evalset(engine, docs)
    assert queries and {q.kind for q in queries} <= set(KINDS)
    known = {d.doc_id for d in docs} | {d.metadata.get("product_id") for d in docs}
    for q in queries:
        assert q.text.strip() and q.relevant and set(q.relevant) <= known, q
    assert build_evalset(engine, docs) == queries  # deterministic


def test_heldout_halves_are_fixed_by_text_whatever_the_chunking(engine: Engine) -> None:
    """Review queries are labelled with the chunk holding the review; the halves split the same
    texts however reviews are chunked (each in its own chunk here), and never share one."""
    seed_catalogue(engine)
    docs = build_documents(engine)
    heldout = build_heldout(engine, docs)
    dev, test = {q.text for q in heldout.dev}, {q.text for q in heldout.test}
    assert dev and test and not dev & test
    assert all(is_test(q) for q in heldout.test) and not any(is_test(q) for q in heldout.dev)
    reviews = [q for q in heldout.dev + heldout.test if q.kind == "review"]
    assert reviews
    texts = {d.doc_id: d.text for d in docs}
    for q in reviews:
        assert all(r.startswith("review:") and r in texts for r in q.relevant), q

    one_each = [d for d in docs if d.metadata["doc_type"] != "review"]
    for d in docs:
        if d.metadata["doc_type"] == "review":
            header, *lines = d.text.splitlines()
            one_each += [
                RagDocument(f"{d.doc_id}:{n}", f"{header}\n{line}", d.metadata)
                for n, line in enumerate(lines)
            ]
    rechunked = build_heldout(engine, one_each[::-1])
    assert {q.text for q in rechunked.test} == test
    assert {q.text for q in rechunked.dev} == dev
    assert build_heldout(engine, docs).test_digest == heldout.test_digest
