"""Benchmark: the shopper product-search dev set (issue 17) through the assistant, scored.

Every case of the chosen half (or both) runs through `Assistant.ask` in process, on a fresh
thread per case, as one shopper; the independent scorer (`evals/shopper_devset.py`) computes
each turn's relevant products from the database and scores what the turn showed and said.
Prints one table per half (n, success, P@5, no-match honesty, false no-match, refinement
success, exact-first, turn latency p50/p95); `--output` writes the figures and every scored
turn as JSON. The given world is never written to: the run works on a copy of it.

    .venv/bin/python benchmarks/bench_shopper_devset.py --var-dir /work/var-demo --half both
    .venv/bin/python benchmarks/bench_shopper_devset.py --var-dir VAR --set shopper-fresh --by-tag

The var dir must hold a built world (seeded, imported, RAG index, knowledge graph), as
scripts/demo.sh leaves it. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from evals.shopper_devset import SHOPPER_SETS

ROWS = (
    ("cases", "cases"),
    ("singles with matches", "singles_with_matches"),
    ("success", "success"),
    ("P@5", "p_at_5"),
    ("no-match requests", "no_match_requests"),
    ("no-match honesty", "no_match_honesty"),
    ("false no-match", "false_no_match"),
    ("follow-up turns", "follow_up_turns"),
    ("refinement success", "refinement_success"),
    ("sort turns", "sort_turns"),
    ("exact-first", "exact_first"),
    ("errors", "errors"),
    ("turn p50 ms", "turn_latency_p50_ms"),
    ("turn p95 ms", "turn_latency_p95_ms"),
)


def copy_var_dir(source: Path, target: Path) -> Path:
    """A private copy of a var dir: the database through SQLite's online backup (consistent
    while another process has it open), the rest as files, chat checkpoints left behind."""
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("aisle.db*", "checkpoints.sqlite*", "*.log"),
    )
    origin = sqlite3.connect(f"file:{source / 'aisle.db'}?mode=ro", uri=True)
    copy = sqlite3.connect(target / "aisle.db")
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", required=True, help="A built world (not written to).")
    parser.add_argument("--half", choices=["dev", "test", "both"], default="dev")
    parser.add_argument(
        "--set", dest="devset", choices=list(SHOPPER_SETS),
        default="shopper", help="Which set of shopper cases (evals/devsets/<set>).",
    )  # fmt: skip
    parser.add_argument(
        "--by-tag", action="store_true", help="Also print success per tag of the cases."
    )
    parser.add_argument("--brain", default="local")
    parser.add_argument("--shopper", default=None, help="Customer id (default: the world's).")
    parser.add_argument("--output", type=Path, default=None, help="Write the JSON here.")
    args = parser.parse_args()
    console = Console(stderr=True)
    source = Path(args.var_dir).resolve()
    if not (source / "aisle.db").is_file():
        console.print(f"No world database at {source / 'aisle.db'}.")
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="aisle-devset-") as tmp:
        var_dir = copy_var_dir(source, Path(tmp) / "var")
        os.environ["AISLE_VAR_DIR"] = str(var_dir)
        os.environ["AISLE_DATABASE_URL"] = f"sqlite:///{var_dir / 'aisle.db'}"
        report = run(args, var_dir, console)
    report["var_dir"] = str(source)
    for half, figures in report["halves"].items():
        table = Table(title=f"{args.devset} set: {half} half ({args.brain} brain)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for label, key in ROWS:
            table.add_row(label, "-" if figures[key] is None else str(figures[key]))
        Console().print(table)
        if args.by_tag:
            tags = Table(title=f"{args.devset} set: {half} half, by tag")
            for column in ("tag", "turns", "success", "false no-match"):
                tags.add_column(column, justify="left" if column == "tag" else "right")
            for tag, row in report["by_tag"][half].items():
                cells = (row["turns"], row["success"], row["false_no_match"])
                tags.add_row(tag, *(str(c) for c in cells))
            Console().print(tags)
    if report["spec_problems"]:
        console.print("spec problems on this world:\n  " + "\n  ".join(report["spec_problems"]))
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace, var_dir: Path, console: Console) -> dict[str, Any]:
    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from evals.shopper_devset import (
        HALVES,
        SHOPPER_SETS,
        Scorer,
        assistant_ask,
        load_half,
        run_case,
        spec_problems,
        summarise,
        summarise_by_tag,
    )
    from evals.world import world_facts
    from retail.settings import get_settings
    from retail.store.open import open_store
    from tools.base import Principal, Services

    settings = get_settings()
    engine = open_store(settings)
    services = Services(engine, settings)
    scorer = Scorer(engine)
    halves = list(HALVES) if args.half == "both" else [args.half]
    shopper = Principal.parse(f"shopper:{args.shopper or world_facts(engine)['shopper']}")
    report: dict[str, Any] = {
        "benchmark": "shopper_devset",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "brain": args.brain,
        "set": args.devset,
        "halves": {},
        "by_tag": {},
        "spec_problems": [],
        "turns": [],
    }
    try:
        with open_checkpointer(settings) as checkpointer:
            assistant = Assistant(services, checkpointer)
            assistant.ask(shopper, "warm-up: show me socks", brain=args.brain)
            ask = assistant_ask(assistant, shopper, args.brain)
            for half in halves:
                cases = load_half(half, SHOPPER_SETS[args.devset])
                report["spec_problems"] += spec_problems(scorer, cases)
                scores = []
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task(f"{half} half", total=len(cases))
                    for case in cases:
                        scores += run_case(scorer, case, ask, half)
                        progress.advance(task)
                report["halves"][half] = summarise(scores)
                report["by_tag"][half] = summarise_by_tag(scores)
                report["turns"] += [s.model_dump() for s in scores]
    finally:
        services.close()
        engine.dispose()
    return report


if __name__ == "__main__":
    main()
