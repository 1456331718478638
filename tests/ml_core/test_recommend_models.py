"""What each recommender computes, checked by hand on tiny matrices, and that they learn.

The last test seeds a tiny generated world, trains on the events before a cutoff and asks each
model for the purchases after it: the personalised models must clearly beat popularity.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from ml_core.recommend.base import Interactions, RecommenderError
from ml_core.recommend.data import TIME
from ml_core.recommend.ease import EASE
from ml_core.recommend.evaluate import evaluate_recommenders
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.models import RECOMMENDERS
from ml_core.recommend.popularity import Popularity, Trending
from ml_core.recommend.store_data import EVENT, PURCHASE, store_interactions
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

# Users a..d over items 0..3 (rows: users; columns: items).
X = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 1],
        [1, 0, 0, 1],
    ],
    dtype=float,
)


def _data(matrix: np.ndarray = X, **kwargs: object) -> Interactions:
    users, items = np.nonzero(matrix)
    return Interactions.from_ids(
        np.array(list("abcd"))[users], np.array(["i0", "i1", "i2", "i3"])[items], **kwargs
    )


def test_interactions_sum_repeated_events_into_one_matrix() -> None:
    data = Interactions.from_ids(["a", "a", "b"], ["x", "x", "y"], weights=[1.0, 3.0, 2.0])
    assert list(data.user_ids) == ["a", "b"] and list(data.item_ids) == ["x", "y"]
    np.testing.assert_array_equal(data.matrix.toarray(), [[4, 0], [0, 2]])
    with pytest.raises(ValueError, match="non-negative"):
        Interactions.from_ids(["a"], ["x"], weights=[-1.0])


def test_ease_is_the_closed_form_of_steck_2019() -> None:
    model = EASE(l2=0.5).fit(_data())
    inverse = np.linalg.inv(X.T @ X + 0.5 * np.eye(4))
    expected = np.eye(4) - inverse / np.diag(inverse)[None, :]
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)
    assert model.weights_.dtype == np.float32
    scores = model.recommend(["a"], 2, exclude_seen=False).scores[0]
    np.testing.assert_allclose(np.sort(X[0] @ expected)[::-1][:2], scores, atol=1e-5)


def test_ease_keeps_the_most_popular_items_when_the_catalogue_is_too_large() -> None:
    model = EASE(l2=1.0, max_items=2).fit(_data())
    # Distinct users: i0 3, i1 3, i2 2, i3 2; ties go to the lower position.
    assert list(model.item_ids_[model.item_set_]) == ["i0", "i1"]
    assert model.weights_.shape == (2, 2)
    result = model.recommend(["c"], 3)  # c saw i1, i2, i3: only i0 is left
    assert result.item_ids(0) == ["i0"]
    tail = model.recommend(["a"], 2)  # a saw i0, i1; the rest have no EASE score
    assert tail.item_ids(0) == ["i2", "i3"] and np.isnan(tail.scores[0]).all()


def test_item_item_is_cosine_with_shrinkage_pruned_to_n_neighbours() -> None:
    model = ItemItem(neighbours=4, shrink=0.0).fit(_data())
    co = X.T @ X
    norms = np.sqrt(np.diag(co))
    cosine = co / np.outer(norms, norms)
    np.fill_diagonal(cosine, 0)
    np.testing.assert_allclose(model.similarity_.toarray(), cosine, atol=1e-6)
    shrunk = ItemItem(neighbours=4, shrink=1.0).fit(_data())
    assert shrunk.similarity_[0, 1] == pytest.approx(co[0, 1] / (norms[0] * norms[1] + 1.0))
    pruned = ItemItem(neighbours=1, shrink=0.0).fit(_data())
    assert (np.diff(pruned.similarity_.indptr) <= 1).all()
    # i0's nearest neighbour: i1 and i3 share 2 and 1 users; cosine 2/3 beats 1/sqrt(6).
    assert pruned.similar_items(["i0"], 1).item_ids(0) == ["i1"]


def test_popularity_counts_users_once_and_ranks_per_segment() -> None:
    # i3 has the most events but from one user; i1 has the most users.
    users = ["a", "a", "a", "a", "b", "c", "d", "b", "c"]
    items = ["i3", "i3", "i3", "i3", "i1", "i1", "i1", "i2", "i2"]
    segments = {"a": "north", "b": "south", "c": "south", "d": "north", "new": "north"}
    model = Popularity().fit(Interactions.from_ids(users, items, user_segments=segments))
    assert model.recommend(["stranger"], 3).item_ids(0) == ["i1", "i2", "i3"]
    # North (a, d) touched i3 and i1 once each; i2 only south: it follows in global order.
    assert model.recommend(["new"], 3).item_ids(0) == ["i1", "i3", "i2"]
    plain = Popularity(by_segment=False).fit(
        Interactions.from_ids(users, items, user_segments=segments)
    )
    assert plain.recommend(["new"], 3).item_ids(0) == ["i1", "i2", "i3"]


def test_trending_prefers_what_is_popular_lately() -> None:
    day = pd.Timestamp("2026-11-01")
    users = ["a", "b", "c", "d", "e"]
    items = ["old", "old", "old", "new", "new"]
    times = [day - pd.Timedelta(days=60)] * 3 + [day, day - pd.Timedelta(days=1)]
    data = Interactions.from_ids(users, items, timestamps=times)
    assert Popularity().fit(data).recommend(["z"], 2).item_ids(0) == ["old", "new"]
    trending = Trending(half_life_days=7).fit(data)
    assert trending.recommend(["z"], 2).item_ids(0) == ["new", "old"]
    assert trending.scores_[list(trending.item_ids_).index("old")] == pytest.approx(
        3 * 2 ** (-60 / 7), rel=1e-5
    )
    with pytest.raises(RecommenderError, match="needs the time of each interaction"):
        Trending().fit(_data())


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("recommend-world")
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    seed_world(
        engine,
        scale="small",
        seed=2,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=ScaleSpec(60, 1, 800, 60, 1.0, 60, 6.0),
    )
    yield engine
    engine.dispose()


def test_personalised_models_beat_popularity_on_held_out_purchases(tiny_world: Engine) -> None:
    frame, _ = store_interactions(tiny_world)
    cutoff = frame[TIME].max() - pd.Timedelta(days=15)
    later_purchases = frame[(frame[TIME] > cutoff) & (frame[EVENT] == PURCHASE)]
    names = ("popularity", "item_item", "ease")
    result = evaluate_recommenders(
        frame[frame[TIME] <= cutoff],
        later_purchases,
        {name: RECOMMENDERS[name] for name in names},
        10,
        show_progress=False,
    )
    assert result.data["relevant_pairs"] > 100
    recall = {name: result.metrics[name]["recall"] for name in names}
    assert recall["ease"] > 1.5 * recall["popularity"], recall
    assert recall["item_item"] > 1.5 * recall["popularity"], recall


def test_store_interactions_weigh_events_and_skip_cancelled_orders(tiny_world: Engine) -> None:
    frame, segments = store_interactions(tiny_world)
    assert set(frame[EVENT]) == {"view", "add_to_cart", "purchase"}
    weights = frame.groupby(EVENT)["weight"].first().to_dict()
    assert weights == {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
    purchases = pd.read_sql(
        "SELECT count(*) AS n FROM order_items JOIN orders ON orders.id = order_items.order_id "
        "WHERE orders.status != 'cancelled'",
        tiny_world,
    )
    assert (frame[EVENT] == PURCHASE).sum() == purchases["n"].iloc[0]
    assert set(segments.values()) == {"S001"} and frame[TIME].notna().all()
