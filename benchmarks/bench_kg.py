"""Benchmark: the product knowledge graph's build time and neighbour query latency.

On a generated world (seeded into a temporary SQLite database, or an existing var dir):
1. Build: `build_and_save` with `force` (a full rebuild) `--runs` times, and the no-change check
   (the catalogue read and hashed, nothing written) as often.
2. Queries in process over `--queries` random SKUs stocked at a random store: substitutes in
   stock at that store, complements, accessories; p50 / p99 latency. Baseline in the same run:
   one direct SQL query for same-category SKUs in stock at the store (no ranking, no reason, no
   path), which is what an associate tool without the graph would run.

    .venv/bin/python benchmarks/bench_kg.py --scales small,medium

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, select
from worlds import world_var_dir

from rag.graph import KnowledgeGraph, build_and_save
from retail.settings import Settings
from retail.store.db import make_engine
from retail.store.models import InventoryPosition, Location, Product, Variant


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3),
    }


def _timed(calls: list[Callable[[], Any]]) -> list[float]:
    took = []
    for call in calls:
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
    return took


def _same_category_in_stock(engine: Engine, sku: str, store: str) -> list[str]:
    """The baseline: SKUs of the SKU's category in stock at the store, straight from SQL."""
    category = select(Product.category_id).join(Variant).where(Variant.id == sku).scalar_subquery()
    with engine.connect() as conn:
        rows = conn.execute(
            select(Variant.id)
            .join(Product, Product.id == Variant.product_id)
            .join(InventoryPosition, InventoryPosition.variant_id == Variant.id)
            .where(
                Product.category_id == category,
                Variant.id != sku,
                Variant.available.is_(True),
                InventoryPosition.location_id == store,
                InventoryPosition.on_hand - InventoryPosition.reserved > 0,
            )
        ).all()
    return [r[0] for r in rows]


def bench_scale(scale: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with world_var_dir(args.var_dir, scale=scale, seed=args.seed, console=console) as (
        folder,
        seed_seconds,
    ):
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        settings = Settings(var_dir=folder / "bench-kg", environment="test")
        try:
            console.print(f"{scale}: building the graph {args.runs} times ...")
            builds = _timed([lambda: build_and_save(engine, settings, force=True)] * args.runs)
            report = build_and_save(engine, settings)
            unchanged = _timed([lambda: build_and_save(engine, settings)] * args.runs)
            kg = KnowledgeGraph.load(engine, settings)
            with engine.connect() as conn:
                stocked = conn.execute(
                    select(InventoryPosition.variant_id, InventoryPosition.location_id)
                    .join(Location, Location.id == InventoryPosition.location_id)
                    .where(
                        Location.kind == "store",
                        InventoryPosition.on_hand - InventoryPosition.reserved > 0,
                    )
                    .order_by(InventoryPosition.variant_id, InventoryPosition.location_id)
                ).all()
            rng = random.Random(args.seed)
            asks = [tuple(r) for r in rng.sample(stocked, min(args.queries, len(stocked)))]
            console.print(f"{scale}: {len(asks)} queries per relation ...")
            latency = {}
            found = {}
            for relation in ("substitutes", "complements", "accessories"):
                results: list[int] = []

                def ask(
                    sku: str, store: str, relation: str = relation, results: list[int] = results
                ) -> None:
                    results.append(len(kg.neighbors(sku, relation, store=store, k=10).neighbors))

                latency[relation] = _percentiles(
                    _timed([lambda s=s, t=t: ask(s, t) for s, t in asks])
                )
                found[relation] = round(statistics.mean(results), 2)
            latency["baseline_sql_same_category_in_stock"] = _percentiles(
                _timed([lambda s=s, t=t: _same_category_in_stock(engine, s, t) for s, t in asks])
            )
        finally:
            engine.dispose()
    subs, base = latency["substitutes"], latency["baseline_sql_same_category_in_stock"]
    return {
        "scale": scale,
        "seed_seconds": None if seed_seconds is None else round(seed_seconds, 1),
        "nodes": report.nodes,
        "edges": report.edges,
        "build_seconds_median": round(statistics.median(builds), 3),
        "unchanged_check_seconds_median": round(statistics.median(unchanged), 3),
        "queries": len(asks),
        "latency": latency,
        "mean_neighbors_found_k10": found,
        "substitutes_vs_baseline_p50": round(subs["p50_ms"] / base["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="small", help="small, medium or both (comma list)")
    parser.add_argument("--var-dir", default=None, help="use this world instead of seeding one")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    console = Console(stderr=True)
    results = [bench_scale(s.strip(), args, console) for s in args.scales.split(",")]
    out = {
        "benchmark": "knowledge_graph",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
