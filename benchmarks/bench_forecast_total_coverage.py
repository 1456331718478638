"""Benchmark: P10-P90 coverage of 28-day horizon totals, summed daily quantiles against the
horizon-total model (`ml_core.forecasting.horizon`), on the generated world.

Seeds the small world (seed 42) into a temporary SQLite database, or reads an existing var
directory with `--var-dir` (holding `aisle.db`), and builds the store's SKU x location panel as
`aisle forecast run` does. Each model is backtested on `--windows` consecutive windows of
`--horizon` days (rolling origin, `ml_core.forecasting.backtest`). For every window after the
first, three readings of the same forecasts are scored on the totals actually sold:
- `summed_daily`: the range the planner's page used to show, the sum of the daily P10s and P90s
  (the baseline);
- `independent_days`: the total's negative binomial with the days taken as independent;
- `calibrated`: the same with the shared-level error calibrated on the *previous* window, as a
  stored forecast run is calibrated on the window before it forecasts (out of sample).
The goal is a calibrated P10-P90 coverage within 5 points of 80%. The seconds to compute the
totals' quantiles of every series (median of `--runs`) are reported beside the seconds to sum
the daily quantiles, in the same run.

    .venv/bin/python benchmarks/bench_forecast_total_coverage.py
    .venv/bin/python benchmarks/bench_forecast_total_coverage.py --models tsb,global --windows 4

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from typing import Any

from rich.console import Console
from worlds import machine, world_var_dir

from ml_core.forecasting.backtest import BacktestSpec, backtest, resolve_models
from ml_core.forecasting.horizon import TotalsBacktest, horizon_total
from ml_core.forecasting.metrics import CUTOFF
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.store_panel import sales_panel
from retail.store.db import make_engine

console = Console(stderr=True)


def _median_seconds(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def score(forecasts: Any, horizon: int, runs: int) -> dict[str, Any]:
    """Coverage of each window's totals, the calibration taken from the window before it."""
    windows = []
    by_cutoff = [group for _, group in sorted(forecasts.groupby(CUTOFF), key=lambda kv: kv[0])]
    totals = [TotalsBacktest.from_forecasts(group, horizon) for group in by_cutoff]
    cutoffs = sorted(forecasts[CUTOFF].unique())
    for before, after, cutoff in zip(totals, totals[1:], cutoffs[1:], strict=False):
        level_cv = before.calibrate()
        windows.append(
            {
                "cutoff": str(cutoff)[:10],
                "series": len(after.actual),
                "level_cv_from_previous_window": level_cv,
                "summed_daily": round(after.coverage_of_summed_quantiles(), 4),
                "independent_days": round(after.coverage_at(0.0), 4),
                "calibrated": round(after.coverage_at(level_cv), 4),
            }
        )
    last = totals[-1]
    return {
        "windows": windows,
        "median": {
            name: round(statistics.median(w[name] for w in windows), 4)
            for name in ("summed_daily", "independent_days", "calibrated")
        },
        "seconds": {
            "summed_daily": _median_seconds(
                lambda: (last.p10.sum(axis=1), last.p90.sum(axis=1)), runs
            ),
            "horizon_total": _median_seconds(
                lambda: horizon_total(last.mean, last.p10, last.p90, level_cv=0.3), runs
            ),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", help="an existing var dir (aisle.db); default: seed one")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--models", default="seasonal_naive,tsb,global")
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5, help="timing repeats (median)")
    args = parser.parse_args()
    if args.windows < 2:
        parser.error("--windows must be at least 2: one to calibrate, one to score")
    factories = resolve_models(args.models.split(","), MODELS)
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        folder,
        seed_seconds,
    ):
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        try:
            data, last_day = sales_panel(engine, history_days=args.history_days)
        finally:
            engine.dispose()
    spec = BacktestSpec(horizon=args.horizon, step=args.horizon, windows=args.windows)
    results = {}
    for name, factory in factories.items():
        console.print(f"backtesting {name} on {args.windows} windows ...")
        started = time.perf_counter()
        result = backtest(data, {name: factory}, spec, show_progress=False)
        seconds = round(time.perf_counter() - started, 1)
        results[name] = {
            "backtest_seconds": seconds,
            **score(result.forecasts, args.horizon, args.runs),
        }
    payload = {
        "benchmark": "forecast_total_coverage",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {
            "var_dir": args.var_dir,
            "scale": None if args.var_dir else args.scale,
            "seed": None if args.var_dir else args.seed,
            "series": int(len(data.ids)),
            "last_day": str(last_day.date()),
            "seed_seconds": seed_seconds,
        },
        "config": {
            "horizon": args.horizon,
            "windows": args.windows,
            "history_days": args.history_days,
            "target_coverage": 0.8,
        },
        "results": results,
    }
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
