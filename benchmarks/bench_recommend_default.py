"""Benchmark: which recommender `aisle recommend eval` and `train` should use by default.

The protocol of the public implicit-feedback benchmarks (MovieLens-100k style): a per-user random
split. Each user's distinct items are shuffled and a fifth of them (at least one) is held out; the
rest, with every interaction on them, trains. Users with a single item have nothing to hold out
and only train. Every model trains on the same TRAIN and recommends K = 10 items per test user
(none of their TRAIN items) through `ml_core.recommend.evaluate.evaluate_recommenders`, the code
behind `aisle recommend eval`; nDCG@10 and recall@10 are Microsoft Recommenders' definitions
(`ml_core/recommend/metrics.py`). The split is redrawn for each of `--split-seeds` seeds and the
table reports the median over them, per data set:
- `world`: generated worlds (`--worlds`, scale:seed each, or `--var-dir`), read as `aisle
  recommend train` reads the store (views 1, add-to-carts 3, purchases 5). Besides the named
  scales, `dense` is a world shaped like MovieLens-100k (1,000 customers, 1,600 products, 60
  sessions each: about 80 distinct products per customer, against the small world's 9): public
  implicit benchmarks have long histories, and the gap between the models opens with them;
- `tau2`: the purchases of tau2-bench's retail orders (`--tau2`, public data outside the repo;
  orders not cancelled, one interaction per product bought), a small store of 50 product types.

    .venv/bin/python benchmarks/bench_recommend_default.py
    .venv/bin/python benchmarks/bench_recommend_default.py --worlds small:42 --split-seeds 0,1,2

Prints one JSON document on stdout; progress and the table go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from worlds import machine

from ml_core.recommend.data import TIME, WEIGHT
from ml_core.recommend.evaluate import evaluate_recommenders
from ml_core.recommend.metrics import ITEM, USER
from ml_core.recommend.models import resolve_recommenders
from ml_core.recommend.store_data import store_interactions
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, SCALES, ScaleSpec, seed_world

console = Console(stderr=True)
MODELS = "popularity,item_item,ease,two_tower"
TAU2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "tau2_retail" / "db.json"
K = 10
TEST_SHARE = 0.2
# MovieLens-100k's shape: 943 users, 1,682 items, 106 ratings per user on average.
DENSE = ScaleSpec(
    n_products=1_600,
    n_stores=3,
    n_customers=1_000,
    n_days=180,
    assortment=0.85,
    session_days=120,
    sessions_per_customer=60.0,
)


def per_user_split(
    frame: pd.DataFrame, seed: int, share: float = TEST_SHARE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(TRAIN, TEST): a random `share` of each user's distinct items, at least one for a user with
    two or more, goes to TEST with every interaction on it."""
    pairs = frame[[USER, ITEM]].drop_duplicates().reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pairs["order"] = rng.permutation(len(pairs))
    pairs["position"] = pairs.groupby(USER)["order"].rank(method="first") - 1
    counts = pairs.groupby(USER)[ITEM].transform("size")
    held = np.where(counts >= 2, np.maximum(1, np.round(share * counts)), 0)
    test_pairs = pairs.loc[pairs["position"] < held, [USER, ITEM]]
    marked = frame.merge(test_pairs.assign(test=True), on=[USER, ITEM], how="left")
    in_test = marked["test"].eq(True).to_numpy()
    return frame[~in_test].reset_index(drop=True), frame[in_test].reset_index(drop=True)


def world_frames(args: argparse.Namespace) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each world's interactions: the one in --var-dir, or each of --worlds seeded afresh."""
    if args.var_dir:
        yield f"world {args.var_dir}", _interactions(Path(args.var_dir) / "aisle.db")
        return
    for token in [t for t in args.worlds.split(",") if t]:
        scale, seed = token.split(":")
        spec = DENSE if scale == "dense" else SCALES[scale]
        with tempfile.TemporaryDirectory(prefix="bench-recommend-default-") as scratch:
            engine = make_engine(f"sqlite:///{scratch}/aisle.db")
            try:
                upgrade(engine)
                console.print(f"seeding the {scale} world (seed {seed}) ...")
                seed_world(
                    engine,
                    scale=scale,
                    seed=int(seed),
                    world_dir=Path(scratch) / "world",
                    show_progress=False,
                    end=PINNED_END,
                    spec=spec,
                )
            finally:
                engine.dispose()
            yield f"world {scale} seed {seed}", _interactions(Path(scratch) / "aisle.db")


def _interactions(database: Path) -> pd.DataFrame:
    engine = make_engine(f"sqlite:///{database}")
    try:
        frame, _ = store_interactions(engine)
    finally:
        engine.dispose()
    return frame[[USER, ITEM, WEIGHT, TIME]]


def tau2_frame(path: Path) -> pd.DataFrame:
    orders = json.loads(path.read_text(encoding="utf-8"))["orders"].values()
    rows = [
        (order["user_id"], item["product_id"])
        for order in orders
        if order["status"] != "cancelled"
        for item in order["items"]
    ]
    frame = pd.DataFrame(rows, columns=[USER, ITEM]).astype(str)
    frame[WEIGHT] = 1.0
    return frame


def score(frame: pd.DataFrame, models: list[str], seeds: list[int]) -> dict[str, Any]:
    chosen = resolve_recommenders(models)
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in models}
    facts: dict[str, Any] = {}
    for seed in seeds:
        train, test = per_user_split(frame, seed)
        result = evaluate_recommenders(train, test, chosen, K, show_progress=False)
        facts = result.data
        for name, metrics in result.metrics.items():
            runs[name].append(
                {
                    "ndcg": metrics["ndcg"],
                    "recall": metrics["recall"],
                    "fit": metrics["fit_seconds"],
                }
            )
    return {
        "data": facts,
        "models": {
            name: {
                "ndcg_median": float(np.median([r["ndcg"] for r in per_seed])),
                "recall_median": float(np.median([r["recall"] for r in per_seed])),
                "fit_seconds_median": float(np.median([r["fit"] for r in per_seed])),
                "ndcg_runs": [round(r["ndcg"], 4) for r in per_seed],
            }
            for name, per_seed in runs.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--worlds",
        default="small:42,small:7,dense:42",
        help="scale:seed of each world to seed, comma-separated (empty: none).",
    )
    parser.add_argument("--var-dir", help="An existing var dir (aisle.db + world/) instead.")
    parser.add_argument("--tau2", default=str(TAU2), help="tau2-bench retail db.json ('' skips).")
    parser.add_argument("--split-seeds", default="0,1,2,3,4")
    parser.add_argument("--models", default=MODELS)
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = [int(s) for s in args.split_seeds.split(",")]
    frames = list(world_frames(args))
    if args.tau2:
        frames.append(("tau2 retail orders", tau2_frame(Path(args.tau2))))
    results: dict[str, Any] = {}
    for name, frame in frames:
        console.print(f"{name}: {len(frame):,} interactions, splits {seeds}")
        results[name] = score(frame, models, seeds)
    table = Table(title=f"per-user random 80/20 split, top-{K}, median of {len(seeds)} splits")
    for column in ("data", "model", f"nDCG@{K}", f"recall@{K}", "fit s"):
        table.add_column(column, justify="left" if column in ("data", "model") else "right")
    for name, result in results.items():
        for model, values in result["models"].items():
            table.add_row(
                name,
                model,
                f"{values['ndcg_median']:.4f}",
                f"{values['recall_median']:.4f}",
                f"{values['fit_seconds_median']:.2f}",
            )
    console.width = max(console.width, 120)
    console.print(table)
    summary = {
        "benchmark": "recommend_default",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "protocol": {"split": "per-user random", "test_share": TEST_SHARE, "k": K},
        "split_seeds": seeds,
        "results": results,
    }
    json.dump(summary, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
