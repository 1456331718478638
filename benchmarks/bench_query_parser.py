"""Benchmark: what reading a shopper's request costs (issue 17), beside a whole turn.

Builds the local brain's query parser on a world's vocabulary, as the assistant does at
start-up, then reads every request of the shopper dev set (`--half`, every turn) `--passes`
times: the parser's own cost per request (regular expressions, the catalogue's words, rapidfuzz
spelling, and the MiniLM embedding of a word that names no known type, cached per process
after its first use). The same requests then run as whole assistant turns (`Assistant.ask`, a
new thread each), the baseline the parser's share is read against. Prints medians and p95s as
JSON. The world is copied first, so it is never written to.

    .venv/bin/python benchmarks/bench_query_parser.py --var-dir /work/var-demo --passes 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from bench_shopper_devset import copy_var_dir

DEVSET = Path(__file__).resolve().parents[1] / "evals" / "devsets" / "shopper"


def requests(halves: tuple[str, ...] = ("dev", "test")) -> list[str]:
    """Every message of the dev set's halves, in order."""
    said: list[str] = []
    for half in halves:
        data = yaml.safe_load((DEVSET / f"{half}.yaml").read_text(encoding="utf-8"))
        for case in data["cases"]:
            said.extend([case["say"]] if "say" in case else [t["say"] for t in case["turns"]])
    return said


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--shopper", default="olivia_ito_3591")
    parser.add_argument(
        "--half", choices=["dev", "test", "both"], default="both", help="Whose requests to read."
    )
    args = parser.parse_args(argv)

    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from retail.settings import Settings
    from retail.store.db import make_engine
    from tools.base import Principal, Services

    said = requests(("dev", "test") if args.half == "both" else (args.half,))
    with tempfile.TemporaryDirectory() as scratch:
        var = copy_var_dir(args.var_dir, Path(scratch) / "var")
        settings = Settings(var_dir=var)
        services = Services(make_engine(settings.resolved_database_url), settings)
        with open_checkpointer(settings) as checkpointer:
            assistant = Assistant(services, checkpointer)
            queries = assistant.local.nlu.queries
            for text in said:  # the first read of a word embeds it; later reads hit the cache
                queries.read(text)
            pass_medians: list[float] = []
            reads: list[float] = []
            for n in range(args.passes):
                this_pass = []
                for text in said:
                    started = time.perf_counter()
                    queries.read(text)
                    this_pass.append((time.perf_counter() - started) * 1000.0)
                pass_medians.append(statistics.median(this_pass))
                reads.extend(this_pass)
                sys.stderr.write(f"parser pass {n + 1}/{args.passes}\n")
            shopper = Principal.parse(f"shopper:{args.shopper}")
            turns: list[float] = []
            for text in said:
                started = time.perf_counter()
                assistant.ask(shopper, text)
                turns.append((time.perf_counter() - started) * 1000.0)
        services.close()
    report: dict[str, Any] = {
        "benchmark": "query_parser",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "requests": len(said),
        "passes": args.passes,
        "parse_ms": {
            "median_of_pass_medians": round(statistics.median(pass_medians), 3),
            "p95": round(percentile(reads, 0.95), 3),
            "max": round(max(reads), 3),
        },
        "turn_ms": {
            "p50": round(statistics.median(turns), 1),
            "p95": round(percentile(turns, 0.95), 1),
        },
    }
    report["parser_share_of_p50_turn"] = round(
        report["parse_ms"]["median_of_pass_medians"] / report["turn_ms"]["p50"], 4
    )
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
