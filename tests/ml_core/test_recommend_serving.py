"""Serving: the item index on Qdrant Edge and a Qdrant server API, text vectors, and the service
end to end on a small generated world (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qdrant_client import QdrantClient
from sqlalchemy import Engine, select

from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.ranking import CatalogItem, GeneratorWeights, RankingRules
from ml_core.recommend.serving import (
    ItemFilter,
    ItemIndex,
    RecommendationService,
    TextVectors,
    item_schema,
    load_catalog,
    payload,
)
from ml_core.recommend.train import train_store_recommender
from ml_core.registry import ArtifactRegistry
from ml_core.vectors import EdgeIndex, ServerIndex
from retail.catalog_queries import variant_in_stock
from retail.errors import AisleError, NotFoundError
from retail.settings import Settings
from retail.store.models import Location, Order, OrderItem, Variant
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

N, DIM = 300, 16
STORES = ("S001", "S002")


def _world_items(rng: np.random.Generator) -> tuple[list[CatalogItem], np.ndarray]:
    items = [
        CatalogItem(
            item_id=f"P{i:04d}",
            name=f"Product {i}",
            category_id=f"C{i % 5}",
            category=f"Category {i % 5}",
            brand=f"B{i % 3}",
            price=float(rng.uniform(5, 400)),
            margin=float(rng.uniform(0, 0.6)),
            clearance=bool(rng.random() < 0.1),
            in_stock=frozenset(s for s in STORES if rng.random() < 0.4),
            online=bool(rng.random() < 0.3),
        )
        for i in range(N)
    ]
    return items, rng.normal(size=(N, DIM)).astype(np.float32)


@pytest.fixture(params=["edge", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ItemIndex]:
    """The same interface on Qdrant Edge and on the Qdrant server API (local mode)."""
    built: ItemIndex
    if request.param == "edge":
        built = ItemIndex(EdgeIndex(tmp_path / "shard", item_schema(DIM)))
    else:
        # Local mode has no payload indexes and says so (once per process); a server builds them.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            built = ItemIndex(ServerIndex(QdrantClient(":memory:"), "items", item_schema(DIM)))
    yield built
    built.close()


def _brute_force(
    items: list[CatalogItem], vectors: np.ndarray, query: np.ndarray, k: int, where: ItemFilter
) -> list[str]:
    keep = [
        i
        for i, item in enumerate(items)
        if (not where.in_stock or item.available(where.location_id))
        and item.item_id not in where.exclude_ids
        and item.category_id not in where.exclude_categories
    ]
    scores = vectors[keep] @ query
    return [items[keep[j]].item_id for j in np.argsort(-scores, kind="stable")[:k]]


def test_filtered_queries_match_brute_force_and_skip_out_of_stock(index: ItemIndex) -> None:
    rng = np.random.default_rng(7)
    items, vectors = _world_items(rng)
    index.upsert([i.item_id for i in items], vectors, [payload(i) for i in items])
    assert index.count() == N
    by_id = {i.item_id: i for i in items}
    for trial in range(5):
        query = rng.normal(size=DIM).astype(np.float32)
        where = ItemFilter(
            in_stock=True,
            location_id=STORES[trial % 2] if trial < 4 else None,  # None: online only
            exclude_ids=frozenset(items[j].item_id for j in range(0, N, 7)),
            exclude_categories=frozenset({"C3"}),
        )
        hits = index.query(query, 20, where)
        assert [h.item_id for h in hits] == _brute_force(items, vectors, query, 20, where)
        assert all(by_id[h.item_id].available(where.location_id) for h in hits)
        assert [h.score for h in hits] == pytest.approx(
            [float(vectors[int(h.item_id[1:])] @ query) for h in hits], rel=1e-4
        )
    unfiltered = index.query(vectors[0], 1, ItemFilter())
    assert unfiltered[0].item_id == _brute_force(items, vectors, vectors[0], 1, ItemFilter())[0]


def test_payload_updates_and_deletes_take_effect(index: ItemIndex) -> None:
    items, vectors = _world_items(np.random.default_rng(3))
    ids = [i.item_id for i in items]
    index.upsert(ids, vectors, [payload(i) for i in items])
    target = next(i for i in items if "S001" in i.in_stock and not i.online)
    where = ItemFilter(in_stock=True, location_id="S001")
    query = vectors[int(target.item_id[1:])] * 100  # this item is by far the closest
    assert index.query(query, 1, where)[0].item_id == target.item_id

    sold_out = dataclasses.replace(target, in_stock=frozenset())
    index.set_payloads([target.item_id], [payload(sold_out)])
    assert target.item_id not in [h.item_id for h in index.query(query, 20, where)]
    assert index.query(query, 1, ItemFilter())[0].item_id == target.item_id

    index.delete([target.item_id])
    assert index.count() == N - 1
    assert index.query(query, 1, ItemFilter())[0].item_id != target.item_id


def test_edge_index_reopens_from_disk(tmp_path: Path) -> None:
    items, vectors = _world_items(np.random.default_rng(5))
    first = ItemIndex(EdgeIndex(tmp_path / "shard", item_schema(DIM)))
    first.upsert([i.item_id for i in items], vectors, [payload(i) for i in items])
    expected = first.query(vectors[0], 5, ItemFilter(in_stock=True, location_id="S002"))
    first.close()
    reopened = ItemIndex(EdgeIndex(tmp_path / "shard", item_schema(DIM)))
    assert reopened.count() == N
    assert reopened.query(vectors[0], 5, ItemFilter(in_stock=True, location_id="S002")) == expected
    reopened.close()


@pytest.fixture(scope="module")
def text_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Embeddings shared by this module's tests: MiniLM loads once, not once per test."""
    return tmp_path_factory.mktemp("text-cache")


def test_text_vectors_put_like_products_together(text_cache: Path) -> None:
    texts = {
        "rain": "Packable rain jacket. Jackets. Waterproof shell that keeps you dry in storms.",
        "shell": "Storm hardshell jacket. Jackets. Waterproof, breathable and windproof.",
        "skillet": "Cast iron skillet. Cookware. Pre-seasoned pan for searing steaks.",
        "pot": "Stainless stock pot. Cookware. Eight quarts for soups and pasta.",
    }
    vectors = TextVectors.embed(texts, text_cache)
    ids, matrix = vectors.item_vectors()
    assert list(ids) == list(texts) and matrix.shape == (4, 384) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
    sim = matrix @ matrix.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 0]
    user = vectors.user_vector(["rain", "skillet", "unknown"], [3.0, 1.0, 5.0])
    np.testing.assert_allclose(user, (3 * matrix[0] + matrix[2]) / 4, rtol=1e-5)
    assert not vectors.user_vector(["unknown"]).any()


# ---------------------------------------------------------------------------------------------
# The service on a generated world


World = tuple[Engine, Settings, dt.datetime]


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    seed_world(
        engine,
        scale="small",
        seed=3,
        end=PINNED_END,
        world_dir=tmp_path / "world",
        show_progress=False,
        spec=ScaleSpec(60, 2, 300, 60, 0.7, 60, 4.0),
    )
    settings = Settings(var_dir=tmp_path / "var")
    train_store_recommender(engine, ArtifactRegistry(settings.var_dir / "artifacts"), ItemItem())
    with engine.connect() as conn:
        last = conn.execute(select(Order.created_at).order_by(Order.created_at.desc())).scalar()
    assert last is not None
    now = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    return engine, settings, now


def _open_service(world: World, text_cache: Path) -> RecommendationService:
    engine, settings, now = world
    catalog = load_catalog(engine)
    vectors = TextVectors.embed({i: item.text for i, item in sorted(catalog.items())}, text_cache)
    return RecommendationService(engine, settings, vectors=vectors, clock=lambda: now)


@pytest.fixture
def service(world: World, text_cache: Path) -> Iterator[RecommendationService]:
    svc = _open_service(world, text_cache)
    yield svc
    svc.close()


def _recent_buyer(svc: RecommendationService) -> tuple[str, set[str]]:
    with svc.engine.connect() as conn:
        frame = pd.read_sql(
            "SELECT o.customer_id, o.created_at, i.product_id FROM orders o "
            "JOIN order_items i ON i.order_id = o.id "
            "WHERE o.status != 'cancelled'",
            conn,
        )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    recent = frame[frame["created_at"] >= frame["created_at"].max() - pd.Timedelta(days=30)]
    shopper = recent["customer_id"].value_counts().index[0]
    return str(shopper), set(recent.loc[recent["customer_id"] == shopper, "product_id"])


def test_for_shopper_follows_the_rules_end_to_end(service: RecommendationService) -> None:
    shopper, bought = _recent_buyer(service)
    assert bought
    ranked = service.for_shopper(shopper, "S001", k=10)
    assert len(ranked) == 10
    assert all(service.catalog[r.item_id].available("S001") for r in ranked)
    assert not bought & {r.item_id for r in ranked}
    categories = pd.Series([service.catalog[r.item_id].category_id for r in ranked])
    assert categories.value_counts().max() <= 3
    assert all(r.reason for r in ranked)
    assert {r.source for r in ranked} <= {"vector", "item_item", "popular"}
    assert any(r.reason.startswith("because you") for r in ranked)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    # A shopper nobody knows still gets a full list: popularity at their store.
    stranger = service.for_shopper("nobody-at-all", "S002", k=5)
    assert len(stranger) == 5 and all(r.source == "popular" for r in stranger)
    assert all(r.reason.startswith("popular in ") for r in stranger)
    keep_purchases = RankingRules(exclude_purchased_days=0, max_per_category=None)
    assert service.for_shopper(shopper, "S001", k=60, rules=keep_purchases)


def test_a_reason_never_cites_the_item_it_recommends(service: RecommendationService) -> None:
    """Purchases kept (none left out), what the shopper bought can come back, and its own vector
    is the closest to it of all they did: "because you bought X" is still no reason for X."""
    shopper, bought = _recent_buyer(service)
    keep_purchases = RankingRules(exclude_purchased_days=0, max_per_category=None)
    ranked = service.for_shopper(shopper, "S001", k=60, rules=keep_purchases)
    assert bought & {r.item_id for r in ranked}
    for r in ranked:
        name = service.catalog[r.item_id].name
        cited = [f"you {verb} {name}" for verb in ("viewed", "bought", "added")]
        assert not [c for c in cited if c in r.reason], (r.item_id, r.reason)


def test_a_reason_names_only_a_related_product_and_a_pending_order_as_ordered(
    service: RecommendationService,
) -> None:
    """The home grid once gave all eight picks (flip-flops, ski socks) "because you bought
    Cycling Helmet", an order still pending: a reason names only a product related to the pick
    (its category, or among the 20 products closest to it), and an order not yet processed as
    ordered."""
    shopper, bought = _recent_buyer(service)
    with service.engine.connect() as conn:
        orders = conn.execute(
            select(OrderItem.product_id, Order.status)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.customer_id == shopper, Order.status != "cancelled")
        ).all()
    ids, matrix = service.vectors.item_vectors()
    rows = {str(item_id): row for row, item_id in enumerate(ids)}

    def near(anchor: str) -> set[str]:
        closeness = matrix @ matrix[rows[anchor]]
        return {str(ids[j]) for j in np.argsort(-closeness, kind="stable")[:21]}

    by_name: dict[str, list[CatalogItem]] = {}
    for item in service.catalog.values():
        by_name.setdefault(item.name, []).append(item)
    rules = RankingRules(exclude_purchased_days=0, max_per_category=None)
    ranked = service.for_shopper(shopper, "S001", k=60, rules=rules)
    named = 0
    for r in ranked:
        verb, _, name = r.reason.removeprefix("because you ").partition(" ")
        if not r.reason.startswith("because you") or verb == "added":
            continue
        named += 1
        anchors = {a.item_id for a in by_name[name]}
        category = service.catalog[r.item_id].category_id
        assert any(
            a.category_id == category or r.item_id in near(a.item_id) for a in by_name[name]
        ), r.reason
        if verb in ("bought", "ordered"):
            pending = {status == "pending" for p, status in orders if p in anchors}
            assert (verb == "ordered") in pending, r.reason
    assert named and any(r.reason == "picked for you" for r in ranked)


def test_a_session_view_pulls_recommendations_toward_the_viewed_item(
    service: RecommendationService,
) -> None:
    shopper, _ = _recent_buyer(service)
    rules = RankingRules(max_per_category=None)
    before = {r.item_id for r in service.for_shopper(shopper, None, k=10, rules=rules)}
    # The viewed item: one far from what the shopper's history points at.
    ids, matrix = service.vectors.item_vectors()
    rows = {item_id: row for row, item_id in enumerate(ids)}
    profile = service.profiles.get(shopper).vector
    assert profile is not None
    viewed = str(ids[int(np.argmin(matrix @ profile))])
    neighbourhood = {str(ids[j]) for j in np.argsort(-(matrix @ matrix[rows[viewed]]))[1:16]}

    service.record(shopper, viewed, "view")
    service.record(shopper, viewed, "add_to_cart")
    after = service.for_shopper(shopper, None, k=10, rules=rules)
    after_ids = {r.item_id for r in after}
    assert viewed not in after_ids
    assert all(service.catalog[i].online for i in after_ids), "no store given: online stock only"
    assert len(after_ids & neighbourhood) > len(before & neighbourhood)
    name = service.catalog[viewed].name
    assert any(name in r.reason for r in after), [r.reason for r in after]


def test_similar_and_complete_the_look(service: RecommendationService) -> None:
    _, bought = _recent_buyer(service)
    item_id = sorted(bought)[0]
    item = service.catalog[item_id]
    similar = service.similar(item_id, k=5)
    assert len(similar) == 5 and item_id not in {r.item_id for r in similar}
    assert all(
        r.reason in (f"similar to {item.name}", f"often viewed with {item.name}") for r in similar
    )
    look = service.complete_the_look(item_id, k=5)
    assert look, "customers who bought it bought other things too"
    categories = [service.catalog[r.item_id].category_id for r in look]
    assert item.category_id not in categories and len(set(categories)) == len(categories)
    assert all(r.reason == f"goes with {item.name}" and r.source == "bought_together" for r in look)
    in_store = service.similar(item_id, k=5, location_id="S002")
    assert all(service.catalog[r.item_id].available("S002") for r in in_store)
    with pytest.raises(NotFoundError, match="No product with id 'P99999'"):
        service.similar("P99999")
    with pytest.raises(NotFoundError):
        service.record("someone", "P99999", "view")


def test_stock_refresh_reaches_the_index(service: RecommendationService) -> None:
    shopper, _ = _recent_buyer(service)
    rules = RankingRules(max_per_category=None, weights=GeneratorWeights(item_item=0, popular=0))
    first = service.for_shopper(shopper, "S001", k=1, rules=rules)[0].item_id
    with service.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE inventory SET on_hand = 0 WHERE variant_id IN "
            f"(SELECT id FROM variants WHERE product_id = '{first}')"
        )
    service.refresh_stock()
    assert not service.catalog[first].available("S001")
    assert first not in {r.item_id for r in service.for_shopper(shopper, "S001", k=20, rules=rules)}


def test_the_index_is_reused_when_nothing_changed(world: World, text_cache: Path) -> None:
    first = _open_service(world, text_cache)
    first.close()
    indexes = world[1].var_dir / "indexes"
    folders = [p for p in indexes.iterdir() if p.is_dir()]  # beside each, its `.lock` file
    assert len(folders) == 1
    again = _open_service(world, text_cache)
    assert [p for p in indexes.iterdir() if p.is_dir()] == folders
    assert again.index.count() == len(again.catalog)
    again.close()


def test_no_trained_recommender_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(AisleError, match="No trained 'recommender' model yet"):
        RecommendationService(engine, Settings(var_dir=tmp_path / "var"))


def test_the_catalog_is_in_stock_where_the_storefront_says(world: World) -> None:
    engine = world[0]
    with engine.begin() as conn:
        # Fully reserved units and a withdrawn variant: neither can be sold.
        conn.exec_driver_sql("UPDATE inventory SET reserved = on_hand WHERE variant_id IN "
                             "(SELECT id FROM variants ORDER BY id LIMIT 20)")  # fmt: skip
        conn.exec_driver_sql("UPDATE variants SET available = false WHERE id IN "
                             "(SELECT id FROM variants ORDER BY id DESC LIMIT 20)")  # fmt: skip
        locations = conn.execute(
            select(Location.id, Location.kind).where(Location.kind.in_(["store", "online"]))
        ).all()
    catalog = load_catalog(engine)
    assert {kind for _, kind in locations} == {"store", "online"}
    for location_id, kind in locations:
        with engine.connect() as conn:
            in_stock = set(
                conn.execute(
                    select(Variant.product_id).where(variant_in_stock(location_id)).distinct()
                ).scalars()
            )
        held = {
            p
            for p, item in catalog.items()
            if (item.online if kind == "online" else location_id in item.in_stock)
        }
        assert held == in_stock and held, location_id
