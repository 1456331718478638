"""Benchmark (eval): `aisle models rollback forecaster` restores the previous champion, so the
forecasts served to planners are identical to those before the promotion, bit for bit.

On a generated world (seeded into a scratch folder, or an existing one with `--var-dir`): forecaster
v1 (`--champion-model`) is trained and serves; what planners are served at `--store` is read
(`evals.promotion.served_forecasts`: the forecast tool's answer for every SKU stocked there and
the SKUs-at-risk screen, as canonical JSON bytes). v2 (`--challenger-model`) is trained as a
candidate (the served bytes must not change), scored against v1 on the same backtest windows and
promoted (through the gate, or forced with a recorded reason when the gate refuses; the report
says which), and the served bytes must change. Then `aisle models rollback forecaster` runs as
one command in a fresh process, and the served bytes are compared with those before the promotion.

Timings are medians of `--repeats` rollbacks (each after re-promoting v2), with a read-only
command in a fresh process (`aisle models list forecaster`: interpreter start and imports) as the
baseline in the same run.

    .venv/bin/python benchmarks/bench_model_rollback.py [--var-dir var [--database-url URL]]
        [--scale small] [--seed 42] [--store S001] [--horizon 28] [--repeats 3]

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from worlds import REPO, machine, world_var_dir

console = Console(stderr=True)


def aisle(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One `aisle` command in its own process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def checked(env: dict[str, str], *args: str) -> str:
    done = aisle(env, *args)
    if done.returncode != 0:
        raise SystemExit(f"aisle {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def served(store: str) -> bytes:
    from evals.promotion import served_forecasts
    from retail.identity import Principal
    from retail.settings import get_settings
    from retail.store.open import open_store
    from tools.base import Services, ToolContext

    get_settings.cache_clear()
    settings = get_settings()
    engine = open_store(settings)
    services = Services(engine, settings)
    try:
        ctx = ToolContext(principal=Principal.parse("planner:bench"), services=services)
        return served_forecasts(ctx, store)
    finally:
        services.close()
        engine.dispose()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", type=Path, help="an existing var dir (aisle.db + world/)")
    parser.add_argument("--database-url", help="the store of --var-dir, if not its SQLite file")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store", default="S001")
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--champion-model", default="seasonal_naive")
    parser.add_argument("--challenger-model", default="tsb")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        var_dir,
        seeded_s,
    ):
        env = {
            **os.environ,
            "AISLE_VAR_DIR": str(var_dir),
            "AISLE_DATABASE_URL": args.database_url or f"sqlite:///{var_dir / 'aisle.db'}",
            "PYTHONPATH": str(REPO),
        }
        os.environ.update({k: env[k] for k in ("AISLE_VAR_DIR", "AISLE_DATABASE_URL")})
        train = ("forecast", "run", "--store", args.store, "--horizon", str(args.horizon))
        console.print(f"training v1 ({args.champion_model}) ...")
        v1 = json.loads(checked(env, *train, "--model", args.champion_model, "--json"))
        started = time.perf_counter()
        before = served(args.store)
        read_s = time.perf_counter() - started

        console.print(f"training v2 ({args.challenger_model}) as a candidate ...")
        v2 = json.loads(
            checked(env, *train, "--model", args.challenger_model, "--candidate", "--json")
        )
        candidate_served_unchanged = served(args.store) == before

        report = var_dir / "champion_challenger.html"
        promoted = aisle(
            env, "models", "promote", "forecaster", v2["model_version"], "--as",
            "admin:bench", "--report", str(report), "--json",
        )  # fmt: skip
        gate = "passed"
        refusal = None
        if promoted.returncode == 2:
            gate, refusal = "refused, forced", promoted.stderr.strip()
            promoted = aisle(
                env, "models", "promote", "forecaster", v2["model_version"], "--as",
                "admin:bench", "--force", "--reason", "benchmark: measure the rollback",
                "--report", str(report), "--json",
            )  # fmt: skip
        if promoted.returncode != 0:
            raise SystemExit(f"promotion failed: {promoted.stderr.strip()}")
        outcome = json.loads(promoted.stdout)
        after_promotion = served(args.store)

        rollback_s: list[float] = []
        list_s: list[float] = []
        identical: list[bool] = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            checked(env, "models", "list", "forecaster", "--json")
            list_s.append(time.perf_counter() - started)
            if repeat:  # put v2 back as champion, through the same gate decision
                checked(
                    env, "models", "promote", "forecaster", v2["model_version"], "--as",
                    "admin:bench", "--force", "--reason", "benchmark: repeat",
                )  # fmt: skip
            started = time.perf_counter()
            checked(env, "models", "rollback", "forecaster", "--as", "admin:bench")
            rollback_s.append(time.perf_counter() - started)
            identical.append(served(args.store) == before)

    result: dict[str, Any] = {
        "benchmark": "model_rollback",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "scale": args.scale,
        "seed": args.seed,
        "store": args.store,
        "seeded_s": seeded_s,
        "champion": {"model": args.champion_model, "version": v1["model_version"]},
        "challenger": {"model": args.challenger_model, "version": v2["model_version"]},
        "series": v1["series"],
        "served_bytes": len(before),
        "served_sha256": {
            "before_promotion": digest(before),
            "after_promotion": digest(after_promotion),
        },
        "candidate_served_unchanged": candidate_served_unchanged,
        "promotion_changed_served": after_promotion != before,
        "gate": gate,
        "gate_refusal": refusal,
        "scored_on": outcome["basis"],
        "scores": outcome["scores"],
        "report": str(report) if args.var_dir else None,
        "rollbacks": args.repeats,
        "identical_after_rollback": identical,
        "rollback_command_s_median": statistics.median(rollback_s),
        "list_command_s_median": statistics.median(list_s),
        "rollback_over_list_command": statistics.median(rollback_s) / statistics.median(list_s),
        "served_read_s": read_s,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if all(identical) and candidate_served_unchanged else 1


if __name__ == "__main__":
    raise SystemExit(main())
