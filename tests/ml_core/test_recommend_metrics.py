"""Top-K metrics against values computed by hand (Microsoft Recommenders' definitions)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ml_core.recommend.metrics import catalog_coverage, ranking_metrics, topk_report


def _frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def _pairs(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


# a: 3 relevant, hits at ranks 1 and 3 (z at rank 4 is past K). b: 1 relevant, hit at rank 2 of
# a list of two. c: relevant but given nothing. d: recommended to but with nothing relevant.
RECOMMENDED = _frame(
    [
        ("a", "x", 1),
        ("a", "q", 2),
        ("a", "y", 3),
        ("a", "z", 4),
        ("b", "p", 1),
        ("b", "w", 2),
        ("d", "x", 1),
    ]
)
RELEVANT = _pairs([("a", "x"), ("a", "y"), ("a", "z"), ("a", "x"), ("b", "w"), ("c", "v")])


def test_ranking_metrics_match_hand_computed_values() -> None:
    m = ranking_metrics(RECOMMENDED, RELEVANT, k=3)
    log2_3 = math.log2(3)
    ndcg_a = (1 + 1 / 2) / (1 + 1 / log2_3 + 1 / 2)  # hits at 1, 3; ideal: 3 hits
    ndcg_b = (1 / log2_3) / 1  # hit at rank 2; ideal: 1 hit at rank 1
    map_a = (1 / 1 + 2 / 3) / 3
    map_b = (1 / 2) / 1
    assert m["users"] == 3
    assert m["precision"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["ndcg"] == pytest.approx((ndcg_a + ndcg_b + 0) / 3)
    assert m["map"] == pytest.approx((map_a + map_b + 0) / 3)


def test_map_and_ndcg_cap_the_ideal_at_k_but_recall_does_not() -> None:
    recommended = _frame([("a", "r1", 1), ("a", "r2", 2)])
    relevant = _pairs([("a", f"r{i}") for i in range(1, 6)])
    m = ranking_metrics(recommended, relevant, k=2)
    assert m["recall"] == pytest.approx(2 / 5)
    assert m["map"] == pytest.approx(1.0)
    assert m["ndcg"] == pytest.approx(1.0)
    assert m["precision"] == pytest.approx(1.0)


def test_no_relevant_users_gives_none() -> None:
    m = ranking_metrics(RECOMMENDED, _pairs([]), k=3)
    assert m == {"users": 0, "precision": None, "recall": None, "ndcg": None, "map": None}


def test_coverage_and_cold_start_splits() -> None:
    catalog = pd.Index(["x", "y", "z", "q", "p", "w", "o1", "o2"])
    assert catalog_coverage(RECOMMENDED, catalog) == pytest.approx(6 / 8)
    report = topk_report(
        RECOMMENDED,
        RELEVANT,
        3,
        train_users=pd.Index(["a", "b", "d"]),
        train_items=pd.Index(["x", "y", "z", "q", "p"]),
    )
    assert report["catalog_coverage"] == pytest.approx(5 / 5)  # w is not in the catalogue
    assert report["cold_start_users"]["users"] == 1
    assert report["cold_start_users"]["recall"] == 0.0
    cold_items = report["cold_start_items"]
    # w (b's, recommended at rank 2) and v (c's, not recommended) are new items.
    assert cold_items["users"] == 2 and cold_items["interactions"] == 2 and cold_items["items"] == 2
    assert cold_items["recall"] == pytest.approx((1 + 0) / 2)
