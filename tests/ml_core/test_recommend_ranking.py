"""Ranking rules (stock, diversity, boosts, exclusions, reasons) and session profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ml_core.recommend.ranking import (
    Candidate,
    CatalogItem,
    GeneratorWeights,
    RankingRules,
    rank,
)
from ml_core.recommend.session import SessionProfiles


def _item(
    item_id: str,
    category: str = "jackets",
    *,
    stores: Sequence[str] = ("S001",),
    online: bool = False,
    margin: float = 0.3,
    clearance: bool = False,
) -> CatalogItem:
    return CatalogItem(
        item_id=item_id,
        name=f"Product {item_id}",
        category_id=category,
        category=category.title(),
        brand="Acme",
        price=50.0,
        margin=margin,
        clearance=clearance,
        in_stock=frozenset(stores),
        online=online,
    )


def _catalog(*items: CatalogItem) -> dict[str, CatalogItem]:
    return {item.item_id: item for item in items}


def _vector(*pairs: tuple[str, float]) -> list[Candidate]:
    return [Candidate(i, s, "vector", f"because you viewed {i}") for i, s in pairs]


def _ids(ranked: Sequence[Any]) -> list[str]:
    return [r.item_id for r in ranked]


NO_CAP = RankingRules(max_per_category=None)


def test_only_items_in_stock_at_the_store_or_online_are_kept() -> None:
    catalog = _catalog(
        _item("here"),
        _item("elsewhere", stores=("S002",)),
        _item("online", stores=(), online=True),
        _item("nowhere", stores=()),
    )
    candidates = _vector(("nowhere", 4), ("elsewhere", 3), ("online", 2), ("here", 1))
    ranked = rank(candidates, catalog, NO_CAP, k=10, location_id="S001")
    assert _ids(ranked) == ["online", "here"]
    shopping_online = rank(candidates, catalog, NO_CAP, k=10, location_id=None)
    assert _ids(shopping_online) == ["online"]
    anywhere = NO_CAP.model_copy(update={"in_stock_only": False})
    assert len(rank(candidates, catalog, anywhere, k=10, location_id="S001")) == 4


def test_diversity_cap_limits_each_category_in_the_top_k() -> None:
    catalog = _catalog(
        *(_item(f"j{i}", "jackets") for i in range(5)), _item("b0", "boots"), _item("b1", "boots")
    )
    candidates = _vector(*((f"j{i}", 10.0 - i) for i in range(5)), ("b0", 2.0), ("b1", 1.0))
    capped = rank(candidates, catalog, RankingRules(max_per_category=2), k=4, location_id="S001")
    assert _ids(capped) == ["j0", "j1", "b0", "b1"]
    assert _ids(rank(candidates, catalog, NO_CAP, k=4, location_id="S001")) == [
        "j0",
        "j1",
        "j2",
        "j3",
    ]
    # Too few categories for k under the cap: the list runs short rather than break the cap.
    assert (
        len(rank(candidates, catalog, RankingRules(max_per_category=1), k=4, location_id="S001"))
        == 2
    )


def test_margin_and_clearance_boosts_change_the_order_and_say_so() -> None:
    catalog = _catalog(
        _item("plain", margin=0.1),
        _item("rich", margin=0.6),
        _item("clear", margin=0.1, clearance=True),
    )
    candidates = _vector(("plain", 3.0), ("rich", 2.9), ("clear", 2.8))
    assert _ids(rank(candidates, catalog, NO_CAP, k=3, location_id="S001")) == [
        "plain",
        "rich",
        "clear",
    ]
    by_margin = rank(
        candidates,
        catalog,
        NO_CAP.model_copy(update={"margin_boost": 2.0}),
        k=3,
        location_id="S001",
    )
    assert _ids(by_margin)[0] == "rich"
    clearance = rank(
        candidates,
        catalog,
        NO_CAP.model_copy(update={"clearance_boost": 2.0}),
        k=3,
        location_id="S001",
    )
    assert _ids(clearance)[0] == "clear"
    assert clearance[0].reason == "because you viewed clear; on clearance"
    assert "clearance" not in clearance[1].reason


def test_excluded_items_and_categories_never_appear() -> None:
    catalog = _catalog(_item("bought"), _item("tent", "tents"), _item("kept"))
    candidates = _vector(("bought", 3), ("tent", 2), ("kept", 1))
    rules = RankingRules(exclude_categories=frozenset({"tents"}))
    assert _ids(rank(candidates, catalog, rules, k=5, location_id="S001", exclude={"bought"})) == [
        "kept"
    ]
    unknown = _vector(("not-in-catalogue", 9))
    assert rank(unknown, catalog, rules, k=5, location_id="S001") == []


def test_blend_scales_each_generator_and_keeps_the_strongest_reason() -> None:
    catalog = _catalog(_item("a"), _item("b"), _item("c"))
    candidates = [
        # Raw popularity counts dwarf dot products; scaling per generator keeps them comparable.
        Candidate("a", 0.9, "vector", "because you viewed X"),
        Candidate("b", 0.1, "vector", "because you viewed Y"),
        Candidate("b", 5000.0, "popular", "popular in Jackets"),
        Candidate("c", 1000.0, "popular", "popular in Jackets"),
        Candidate("c", 4.0, "item_item", "because you added Z to your cart"),
    ]
    ranked = rank(candidates, catalog, NO_CAP, k=3, location_id="S001")
    assert [(r.item_id, r.source, r.reason) for r in ranked] == [
        ("a", "vector", "because you viewed X"),  # ties go by item id
        ("c", "item_item", "because you added Z to your cart"),
        ("b", "popular", "popular in Jackets"),
    ]
    assert [r.score for r in ranked] == pytest.approx([1.0, 1.0, 0.3])
    vector_only = RankingRules(
        max_per_category=None, weights=GeneratorWeights(item_item=0, popular=0)
    )
    assert _ids(rank(candidates, catalog, vector_only, k=1, location_id="S001")) == ["a"]


def test_rules_are_typed_and_validated() -> None:
    with pytest.raises(ValidationError):
        RankingRules(max_per_category=0)
    with pytest.raises(ValidationError):
        RankingRules(clearance_boost=-1)
    with pytest.raises(ValidationError):
        RankingRules.model_validate({"boost_everything": True})
    rules = RankingRules.model_validate({"weights": {"popular": 0}, "exclude_purchased_days": 7})
    assert rules.weights.popular == 0 and rules.weights.vector == 1.0


class _Unit:
    """Item vectors on the axes of a small space: item i points along axis i."""

    def __init__(self, n: int) -> None:
        self.ids = np.array([f"i{j}" for j in range(n)])
        self.matrix = np.eye(n, dtype=np.float32)

    def item_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ids, self.matrix

    def user_vector(self, item_ids: Sequence[str], weights: Any = None) -> np.ndarray:
        w = np.ones(len(item_ids)) if weights is None else np.asarray(weights)
        rows = [int(i[1:]) for i in item_ids]
        return (w @ self.matrix[rows]).astype(np.float32)


def _profile(profiles: SessionProfiles, shopper_id: str) -> np.ndarray:
    vector = profiles.get(shopper_id).vector
    assert vector is not None
    return vector


def test_session_events_move_the_profile_at_once() -> None:
    now = [1000.0]
    profiles = SessionProfiles(_Unit(4), session_share=0.5, half_life_s=60, clock=lambda: now[0])
    assert profiles.get("u").vector is None
    profiles.set_long_term("u", np.array([1, 0, 0, 0], dtype=np.float32))
    np.testing.assert_allclose(_profile(profiles, "u"), [1, 0, 0, 0])
    updated = profiles.record("u", "i2", "view")
    assert updated is not None
    np.testing.assert_allclose(updated, np.array([1, 0, 1, 0]) / np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(_profile(profiles, "u"), updated)
    # A cart counts three views; an hour-old view has all but faded.
    now[0] += 3600
    profiles.record("u", "i3", "add_to_cart")
    vector = _profile(profiles, "u")
    assert vector[3] > 0.6 and vector[2] < 1e-6
    assert [e.item_id for e in profiles.get("u").recent] == ["i3", "i2"]
    with pytest.raises(ValueError, match="Unknown session event 'purchase'"):
        profiles.record("u", "i1", "purchase")


def test_session_store_is_bounded_by_least_recent_use() -> None:
    profiles = SessionProfiles(_Unit(3), max_shoppers=2, max_events=2)
    for shopper in ("a", "b"):
        profiles.record(shopper, "i0", "view")
    profiles.get("a")  # "a" is now the most recent, so "b" goes first
    profiles.record("c", "i1", "view")
    assert len(profiles) == 2 and profiles.get("b").recent == ()
    for item in ("i0", "i1", "i2"):
        profiles.record("a", item, "view")
    assert [e.item_id for e in profiles.get("a").recent] == ["i2", "i1"]
