"""Top-K ranking metrics, with the definitions of Microsoft Recommenders' python_evaluation.

For a user u with relevant items R_u (distinct test items) and a top-K list whose hits sit at
ranks r_1 < r_2 < ... (rank 1 best):
- precision@K = hits / K (K even when the list is shorter: a short list earns nothing);
- recall@K    = hits / |R_u| (`recall_at_k`; not hits / min(|R_u|, K), so a user with more than
  K relevant items cannot reach 1);
- nDCG@K      = DCG / IDCG with binary relevance, DCG = sum over hits of 1 / log2(1 + r) and
  IDCG = sum of 1 / log2(1 + i) for i = 1..min(|R_u|, K) (`ndcg_at_k`; its natural-log discount
  gives the same ratio);
- MAP@K       = sum over hits j of (j / r_j), divided by min(|R_u|, K) (`map_at_k`, after Spark's
  RankingMetrics);
each averaged over the users with at least one relevant item; a user given no list scores 0.
Catalogue coverage = distinct recommended items / distinct items in training (`catalog_coverage`).

`topk_report` adds the same metrics for cold-start users (absent from training) and cold-start
items (relevant pairs whose item is absent from training; their recall is the share of those
items recommended, per user, averaged over the users who have any).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

USER, ITEM, RANK = "user_id", "item_id", "rank"
RANKING_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map")


def ranking_metrics(
    recommended: pd.DataFrame, relevant: pd.DataFrame, k: int
) -> dict[str, float | int | None]:
    """precision, recall, nDCG and MAP at `k` plus `users` (how many were scored).

    `recommended` has user_id, item_id, rank; `relevant` has user_id, item_id (duplicates count
    once). The metrics are None when no user has a relevant item.
    """
    relevant = relevant[[USER, ITEM]].drop_duplicates()
    n_relevant = relevant.groupby(USER, sort=True).size()
    result: dict[str, float | int | None] = {"users": len(n_relevant)}
    if n_relevant.empty:
        return result | dict.fromkeys(RANKING_METRICS)
    top = recommended.loc[recommended[RANK] <= k, [USER, ITEM, RANK]]
    hits = top.merge(relevant, on=[USER, ITEM]).sort_values([USER, RANK], kind="stable")
    hit_number = hits.groupby(USER, sort=False).cumcount().to_numpy() + 1
    ranks = hits[RANK].to_numpy(dtype=float)
    hits = hits.assign(
        hit=1.0, gain=1.0 / np.log2(1.0 + ranks), precision_at_hit=hit_number / ranks
    )
    per_user = hits.groupby(USER, sort=True)[["hit", "gain", "precision_at_hit"]].sum()
    per_user = per_user.reindex(n_relevant.index, fill_value=0.0)
    ideal = np.cumsum(1.0 / np.log2(2.0 + np.arange(k)))  # ideal[m - 1]: IDCG of m hits
    capped = np.minimum(n_relevant.to_numpy(), k)
    return result | {
        "precision": float(np.mean(per_user["hit"].to_numpy() / k)),
        "recall": float(np.mean(per_user["hit"].to_numpy() / n_relevant.to_numpy())),
        "ndcg": float(np.mean(per_user["gain"].to_numpy() / ideal[capped - 1])),
        "map": float(np.mean(per_user["precision_at_hit"].to_numpy() / capped)),
    }


def catalog_coverage(recommended: pd.DataFrame, catalog: pd.Index) -> float:
    """The share of the training catalogue's items recommended to anyone."""
    if catalog.empty:
        return 0.0
    return float(catalog.isin(recommended[ITEM]).sum() / len(catalog))


def topk_report(
    recommended: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int,
    train_users: pd.Index,
    train_items: pd.Index,
) -> dict[str, Any]:
    """Every metric at `k`: overall, catalogue coverage, cold-start users and cold-start items."""
    cold_user = ~relevant[USER].isin(train_users)
    cold_item = ~relevant[ITEM].isin(train_items)
    cold_items = relevant[cold_item]
    return {
        **ranking_metrics(recommended, relevant, k),
        "catalog_coverage": catalog_coverage(recommended, train_items),
        "cold_start_users": ranking_metrics(recommended, relevant[cold_user], k),
        "cold_start_items": {
            **ranking_metrics(recommended, cold_items, k),
            "interactions": len(cold_items.drop_duplicates([USER, ITEM])),
            "items": int(cold_items[ITEM].nunique()),
        },
    }
