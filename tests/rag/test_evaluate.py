"""The RAG evaluation: metrics checked by hand on a tiny case, and a derived query set whose
relevant ids all exist in the store."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine

from rag.documents import build_documents
from rag.evalset import KINDS, EvalQuery, build_evalset
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
