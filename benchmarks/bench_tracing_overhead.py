"""Benchmark: what OpenTelemetry tracing costs a shopper turn (local brain, in process).

The shopper scripts of `bench_shopper_turn.py` run in rounds that alternate between tracing off
(no tracer provider: every span is the API's no-op) and tracing on (the SDK's provider with a
batch span processor exporting to an in-memory sink, as a collector would be fed), so that load
from anything else on the machine falls on both alike. Every message is new text each round.
The goal: tracing on costs at most 5% of a turn's p50.

    .venv/bin/python benchmarks/bench_tracing_overhead.py --var-dir var --rounds 6

The var dir must hold a built world (what scripts/demo.sh leaves). The turns write audit events
and chat checkpoints there: use a copy of a world you care about. Prints one JSON document on
stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench_shopper_turn import SCRIPTS, busiest_shopper
from rich.console import Console
from rich.progress import Progress
from worlds import percentiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world (a copy: turns write).")
    parser.add_argument("--rounds", type=int, default=6, help="Rounds, alternately off and on.")
    args = parser.parse_args()
    console = Console(stderr=True)

    var_dir = Path(args.var_dir).resolve()
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("AISLE_DATABASE_URL", f"sqlite:///{var_dir / 'aisle.db'}")
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        os.environ.pop(name, None)
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.test.globals_test import reset_trace_globals

    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from retail.settings import get_settings
    from retail.store.open import open_store
    from tools.base import Principal, Services

    settings = get_settings()
    engine = open_store(settings)
    shopper = Principal.parse(f"shopper:{busiest_shopper(engine)}")
    services = Services(engine, settings)
    turns: dict[str, list[float]] = {"off": [], "on": []}
    spans_on = 0
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        assistant.ask(shopper, "warm-up: show me socks")  # first-call costs (index open, JIT)
        total = args.rounds * sum(len(s) for s in SCRIPTS)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("shopper turns, tracing off/on", total=total)
            for round_no in range(args.rounds):
                mode = "on" if round_no % 2 else "off"
                reset_trace_globals()
                provider = None
                if mode == "on":
                    # A fresh sink each round: shutting a provider down stops its exporter.
                    exporter = InMemorySpanExporter()
                    provider = TracerProvider()
                    provider.add_span_processor(BatchSpanProcessor(exporter))
                    trace.set_tracer_provider(provider)
                for script in SCRIPTS:
                    thread = None
                    for message in script:
                        result = assistant.ask(shopper, f"{message} ({round_no})", thread_id=thread)
                        thread = result.thread_id
                        turns[mode].append(result.latency_ms)
                        progress.advance(task)
                if provider is not None:
                    provider.force_flush()
                    spans_on += len(exporter.get_finished_spans())
                    provider.shutdown()
    services.close()
    engine.dispose()
    off, on = percentiles(turns["off"]), percentiles(turns["on"])
    report: dict[str, Any] = {
        "benchmark": "tracing_overhead",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "var_dir": str(var_dir),
        "rounds": args.rounds,
        "tracing_off": off,
        "tracing_on": on,
        "spans_per_traced_turn": round(spans_on / max(len(turns["on"]), 1), 2),
        "p50_cost": round(on["p50_ms"] / off["p50_ms"] - 1.0, 4),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
