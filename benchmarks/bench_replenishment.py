"""Benchmark: the order-up-to policy against the simple rule on the generated world's true demand.

On a generated world (seeded into a temporary directory, or an existing one with `--var-dir`),
it replays the last `--days` days of every SKU-location series (stores and online) with the
world's realised, uncensored demand (`var/world/demand.npy`), once per forecaster:

- `moving_average`: the mean and variance of the last 28 days of demand (what a store could do);
- `oracle`: the world's true expected demand with its true gamma-Poisson spread.

In each run the policy and the simple rule (order up to four weeks of average forecast demand,
rounded up to the case pack and the MOQ) see the same demand and the same lead-time draws.
Supplier lead times, case packs, MOQs and unit costs come from the store; the shortage cost of a
lost sale is the margin (list price − unit cost); the ABC class is from each location's sales
revenue over the 90 days before the simulated period. No shelf cap: the world's shelf capacities
follow its own naive rule and would bind the policy only.

    .venv/bin/python benchmarks/bench_replenishment.py [--var-dir var [--database-url URL]]
        [--scale small] [--seed 42] [--days 180] [--forecasters moving_average,oracle]

Prints one JSON document on stdout; the tables go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import Engine, func, select

from ml_core.inventory.policy import SERVICE_LEVELS, abc_classes
from ml_core.inventory.simulate import (
    Forecaster,
    PrecomputedForecaster,
    SimulationConfig,
    SimulationItems,
    simulate_replenishment,
)
from retail.store.db import make_engine
from retail.store.models import DailySales, Supplier, SupplierItem, Variant
from retail.store.schema import upgrade
from retail.world.seed import SCALES, seed_world

console = Console(stderr=True)
ABC_DAYS = 90


def load_world(engine: Engine, world_dir: Path, days: int) -> dict[str, Any]:
    """Demand, expected demand and per-series supply facts of the world's SKU-location series."""
    manifest = json.loads((world_dir / "manifest.json").read_text())
    series = pd.read_parquet(world_dir / "series.parquet")
    demand = np.load(world_dir / "demand.npy", mmap_mode="r")
    expected = np.load(world_dir / "expected_demand.npy", mmap_mode="r")
    n_days = demand.shape[1]
    if days + 28 >= n_days:
        raise SystemExit(f"the world has {n_days} days; --days must leave 28 days of history")
    start = n_days - days
    first_day = dt.date.fromisoformat(manifest["start"])
    with engine.connect() as conn:
        supply = pd.read_sql(
            select(
                SupplierItem.variant_id,
                SupplierItem.unit_cost,
                SupplierItem.case_pack,
                SupplierItem.moq,
                Supplier.lead_time_mean_days,
                Supplier.lead_time_sd_days,
                Variant.price,
            )
            .join(Supplier, Supplier.id == SupplierItem.supplier_id)
            .join(Variant, Variant.id == SupplierItem.variant_id)
            .where(SupplierItem.is_primary.is_(True)),
            conn,
        ).drop_duplicates("variant_id")
        window_end = first_day + dt.timedelta(days=start - 1)
        window_start = window_end - dt.timedelta(days=ABC_DAYS - 1)
        revenue = pd.read_sql(
            select(
                DailySales.variant_id,
                DailySales.location_id,
                func.sum(DailySales.revenue).label("revenue"),
            )
            .where(DailySales.day >= window_start, DailySales.day <= window_end)
            .group_by(DailySales.variant_id, DailySales.location_id),
            conn,
        )
    frame = series.merge(supply, on="variant_id", how="left", validate="many_to_one")
    frame = frame.merge(revenue, on=["variant_id", "location_id"], how="left")
    if frame["unit_cost"].isna().any():
        raise SystemExit("some series have no primary supplier in the store")
    frame["revenue"] = frame["revenue"].fillna(0.0)
    classes = np.empty(len(frame), dtype="<U1")
    for _, index in frame.groupby("location_id").indices.items():
        classes[index] = abc_classes(frame["revenue"].to_numpy()[index])
    items = SimulationItems.build(
        len(frame),
        unit_cost=frame["unit_cost"].to_numpy(float),
        shortage_cost=np.maximum(frame["price"].to_numpy(float) - frame["unit_cost"], 0.0),
        lead_time_mean=frame["lead_time_mean_days"].to_numpy(float),
        lead_time_sd=frame["lead_time_sd_days"].to_numpy(float),
        service_level=[SERVICE_LEVELS[c] for c in classes],
        case_pack=frame["case_pack"].to_numpy(float),
        moq=frame["moq"].to_numpy(float),
        abc_class=classes,
    )
    return {
        "manifest": manifest,
        "demand": np.asarray(demand),
        "expected": np.asarray(expected),
        "items": items,
        "start": start,
        "first_simulated_day": (first_day + dt.timedelta(days=start)).isoformat(),
        "classes": {c: int((classes == c).sum()) for c in "ABC"},
    }


def run(world: dict[str, Any], name: str, forecaster: Forecaster | None) -> dict[str, Any]:
    started = time.perf_counter()
    result = simulate_replenishment(
        world["demand"],
        world["items"],
        start=world["start"],
        forecaster=forecaster,
        config=SimulationConfig(),
    )
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
        "--forecasters", default="moving_average,oracle", help="comma-separated, run in order"
    )
    args = parser.parse_args()
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
                    world_dir=var_dir / "world",
                    show_progress=False,
                )
                seed_seconds = time.perf_counter() - started
            started = time.perf_counter()
            world = load_world(engine, var_dir / "world", args.days)
            load_seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        forecasters: dict[str, Forecaster | None] = {
            "moving_average": None,
            "oracle": PrecomputedForecaster.oracle(world["expected"]),
        }
        results = {
            name: run(world, name, forecasters[name]) for name in args.forecasters.split(",")
        }
    manifest = world["manifest"]
    n_series, n_days = world["demand"].shape
    payload = {
        "benchmark": "replenishment",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "world": {
            "scale": manifest["scale"],
            "seed": manifest["seed"],
            "series": n_series,
            "days_simulated": args.days,
            "first_simulated_day": world["first_simulated_day"],
            "last_day": manifest["end"],
            "abc_series": world["classes"],
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
