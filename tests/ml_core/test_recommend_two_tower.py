"""The two-tower recommender beyond the shared contract: cold-start items known only by their
features, the serving vectors, and an exact save / load round trip, on a tiny generated world
whose product descriptions are embedded with the real MiniLM model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from ml_core.recommend.base import ItemFeatures
from ml_core.recommend.evaluate import evaluate_recommenders, interactions_from_frame
from ml_core.recommend.features import TEXT_DIM, embed_texts
from ml_core.recommend.metrics import ITEM, USER
from ml_core.recommend.models import RECOMMENDERS, load_recommender
from ml_core.recommend.store_data import store_interactions, store_item_features
from ml_core.recommend.two_tower import TwoTower
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, ScaleSpec, seed_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, ItemFeatures]]:
    folder = tmp_path_factory.mktemp("two-tower-world")
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    seed_world(
        engine,
        scale="small",
        seed=5,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=ScaleSpec(60, 1, 800, 60, 1.0, 60, 6.0),
    )
    yield engine, store_item_features(engine, folder / "cache")
    engine.dispose()


def test_text_embeddings_are_cached_by_text(tmp_path: Path) -> None:
    first = embed_texts(["a waterproof hiking jacket", "a cast iron skillet"], tmp_path)
    assert first.shape == (2, TEXT_DIM) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    again = embed_texts(["a cast iron skillet", "a waterproof hiking jacket"], tmp_path)
    np.testing.assert_array_equal(again, first[::-1])
    jacket, skillet, rain = embed_texts(
        ["a waterproof hiking jacket", "a cast iron skillet", "a rain shell for hiking"], tmp_path
    )
    assert jacket @ rain > skillet @ rain


def test_cold_start_items_are_recommended_from_their_features(
    world: tuple[Engine, ItemFeatures],
) -> None:
    engine, features = world
    frame, _ = store_interactions(engine)
    # A sixth of the touched products lose all their history: the models know them only as
    # catalogue entries with features; the customers who touched them must get them back.
    touched = np.sort(frame[ITEM].unique())
    cold = np.random.default_rng(0).choice(touched, len(touched) // 6, replace=False)
    is_cold = frame[ITEM].isin(cold)
    train = frame[~is_cold]
    test = frame[is_cold & frame[USER].isin(train[USER])]
    result = evaluate_recommenders(
        train,
        test,
        {name: RECOMMENDERS[name] for name in ("popularity", "two_tower")},
        10,
        show_progress=False,
        item_features=features,
    )
    cold_recall = {
        name: metrics["cold_start_items"]["recall"] for name, metrics in result.metrics.items()
    }
    assert result.metrics["two_tower"]["cold_start_items"]["items"] == len(cold)
    # Ten of ~55 unseen products at random would find about 0.18 of them.
    assert cold_recall["two_tower"] > max(2 * cold_recall["popularity"], 0.3), cold_recall


def test_save_and_load_round_trip_predictions_exactly(
    world: tuple[Engine, ItemFeatures], tmp_path: Path
) -> None:
    engine, features = world
    frame, segments = store_interactions(engine)
    model = TwoTower(max_epochs=3).fit(interactions_from_frame(frame, segments, features))
    assert len(model.item_ids_) == len(features.item_ids), "untouched products are in it too"
    model.save(tmp_path)
    loaded = load_recommender(tmp_path)
    assert isinstance(loaded, TwoTower)
    users = np.concatenate([model.user_ids_[:50], ["stranger"]])
    before, after = model.recommend(users, 10), loaded.recommend(users, 10)
    np.testing.assert_array_equal(before.items, after.items)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(model.item_vectors()[1], loaded.item_vectors()[1])
    session = list(model.item_ids_[[3, 7, 11]])
    np.testing.assert_array_equal(model.user_vector(session), loaded.user_vector(session))

    # A known user embedded from their own training items gets the vector recommend ranks by.
    user = str(model.user_ids_[0])
    history = frame[frame[USER] == user].groupby(ITEM)["weight"].sum()
    vector = model.user_vector(history.index, history.to_numpy(), user_id=user)
    ids, items = model.item_vectors()
    expected = model.recommend([user], 5, exclude_seen=False)
    scores = pd.Series(items @ vector, index=ids)
    np.testing.assert_allclose(scores[expected.item_ids(0)], expected.scores[0], rtol=1e-5)
