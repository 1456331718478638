"""Benchmark: tau2-style order tasks (evals/devsets/orders) through the shopper assistant.

Each task's customer sends their whole request, answers the assistant's questions from the
task's script, and says "yes" only to a confirmation stating exactly gold actions. The final
state of the customer's orders, payment methods and default address is compared with the state
tau2's rules give after the gold actions (evals/order_tasks.py, independent of the tools). The
world is copied first: the given var dir is never written.

    .venv/bin/python benchmarks/bench_order_tasks.py --var-dir /work/var-demo --half both

Prints one JSON document on stdout: per half, the pass rate on single-write tasks and on all
tasks, the tasks that ended in a write the gold actions do not make, and turn latency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from worlds import percentiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default="var", help="A built world with tau2 imported.")
    parser.add_argument("--half", choices=("dev", "test", "both"), default="dev")
    parser.add_argument("--db-json", default="../shared/data/tau2_retail/db.json")
    parser.add_argument("--only", default=None, help="Run the tasks whose id starts with this.")
    parser.add_argument(
        "--tasks", default=None, help="Another task file in the same format (default: the dev set)."
    )
    parser.add_argument("--transcripts", action="store_true", help="Failed transcripts to stderr.")
    args = parser.parse_args()

    source = Path(args.var_dir).resolve()
    work = Path(tempfile.mkdtemp(prefix="order-tasks-"))
    var_dir = work / "var"
    shutil.copytree(source, var_dir)
    os.environ["AISLE_VAR_DIR"] = str(var_dir)
    os.environ["AISLE_DATABASE_URL"] = f"sqlite:///{var_dir / 'aisle.db'}"

    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from evals.order_tasks import load_tasks, run_task
    from retail.settings import get_settings
    from retail.store.open import open_store
    from tools.base import Principal, Services

    db = json.loads(Path(args.db_json).read_text())
    halves = ("dev", "test") if args.half == "both" else (args.half,)
    every = load_tasks(Path(args.tasks)) if args.tasks else load_tasks()
    tasks = [t for t in every if t.half in halves]
    if args.only:
        tasks = [t for t in tasks if t.id.startswith(args.only)]
    settings = get_settings()
    engine = open_store(settings)
    services = Services(engine, settings)
    runs = []
    try:
        with open_checkpointer(settings) as checkpointer:
            assistant = Assistant(services, checkpointer)
            for task in tasks:
                shopper = Principal.parse(f"shopper:{task.user}")

                def ask(message: str, thread: str | None, who: Principal = shopper) -> Any:
                    return assistant.ask(who, message, thread_id=thread)

                run = run_task(engine, db, task, ask)
                if run is None:
                    raise SystemExit(
                        f"{task.id}: the world's records of {task.user} are not db.json's"
                    )
                runs.append(run)
                if args.transcripts and not run.passed:
                    sys.stderr.write(
                        f"--- {task.id} FAIL {run.differences} extra={run.extraneous}\n"
                    )
                    for said, answer in run.transcript:
                        sys.stderr.write(f"  > {said}\n  < {answer}\n")
    finally:
        services.close()
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)

    report: dict[str, Any] = {"benchmark": "order_tasks", "halves": {}}
    for half in halves:
        mine = [r for r in runs if r.task.half == half]
        single = [r for r in mine if r.task.single_write]
        latencies = [ms for r in mine for ms in r.latencies_ms]
        report["halves"][half] = {
            "tasks": len(mine),
            "single_write": f"{sum(r.passed for r in single)}/{len(single)}",
            "single_write_rate": round(sum(r.passed for r in single) / max(len(single), 1), 3),
            "all": f"{sum(r.passed for r in mine)}/{len(mine)}",
            "all_rate": round(sum(r.passed for r in mine) / max(len(mine), 1), 3),
            "extraneous_write_tasks": sum(bool(r.extraneous) for r in mine),
            "by_kind": {
                kind: f"{sum(r.passed for r in mine if r.task.kind == kind)}/"
                f"{sum(r.task.kind == kind for r in mine)}"
                for kind in sorted({r.task.kind for r in mine})
            },
            "failed": [r.task.id for r in mine if not r.passed],
            "turn_ms": percentiles(latencies),
        }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
