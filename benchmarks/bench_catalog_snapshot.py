"""Benchmark: what keeping the recommender's catalogue snapshot current costs, and how stale it
can be.

Over a built world (the var dir of scripts/demo.sh), in one process:
1. the version check a serving process makes every `catalog_check_s` (`retail.catalog_version`
   read and today's date): the steady cost;
2. the catalogue read alone (`load_catalog`) and a full reload (`RecommendationService.
   refresh_stock`: the read, the item index's payloads of the items that moved, the swap) after
   a write moved the version: what the one request that notices a write pays, and the second
   half of the staleness bound (`catalog_check_s` + one reload);
3. the end to end: an inventory write (the version moved, as a feed load does) followed by
   `follow_catalog` until it reloads, with `catalog_check_s` as configured.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_catalog_snapshot.py --var-dir var --repeats 20

Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from worlds import machine, percentiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    var_dir = Path(args.var_dir).resolve()
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ["AISLE_DATABASE_URL"] = f"sqlite:///{var_dir / 'aisle.db'}"

    from retail import catalog_version
    from retail.settings import get_settings
    from retail.store.open import open_store

    settings = get_settings()
    engine = open_store(settings)
    from ml_core.recommend.serving import RecommendationService, catalog_stamp, load_catalog

    service = RecommendationService(engine, settings)

    def timed(step: Any) -> list[float]:
        found = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step()
            found.append((time.perf_counter() - start) * 1000)
        return found

    def bump() -> None:
        with engine.begin() as conn:
            catalog_version.bump(conn)

    def reload() -> None:
        bump()
        service.refresh_stock()

    check = timed(lambda: catalog_stamp(engine))
    read = timed(lambda: load_catalog(engine))
    full = timed(reload)
    # End to end: a write, then the check a request makes until one reloads.
    to_fresh = []
    for _ in range(args.repeats):
        bump()
        start = time.perf_counter()
        while not service.follow_catalog():
            time.sleep(0.001)
        to_fresh.append((time.perf_counter() - start) * 1000)
    service.close()
    report = {
        "benchmark": "catalog_snapshot",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "var_dir": str(var_dir),
        "products": len(service.catalog),
        "catalog_check_s": settings.catalog_check_s,
        "version_check_ms": percentiles(check),
        "load_catalog_ms": percentiles(read),
        "reload_ms": percentiles(full),
        "write_to_fresh_snapshot_ms": percentiles(to_fresh),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
