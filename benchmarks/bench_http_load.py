"""Benchmark: concurrent shoppers chatting with `aisle serve` over HTTP (server-sent events).

Starts `aisle serve` on a free loopback port over a built world (or uses `--url`), issues one API
key per shopper (distinct customers with orders, label "bench"), then runs `--shoppers`
concurrent shoppers for `--duration` seconds. Each shopper runs the scripted multi-turn
conversations of bench_shopper_turn.py (search, refinement, a question about a shown product,
stock, a recommendation, a policy question) on fresh threads, one turn after another, with the
round number appended so no message repeats. A turn is one `POST /v1/chat` read to its `final`
event. Between turns a shopper reads and types for `--think-s` seconds on average (exponentially
distributed, seeded per shopper; the shoppers start spread over one think time): 0 sends the
next turn at once, which measures the server saturated, not people chatting.

Reported: turns, errors (non-200 answers, `error` events, transport failures), per-turn latency,
time to the first server-sent event (a `tool_start`) and to the first answer `chunk`
(p50/p95/p99), throughput, and the server's resident memory (its process and children: start,
peak, end). Baseline in the same run: one shopper alone
for `--baseline-turns` turns before the load, so the loaded figures read as ratios to it.

    .venv/bin/python benchmarks/bench_http_load.py --var-dir var --shoppers 50 --duration 120

The var dir must hold a built world (what scripts/demo.sh leaves: seeded, tau2 imported, RAG
index, knowledge graph, recommender). Only loopback is contacted. Prints one JSON document on
stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench_shopper_turn import SCRIPTS
from rich.console import Console
from worlds import REPO, percentiles, served

TURN_TIMEOUT_S = 60.0


@dataclass
class Tally:
    turn_ms: list[float] = field(default_factory=list)
    first_event_ms: list[float] = field(default_factory=list)
    first_chunk_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])


def _rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants (uvicorn may fork workers), in MiB."""
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
        todo.extend(int(c) for c in children)
    return round(total_kb / 1024, 1)


def issue_keys(var_dir: Path, count: int) -> list[str]:
    """One key per shopper: distinct generated customers with orders, most orders first."""
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("AISLE_DATABASE_URL", f"sqlite:///{var_dir / 'aisle.db'}")
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from api.auth import issue_key
    from retail.settings import get_settings
    from retail.store.models import Order
    from retail.store.open import open_store
    from tools.base import Principal

    engine = open_store(get_settings())
    try:
        with Session(engine) as session:
            customers = list(
                session.scalars(
                    select(Order.customer_id)
                    .group_by(Order.customer_id)
                    .order_by(func.count().desc(), Order.customer_id)
                    .limit(count)
                )
            )
        if not customers:
            raise SystemExit("the world has no customers with orders; seed it first")
        # Fewer customers than shoppers: some shoppers share a customer (not a thread).
        return [
            issue_key(
                engine, Principal.parse(f"shopper:{customers[i % len(customers)]}"), label="bench"
            )
            for i in range(count)
        ]
    finally:
        engine.dispose()


async def turn(
    client: httpx.AsyncClient, key: str, message: str, thread: str | None, tally: Tally
) -> str | None:
    """One streamed turn; its thread id, or None when it failed."""
    body: dict[str, Any] = {"message": message}
    if thread:
        body["thread_id"] = thread
    started = time.perf_counter()
    first: float | None = None
    first_chunk: float | None = None
    event = ""
    try:
        async with client.stream(
            "POST", "/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            if response.status_code != 200:
                await response.aread()
                tally.fail(f"{response.status_code}: {response.text}")
                return None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    if first is None:
                        first = time.perf_counter()
                    event = line.removeprefix("event: ")
                    if event == "chunk" and first_chunk is None:
                        first_chunk = time.perf_counter()
                elif line.startswith("data: ") and event in ("final", "error"):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "error":
                        tally.fail(f"error event: {data.get('detail')}")
                        return None
                    ended = time.perf_counter()
                    tally.turn_ms.append((ended - started) * 1000)
                    tally.first_event_ms.append(((first or ended) - started) * 1000)
                    tally.first_chunk_ms.append(((first_chunk or ended) - started) * 1000)
                    return str(data["thread_id"])
    except httpx.HTTPError as exc:
        tally.fail(f"{type(exc).__name__}: {exc}")
        return None
    tally.fail("the stream ended without a final event")
    return None


async def shopper(
    client: httpx.AsyncClient,
    key: str,
    index: int,
    deadline: float,
    tally: Tally,
    rounds: int | None = None,
    think_s: float = 0.0,
) -> None:
    """Run the scripts, from a different one per shopper, until the deadline (or `rounds` turns),
    thinking `think_s` seconds on average before each turn."""
    rng = random.Random(index)

    async def think() -> None:
        if think_s > 0:
            await asyncio.sleep(rng.expovariate(1.0 / think_s))

    if think_s > 0:
        await asyncio.sleep(rng.uniform(0, think_s))  # people do not all arrive at once
    done, round_no = 0, 0
    while time.perf_counter() < deadline and (rounds is None or done < rounds):
        script = SCRIPTS[(index + round_no) % len(SCRIPTS)]
        thread = None
        for message in script:
            if time.perf_counter() >= deadline or (rounds is not None and done >= rounds):
                return
            thread = await turn(client, key, f"{message} ({index}.{round_no})", thread, tally)
            done += 1
            await think()
            if thread is None:
                break
        round_no += 1


async def run_load(
    base: str, keys: list[str], duration: float, think_s: float, tally: Tally
) -> float:
    limits = httpx.Limits(max_connections=len(keys) + 5, max_keepalive_connections=len(keys) + 5)
    async with httpx.AsyncClient(base_url=base, timeout=TURN_TIMEOUT_S, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(shopper(client, k, i, deadline, tally, think_s=think_s) for i, k in enumerate(keys))
        )
        return time.perf_counter() - started


async def run_baseline(base: str, key: str, turns: int, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=TURN_TIMEOUT_S) as client:
        await shopper(client, key, 0, time.perf_counter() + 600, tally, rounds=turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument("--url", default=None, help="A running server instead of starting one.")
    parser.add_argument("--server-pid", type=int, default=None, help="Its pid, for memory.")
    parser.add_argument("--shoppers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="Seconds of load.")
    parser.add_argument("--baseline-turns", type=int, default=20)
    parser.add_argument(
        "--think-s", type=float, default=0.0, help="Mean seconds a shopper waits between turns."
    )
    args = parser.parse_args()
    console = Console(stderr=True)
    var_dir = Path(args.var_dir).resolve()

    keys = issue_keys(var_dir, args.shoppers)

    def measure(base: str, pid: int | None) -> dict[str, Any]:
        rss_start = _rss_mb(pid) if pid else None
        # Every script once: the first call of each tool loads what it needs (the recommender,
        # the knowledge graph), which is start-up cost, not a turn's.
        asyncio.run(run_baseline(base, keys[0], sum(len(s) for s in SCRIPTS), Tally()))
        baseline = Tally()
        console.print(f"baseline: one shopper, {args.baseline_turns} turns ...")
        asyncio.run(run_baseline(base, keys[0], args.baseline_turns, baseline))
        console.print(f"load: {args.shoppers} shoppers for {args.duration:.0f} s ...")
        tally = Tally()
        peak = [rss_start or 0.0]

        async def sample_rss(stop: asyncio.Event) -> None:
            while not stop.is_set():
                if pid:
                    peak[0] = max(peak[0], _rss_mb(pid))
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        async def loaded() -> float:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(stop))
            try:
                return await run_load(base, keys, args.duration, args.think_s, tally)
            finally:
                stop.set()
                await sampler

        elapsed = asyncio.run(loaded())
        base_p50 = statistics.median(baseline.turn_ms) if baseline.turn_ms else None
        load_turns = percentiles(tally.turn_ms)
        return {
            "baseline_single_shopper": {
                "turn": percentiles(baseline.turn_ms),
                "first_event": percentiles(baseline.first_event_ms),
                "first_chunk": percentiles(baseline.first_chunk_ms),
                "errors": baseline.errors,
            },
            "turns": len(tally.turn_ms),
            "errors": tally.errors,
            "error_samples": tally.error_samples,
            "turns_per_s": round(len(tally.turn_ms) / elapsed, 2),
            "turn": load_turns,
            "first_event": percentiles(tally.first_event_ms),
            "first_chunk": percentiles(tally.first_chunk_ms),
            "p95_over_baseline_p50": round(float(load_turns["p95_ms"]) / base_p50, 2)
            if base_p50 and tally.turn_ms
            else None,
            "server_rss_mb": {
                "start": rss_start,
                "peak": peak[0] if pid else None,
                "end": _rss_mb(pid) if pid else None,
            },
        }

    if args.url:
        figures = measure(args.url.rstrip("/"), args.server_pid)
    else:
        env = {
            **os.environ,
            "AISLE_VAR_DIR": str(var_dir),
            "AISLE_DATABASE_URL": os.environ.get(
                "AISLE_DATABASE_URL", f"sqlite:///{var_dir / 'aisle.db'}"
            ),
            "AISLE_ENVIRONMENT": "dev",
        }
        aisle_serve = [str(REPO / ".venv" / "bin" / "aisle"), "serve"]
        with served(aisle_serve, env, var_dir / "bench_http_load.log", console) as (base, pid):
            figures = measure(base, pid)
    report = {
        "benchmark": "http_load",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "world": str(var_dir),
        "shoppers": args.shoppers,
        "duration_s": args.duration,
        "think_s": args.think_s,
        "brain": "local",
        **figures,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
