"""Benchmark: the order-up-to policy against the simple rule on the generated world's true demand.

On a generated world (seeded into a temporary directory, or an existing one with `--var-dir`),
it replays the last `--days` days of every SKU-location series (stores and online) with the
world's realised, uncensored demand (`var/world/demand.npy`), once per forecaster
(`moving_average`, what a store could do; `oracle`, the world's true expected demand and spread);
`ml_core.inventory.world_replay` says how the series' costs, lead times and classes are read.

In each run the policy and the simple rule (order up to four weeks of average forecast demand,
rounded up to the case pack and the MOQ) see the same demand and the same lead-time draws.

    .venv/bin/python benchmarks/bench_replenishment.py [--var-dir var [--database-url URL]]
        [--scale small] [--seed 42] [--days 180] [--forecasters moving_average,oracle]

Prints one JSON document on stdout; the tables go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from worlds import machine

from ml_core.inventory.policy import SERVICE_LEVELS
from ml_core.inventory.simulate import SimulationConfig
from ml_core.inventory.world_replay import FORECASTERS, ReplayError, WorldReplay, load_world_replay
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, SCALES, seed_world

console = Console(stderr=True)


def run(world: WorldReplay, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    result = world.simulate(name)
    seconds = time.perf_counter() - started
    console.print(result.table(title=f"forecaster: {name}"))

    def summary(rule: Any) -> dict[str, Any]:
        keys = (
            "fill_rate",
            "stockout_days",
            "stockout_day_rate",
            "avg_inventory_units",
            "avg_inventory_value",
            "holding_cost",
            "shortage_cost",
            "ordering_cost",
            "total_cost",
            "orders",
            "fill_rate_by_class",
        )
        return {key: getattr(rule, key) for key in keys}

    return {
        "policy": summary(result.policy),
        "simple_rule": summary(result.simple),
        "cost_ratio": result.cost_ratio,
        "fill_rate_delta": result.fill_rate_delta,
        "policy_wins": result.policy_wins,
        "seconds": seconds,
        "series_days_per_second": result.n_series * result.n_days / seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", type=Path, help="an existing var dir (aisle.db + world/)")
    parser.add_argument(
        "--database-url", help="the store of --var-dir, if not the SQLite file in it"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument(
        "--forecasters", default=",".join(FORECASTERS), help="comma-separated, run in order"
    )
    args = parser.parse_args()
    names = args.forecasters.split(",")
    if unknown := set(names) - set(FORECASTERS):
        parser.error(f"unknown forecasters: {', '.join(sorted(unknown))}")
    seed_seconds = None
    with tempfile.TemporaryDirectory(prefix="aisle-bench-") as tmp:
        var_dir = args.var_dir or Path(tmp)
        url = args.database_url or f"sqlite:///{(var_dir / 'aisle.db').resolve()}"
        engine = make_engine(url)
        try:
            if args.var_dir is None:
                upgrade(engine)
                console.log(f"seeding the {args.scale} world (seed {args.seed}) into {var_dir}")
                started = time.perf_counter()
                seed_world(
                    engine,
                    scale=args.scale,
                    seed=args.seed,
                    end=PINNED_END,
                    world_dir=var_dir / "world",
                    show_progress=False,
                )
                seed_seconds = time.perf_counter() - started
            started = time.perf_counter()
            world = load_world_replay(engine, var_dir / "world", args.days)
            load_seconds = time.perf_counter() - started
        except ReplayError as exc:
            raise SystemExit(str(exc)) from None
        finally:
            engine.dispose()
        results = {name: run(world, name) for name in names}
    manifest = world.manifest
    n_series = len(world.items)
    payload = {
        "benchmark": "replenishment",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {
            "scale": manifest["scale"],
            "seed": manifest["seed"],
            "series": n_series,
            "days_simulated": args.days,
            "first_simulated_day": world.first_simulated_day.isoformat(),
            "last_day": manifest["end"],
            "abc_series": world.classes,
        },
        "config": {
            "review_period_days": SimulationConfig().review_period,
            "holding_rate": SimulationConfig().holding_rate,
            "order_cost": SimulationConfig().order_cost,
            "simple_rule_cover_days": SimulationConfig().simple_cover_days,
            "service_levels": SERVICE_LEVELS,
        },
        "seed_seconds": seed_seconds,
        "load_seconds": load_seconds,
        "results": results,
    }
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
