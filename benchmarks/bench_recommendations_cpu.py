"""Benchmark: CPU time per GET /v1/recommendations, in process, for comparing two versions of
the code on a box whose other load makes wall-clock latencies say little.

Opens the app over a built world (FastAPI's TestClient: the route, its dependencies, the
exposure log and the shadow task all run in this process) and sends `--requests` requests in
the mix of `bench_recommendations_http.py` (half anonymous home grids, some sessions with a
view, a fifth product pages, the rest anonymous home grids of fresh sessions), after
`--warm` requests that load the recommender and fill the caches. Reported: the process's CPU
time (every thread's, `time.process_time`) and the wall time per request, the load average
before and after. The app loads no assistant (its background load would count as the requests'
CPU). Run it once per checkout, alternating, to compare them on the same world; PYTHONPATH
names the checkout whose app is measured, so one copy of this script measures both:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_recommendations_cpu.py --var-dir var
    PYTHONPATH=../other .venv/bin/python benchmarks/bench_recommendations_cpu.py --var-dir var

Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from worlds import load_average, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    var_dir = Path(args.var_dir).resolve()
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ["AISLE_DATABASE_URL"] = f"sqlite:///{var_dir / 'aisle.db'}"

    from fastapi.testclient import TestClient

    from api.app import create_app
    from ml_core.recommend.serving import load_catalog
    from retail.settings import get_settings
    from retail.store.open import open_store

    settings = get_settings()
    products = sorted(p for p, item in load_catalog(open_store(settings)).items() if item.online)
    rng = random.Random(args.seed)
    sessions = [f"cpu-bench-{i:05d}" for i in range(200)]

    def request(client: TestClient, i: int) -> None:
        draw = rng.random()
        if draw < 0.5:
            headers, params = {"X-Session-Id": rng.choice(sessions)}, {"placement": "home"}
        elif draw < 0.7:
            headers = {"X-Session-Id": f"cpu-fresh-{args.seed}-{i:06d}"}
            params = {"placement": "home"}
        else:
            headers = {"X-Session-Id": rng.choice(sessions)}
            params = {"placement": "product", "product_id": rng.choice(products), "k": "8"}
        response = client.get("/v1/recommendations", params=params, headers=headers)
        response.raise_for_status()

    # No assistant: its load (MiniLM, the NLU, its warm-up) would run in a background thread
    # during the measured requests and count as theirs; the placements never use it.
    load_before = load_average()
    with TestClient(create_app(settings, load_assistant=False)) as client:
        for session in sessions[::3]:  # a third of the sessions viewed something
            client.post(
                "/v1/events",
                json={"type": "view", "product_id": rng.choice(products)},
                headers={"X-Session-Id": session},
            ).raise_for_status()
        for i in range(args.warm):
            request(client, i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.requests):
            request(client, args.warm + i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    report: dict[str, Any] = {
        "benchmark": "recommendations_cpu",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "var_dir": str(var_dir),
        "code": str(Path(create_app.__code__.co_filename).parents[1]),
        "load_average": {"before": load_before, "after": load_average()},
        "requests": args.requests,
        "cpu_ms_per_request": round(cpu * 1000 / args.requests, 3),
        "wall_ms_per_request": round(wall * 1000 / args.requests, 3),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
