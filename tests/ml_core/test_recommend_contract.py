"""The recommender contract, checked once for every model registered in `RECOMMENDERS`.

One suite parametrised over the registry (as implicit's `RecommenderBaseTestMixin`), on a small
data set holding what real feedback holds: three taste groups, a heavy user, a user with one
event, an item only one user touched, weights, timestamps and segments. A model added to the
registry (the two-tower) is checked here without a line of new test code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.recommend.base import (
    Interactions,
    NotFittedError,
    Recommendations,
    Recommender,
    RecommenderError,
)
from ml_core.recommend.models import RECOMMENDERS, load_recommender

MODEL_NAMES = list(RECOMMENDERS)
K = 5


@pytest.fixture(scope="module")
def data() -> Interactions:
    rng = np.random.default_rng(3)
    users, items = [], []
    for u in range(60):
        group = u % 3
        for _ in range(int(rng.integers(3, 9))):
            users.append(f"u{u:02d}")
            items.append(f"g{group}-{int(rng.integers(0, 8))}")
    users += ["heavy"] * 30 + ["single", "loner"]
    items += [f"g0-{i % 8}" for i in range(30)] + ["g1-0", "rare"]
    n = len(users)
    times = pd.Timestamp("2026-09-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    weights = rng.choice([1.0, 3.0, 5.0], size=n)
    segments = {f"u{u:02d}": f"s{u % 2}" for u in range(60)} | {"newcomer": "s1"}
    return Interactions.from_ids(
        users, items, weights=weights, timestamps=times, user_segments=segments
    )


@pytest.fixture(scope="module", params=MODEL_NAMES)
def fitted(request: pytest.FixtureRequest, data: Interactions) -> Recommender:
    return RECOMMENDERS[request.param]().fit(data)


def _check_lists(result: Recommendations, k: int) -> None:
    """Rank order, distinct items, scored items before the popularity fill, padding last."""
    assert result.items.shape == result.scores.shape == (len(result.query_ids), k)
    for row in range(len(result.query_ids)):
        items, scores = result.items[row], result.scores[row]
        filled = items >= 0
        assert not filled[np.argmin(filled) :].any() or filled.all(), "padding only at the end"
        assert len(set(items[filled])) == filled.sum()
        scored = np.isfinite(scores)
        assert not (scored & ~filled).any()
        first_unscored = np.argmin(scored) if not scored.all() else len(scored)
        assert not scored[first_unscored:].any(), "scored items come before the fill"
        assert (np.diff(scores[:first_unscored]) <= 1e-6).all(), "scores in rank order"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_init_stores_hyperparameters_only(name: str, data: Interactions) -> None:
    model = RECOMMENDERS[name]()
    assert not [a for a in vars(model) if a.endswith("_")], "no fitted state before fit"
    assert type(model)(**model.params()).params() == model.params()
    with pytest.raises(NotFittedError):
        model.recommend(["u00"], K)
    with pytest.raises(NotFittedError):
        model.similar_items(["g0-0"], K)
    assert model.fit(data) is model
    assert len(model.item_ids_) == len(data.item_ids) and model.matrix_.nnz > 0


def test_recommend_ranks_k_unseen_items(fitted: Recommender, data: Interactions) -> None:
    users = np.array(["u00", "u01", "u02", "heavy", "single"])
    result = fitted.recommend(users, K)
    _check_lists(result, K)
    assert result.known.all() and (result.items >= 0).all()
    for row, user in enumerate(users):
        seen = set(data.item_ids[data.items[data.users == np.flatnonzero(data.user_ids == user)]])
        assert not seen & set(result.item_ids(row))
    frame = result.to_frame()
    assert list(frame.columns) == ["user_id", "item_id", "rank", "score"]
    assert (frame.groupby("user_id")["rank"].apply(list) == [list(range(1, K + 1))] * 5).all()


def test_seen_items_come_back_only_when_asked(fitted: Recommender) -> None:
    everything = fitted.recommend(["heavy"], len(fitted.item_ids_), exclude_seen=False)
    assert (everything.items >= 0).all(), "the whole catalogue when nothing is excluded"
    unseen = fitted.recommend(["heavy"], len(fitted.item_ids_))
    assert (unseen.items[0] >= 0).sum() == len(fitted.item_ids_) - 8  # heavy saw g0-0..g0-7


def test_filters_and_allowed_mask_are_honoured(fitted: Recommender) -> None:
    banned = ["g1-0", "g1-1", "g0-3", "not-an-item"]
    result = fitted.recommend(["u01", "u00"], K, filter_items=banned)
    assert not set(banned) & {i for row in range(2) for i in result.item_ids(row)}
    allowed = np.isin(fitted.item_ids_, ["g2-1", "g2-2", "g1-5", "rare"])
    limited = fitted.recommend(["u01", "stranger"], K, allowed=allowed)
    _check_lists(limited, K)
    for row in range(2):
        assert set(limited.item_ids(row)) <= {"g2-1", "g2-2", "g1-5", "rare"}
    assert (limited.items[1] >= 0).sum() == 4, "a short list when fewer items are allowed"


def test_cold_start_users_get_popular_items(fitted: Recommender) -> None:
    result = fitted.recommend(["stranger", "newcomer", "u00"], K)
    _check_lists(result, K)
    assert list(result.known) == [False, False, True]
    assert (result.items[:2] >= 0).all()
    assert "rare" not in result.item_ids(0), "a one-user item is not what a stranger gets"


def test_similar_items(fitted: Recommender) -> None:
    result = fitted.similar_items(["g0-1", "g2-4", "unknown-item"], K)
    _check_lists(result, K)
    assert list(result.known) == [True, True, False]
    assert "g0-1" not in result.item_ids(0) and "g2-4" not in result.item_ids(1)
    assert (result.items >= 0).all()


def test_k_must_be_positive_and_may_exceed_the_catalogue(fitted: Recommender) -> None:
    with pytest.raises(RecommenderError, match="K must be at least 1"):
        fitted.recommend(["u00"], 0)
    big = fitted.recommend(["u00"], len(fitted.item_ids_) + 10)
    _check_lists(big, len(fitted.item_ids_) + 10)
    assert (big.items[0, -10:] == -1).all()


def test_save_and_load_round_trip_without_pickle(fitted: Recommender, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as arrays:
        assert all(arrays[key].dtype != object for key in arrays.files)
    for loaded in (load_recommender(tmp_path), type(fitted).load(tmp_path)):
        assert type(loaded) is type(fitted) and loaded.params() == fitted.params()
        users = ["u00", "heavy", "stranger", "newcomer"]
        before, after = fitted.recommend(users, K), loaded.recommend(users, K)
        np.testing.assert_array_equal(before.items, after.items)
        np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)
        np.testing.assert_array_equal(
            fitted.similar_items(["g1-2"], K).items, loaded.similar_items(["g1-2"], K).items
        )


def test_fitting_twice_gives_the_same_answers(fitted: Recommender, data: Interactions) -> None:
    again = type(fitted)(**fitted.params()).fit(data)
    users = ["u00", "u05", "stranger"]
    np.testing.assert_array_equal(fitted.recommend(users, K).items, again.recommend(users, K).items)
