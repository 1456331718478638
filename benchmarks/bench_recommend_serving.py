"""Benchmark: recommendation serving latency, Qdrant Edge against baselines in the same run.

1. Retrieval: top-20 by dot product for a user over `--items` synthetic item vectors (clustered,
   unit length, dimensions 64 and 384) with the serving filters: in stock at the shopper's store
   or online, one category excluded, the user's recent purchases excluded. Compared on the same
   vectors, filters and queries:
   - Qdrant Edge (`ml_core.vectors.EdgeIndex`, HNSW with payload indexes: the embedded default);
   - numpy brute force with the filters as precomputed masks (exact; the recall reference);
   - qdrant-client local mode on a `--local-items` sample (it scans in Python; too slow at 50k).
   Latency percentiles are over `--queries` single queries in process; recall@20 is against
   brute force.
2. Session update: `SessionProfiles.record` (the action to the updated profile vector).
3. End to end: `RecommendationService.for_shopper` on a generated world (seeded into a temporary
   SQLite database, item-item trained, MiniLM text vectors in Qdrant Edge); session views for
   half as many random shoppers are recorded first, so some lists blend a live session.

    .venv/bin/python benchmarks/bench_recommend_serving.py
    .venv/bin/python benchmarks/bench_recommend_serving.py --items 5000 --queries 200 --dims 64

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from sqlalchemy import select

from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.ranking import CatalogItem
from ml_core.recommend.serving import (
    ItemFilter,
    ItemIndex,
    RecommendationService,
    TextVectors,
    item_schema,
    payload,
)
from ml_core.recommend.session import SessionProfiles
from ml_core.recommend.train import train_store_recommender
from ml_core.registry import ArtifactRegistry
from ml_core.vectors import EdgeIndex, ServerIndex
from retail.settings import Settings
from retail.store.db import make_engine
from retail.store.models import Customer, Order
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

K = 20
N_STORES, N_CATEGORIES = 20, 50


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)}


def timed(
    call: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]
) -> tuple[list[float], list[Any]]:
    """Seconds and result of `call(*args)` for each args, one call at a time."""
    seconds, results = [], []
    for args in arguments:
        started = time.perf_counter()
        results.append(call(*args))
        seconds.append(time.perf_counter() - started)
    return seconds, results


def synthetic_catalog(
    rng: np.random.Generator, n: int, dim: int
) -> tuple[list[CatalogItem], np.ndarray]:
    """Clustered unit vectors (items of a kind sit together) with store-like payloads."""
    centres = rng.normal(size=(200, dim))
    vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.normal(size=(n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    stores = np.array([f"S{i + 1:03d}" for i in range(N_STORES)])
    stocked = rng.random((n, N_STORES)) < 0.35
    items = [
        CatalogItem(
            item_id=f"P{i:06d}",
            name=f"Product {i}",
            category_id=f"C{i % N_CATEGORIES:02d}",
            category=f"Category {i % N_CATEGORIES}",
            brand=f"B{i % 300}",
            price=float(rng.uniform(5, 500)),
            margin=float(rng.uniform(0, 0.6)),
            clearance=bool(rng.random() < 0.05),
            in_stock=frozenset(stores[stocked[i]].tolist()),
            online=bool(rng.random() < 0.5),
        )
        for i in range(n)
    ]
    return items, vectors


def queries(
    rng: np.random.Generator, items: list[CatalogItem], vectors: np.ndarray, count: int
) -> list[tuple[np.ndarray, ItemFilter]]:
    """A user is the mean of a few items; the filter is their store, a category, their buys."""
    out = []
    for _ in range(count):
        touched = rng.integers(0, len(items), 8)
        user = vectors[touched].mean(axis=0)
        where = ItemFilter(
            in_stock=True,
            location_id=f"S{int(rng.integers(1, N_STORES + 1)):03d}",
            exclude_ids=frozenset(items[int(i)].item_id for i in touched),
            exclude_categories=frozenset({f"C{int(rng.integers(0, N_CATEGORIES)):02d}"}),
        )
        out.append((user.astype(np.float32), where))
    return out


class BruteForce:
    """Exact filtered top-k in numpy: masks per store and category, built once."""

    def __init__(self, items: list[CatalogItem], vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.ids = np.array([i.item_id for i in items])
        self.row = {item_id: r for r, item_id in enumerate(self.ids.tolist())}
        online = np.array([i.online for i in items])
        self.buyable = {
            f"S{s + 1:03d}": online | np.array([f"S{s + 1:03d}" in i.in_stock for i in items])
            for s in range(N_STORES)
        }
        category = np.array([i.category_id for i in items])
        self.in_category = {c: category == c for c in np.unique(category)}

    def query(self, vector: np.ndarray, k: int, where: ItemFilter) -> list[str]:
        assert where.location_id is not None
        scores = self.vectors @ vector
        keep = self.buyable[where.location_id].copy()
        for c in where.exclude_categories:
            keep &= ~self.in_category[c]
        keep[[self.row[i] for i in where.exclude_ids]] = False
        scores = np.where(keep, scores, -np.inf)
        top = np.argpartition(-scores, k)[:k]
        return self.ids[top[np.argsort(-scores[top])]].tolist()


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def retrieval(dim: int, n: int, n_queries: int, local_items: int, folder: Path) -> dict[str, Any]:
    rng = np.random.default_rng(dim)
    items, vectors = synthetic_catalog(rng, n, dim)
    ids, payloads = [i.item_id for i in items], [payload(i) for i in items]
    asked = queries(rng, items, vectors, n_queries)
    result: dict[str, Any] = {"items": n, "dim": dim, "queries": n_queries, "k": K}

    log(f"dim {dim}: brute force")
    brute = BruteForce(items, vectors)
    seconds, truth = timed(brute.query, [(q, K, w) for q, w in asked])
    result["numpy_brute_force_ms"] = percentiles(seconds)

    log(f"dim {dim}: Qdrant Edge build")
    started = time.perf_counter()
    edge = ItemIndex(EdgeIndex(folder / f"edge-{dim}", item_schema(dim)))
    edge.upsert(ids, vectors, payloads)
    result["edge_build_s"] = round(time.perf_counter() - started, 2)
    timed(edge.query, [(q, K, w) for q, w in asked[:50]])  # warm the caches
    seconds, hits = timed(edge.query, [(q, K, w) for q, w in asked])
    result["qdrant_edge_ms"] = percentiles(seconds)
    result["qdrant_edge_recall_at_20"] = round(
        recall([[h.item_id for h in r] for r in hits], truth), 4
    )
    result["edge_p99_vs_brute_force"] = round(
        result["numpy_brute_force_ms"]["p99"] / result["qdrant_edge_ms"]["p99"], 2
    )
    edge.close()

    log(f"dim {dim}: qdrant-client local mode on {local_items} items")
    sample = rng.choice(n, size=min(local_items, n), replace=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
        local = ItemIndex(ServerIndex(QdrantClient(":memory:"), "items", item_schema(dim)))
    local.upsert([ids[i] for i in sample], vectors[sample], [payloads[i] for i in sample])
    few = asked[: max(50, n_queries // 10)]
    seconds, _ = timed(local.query, [(q, K, w) for q, w in few])
    result["qdrant_local_mode"] = {
        "items": len(sample),
        "queries": len(few),
        **percentiles(seconds),
    }
    local.close()

    log(f"dim {dim}: session updates")
    profiles = SessionProfiles(TextVectors(ids, vectors))
    for shopper in range(200):
        profiles.set_long_term(f"u{shopper}", vectors[int(rng.integers(0, n))])
    actions = [
        (f"u{int(rng.integers(0, 200))}", ids[int(rng.integers(0, n))], kind)
        for kind in rng.choice(["view", "add_to_cart"], size=n_queries, p=[0.8, 0.2])
    ]
    seconds, _ = timed(profiles.record, actions)
    result["session_record_ms"] = percentiles(seconds)
    return result


def end_to_end(n_queries: int, folder: Path) -> dict[str, Any]:
    """for_shopper on a generated world: seeded, trained and served here."""
    spec = ScaleSpec(150, 5, 2_000, 120, 0.85, 120, 4.0)
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    log("end to end: seeding the world")
    seed_world(
        engine,
        scale="small",
        seed=1,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=spec,
    )
    settings = Settings(var_dir=folder / "var")
    train_store_recommender(engine, ArtifactRegistry(settings.var_dir / "artifacts"), ItemItem())
    with engine.connect() as conn:
        last = conn.execute(select(Order.created_at).order_by(Order.created_at.desc())).scalar()
        shoppers = list(conn.execute(select(Customer.id, Customer.home_store_id)).all())
    assert last is not None
    now = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    log("end to end: opening the service (MiniLM embeddings, Qdrant Edge index)")
    started = time.perf_counter()
    service = RecommendationService(engine, settings, clock=lambda: now)
    open_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    products = sorted(service.catalog)
    calls, records = [], []
    for q in range(n_queries):
        shopper, store = shoppers[int(rng.integers(0, len(shoppers)))]
        if q % 2:
            records.append((shopper, products[int(rng.integers(0, len(products)))], "view"))
        calls.append((shopper, store, K))
    record_seconds, _ = timed(service.record, records)
    seconds, lists = timed(service.for_shopper, calls)
    service.close()
    return {
        "world": {"products": len(products), "customers": len(shoppers), "stores": spec.n_stores},
        "open_s": round(open_s, 2),
        "queries": n_queries,
        "for_shopper_ms": percentiles(seconds),
        "record_ms": percentiles(record_seconds),
        "mean_list_length": round(float(np.mean([len(x) for x in lists])), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 384])
    parser.add_argument("--local-items", type=int, default=5_000)
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "recommend_serving",
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report["retrieval"] = [
            retrieval(dim, args.items, args.queries, args.local_items, folder) for dim in args.dims
        ]
        if not args.skip_end_to_end:
            report["end_to_end"] = end_to_end(args.queries, folder)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
