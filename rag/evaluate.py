"""Retrieval quality on the labelled query set (`rag.evalset`): recall@5 and nDCG@10 for dense,
sparse and hybrid in the same run, overall and per query kind.

A hit is relevant when its document id, product id or policy id is one of the query's relevant
ids. Several documents can stand for one relevant id (a product's page, its reviews and its size
guide all carry its product id), so each query's ranked list keeps only the first hit of each id:
a relevant product found twice counts once, as recall and nDCG assume. The metrics are
`ml_core.recommend.metrics.ranking_metrics` (Microsoft Recommenders' definitions), with the query
in the user's place and the relevant id in the item's: recall@K = hits / |relevant|, nDCG@K with
binary gains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ml_core.recommend.metrics import ITEM, RANK, USER, ranking_metrics
from rag.evalset import EvalQuery
from rag.index import Mode
from rag.retrieve import Hit, Retriever

MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
RECALL_K = 5
NDCG_K = 10


def matched_ids(hits: Sequence[Hit], relevant: Sequence[str]) -> list[tuple[str, int]]:
    """(id, rank) per hit, the id being the relevant one the hit carries (else its document id),
    each id at its first rank only."""
    wanted = set(relevant)
    seen: dict[str, int] = {}
    for hit in hits:
        carried = (hit.doc_id, hit.product_id, hit.policy_id)
        key = next((c for c in carried if c in wanted), hit.doc_id)
        seen.setdefault(key, hit.rank)
    return list(seen.items())


def score(
    ranked: dict[str, list[tuple[str, int]]], queries: Sequence[EvalQuery]
) -> dict[str, float | int | None]:
    """recall@5 and nDCG@10 over `queries`, from each query's `matched_ids`."""
    recommended = pd.DataFrame(
        [(q.query_id, item, rank) for q in queries for item, rank in ranked[q.query_id]],
        columns=[USER, ITEM, RANK],
    )
    relevant = pd.DataFrame(
        [(q.query_id, r) for q in queries for r in q.relevant], columns=[USER, ITEM]
    )
    recall = ranking_metrics(recommended, relevant, RECALL_K)
    ndcg = ranking_metrics(recommended, relevant, NDCG_K)
    return {
        "queries": recall["users"],
        f"recall@{RECALL_K}": recall["recall"],
        f"ndcg@{NDCG_K}": ndcg["ndcg"],
    }


def evaluate(
    retriever: Retriever, queries: Sequence[EvalQuery], modes: Sequence[Mode] = MODES
) -> dict[str, Any]:
    """{mode: {"overall": metrics, "by_kind": {kind: metrics}}}; each query is embedded once
    and asked in every mode."""
    vectors = retriever.encode([q.text for q in queries])
    kinds = sorted({q.kind for q in queries})
    report: dict[str, Any] = {}
    for mode in modes:
        ranked = {
            q.query_id: matched_ids(
                retriever.search(q.text, k=NDCG_K, mode=mode, query_vector=vector), q.relevant
            )
            for q, vector in zip(queries, vectors, strict=True)
        }
        report[mode] = {
            "overall": score(ranked, queries),
            "by_kind": {k: score(ranked, [q for q in queries if q.kind == k]) for k in kinds},
        }
    return report
