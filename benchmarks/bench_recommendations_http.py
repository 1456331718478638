"""Benchmark: GET /v1/recommendations at a fixed request rate on one server process, and how
long an event takes to reach the next recommendation through Redis.

Starts two uvicorn processes (one worker each) over a built world, both with `AISLE_REDIS_URL`,
so they share profiles and the event log as several serving processes would. Then:

1. Baseline: `GET /health` on server A at `--rate` requests a second for `--duration` seconds.
2. Load: `GET /v1/recommendations` on server A at the same rate and duration, an open loop (a
   request is sent on schedule whether or not earlier ones have answered; latency runs from its
   scheduled time, so a server falling behind shows as queueing, not as fewer requests). The mix:
   half anonymous visitors' home grids (a pool of sessions, some with events), a fifth signed-in
   shoppers' home grids, the rest product pages (`complete the look`).
3. Event to update: `--tries` times, a fresh anonymous session reads its home grid on server B,
   posts a view of a product to server A, then polls server B's home grid until a reason names
   the product; the time from posting to that answer.

Reported: per phase n, errors (anything but 200 or 202, and transport failures), p50/p95/p99/max
latency, the achieved rate and the CPU time server A spent per request over the phase (all its
threads', from /proc: what one process can sustain, and far less disturbed by the box's other
load than the latencies); the load average before and after; the machine. `--code` serves
another checkout (its code, this client and world) to compare two versions on the same box.
Goals (issue 20): p99 <= 50 ms at 200 requests a second, 0 errors; event to update <= 100 ms.

    .venv/bin/python benchmarks/bench_recommendations_http.py --var-dir var --rate 200 --duration 30

The var dir must hold a built world with a trained recommender, the RAG index and the knowledge
graph (what scripts/demo.sh leaves; /ready needs them). Redis must listen at `--redis-url`. Only
loopback is contacted. Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from bench_http_load import issue_keys
from rich.console import Console
from worlds import REPO, load_average, machine, percentiles, served

REQUEST_TIMEOUT_S = 10.0
SESSIONS = 500


@dataclass
class Tally:
    ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])

    def report(self, seconds: float | None = None) -> dict[str, Any]:
        """Percentiles and errors; with the phase's `seconds`, the rate it achieved."""
        found: dict[str, Any] = {
            **percentiles(self.ms),
            "errors": self.errors,
            "error_samples": self.error_samples,
        }
        if seconds:
            found["achieved_rps"] = round((len(self.ms) + self.errors) / seconds, 1)
        return found


def cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU seconds of process `pid` so far (None: no pid, or no /proc)."""
    if pid is None:
        return None
    try:
        # The fields after the command name (which may hold spaces), from its closing paren.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spent_since(
    cpu: float | None, pid: int | None, tally: Tally
) -> tuple[float | None, float | None]:
    """(server `pid`'s CPU seconds now, the CPU ms per request of `tally` since `cpu`)."""
    now = cpu_seconds(pid)
    count = len(tally.ms) + tally.errors
    if cpu is None or now is None or not count:
        return now, None
    return now, round((now - cpu) * 1000 / count, 3)


def world_facts(var_dir: Path, shoppers: int) -> tuple[list[str], list[str]]:
    """(API keys of the shoppers with the most orders, product ids on sale online)."""
    keys = issue_keys(var_dir, shoppers)  # also points the settings at var_dir
    from ml_core.recommend.serving import load_catalog
    from retail.settings import get_settings
    from retail.store.open import open_store

    engine = open_store(get_settings())
    try:
        products = sorted(i for i, item in load_catalog(engine).items() if item.online)
    finally:
        engine.dispose()
    if not products:
        raise SystemExit("the world has no products on sale online; build it first")
    return keys, products


async def open_loop(
    session: aiohttp.ClientSession,
    rate: float,
    duration: float,
    request: Any,
) -> tuple[Tally, float]:
    """Send `request(session, i)` at `rate` a second for `duration` seconds; latencies from each
    request's scheduled time. A request is started when its time comes (aiohttp: httpx's pool
    spends more CPU per request than a 2-core box can spare at 200 a second)."""
    tally = Tally()
    count = int(rate * duration)
    started = time.perf_counter()

    async def one(scheduled: float, i: int) -> None:
        try:
            async with request(session, i) as response:
                body = await response.read()
                code = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
            return
        if code not in (200, 202):
            tally.fail(f"{code}: {body[:200]!r}")
            return
        tally.ms.append((time.perf_counter() - scheduled) * 1000)

    tasks = []
    for i in range(count):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, i)))
    await asyncio.gather(*tasks)
    return tally, time.perf_counter() - started


def recommendation_mix(
    keys: list[str], products: list[str], seed: int
) -> tuple[Any, list[tuple[dict[str, str], dict[str, Any]]]]:
    """The load's requests, drawn once (seeded): (headers, query) pairs, and the sender."""
    rng = random.Random(seed)
    sessions = [f"bench-{seed}-{i:05d}" for i in range(SESSIONS)]
    plan: list[tuple[dict[str, str], dict[str, Any]]] = []
    for _ in range(100_000):
        draw = rng.random()
        if draw < 0.5:
            plan.append(({"X-Session-Id": rng.choice(sessions)}, {"placement": "home", "k": 8}))
        elif draw < 0.7:
            plan.append(({"X-API-Key": rng.choice(keys)}, {"placement": "home", "k": 8}))
        else:
            query = {"placement": "product", "product_id": rng.choice(products), "k": 8}
            plan.append(({"X-Session-Id": rng.choice(sessions)}, query))

    def send(session: aiohttp.ClientSession, i: int) -> Any:
        headers, query = plan[i % len(plan)]
        return session.get("/v1/recommendations", params=query, headers=headers)

    return send, plan


async def warm_sessions(client: httpx.AsyncClient, products: list[str], seed: int) -> None:
    """Give a third of the load's sessions a few views, so their grids are personal."""
    rng = random.Random(seed + 1)
    for i in range(0, SESSIONS, 3):
        headers = {"X-Session-Id": f"bench-{seed}-{i:05d}"}
        for product in rng.sample(products, 3):
            response = await client.post(
                "/v1/events", json={"type": "view", "product_id": product}, headers=headers
            )
            response.raise_for_status()


async def event_to_update(
    first: str, second: str, products: list[str], tries: int, seed: int
) -> tuple[Tally, int]:
    """Post a view to `first`, poll `second` until a reason names the product; (latencies,
    polls per try summed)."""
    rng = random.Random(seed + 2)
    tally = Tally()
    polls = 0
    async with (
        httpx.AsyncClient(base_url=first, timeout=REQUEST_TIMEOUT_S) as a,
        httpx.AsyncClient(base_url=second, timeout=REQUEST_TIMEOUT_S) as b,
    ):
        for attempt in range(tries):
            headers = {"X-Session-Id": f"update-{seed}-{attempt:05d}"}
            home = {"placement": "home", "k": 8}
            cold = (await b.get("/v1/recommendations", params=home, headers=headers)).json()
            shown = {i["product_id"] for i in cold["items"]}
            product = rng.choice([p for p in products if p not in shown])
            name = await product_name(b, product)
            started = time.perf_counter()
            posted = await a.post(
                "/v1/events", json={"type": "view", "product_id": product}, headers=headers
            )
            if posted.status_code != 202:
                tally.fail(f"{posted.status_code}: {posted.text}")
                continue
            while time.perf_counter() - started < 5.0:
                polls += 1
                answer = await b.get("/v1/recommendations", params=home, headers=headers)
                items = answer.json()["items"]
                if any(name in i["reason"] for i in items):
                    tally.ms.append((time.perf_counter() - started) * 1000)
                    break
            else:
                tally.fail(f"no update for {product} within 5 s")
    return tally, polls


async def product_name(client: httpx.AsyncClient, product_id: str) -> str:
    response = await client.get(f"/v1/products/{product_id}")
    response.raise_for_status()
    name: str = response.json()["name"]
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rate", type=float, default=200.0, help="Requests a second.")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds per phase.")
    parser.add_argument("--tries", type=int, default=200, help="Event-to-update tries.")
    parser.add_argument("--shoppers", type=int, default=50, help="Signed-in shoppers' keys.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--urls", nargs=2, default=None, help="Two running servers (sharing Redis) to use."
    )
    parser.add_argument("--code", default=str(REPO), help="The checkout to serve from.")
    args = parser.parse_args()
    console = Console(stderr=True)
    var_dir = Path(args.var_dir).resolve()
    code = Path(args.code).resolve()
    keys, products = world_facts(var_dir, args.shoppers)
    env = {
        **os.environ,
        # The checkout first; what PYTHONPATH already names (extra packages) after it.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
        "AISLE_VAR_DIR": str(var_dir),
        "AISLE_DATABASE_URL": f"sqlite:///{var_dir / 'aisle.db'}",
        "AISLE_REDIS_URL": args.redis_url,
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    uvicorn += ["--host", "127.0.0.1", "--workers", "1", "--log-level", "warning"]
    send, _ = recommendation_mix(keys, products, args.seed)

    def health(session: aiohttp.ClientSession, i: int) -> Any:
        return session.get("/health")

    async def measure(first: str, second: str, pid: int | None) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(
            base_url=first, timeout=REQUEST_TIMEOUT_S, limits=limits
        ) as client:
            # The first recommendation loads the recommender: start-up, not a request's cost.
            for headers, query in (
                ({"X-Session-Id": "bench-warm-0001"}, {"placement": "home"}),
                ({"X-API-Key": keys[0]}, {"placement": "home"}),
                (
                    {"X-Session-Id": "bench-warm-0001"},
                    {"placement": "product", "product_id": products[0]},
                ),
            ):
                (
                    await client.get("/v1/recommendations", params=query, headers=headers)
                ).raise_for_status()
            await warm_sessions(client, products, args.seed)
        async with aiohttp.ClientSession(
            base_url=first,
            connector=aiohttp.TCPConnector(limit=400),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as session:
            console.print(
                f"baseline: GET /health at {args.rate:.0f}/s for {args.duration:.0f} s ..."
            )
            cpu = cpu_seconds(pid)
            baseline, seconds = await open_loop(session, args.rate, args.duration, health)
            baseline_report = baseline.report(seconds)
            cpu, baseline_report["server_cpu_ms_per_request"] = spent_since(cpu, pid, baseline)
            console.print(f"load: GET /v1/recommendations at {args.rate:.0f}/s ...")
            load, seconds = await open_loop(session, args.rate, args.duration, send)
            load_report = load.report(seconds)
            _, load_report["server_cpu_ms_per_request"] = spent_since(cpu, pid, load)
        async with httpx.AsyncClient(base_url=second, timeout=REQUEST_TIMEOUT_S) as other:
            (
                await other.get(
                    "/v1/recommendations",
                    params={"placement": "home"},
                    headers={"X-Session-Id": "bench-warm-0002"},
                )
            ).raise_for_status()
        console.print(f"event to update through Redis: {args.tries} tries ...")
        update, polls = await event_to_update(first, second, products, args.tries, args.seed)
        return {
            "baseline_health": baseline_report,
            "recommendations": load_report,
            "event_to_update": {
                **update.report(),
                "polls_per_try": round(polls / max(1, args.tries), 2),
            },
        }

    logs = var_dir / "bench_recommendations_http"
    logs.mkdir(exist_ok=True)
    load_before = load_average()
    with ExitStack() as stack:
        pid = None
        if args.urls:
            first, second = args.urls
        else:
            a_log, b_log = logs / "a.log", logs / "b.log"
            first, pid = stack.enter_context(served(uvicorn, env, a_log, console, cwd=code))
            second, _ = stack.enter_context(served(uvicorn, env, b_log, console, cwd=code))
        results = asyncio.run(measure(first, second, pid))
    report = {
        "benchmark": "recommendations_http",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "var_dir": str(var_dir),
        "code": str(code),
        "load_average": {"before": load_before, "after": load_average()},
        **results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
