"""Benchmark: elasticity estimates against the generated world's true per-product elasticities.

On a generated world (seeded into a temporary directory, or an existing one with `--var-dir`),
it builds the chain's daily product panel from the store's own data (sales at the prices
recorded with them, price history and promotions where no sale was recorded; a stocked-out
SKU-location's demand imputed above what it sold) and compares, in the same run, against the true
elasticities in `world/products.parquet`:
- `dml-pooled`: `DMLElasticity` on daily rows (PPML with high-dimensional fixed effects and a
  yearly season per category, empirical-Bayes pooling toward the category mean shifted by the
  brand's tier, `store_data.item_features`);
- `dml-pooled-no-features`: the same, pooled toward the category mean alone;
- `dml-raw`: the same slopes before pooling;
- `ols-fe`: naive log-log OLS with item fixed effects only on weekly totals (the baseline).

    .venv/bin/python benchmarks/bench_pricing_world.py [--var-dir var] [--scale small] [--seed 42]

Prints one JSON document on stdout; the table goes to stderr. The markdown part of the issue's
simulator (optimiser vs oracle vs a 30%-off rule) is benchmarks/bench_pricing_markdown.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import pandas as pd
from rich.console import Console
from rich.table import Table
from worlds import world_var_dir

from ml_core.pricing.elasticity import PERIOD, DMLElasticity, NaiveOLSElasticity, weekly_panel
from ml_core.pricing.store_data import CONTROLS, daily_pricing_panel, item_features
from retail.store.db import make_engine

console = Console(stderr=True, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        folder,
        seed_seconds,
    ):
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        try:
            started = time.perf_counter()
            panel, _ = daily_pricing_panel(engine)
            features = item_features(engine)
            panel_seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        truth = pd.read_parquet(folder / "world" / "products.parquet").set_index("product_id")
    started = time.perf_counter()
    dml_model = DMLElasticity().fit(panel, controls=CONTROLS, item_features=features)
    dml = dml_model.items_.set_index("item")
    dml_seconds = time.perf_counter() - started
    plain = DMLElasticity().fit(panel, controls=CONTROLS).items_.set_index("item")
    weekly = weekly_panel(panel, time_col=PERIOD, controls=CONTROLS)
    naive = NaiveOLSElasticity().fit(weekly).items_.set_index("item")
    true = truth["elasticity"].reindex(dml.index)
    rows = {
        "dml-pooled": (dml["elasticity"], dml["lower"], dml["upper"]),
        "dml-pooled-no-features": (plain["elasticity"], plain["lower"], plain["upper"]),
        "dml-raw": (dml["raw_elasticity"], None, None),
        "ols-fe": (
            naive["elasticity"].reindex(dml.index),
            naive["lower"].reindex(dml.index),
            naive["upper"].reindex(dml.index),
        ),
    }
    results = {}
    for name, (est, lower, upper) in rows.items():
        error = (est - true).dropna()
        results[name] = {
            "items": int(len(error)),
            "mae": float(error.abs().mean()),
            "median_ae": float(error.abs().median()),
            "bias": float(error.mean()),
            "coverage_95": None
            if lower is None
            else float(((lower <= true) & (true <= upper)).dropna().mean()),
        }
    results["category-mean-of-truth"] = {
        "items": int(len(true)),
        "mae": float(
            (
                true
                - truth["elasticity"]
                .groupby(truth["category_id"])
                .transform("mean")
                .reindex(true.index)
            )
            .abs()
            .mean()
        ),
        "median_ae": None,
        "bias": 0.0,
        "coverage_95": None,
    }
    table = Table(title="elasticity MAE against the world's true elasticities")
    for column in ("estimator", "items", "MAE", "median AE", "bias", "95% coverage"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            str(r["items"]),
            f"{r['mae']:.3f}",
            "-" if r["median_ae"] is None else f"{r['median_ae']:.3f}",
            f"{r['bias']:+.3f}",
            "-" if r["coverage_95"] is None else f"{r['coverage_95']:.0%}",
        )
    console.print(table)
    payload = {
        "benchmark": "pricing_world",
        "scale": args.scale,
        "seed": args.seed,
        "machine": platform.processor() or platform.machine(),
        "panel_rows": len(panel),
        "irls_iterations": dml_model.info_["irls_iterations"],
        "group_season": dml_model.info_["group_season"],
        "methods": {str(k): int(v) for k, v in dml["method"].value_counts().items()},
        "prior_features": dml_model.overall_["prior_features"],
        "seconds": {"seed": seed_seconds, "panel": panel_seconds, "dml_fit": dml_seconds},
        "elasticity": results,
        "goal_mae": 0.15,
        "goal_met": bool((dml["elasticity"] - true).abs().mean() <= 0.15),
    }
    sys.stdout.write(json.dumps(payload, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
