"""Benchmark: the feed-quality gates on a generated world whose last days arrive again as files.

Seeds the world with its sales ending on `--end` (by default 2025-12-31, so the replayed days
hold Thanksgiving, Black Friday, the December run-up and Christmas Day, when the stores close),
exports its last `--days` days of sales as daily files, takes those days out of the database,
and loads them back one by one, as a retailer's nightly job would. Every `--corrupt-every`th day,
each corrupted version of that day's file (`evals.feeds.CORRUPTIONS`: one store-day x100, a
store's rows missing, the day missing, duplicated rows, negative units, a renamed column, a
future date, an unknown store, an unknown SKU) is loaded first, then the clean file. Inventory
snapshots (the stock with a few units moved) and catalogue files (a few SKUs marked down) go
through the same on those days. It reports, per kind and corruption, how many were quarantined
and by which check, the clean files quarantined by mistake, and whether `daily_sales` ends
identical to the world as generated (every clean day landed, nothing of a quarantined one did).

Timing: the median wall time of loading a clean day (checks and apply) against applying the
same rows without checks (the bulk insert alone, rolled back), in the same run.

    .venv/bin/python benchmarks/bench_feed_quality.py [--scale small] [--days 45] \
        [--corrupt-every 3] [--end 2025-12-31]

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import select

from benchmarks.worlds import machine
from evals.feeds import CORRUPTIONS, FeedCase, sales_digest, withhold_sales
from retail.feeds.export import export_feed
from retail.feeds.formats import FeedKind, validate_rows
from retail.feeds.load import ACCEPTED, APPLY, QUARANTINED, load_feed
from retail.settings import Settings
from retail.store.db import make_engine
from retail.store.models import FeedBatch
from retail.store.schema import upgrade
from retail.world.seed import seed_world

console = Console(stderr=True)
MARKDOWN_SHARE = 0.05


def moved_stock(snapshot: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A day's snapshot: each SKU's stock moved a few units, as a day of sales and deliveries."""
    frame = snapshot.copy()
    on_hand = frame["on_hand"].astype(int) + rng.integers(-3, 4, len(frame))
    frame["on_hand"] = np.maximum(on_hand, 0).astype(str)
    return frame


def marked_down(catalog: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A day's catalogue: a few SKUs marked down 10-50%."""
    frame = catalog.copy()
    picked = rng.random(len(frame)) < MARKDOWN_SHARE
    prices = frame.loc[picked, "price"].astype(float) * rng.uniform(0.5, 0.9, int(picked.sum()))
    frame.loc[picked, "price"] = prices.round(2).map("{:.2f}".format)
    return frame


class Tally:
    """Outcomes per kind: clean files and their false quarantines, corruptions and their
    quarantines, the check that caught each, and one reason per corruption as an example."""

    def __init__(self) -> None:
        self.clean: Counter[str] = Counter()
        self.false: Counter[str] = Counter()
        self.false_reasons: list[str] = []
        self.tried: dict[str, Counter[str]] = defaultdict(Counter)
        self.caught: dict[str, Counter[str]] = defaultdict(Counter)
        self.checks: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.example: dict[str, dict[str, str]] = defaultdict(dict)

    def report(self) -> dict[str, Any]:
        kinds = sorted(set(self.clean) | set(self.tried))
        return {
            kind: {
                "clean_files": self.clean[kind],
                "clean_quarantined": self.false[kind],
                "corrupted": {
                    name: {
                        "files": self.tried[kind][name],
                        "quarantined": self.caught[kind][name],
                        "by_check": dict(self.checks[kind][name]),
                        "example": self.example[kind].get(name),
                    }
                    for name in self.tried[kind]
                },
                "corrupted_files": sum(self.tried[kind].values()),
                "corrupted_quarantined": sum(self.caught[kind].values()),
            }
            for kind in kinds
        } | {"false_quarantine_reasons": self.false_reasons[:5]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="aisle-bench-feeds-") as tmp:
        folder = Path(tmp)
        settings = Settings(var_dir=folder / "var", environment="test")
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        upgrade(engine)
        console.print(f"seeding the {args.scale} world (seed {args.seed}, end {args.end}) ...")
        seed_world(
            engine,
            scale=args.scale,
            seed=args.seed,
            end=args.end,
            world_dir=folder / "world",
            show_progress=False,
        )
        today = args.end + dt.timedelta(days=1)
        days = [args.end - dt.timedelta(days=args.days - 1 - i) for i in range(args.days)]
        files = folder / "files"
        files.mkdir()
        clean = {d: export_feed(engine, "sales", d).astype(str) for d in days}
        snapshot = export_feed(engine, "inventory", days[0]).astype(str)
        catalog = export_feed(engine, "catalog", days[0]).astype(str)
        truth = sales_digest(engine)
        withheld = withhold_sales(engine, days[0])
        console.print(f"withheld {withheld:,} sales rows of {days[0]} to {days[-1]}")

        tally = Tally()
        counter = iter(range(10**9))
        timings: dict[str, list[float]] = {"load_ms": [], "apply_only_ms": []}

        def load(kind: FeedKind, frame: pd.DataFrame) -> tuple[str, str | None, list[str]]:
            path = files / f"{kind}-{next(counter)}.csv"
            frame.to_csv(path, index=False)
            result = load_feed(engine, kind, path, loaded_by="bench", settings=settings)
            checks: list[str] = []
            if result.status == QUARANTINED:
                with engine.connect() as conn:
                    details = conn.scalar(
                        select(FeedBatch.details).where(FeedBatch.id == result.batch_id)
                    )
                checks = [p["check"] for p in (details or {}).get("problems", [])]
            return result.status, result.reason, checks

        def corrupt_all(kind: FeedKind, base: pd.DataFrame, following: pd.DataFrame | None) -> None:
            for name, corrupt in CORRUPTIONS[kind].items():
                if name == "day_missing" and following is None:
                    continue
                bad = corrupt(FeedCase(base, following, today, rng))
                status, reason, checks = load(kind, bad)
                tally.tried[kind][name] += 1
                if status == QUARANTINED:
                    tally.caught[kind][name] += 1
                    tally.checks[kind][name][checks[0] if checks else "?"] += 1
                    tally.example[kind].setdefault(name, reason or "")

        def clean_load(kind: FeedKind, frame: pd.DataFrame) -> None:
            status, reason, _ = load(kind, frame)
            tally.clean[kind] += 1
            if status != ACCEPTED:
                tally.false[kind] += 1
                tally.false_reasons.append(reason or "")

        for index, day in enumerate(days):
            following = clean[days[index + 1]] if index + 1 < len(days) else None
            corrupt_today = index % args.corrupt_every == 0
            if corrupt_today:
                corrupt_all("sales", clean[day], following)
            # Baseline: the same rows, already typed, applied without any check, rolled back.
            typed, _ = validate_rows("sales", clean[day])
            with engine.connect() as conn:
                started = time.perf_counter()
                APPLY["sales"](conn, typed)
                timings["apply_only_ms"].append((time.perf_counter() - started) * 1000)
                conn.rollback()
            started = time.perf_counter()
            clean_load("sales", clean[day])
            timings["load_ms"].append((time.perf_counter() - started) * 1000)

            if corrupt_today:
                snapshot_today = moved_stock(snapshot, rng).assign(as_of=day.isoformat())
                corrupt_all("inventory", snapshot_today, None)
                clean_load("inventory", snapshot_today)
                catalog_today = marked_down(catalog, rng).assign(effective_on=day.isoformat())
                corrupt_all("catalog", catalog_today, None)
                clean_load("catalog", catalog_today)
                catalog = export_feed(engine, "catalog", day).astype(str)
            console.print(f"{day}: loaded")
        identical = sales_digest(engine) == truth
        engine.dispose()
    load_ms, apply_ms = (statistics.median(timings[k]) for k in ("load_ms", "apply_only_ms"))
    return {
        "benchmark": "feed_quality",
        "scale": args.scale,
        "seed": args.seed,
        "days": [days[0].isoformat(), days[-1].isoformat()],
        "corrupt_every": args.corrupt_every,
        "outcomes": tally.report(),
        "daily_sales_identical_to_generated": identical,
        "clean_sales_day_load_ms_median": round(load_ms, 1),
        "apply_only_ms_median": round(apply_ms, 1),
        "check_overhead_ratio": round(load_ms / apply_ms, 1),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2025, 12, 31))
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--corrupt-every", type=int, default=3)
    result = run(parser.parse_args())
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
