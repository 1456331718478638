"""Benchmark: hierarchical reconciliation on the generated world, level by level, with the oracle.

Seeds the small world (or reads `--var-dir`), builds the grouped hierarchy of the daily SKU x
location series (product: SKU, category, department, all; location: store, region, chain),
holds out the last `--holdout` days and makes base forecasts for every node with the global
model: one model fitted on the bottom series (prices and promotions as covariates, as in
bench_forecast_world.py) and one fitted on the aggregate series (their mean price ratio and promo
share as covariates, the level as a static). The base forecasts are then reconciled by each
method of `ml_core.forecasting.hierarchy` and every level is scored in the same run: base
(incoherent), bottom-up, OLS, WLS-struct and WLS-var, against the oracle that knows the true
expected demand (summed up the hierarchy).

    .venv/bin/python benchmarks/bench_forecast_hierarchy.py

Prints a table per level on stderr and one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from bench_forecast_world import console, load_world, score, timed, world_frame
from rich.table import Table
from worlds import world_var_dir

from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, SeriesData, Y
from ml_core.forecasting.global_model import GlobalQuantileForecaster
from ml_core.forecasting.hierarchy import METHODS, build_hierarchy, reconcile
from ml_core.forecasting.run import forecast_aggregates
from ml_core.forecasting.store_panel import (
    FUTURE_EXOG,
    HIERARCHY_LEVELS,
    STATIC_COLS,
    hierarchy_attributes,
)
from retail.store.db import make_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", help="existing var directory (aisle.db and world/)")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--holdout", type=int, default=28)
    args = parser.parse_args()
    started = time.perf_counter()

    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        var_dir,
        _,
    ):
        world = load_world(var_dir)
        engine = make_engine(f"sqlite:///{var_dir / 'aisle.db'}")
        attrs = hierarchy_attributes(engine, world["series"]["unique_id"].to_numpy())
        engine.dispose()

    frame = world_frame(world)
    last_train = len(world["days"]) - 1 - args.holdout
    fitted_ids = frame.loc[frame["_day"] <= last_train, ID].unique()
    frame = frame[frame[ID].isin(fitted_ids)]
    frame = frame.assign(
        expected=world["expected"][frame["_row"].to_numpy(), frame["_day"].to_numpy()]
    )
    hierarchy = build_hierarchy(attrs.loc[np.sort(fitted_ids)], HIERARCHY_LEVELS)
    console.print(
        f"{len(hierarchy.bottom):,} bottom series, {len(hierarchy.nodes):,} nodes in "
        f"{len(hierarchy.levels)} levels"
    )
    train = frame[frame["_day"] <= last_train].drop(columns=["_row", "_day", "expected"])
    future = frame.loc[frame["_day"] > last_train, [ID, DS, *FUTURE_EXOG]]
    cutoff = train[DS].max()

    bottom_model = GlobalQuantileForecaster(seed=args.seed)
    console.print("fitting the bottom model ...")
    bottom_fc, bottom_s = timed(
        lambda: bottom_model.fit(SeriesData(train, "D", FUTURE_EXOG, STATIC_COLS)).predict(
            args.holdout, future
        )
    )
    console.print("fitting the aggregate model ...")
    upper_fc, upper_s = timed(
        lambda: forecast_aggregates(
            GlobalQuantileForecaster(seed=args.seed),
            hierarchy,
            SeriesData(train, "D", FUTURE_EXOG, STATIC_COLS),
            future,
            args.holdout,
        )
    )
    base = pd.concat([upper_fc, bottom_fc.to_frame().rename(columns={ID: "node"})])

    forecasts: dict[str, pd.DataFrame] = {"base": base}
    seconds: dict[str, float] = {"bottom_fit_predict": bottom_s, "upper_fit_predict": upper_s}
    for method in METHODS:
        forecasts[method], seconds[method] = timed(
            lambda method=method: reconcile(base, hierarchy, method)  # type: ignore[misc]
        )
    summed = hierarchy.aggregate(frame, (Y, "expected")).rename(columns={"node": ID})
    test = summed[summed[DS] > cutoff]
    oracle = test[[ID, DS]].assign(y_hat=test["expected"].to_numpy())
    for name in QUANTILE_FIELDS:
        oracle[name] = oracle["y_hat"]
    train_all = summed[summed[DS] <= cutoff]

    level_of = hierarchy.nodes.set_index("node")["level"]
    results: dict[str, dict[str, Any]] = {}
    for level in hierarchy.levels:
        ids = level_of.index[level_of == level]
        frames = {
            name: fc.rename(columns={"node": ID})[lambda f, ids=ids: f[ID].isin(ids)]
            for name, fc in forecasts.items()
        }
        frames["oracle"] = oracle[oracle[ID].isin(ids)]
        metrics = score(frames, test[test[ID].isin(ids)], train_all[train_all[ID].isin(ids)], 7)
        results[level] = {
            "nodes": int(len(ids)),
            **{
                name: {k: metrics[name][k] for k in ("mase", "wape", "coverage_p90")}
                for name in frames
            },
        }

    incoherence = {}
    for name, fc in forecasts.items():
        grid = fc.pivot(index="node", columns=DS, values="y_hat").reindex(hierarchy.nodes["node"])
        values = grid.to_numpy()
        summed_up = hierarchy.summing @ values[-len(hierarchy.bottom) :]
        incoherence[name] = float(np.abs(summed_up - values).max())
    out = {
        "world": {"scale": args.scale, "seed": args.seed, "holdout_days": args.holdout},
        "bottom_series": int(len(hierarchy.bottom)),
        "nodes": int(len(hierarchy.nodes)),
        "levels": results,
        "max_incoherence": incoherence,
        "min_forecast": {
            name: float(fc[["y_hat", *QUANTILE_FIELDS]].to_numpy().min())
            for name, fc in forecasts.items()
        },
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "date": dt.date.today().isoformat()},
    }
    _print(results)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print(results: dict[str, dict[str, Any]]) -> None:
    names = ["base", *METHODS, "oracle"]
    table = Table(title="WAPE by level (MASE in brackets)")
    table.add_column("level")
    table.add_column("nodes", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for level, row in results.items():
        cells = [f"{row[n]['wape']:.1%} ({row[n]['mase']:.3f})" for n in names]
        table.add_row(level, str(row["nodes"]), *cells)
    console.print(table)


if __name__ == "__main__":
    main()
