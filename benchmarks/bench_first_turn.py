"""Benchmark: the first chat turns after `aisle serve` says ready, against later ones.

For each checkout given (`--code`, default this one; give main's too for a baseline in the same
run), starts `aisle serve` from it over the same built world, `--starts` times,
alternating between checkouts so the machine's load falls on both alike. Each start: the seconds
from launch to `/ready` answering 200, then at once one turn of each kind (a search, a policy
question, a recommendation) on fresh threads: the first of each kind after start-up; then
`--rounds` more rounds of the same kinds, the round number appended so no message repeats: the
later turns. A turn is one `POST /v1/chat` read to its `final` event (bench_http_load.py's).

    .venv/bin/python benchmarks/bench_first_turn.py --var-dir var --code . /path/to/main

Goal (issue 23): the first turn after start at most 300 ms, as fast as the later ones. The var
dir must hold a built world (what scripts/demo.sh leaves). Only loopback is contacted. Prints
one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from bench_http_load import TURN_TIMEOUT_S, Tally, issue_keys, turn
from rich.console import Console
from worlds import REPO, load_average, machine, percentiles, served

# `aisle serve` from whichever checkout is first on the path (the `aisle` script of a venv
# imports the one installed there).
SERVE = "import sys; from api.cli import main; sys.argv = ['aisle', *sys.argv[1:]]; main()"
# One message per kind; the first of each after start-up is what a cold server pays for.
KINDS = {
    "search": "show me a warm jacket",
    "policy": "what's your return policy",
    "recommendation": "recommend something for me",
}


async def one_round(base: str, key: str, suffix: str) -> dict[str, float]:
    """One turn of each kind, in order, each on a fresh thread: its latency in ms."""
    got: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, timeout=TURN_TIMEOUT_S) as client:
        for kind, message in KINDS.items():
            tally = Tally()
            await turn(client, key, f"{message}{suffix}", None, tally)
            if tally.errors:
                raise SystemExit(f"a {kind} turn failed: {tally.error_samples}")
            got[kind] = tally.turn_ms[0]
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument(
        "--code", nargs="+", default=[str(REPO)], help="Checkouts to serve from, in turn."
    )
    parser.add_argument("--starts", type=int, default=3, help="Server starts per checkout.")
    parser.add_argument("--rounds", type=int, default=4, help="Later rounds after the first.")
    args = parser.parse_args()
    console = Console(stderr=True)
    var_dir = Path(args.var_dir).resolve()
    key = issue_keys(var_dir, 1)[0]
    env = {
        **os.environ,
        "AISLE_VAR_DIR": str(var_dir),
        "AISLE_DATABASE_URL": f"sqlite:///{var_dir / 'aisle.db'}",
        "AISLE_ENVIRONMENT": "dev",
    }
    runs: dict[str, list[dict[str, Any]]] = {code: [] for code in args.code}
    for start in range(args.starts):
        for code in args.code:
            checkout = Path(code).resolve()
            revision = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            console.print(f"start {start + 1}/{args.starts}: {checkout} ({revision})")
            launched = time.perf_counter()
            command = [sys.executable, "-c", SERVE, "serve"]
            log = var_dir / "bench_first_turn.log"
            with served(
                command, {**env, "PYTHONPATH": str(checkout)}, log, console, cwd=checkout
            ) as (
                base,
                _pid,
            ):
                ready_s = time.perf_counter() - launched
                load = load_average()
                first = asyncio.run(one_round(base, key, ""))
                later = [
                    asyncio.run(one_round(base, key, f" {r}")) for r in range(2, args.rounds + 2)
                ]
            runs[code].append(
                {
                    "revision": revision,
                    "ready_s": round(ready_s, 1),
                    "load_average": load,
                    "first": {k: round(v, 1) for k, v in first.items()},
                    "later": [{k: round(v, 1) for k, v in r.items()} for r in later],
                }
            )
    summary = {}
    for code, starts in runs.items():
        summary[code] = {
            "revision": starts[0]["revision"],
            "ready_s_median": statistics.median(s["ready_s"] for s in starts),
            "first_turn_ms_median": statistics.median(s["first"]["search"] for s in starts),
            "first_of_kind": {
                kind: percentiles([s["first"][kind] for s in starts]) for kind in KINDS
            },
            "later_of_kind": {
                kind: percentiles([r[kind] for s in starts for r in s["later"]]) for kind in KINDS
            },
        }
    report = {
        "benchmark": "first_turn",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "world": str(var_dir),
        "summary": summary,
        "runs": runs,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
