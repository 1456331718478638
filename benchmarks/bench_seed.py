"""Benchmark: generating and loading the demo world, per scale and database.

For each backend it seeds the world `--runs` times into a fresh database and reports the median
wall time, the database size and the row counts. In the same run it loads the same daily-sales
rows two ways, through Aisle's bulk path (COPY / raw executemany in key order) and through plain
SQLAlchemy Core executemany (the baseline), and reports the ratio.

    .venv/bin/python benchmarks/bench_seed.py --scale small --runs 3 --backends sqlite,postgresql

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, select, text

from retail.store.bulk import copy_frame, table
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, SCALES, seed_world

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
console = Console(stderr=True)


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[tuple[Engine, Any]]:
    """A migrated empty database and a function returning its size in bytes."""
    if backend == "sqlite":
        path = workdir / f"{uuid.uuid4().hex}.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)

        def size() -> int:
            # Fold the write-ahead log into the file first: its size is what a user keeps.
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return sum(p.stat().st_size for p in workdir.glob(path.name + "*"))

        try:
            yield engine, size
        finally:
            engine.dispose()
            for p in workdir.glob(path.name + "*"):
                p.unlink()
        return
    name = f"aisle_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)

    def pg_size() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())

    try:
        yield engine, pg_size
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_seed(backend: str, scale: str, runs: int, workdir: Path) -> dict[str, Any]:
    seconds, sizes, counts, sample = [], [], {}, None
    for run in range(runs):
        with fresh_database(backend, workdir) as (engine, size):
            console.log(f"{backend}: seeding {scale}, run {run + 1}/{runs}")
            started = time.perf_counter()
            result = seed_world(
                engine,
                scale=scale,
                seed=42,
                end=PINNED_END,
                world_dir=workdir / f"world-{uuid.uuid4().hex}",
                show_progress=False,
            )
            seconds.append(time.perf_counter() - started)
            sizes.append(size())
            counts = result.counts
            if sample is None:
                with engine.connect() as conn:
                    sample = pd.read_sql(select(table("daily_sales")).limit(200_000), conn)
    assert sample is not None
    loader = bench_loaders(backend, sample, workdir)
    return {
        "backend": backend,
        "scale": scale,
        "runs": runs,
        "seed_seconds": seconds,
        "seed_seconds_median": statistics.median(seconds),
        "database_bytes": statistics.median(sizes),
        "rows": counts,
        "loader": loader,
    }


def bench_loaders(backend: str, frame: pd.DataFrame, workdir: Path) -> dict[str, Any]:
    """Rows per second into daily_sales: Aisle's bulk path against Core executemany."""
    frame = frame.sort_values(["variant_id", "location_id", "day"]).reset_index(drop=True)
    records = frame.to_dict("records")
    timings: dict[str, float] = {}
    for name in ("bulk", "core_executemany"):
        with fresh_database(backend, workdir) as (engine, _size):
            started = time.perf_counter()
            with engine.begin() as conn:
                if name == "bulk":
                    copy_frame(conn, "daily_sales", frame)
                else:
                    conn.execute(table("daily_sales").insert(), records)
            timings[name] = time.perf_counter() - started
    return {
        "rows": len(frame),
        "bulk_rows_per_s": len(frame) / timings["bulk"],
        "core_rows_per_s": len(frame) / timings["core_executemany"],
        "speedup": timings["core_executemany"] / timings["bulk"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="aisle-bench-") as tmp:
        for backend in args.backends.split(","):
            results.append(bench_seed(backend, args.scale, args.runs, Path(tmp)))
    table_view = Table(title=f"seed --scale {args.scale}, median of {args.runs}")
    for column in ("backend", "seed s", "db MiB", "daily_sales", "bulk rows/s", "core rows/s", "x"):
        table_view.add_column(column, justify="right")
    for r in results:
        table_view.add_row(
            r["backend"],
            f"{r['seed_seconds_median']:.1f}",
            f"{r['database_bytes'] / 2**20:.0f}",
            f"{r['rows']['daily_sales']:,}",
            f"{r['loader']['bulk_rows_per_s']:,.0f}",
            f"{r['loader']['core_rows_per_s']:,.0f}",
            f"{r['loader']['speedup']:.1f}",
        )
    console.print(table_view)
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
