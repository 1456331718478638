"""Benchmark: what a recommender in shadow costs a placements process.

Seeds a tiny generated world in a temporary folder, trains an item-item champion and an
item-item shadow with other hyperparameters, and sends the same home and product-page requests
through the app in process (FastAPI's TestClient, which runs a request's background tasks before
it returns, so its wall time includes the shadow's list) with `shadow_sample` 0 (no shadow
computed) and 1 (every request shadowed). The difference is the CPU a shadowed request costs the
process; a real client does not wait for it, the response being sent before the task runs.

    .venv/bin/python benchmarks/bench_shadow_overhead.py --requests 200 --runs 5

Prints the median milliseconds per request of each setting over the runs, and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.train import train_store_recommender
from ml_core.registry import ArtifactRegistry
from retail.settings import Settings
from retail.store.models import Product, RecommendationShadow
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec, seed_world


def per_request_ms(settings: Settings, products: list[str], requests: int) -> float:
    with TestClient(create_app(settings)) as client:
        warm = {"X-Session-Id": uuid.uuid4().hex}
        client.get("/v1/recommendations", params={"placement": "home"}, headers=warm)
        started = time.perf_counter()
        for n in range(requests):
            headers = {"X-Session-Id": uuid.uuid4().hex}
            params = (
                {"placement": "home"}
                if n % 2
                else {"placement": "product", "product_id": products[n % len(products)]}
            )
            response = client.get("/v1/recommendations", params=params, headers=headers)
            response.raise_for_status()
        return (time.perf_counter() - started) * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        base = Settings(
            database_url=f"sqlite:///{root / 'aisle.db'}", var_dir=root / "var", environment="test"
        )
        engine = open_store(base)
        seed_world(
            engine,
            scale="small",
            seed=3,
            world_dir=base.world_dir,
            show_progress=False,
            end=PINNED_END,
            spec=ScaleSpec(200, 3, 1000, 60, 0.7, 60, 4.0),
        )
        registry = ArtifactRegistry(base.var_dir / "artifacts")
        train_store_recommender(engine, registry, ItemItem())
        train_store_recommender(engine, registry, ItemItem(neighbours=10), stage="shadow")
        with engine.connect() as conn:
            products = list(conn.execute(select(Product.id).order_by(Product.id)).scalars())
        timings: dict[str, list[float]] = {"no shadow": [], "shadowed": []}
        for _ in range(args.runs):
            for label, share in (("no shadow", 0.0), ("shadowed", 1.0)):
                settings = base.model_copy(update={"shadow_sample": share})
                timings[label].append(per_request_ms(settings, products, args.requests))
        with engine.connect() as conn:
            logged = len(conn.execute(select(RecommendationShadow.recommendation_id)).all())
        engine.dispose()
    medians = {label: statistics.median(values) for label, values in timings.items()}
    for label, value in medians.items():
        print(f"{label:>10}: {value:.2f} ms per request (median of {args.runs} runs)")  # noqa: T201
    summary = {
        "requests": args.requests,
        "runs": args.runs,
        "median_ms": {k: round(v, 2) for k, v in medians.items()},
        "runs_ms": {k: [round(v, 2) for v in values] for k, values in timings.items()},
        "shadow_ms": round(medians["shadowed"] - medians["no shadow"], 2),
        "shadow_lists_logged": logged,
    }
    print(json.dumps(summary))  # noqa: T201


if __name__ == "__main__":
    main()
