"""Benchmark: one shopper turn with the local brain, in process, end to end.

A turn is what `aisle ask` and the chat API run: the LangGraph conversation graph with its
checkpointer (SQLite), the local brain's NLU, the tool calls through `invoke` (grant check and a
committed audit event each), the grounded composition, the grounding guard and its audit event.
Scripted multi-turn conversations (search, refinement, a question about a shown product, stock,
a recommendation, a policy question) run `--rounds` times on fresh threads; every message is new
text each round (a round number is appended), so no embedding is served from a cache.

Baseline in the same run: the turn's tool call alone (`invoke` of search_products with the same
arguments), which is what any brain must spend; the ratio is the agent's own overhead.

    .venv/bin/python benchmarks/bench_shopper_turn.py --var-dir var --rounds 5

The var dir must hold a built world (what scripts/demo.sh leaves: seeded, imported, RAG index,
knowledge graph, recommender). Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress
from worlds import percentiles

if TYPE_CHECKING:
    from sqlalchemy import Engine

SCRIPTS: list[list[str]] = [
    [
        "show me a warm jacket",
        "in blue",
        "tell me about the first one",
        "is it in stock at my store",
    ],
    ["do you have hiking boots under 150", "cheaper", "compare the first two"],
    ["recommend something for me", "what goes with the first one"],
    ["looking for a water bottle", "what's your return policy"],
    ["I need running shoes", "size 10", "tell me more about the second one"],
]
# Turns whose cost the goal is about: a search or a recommendation, and its composition.
SHOPPER_TURN_TOOLS = {"search_products", "recommend_for_me"}


def busiest_shopper(engine: Engine) -> str:
    """The generated customer with the most orders: the shopper whose turns are timed."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from retail.store.models import Order

    with Session(engine) as session:
        return session.scalars(
            select(Order.customer_id)
            .where(Order.source == "generated")
            .group_by(Order.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (scripts/demo.sh's var).")
    parser.add_argument("--rounds", type=int, default=5, help="How often every script runs.")
    parser.add_argument("--shopper", default=None, help="Customer id (default: one with orders).")
    args = parser.parse_args()
    console = Console(stderr=True)

    var_dir = Path(args.var_dir).resolve()
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("AISLE_DATABASE_URL", f"sqlite:///{var_dir / 'aisle.db'}")

    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from retail.settings import get_settings
    from retail.store.open import open_store
    from tools.base import Principal, Services, ToolContext, invoke

    settings = get_settings()
    engine = open_store(settings)
    shopper = Principal.parse(f"shopper:{args.shopper or busiest_shopper(engine)}")
    services = Services(engine, settings)
    turns: dict[str, list[float]] = {"shopper_turn": [], "other_turn": []}
    baseline: list[float] = []
    started_load = time.perf_counter()
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        load_s = time.perf_counter() - started_load
        assistant.ask(shopper, "warm-up: show me socks")  # first-call costs (index open, JIT)
        total = args.rounds * sum(len(s) for s in SCRIPTS)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("shopper turns", total=total)
            for round_no in range(args.rounds):
                for script in SCRIPTS:
                    thread = None
                    for message in script:
                        text = f"{message} ({round_no})" if round_no else message
                        result = assistant.ask(shopper, text, thread_id=thread)
                        thread = result.thread_id
                        names = {c.name for c in result.tool_calls}
                        kind = "shopper_turn" if names & SHOPPER_TURN_TOOLS else "other_turn"
                        turns[kind].append(result.latency_ms)
                        search = next(
                            (c for c in result.tool_calls if c.name == "search_products"), None
                        )
                        if search is not None:
                            # The same search on its own, with a query the cache has not seen.
                            ctx = ToolContext(principal=shopper, services=services)
                            args_ = {**search.args, "query": f"{search.args.get('query', '')} x"}
                            t0 = time.perf_counter()
                            invoke(ctx, "search_products", args_)
                            baseline.append((time.perf_counter() - t0) * 1000)
                        progress.advance(task)
    services.close()
    engine.dispose()
    report: dict[str, Any] = {
        "benchmark": "shopper_turn",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "var_dir": str(var_dir),
        "rounds": args.rounds,
        "assistant_load_s": round(load_s, 2),
        "shopper_turn": percentiles(turns["shopper_turn"]),
        "other_turn": percentiles(turns["other_turn"]),
        "baseline_search_tool_alone": percentiles(baseline),
    }
    report["overhead_ratio_p50"] = round(
        report["shopper_turn"]["p50_ms"] / report["baseline_search_tool_alone"]["p50_ms"], 2
    )
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
