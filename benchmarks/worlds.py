"""The generated world a benchmark reads: an existing var directory, or a fresh one seeded into a
scratch folder that is removed afterwards."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console

from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import seed_world


@contextmanager
def world_var_dir(
    var_dir: str | Path | None, *, scale: str, seed: int, console: Console
) -> Iterator[tuple[Path, float | None]]:
    """(a folder holding aisle.db and world/, the seconds spent seeding it or None if given)."""
    if var_dir:
        yield Path(var_dir), None
        return
    with TemporaryDirectory(prefix="aisle-bench-") as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        try:
            upgrade(engine)
            console.print(f"seeding the {scale} world (seed {seed}) ...")
            started = time.perf_counter()
            seed_world(
                engine, scale=scale, seed=seed, world_dir=folder / "world", show_progress=False
            )
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        yield folder, seconds


def percentiles(ms: list[float]) -> dict[str, float | int]:
    """n, p50, p95, p99 and max of latencies in milliseconds (nearest rank)."""
    if not ms:
        return {"n": 0}
    ordered = sorted(ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }
