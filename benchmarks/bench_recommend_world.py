"""Benchmark: recommenders on the generated world, against popularity and the oracle.

Seeds the world into a temporary SQLite database (or reads an existing var directory with
`--var-dir`, holding `aisle.db` and `world/`), reads the customers' interactions the way
`aisle recommend train` does (views, add-to-carts, purchases of orders not cancelled; weights 1, 3,
5), and splits them by time: everything up to `--test-days` before the last event trains, and a
customer's products touched afterwards that they had not touched before are the relevant set
(`--relevant purchases` keeps only bought ones). Every model recommends K items per test customer,
excluding their training items, scored with `ml_core.recommend.metrics` in the same run as:
- popularity (the baseline), trending, item-item co-occurrence, EASE and the two-tower model;
- the oracle, which ranks every launched product by the customer's true latent score from
  `preferences.npz` (customer . product + log popularity, the very score sessions sample from),
  excluding the same training items. No model can beat it on average.
Every model is given the item features of every product launched by the last event (category,
brand, base price, embedded name and description; text embeddings cached under
`<AISLE_VAR_DIR>/cache`), so products first touched after the cutoff (late launches) are in every
model's catalogue: these cold-start items can only be ranked by what the features say (the
two-tower); the other models place them after every item they have an opinion on. Their recall is
reported for every model next to popularity's.

Fit times are medians of `--runs` fits; `serve_ms` is the p50/p99 of single-customer top-K calls.

    .venv/bin/python benchmarks/bench_recommend_world.py
    .venv/bin/python benchmarks/bench_recommend_world.py --scale medium --runs 3
    .venv/bin/python benchmarks/bench_recommend_world.py --var-dir var --relevant purchases

Prints one JSON document on stdout; progress and the table go to stderr.
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

from ml_core.recommend.base import Recommender
from ml_core.recommend.data import TIME
from ml_core.recommend.evaluate import interactions_from_frame, relevant_pairs
from ml_core.recommend.metrics import ITEM, USER, ranking_metrics, topk_report
from ml_core.recommend.models import RECOMMENDERS
from ml_core.recommend.store_data import (
    EVENT,
    PURCHASE,
    store_interactions,
    store_item_features,
)
from retail.settings import get_settings
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import seed_world
from retail.world.shoppers import Preferences

console = Console(stderr=True)
MODELS = ("popularity", "trending", "item_item", "ease", "two_tower")


def open_world(args: argparse.Namespace, scratch: Path) -> tuple[Engine, Path, float | None]:
    """The engine and world folder to read, seeding a fresh world unless --var-dir is given."""
    if args.var_dir:
        var = Path(args.var_dir)
        return make_engine(f"sqlite:///{var / 'aisle.db'}"), var / "world", None
    engine = make_engine(f"sqlite:///{scratch / 'aisle.db'}")
    upgrade(engine)
    started = time.perf_counter()
    console.print(f"seeding the {args.scale} world (seed {args.seed}) ...")
    seed_world(
        engine,
        scale=args.scale,
        seed=args.seed,
        world_dir=scratch / "world",
        show_progress=False,
    )
    return engine, scratch / "world", time.perf_counter() - started


def oracle_lists(
    world: Path,
    engine: Engine,
    users: np.ndarray,
    train: pd.DataFrame,
    k: int,
) -> pd.DataFrame:
    """Top-k products per customer by the true latent score, excluding their training items."""
    npz = np.load(world / "preferences.npz", allow_pickle=False)
    preferences = Preferences(
        npz["customer_vectors"], npz["product_vectors"], npz["log_popularity"]
    )
    products = npz["product_ids"].astype(str)
    with engine.connect() as conn:
        launched = pd.read_sql(text("SELECT id, launched_on FROM products"), conn)
    manifest = json.loads((world / "manifest.json").read_text())
    last_day = pd.Timestamp(manifest["end"])
    live_ids = launched.loc[pd.to_datetime(launched["launched_on"]) <= last_day, "id"]
    live = pd.Index(products).isin(live_ids.astype(str))
    customer_row = pd.Index(npz["customer_ids"].astype(str)).get_indexer(users)
    product_col = pd.Index(products)
    seen = train[[USER, ITEM]].drop_duplicates()
    seen_user = pd.Index(users).get_indexer(seen[USER])
    seen_item = product_col.get_indexer(seen[ITEM])
    keep = (seen_user >= 0) & (seen_item >= 0)
    parts = []
    for start in range(0, len(users), 1024):
        stop = min(start + 1024, len(users))
        scores = preferences.scores(customer_row[start:stop])
        scores[:, ~live] = -np.inf
        in_block = keep & (seen_user >= start) & (seen_user < stop)
        scores[seen_user[in_block] - start, seen_item[in_block]] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        parts.append(
            pd.DataFrame(
                {
                    USER: np.repeat(users[start:stop], k),
                    ITEM: products[top.ravel()],
                    "rank": np.tile(np.arange(1, k + 1), stop - start),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def serve_latency(model: Recommender, users: np.ndarray, k: int, calls: int) -> dict[str, float]:
    """p50 / p99 milliseconds of one customer's top-k, the way a page would ask."""
    rng = np.random.default_rng(0)
    times = []
    for user in rng.choice(users, size=min(calls, len(users)), replace=False):
        started = time.perf_counter()
        model.recommend([user], k)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--var-dir", help="An existing var dir (aisle.db + world/) to read.")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--test-days", type=int, default=30)
    parser.add_argument("--relevant", choices=("interactions", "purchases"), default="interactions")
    parser.add_argument("--runs", type=int, default=3, help="Fits per model, for the median.")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    k = args.k
    with tempfile.TemporaryDirectory(prefix="bench-recommend-") as scratch:
        engine, world, seed_seconds = open_world(args, Path(scratch))
        frame, _ = store_interactions(engine)
        cutoff = frame[TIME].max() - pd.Timedelta(days=args.test_days)
        train = frame[frame[TIME] <= cutoff]
        after = frame[frame[TIME] > cutoff]
        if args.relevant == "purchases":
            after = after[after[EVENT] == PURCHASE]
        relevant, _ = relevant_pairs(train, after)
        users = np.sort(relevant[USER].unique().astype(str))
        features = store_item_features(
            engine, get_settings().var_dir / "cache", launched_by=frame[TIME].max().date()
        )
        interactions = interactions_from_frame(train, item_features=features)
        # The catalogue also holds products nobody touched before the cutoff: those are the
        # cold-start items, so the training items are read off the training rows.
        train_users = pd.Index(interactions.user_ids)
        train_items = pd.Index(np.sort(train[ITEM].unique().astype(str)))

        results: dict[str, dict[str, Any]] = {}
        console.print(f"oracle over {len(users):,} test customers")
        oracle = oracle_lists(world, engine, users, train, k)
        warm = relevant[relevant[USER].isin(train_users)]

        def report(lists: pd.DataFrame) -> dict[str, Any]:
            return {
                **topk_report(lists, relevant, k, train_users, train_items),
                "warm_users": ranking_metrics(lists, warm, k),
            }

        results["oracle"] = report(oracle)
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            fits = []
            for _ in range(args.runs):
                started = time.perf_counter()
                model = RECOMMENDERS[name]().fit(interactions)
                fits.append(time.perf_counter() - started)
            lists = model.recommend(users, k).to_frame()
            results[name] = {
                **report(lists),
                "fit_seconds_median": float(np.median(fits)),
                "fit_seconds_runs": [round(f, 3) for f in fits],
                "serve_ms": serve_latency(model, users, k, 200),
            }
            console.print(f"{name}: recall@{k} {results[name]['recall']:.4f}")
        engine.dispose()

    oracle_recall, oracle_ndcg = results["oracle"]["recall"], results["oracle"]["ndcg"]
    popular_cold = results.get("popularity", {}).get("cold_start_items", {}).get("recall")
    warm_oracle = results["oracle"]["warm_users"]["recall"]
    for values in results.values():
        values["recall_vs_oracle"] = values["recall"] / oracle_recall
        values["ndcg_vs_oracle"] = values["ndcg"] / oracle_ndcg
        values["warm_recall_vs_oracle"] = values["warm_users"]["recall"] / warm_oracle
    summary = {
        "benchmark": "recommend_world",
        "date": dt.date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "world": {"scale": args.scale, "seed": args.seed, "var_dir": args.var_dir},
        "seed_seconds": seed_seconds,
        "split": {
            "cutoff": cutoff.isoformat(),
            "test_days": args.test_days,
            "relevant": args.relevant,
            "train_interactions": len(train),
            "train_customers": len(train_users),
            "train_products": len(train_items),
            "catalog_products": len(interactions.item_ids),
            "test_customers": len(users),
            "relevant_pairs": len(relevant),
            "cold_start_item_pairs": results["oracle"]["cold_start_items"]["interactions"],
        },
        "k": k,
        "models": results,
        "popularity_cold_item_recall": popular_cold,
    }
    table = Table(title=f"generated world ({args.scale}, seed {args.seed}): top-{k}")
    for column in ("model", f"recall@{k}", f"nDCG@{k}", "recall/oracle", "nDCG/oracle"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for column in ("warm R/oracle", "cold items R", "cold users R", "fit s", "p99 ms"):
        table.add_column(column, justify="right")
    for name, values in results.items():
        cold_items = values["cold_start_items"]["recall"]
        cold_users = values["cold_start_users"]["recall"]
        table.add_row(
            name,
            f"{values['recall']:.4f}",
            f"{values['ndcg']:.4f}",
            f"{values['recall_vs_oracle']:.3f}",
            f"{values['ndcg_vs_oracle']:.3f}",
            f"{values['warm_recall_vs_oracle']:.3f}",
            "-" if cold_items is None else f"{cold_items:.4f}",
            "-" if cold_users is None else f"{cold_users:.4f}",
            f"{values['fit_seconds_median']:.3f}" if "fit_seconds_median" in values else "-",
            f"{values['serve_ms']['p99']:.2f}" if "serve_ms" in values else "-",
        )
    # Redirected stderr has no width to fit; 80 columns would truncate the figures.
    console.width = max(console.width, 150)
    console.print(table)
    json.dump(summary, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
