"""Benchmark: the GBM and the CV-chosen `auto` model against the statistical baselines and the
torch global model, on three worlds side by side.

- `walmart`: the public Walmart weekly panel (`../shared/data/walmart`, 7 departments of one
  store), the project's standing backtest (horizon 8, step 8, 4 windows), IsHoliday as a
  known-future covariate and the department as a static column.
- `noisy`: the real-shaped weekly store x product panel `benchmarks/noisy_panel.py` builds from
  the generated world (irregular prices, deals, features, displays, heavy-tailed noise), in a
  TSPerf-like protocol: forecasts 2-3 weeks ahead (horizon 3, gap 1), step 2, `--noisy-windows`
  rounds; price, deal, feat and display as covariates, store, brand and category as statics.
- `generated`: the small generated world's daily SKU x location panel, the last 28 days held
  out (as `bench_forecast_world.py`), scored against the oracle (the true expected demand).

Walmart and the noisy panel run every model `aisle forecast backtest` runs by default (the
statistical baselines, the global model, the GBM, their ensemble and `auto`). Every model of a
world runs in the same process on the same windows. Metrics come from
`ml_core.forecasting.metrics` (WAPE, MASE, MAPE, p10-p90 coverage); wall time is fit + predict
over every window, the median of `--runs` runs (the models are deterministic, so the metrics of
every run are the same); with `--together` one backtest runs them all as the CLI does, and the
seconds are each model's fit CPU seconds. `auto` chooses on the training part of each window
only.

    .venv/bin/python benchmarks/bench_forecast_gbm.py --var-dir VAR --worlds walmart,noisy,generated

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from bench_forecast_world import load_world, oracle_frame, world_frame
from noisy_panel import build as build_noisy
from rich.console import Console
from worlds import machine, world_var_dir

from ml_core.forecasting.backtest import BacktestSpec, backtest
from ml_core.forecasting.base import DS, ID, Forecaster, SeriesData
from ml_core.forecasting.data import load_series_csv
from ml_core.forecasting.metrics import CUTOFF, evaluate, seasonal_scale
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.store_panel import FUTURE_EXOG, STATIC_COLS

console = Console(stderr=True)
WALMART = Path(__file__).resolve().parents[2] / "shared" / "data" / "walmart"
# Every model `aisle forecast backtest` runs by default but `auto`, which each world sets up.
DEFAULT_MODELS = [name for name in MODELS if name != "auto"]
KEEP = ("wape", "mase", "mape", "pinball", "coverage_80", "coverage_p90", "rows", "series")


def _factory(name: str, **params: Any) -> Callable[[], Forecaster]:
    return lambda: MODELS[name](**params)


def _only(models: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    return {k: v for k, v in models.items() if not wanted or k in wanted}


def _timed_backtest(
    data: SeriesData,
    models: dict[str, Callable[[], Forecaster]],
    spec: BacktestSpec,
    args: argparse.Namespace,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each model backtested alone (so its wall time is its own), `runs` times; metrics of the
    last run (identical across runs) and the median seconds per model. With `--together`, one
    backtest of every model (`--jobs` processes, warm-started refits), as `aisle forecast
    backtest` runs them by default: the ensemble and `auto` are then made from the other models'
    fits, and the seconds are each fit's CPU seconds over the windows
    (`BacktestResult.fit_seconds`)."""
    if args.together:
        result = backtest(
            data, models, spec, show_progress=False, n_jobs=args.jobs, warm_start=True
        )
        return result.metrics, {k: round(v, 1) for k, v in result.fit_seconds.items()}
    runs = args.runs
    seconds: dict[str, list[float]] = {name: [] for name in models}
    frames, scales = [], None
    for run in range(runs):
        for name, factory in models.items():
            console.print(f"  run {run + 1}/{runs}: {name}")
            started = time.perf_counter()
            result = backtest(data, {name: factory}, spec, show_progress=False)
            seconds[name].append(time.perf_counter() - started)
            if run == runs - 1:
                frames.append(result.forecasts)
                scales = result.scales
    forecasts = pd.concat(frames, ignore_index=True)
    table = evaluate(forecasts, scales)
    median = {name: round(statistics.median(s), 1) for name, s in seconds.items()}
    return table, median


def _rows(table: pd.DataFrame, seconds: dict[str, float]) -> dict[str, dict[str, Any]]:
    out = {}
    for model, row in table.iterrows():
        entry = {k: (None if pd.isna(row[k]) else round(float(row[k]), 4)) for k in KEEP}
        entry["seconds"] = seconds.get(str(model))
        out[str(model)] = entry
    return out


def _ratios(rows: dict[str, dict[str, Any]], baselines: tuple[str, ...]) -> dict[str, Any]:
    """Each learned model's WAPE against the best statistical baseline's."""
    present = [b for b in baselines if b in rows and rows[b]["wape"] is not None]
    if not present:
        return {}
    best = min(present, key=lambda b: rows[b]["wape"])
    return {
        "best_baseline": best,
        **{
            f"{m}_wape_vs_best_baseline": round(rows[m]["wape"] / rows[best]["wape"] - 1, 4)
            for m in ("gbm", "global", "auto")
            if m in rows
        },
    }


def run_walmart(args: argparse.Namespace) -> dict[str, Any]:
    data = load_series_csv(
        WALMART / "walmart_sales_weekly.csv",
        freq="W",
        id_col="id",
        time_col="Date",
        target_col="Weekly_Sales",
        future_exog=("IsHoliday",),
        static_cols=("Dept",),
    )
    spec = BacktestSpec(horizon=8, step=8, windows=4)
    models = {name: MODELS[name] for name in DEFAULT_MODELS}
    models["auto"] = _factory("auto", horizon=8)
    table, seconds = _timed_backtest(data, _only(models, args), spec, args)
    rows = _rows(table, seconds)
    return {
        "protocol": "horizon 8, step 8, 4 windows; IsHoliday future, Dept static",
        "series": int(data.frame[ID].nunique()),
        "models": rows,
        **_ratios(rows, ("seasonal_naive", "ets", "theta")),
    }


def run_noisy(args: argparse.Namespace, var_dir: Path) -> dict[str, Any]:
    path = Path(args.out_dir) / "noisy_panel.csv"
    panel = build_noisy(var_dir, seed=0)
    if args.noisy_series:
        panel = panel[panel["id"].isin(sorted(panel["id"].unique())[: args.noisy_series])]
    panel.to_csv(path, index=False)
    data = load_series_csv(
        path,
        freq="W",
        id_col="id",
        time_col="week",
        target_col="units",
        future_exog=("price", "deal", "feat", "display"),
        static_cols=("store", "brand", "category"),
    )
    spec = BacktestSpec(horizon=3, step=2, windows=args.noisy_windows, gap=1)
    candidates = ("seasonal_naive", "theta", "gbm", "global")
    models = {name: MODELS[name] for name in DEFAULT_MODELS}
    models["auto"] = _factory("auto", horizon=3, candidates=candidates)
    table, seconds = _timed_backtest(data, _only(models, args), spec, args)
    rows = _rows(table, seconds)
    return {
        "protocol": (
            f"horizon 3, gap 1 (weeks 2-3 scored), step 2, {args.noisy_windows} windows; "
            "price, deal, feat, display future; store, brand, category static"
        ),
        "series": int(data.frame[ID].nunique()),
        "auto_candidates": list(candidates),
        "models": rows,
        **_ratios(rows, ("seasonal_naive", "theta")),
    }


def run_generated(args: argparse.Namespace, var_dir: Path) -> dict[str, Any]:
    world = load_world(var_dir)
    frame = world_frame(world)
    holdout = 28
    last_train = len(world["days"]) - 1 - holdout
    train = frame[frame["_day"] <= last_train]
    test = frame[(frame["_day"] > last_train) & frame[ID].isin(train[ID].unique())]
    data = SeriesData(train.drop(columns=["_row", "_day"]), "D", FUTURE_EXOG, STATIC_COLS)
    future = test[[ID, DS, *FUTURE_EXOG]]
    candidates = ("seasonal_naive", "gbm", "global")
    models = {name: _factory(name) for name in ("seasonal_naive", "global", "gbm")}
    models["auto"] = _factory("auto", horizon=holdout, windows=1, candidates=candidates)
    models = _only(models, args)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    forecasts: dict[str, pd.DataFrame] = {}
    meta: dict[str, Any] = {}
    for run in range(args.runs):
        for name, factory in models.items():
            console.print(f"  run {run + 1}/{args.runs}: {name}")
            started = time.perf_counter()
            forecast = factory().fit(data).predict(holdout, future)
            seconds[name].append(time.perf_counter() - started)
            forecasts[name] = forecast.to_frame()
            meta[name] = {
                k: v
                for k, v in forecast.meta.items()
                if k in ("transform", "rounds", "smearing", "cv_wape", "chosen", "cv_scores")
            }
    forecasts["oracle"] = oracle_frame(world, test)
    # MASE is an absolute error, which the median minimises: `model@p50` scores each model's
    # median as the point too, the fair comparison with the oracle's median.
    for name in list(forecasts):
        forecasts[f"{name}@p50"] = forecasts[name].assign(y_hat=forecasts[name]["p50"])
    cutoff = train[DS].max()
    scored = pd.concat(
        [
            test[[ID, DS, "y"]].merge(fc, on=[ID, DS], how="inner").assign(model=name)
            for name, fc in forecasts.items()
        ],
        ignore_index=True,
    ).assign(**{CUTOFF: cutoff})
    scales = seasonal_scale(train[[ID, DS, "y"]], 7).reset_index().assign(**{CUTOFF: cutoff})
    median = {name: round(statistics.median(s), 1) for name, s in seconds.items()}
    rows = _rows(evaluate(scored, scales), median)
    oracle = rows["oracle"]["mase"]
    return {
        "protocol": "last 28 days held out, one fit; price ratio and promotion future",
        "series": int(train[ID].nunique()),
        "auto_candidates": list(candidates),
        "models": rows,
        "fit_meta": meta,
        "over_oracle_mase": {
            m: round(rows[m]["mase"] / oracle, 4)
            for m in rows
            if "@" not in m and m != "oracle" and oracle
        },
        "p50_over_oracle_p50_mase": {
            m: round(rows[m]["mase"] / rows["oracle@p50"]["mase"], 4)
            for m in rows
            if m.endswith("@p50") and m != "oracle@p50"
        },
        **_ratios(rows, ("seasonal_naive",)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", help="a seeded small world (else one is seeded)")
    parser.add_argument("--worlds", default="walmart,noisy,generated")
    parser.add_argument("--runs", type=int, default=1, help="runs per model (median time)")
    parser.add_argument("--noisy-windows", type=int, default=6)
    parser.add_argument("--noisy-series", type=int, help="the first N series of the noisy panel")
    parser.add_argument("--models", default="", help="only these models (default: all)")
    parser.add_argument(
        "--together",
        action="store_true",
        help="walmart and noisy: one backtest of every model, as the CLI runs them",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="with --together")
    parser.add_argument("--out-dir", default="/tmp", help="where the noisy panel CSV goes")
    args = parser.parse_args()
    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    started = time.perf_counter()
    load_before = os.getloadavg()
    result: dict[str, Any] = {}
    with world_var_dir(args.var_dir, scale="small", seed=42, console=console) as (var_dir, _):
        for name in worlds:
            console.print(f"[bold]{name}[/bold]")
            if name == "walmart":
                result[name] = run_walmart(args)
            elif name == "noisy":
                result[name] = run_noisy(args, var_dir)
            elif name == "generated":
                result[name] = run_generated(args, var_dir)
            else:
                raise SystemExit(f"unknown world {name!r}")
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["machine"] = {
        **machine(),
        "date": dt.date.today().isoformat(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
