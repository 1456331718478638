"""Benchmark: the global forecaster on the generated world, against seasonal naive and the oracle.

World mode (default) seeds the small world into a temporary SQLite database (or reads an existing
var directory with `--var-dir`, holding `aisle.db` and `world/`), builds the daily SKU x location
panel from `daily_sales` (days without a row sold 0; each series starts at its product's launch),
holds out the last `--holdout` days, fits on the rest and scores three forecasts of the held-out
sales in the same run: the global model, the seasonal naive and the oracle, which knows the true
expected demand (`expected_demand.npy`). Price and promotion are known-future covariates: the
world's planned daily list prices and promotion depths (`list_price.npy`, `promo_discount.npy`).
Metrics come from `ml_core.forecasting.metrics` (MASE scaled by the in-sample weekly naive);
`model@p50` rows score the median as the point, the fair reading of an absolute error on slow
movers. The oracle's quantiles are those of the gamma-Poisson the world draws demand from.

Synthetic mode (`--synthetic N`) times fit + predict of the global model on N daily series x
`--days` days with weekly and yearly seasonality and promotions, next to the seasonal naive.

    .venv/bin/python benchmarks/bench_forecast_world.py
    .venv/bin/python benchmarks/bench_forecast_world.py --var-dir var
    .venv/bin/python benchmarks/bench_forecast_world.py --synthetic 20000 --autoets
    .venv/bin/python benchmarks/bench_forecast_world.py --params '{"max_epochs": 20}'

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from scipy import stats
from sqlalchemy import text
from worlds import world_var_dir

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    QUANTILES,
    SeriesData,
    Y,
)
from ml_core.forecasting.baselines import AutoETS, SeasonalNaive
from ml_core.forecasting.global_model import GlobalQuantileForecaster
from ml_core.forecasting.metrics import CUTOFF, evaluate, seasonal_scale
from ml_core.forecasting.store_panel import FUTURE_EXOG, STATIC_COLS
from retail.store.db import make_engine
from retail.world.demand import DISPERSION_SHAPE

console = Console(stderr=True)


# ------------------------------------------------------------------------------------- world


def load_world(var_dir: Path) -> dict[str, Any]:
    """Dense (series x day) arrays of the world: sales, covariates, truth, launch day."""
    world = var_dir / "world"
    manifest = json.loads((world / "manifest.json").read_text())
    start = pd.Timestamp(manifest["start"])
    days = pd.date_range(start, manifest["end"], freq="D")
    series = pd.read_parquet(world / "series.parquet")
    engine = make_engine(f"sqlite:///{var_dir / 'aisle.db'}")
    with engine.connect() as conn:
        sales = pd.read_sql(
            text("SELECT variant_id, location_id, day, units FROM daily_sales"), conn
        )
        products = pd.read_sql(text("SELECT id, category_id, launched_on FROM products"), conn)
    engine.dispose()
    key = series["variant_id"] + "@" + series["location_id"]
    row_of = pd.Series(np.arange(len(series)), index=key.to_numpy())
    rows = row_of.reindex((sales["variant_id"] + "@" + sales["location_id"]).to_numpy())
    day = (pd.to_datetime(sales["day"]) - start).dt.days.to_numpy()
    known = rows.notna().to_numpy()
    y = np.zeros((len(series), len(days)), dtype=np.float32)
    y[rows.to_numpy()[known].astype(np.int64), day[known]] = sales["units"].to_numpy()[known]

    variants = pd.read_parquet(world / "variants.parquet")
    truth_products = pd.read_parquet(world / "products.parquet")
    variant_index = pd.Series(np.arange(len(variants)), index=variants["variant_id"].to_numpy())
    product_index = pd.Series(
        np.arange(len(truth_products)), index=truth_products["product_id"].to_numpy()
    )
    v = variant_index.loc[series["variant_id"].to_numpy()].to_numpy()
    p = product_index.loc[series["product_id"].to_numpy()].to_numpy()
    list_price = np.load(world / "list_price.npy")
    discount = np.load(world / "promo_discount.npy")
    reference = variants["reference_price"].to_numpy()
    price_ratio = list_price[v] * (1.0 - discount[p]) / reference[v][:, None]
    on_promo = (discount[p] > 0).astype(np.float32)
    products = products.set_index("id")
    launched = pd.to_datetime(products.loc[series["product_id"], "launched_on"]).to_numpy()
    launch = np.maximum((launched - start.to_datetime64()) // np.timedelta64(1, "D"), 0)
    return {
        "days": days,
        "series": series.assign(
            unique_id=key.to_numpy(),
            category_id=products.loc[series["product_id"], "category_id"].to_numpy(),
        ),
        "y": y,
        "price_ratio": price_ratio.astype(np.float32),
        "on_promo": on_promo,
        "expected": np.load(world / "expected_demand.npy"),
        "launch": launch.astype(np.int64),
        "manifest": manifest,
    }


def world_frame(world: dict[str, Any]) -> pd.DataFrame:
    """Long frame of every series from its launch day, with covariates and static columns."""
    n, n_days = world["y"].shape
    inside = np.arange(n_days)[None, :] >= world["launch"][:, None]
    rows, day = np.nonzero(inside)
    series = world["series"]
    frame = pd.DataFrame(
        {
            ID: series["unique_id"].to_numpy()[rows],
            DS: world["days"].to_numpy()[day],
            Y: world["y"][rows, day].astype(float),
            "price_ratio": world["price_ratio"][rows, day].astype(float),
            "on_promo": world["on_promo"][rows, day].astype(float),
            **{c: series[c].to_numpy()[rows] for c in STATIC_COLS},
            "_row": rows,
            "_day": day,
        }
    )
    return frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)


def oracle_frame(world: dict[str, Any], test: pd.DataFrame) -> pd.DataFrame:
    """The oracle's forecast of the test rows: the true expected demand, with the quantiles of
    the gamma-Poisson (negative binomial) the world draws demand from."""
    mu = world["expected"][test["_row"].to_numpy(), test["_day"].to_numpy()].astype(float)
    k = DISPERSION_SHAPE
    out = pd.DataFrame({ID: test[ID].to_numpy(), DS: test[DS].to_numpy(), "y_hat": mu})
    p = k / (k + np.maximum(mu, 1e-12))
    for q, name in zip(QUANTILES, QUANTILE_FIELDS, strict=True):
        out[name] = np.where(mu > 0, stats.nbinom.ppf(q, k, p), 0.0)
    return out


def score(
    forecasts: dict[str, pd.DataFrame], test: pd.DataFrame, train: pd.DataFrame, season: int
) -> dict[str, dict[str, Any]]:
    """The project's metrics (metrics.evaluate) of each forecast frame against the test rows.

    `name@p50` rows score the median as the point forecast: MASE is an absolute error, which
    the median minimises, so the fair point comparison for slow movers reads both."""
    cutoff = train[DS].max()
    frames = []
    for name, fc in forecasts.items():
        merged = test[[ID, DS, Y]].merge(fc, on=[ID, DS], how="inner")
        frames.append(merged.assign(model=name))
        frames.append(merged.assign(model=f"{name}@p50", y_hat=merged["p50"]))
    table = pd.concat(frames, ignore_index=True).assign(**{CUTOFF: cutoff})
    scales = seasonal_scale(train[[ID, DS, Y]], season).reset_index().assign(**{CUTOFF: cutoff})
    metrics = evaluate(table, scales)
    keep = ["mase", "mae", "wape", "pinball", "coverage_p90", "coverage_80", "series", "rows"]
    return {str(model): {k: _json(row[k]) for k in keep} for model, row in metrics.iterrows()}


def _json(value: Any) -> Any:
    if pd.isna(value):
        return None
    return int(value) if isinstance(value, np.integer) else round(float(value), 4)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def run_world(args: argparse.Namespace) -> dict[str, Any]:
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        var_dir,
        _,
    ):
        world = load_world(var_dir)
    frame = world_frame(world)
    n_days = len(world["days"])
    last_train = n_days - 1 - args.holdout
    train = frame[frame["_day"] <= last_train]
    # A series launched inside the holdout has nothing to fit on: the contract forecasts the
    # series a model was fitted on, so it is left out (and counted).
    test = frame[(frame["_day"] > last_train) & frame[ID].isin(train[ID].unique())]
    data = SeriesData(train.drop(columns=["_row", "_day"]), "D", FUTURE_EXOG, STATIC_COLS)
    future = test[[ID, DS, *FUTURE_EXOG]]
    console.print(f"{train[ID].nunique()} series, {len(train)} training rows; fitting ...")

    model = global_model(args)
    _, fit_s = timed(lambda: model.fit(data))
    forecast, predict_s = timed(lambda: model.predict(args.holdout, future))
    naive = SeasonalNaive()
    _, naive_fit_s = timed(lambda: naive.fit(data))
    naive_fc, naive_predict_s = timed(lambda: naive.predict(args.holdout, future))
    forecasts = {
        "global": forecast.to_frame(),
        "seasonal_naive": naive_fc.to_frame(),
        "oracle": oracle_frame(world, test),
    }
    metrics = score(forecasts, test, train, 7)
    young = train.groupby(ID).size()
    young_ids = young.index[young < 56]
    young_metrics = score(
        {k: v[v[ID].isin(young_ids)] for k, v in forecasts.items()},
        test[test[ID].isin(young_ids)],
        train[train[ID].isin(young_ids)],
        7,
    )
    return {
        "mode": "world",
        "world": {
            "scale": world["manifest"]["scale"],
            "seed": world["manifest"]["seed"],
            "series": int(train[ID].nunique()),
            "series_launched_in_holdout": int(frame[ID].nunique() - train[ID].nunique()),
            "days": n_days,
            "holdout_days": args.holdout,
            "mean_daily_units": round(float(test[Y].mean()), 4),
        },
        "mase": {m: metrics[m]["mase"] for m in metrics},
        "global_over_oracle_mase": _ratio(metrics["global"]["mase"], metrics["oracle"]["mase"]),
        "global_p50_over_oracle_p50_mase": _ratio(
            metrics["global@p50"]["mase"], metrics["oracle@p50"]["mase"]
        ),
        "global_over_seasonal_naive_mase": _ratio(
            metrics["global"]["mase"], metrics["seasonal_naive"]["mase"]
        ),
        "coverage_p90": {m: metrics[m]["coverage_p90"] for m in ("global", "oracle")},
        "metrics": metrics,
        "young_series_metrics": {"series": int(len(young_ids)), **young_metrics},
        "seconds": {
            "global_fit": round(fit_s, 2),
            "global_predict": round(predict_s, 2),
            "seasonal_naive_fit_predict": round(naive_fit_s + naive_predict_s, 2),
        },
        "training": _training(forecast.meta),
        "params": json.loads(args.params),
    }


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _training(meta: dict[str, object]) -> dict[str, object]:
    return {
        k: meta[k]
        for k in ("epochs", "best_epoch", "samples_per_epoch", "validation_losses")
        if k in meta
    }


# --------------------------------------------------------------------------------- synthetic


def synthetic_frame(n: int, days: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """N daily series with category weekly profiles, yearly seasonality, promotions, gamma-Poisson
    noise and a tenth launching late; returns the frame and the true means (n, days)."""
    rng = np.random.default_rng(seed)
    n_categories, n_stores = 50, 40
    category = rng.integers(0, n_categories, n)
    store = rng.integers(0, n_stores, n)
    base = rng.lognormal(-0.7, 1.1, n) * rng.lognormal(0, 0.3, n_stores)[store]
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    dow = ds.day_of_week.to_numpy()
    doy = ds.day_of_year.to_numpy()
    weekly = 1 + rng.uniform(0, 0.6, n_categories)[:, None] * np.cos(
        2 * np.pi * (np.arange(7)[None, :] - rng.integers(0, 7, n_categories)[:, None]) / 7
    )
    yearly = 1 + rng.uniform(0, 0.5, n_categories)[:, None] * np.cos(
        2 * np.pi * (doy[None, :] - rng.integers(0, 365, n_categories)[:, None]) / 365.25
    )
    promo = np.zeros((n, days), dtype=np.float32)
    starts = rng.random((n, days)) < 1 / 30
    for length in range(7):  # promotions last a week
        promo[:, length:] = np.maximum(promo[:, length:], starts[:, : days - length])
    mu = base[:, None] * weekly[category][:, dow] * yearly[category] * (1 + promo)
    demand = rng.poisson(mu * rng.gamma(4.0, 0.25, (n, days))).astype(np.float32)
    launch = np.where(rng.random(n) < 0.1, rng.integers(0, days - 60, n), 0)
    rows, day = np.nonzero(np.arange(days)[None, :] >= launch[:, None])
    ids = np.char.add("s", np.arange(n).astype(str))
    frame = pd.DataFrame(
        {
            ID: ids[rows],
            DS: ds.to_numpy()[day],
            Y: demand[rows, day],
            "on_promo": promo[rows, day],
            "category": category[rows].astype(str),
            "store": store[rows].astype(str),
            "_row": rows,
            "_day": day,
        }
    )
    return frame.sort_values([ID, DS], kind="stable").reset_index(drop=True), mu


def run_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    frame, mu = synthetic_frame(args.synthetic, args.days, args.seed)
    last_train = args.days - 1 - args.holdout
    train = frame[frame["_day"] <= last_train]
    test = frame[frame["_day"] > last_train]
    data = SeriesData(
        train.drop(columns=["_row", "_day"]), "D", ("on_promo",), ("category", "store")
    )
    future = test[[ID, DS, "on_promo"]]
    console.print(f"{args.synthetic} series x {args.days} days; fitting ...")
    model = global_model(args)
    _, fit_s = timed(lambda: model.fit(data))
    forecast, predict_s = timed(lambda: model.predict(args.holdout, future))
    naive = SeasonalNaive()
    _, naive_fit_s = timed(lambda: naive.fit(data))
    naive_fc, naive_predict_s = timed(lambda: naive.predict(args.holdout, future))
    truth = test[[ID, DS]].assign(y_hat=mu[test["_row"], test["_day"]])
    for name in QUANTILE_FIELDS:
        truth[name] = truth["y_hat"]
    forecasts = {
        "global": forecast.to_frame(),
        "seasonal_naive": naive_fc.to_frame(),
        "true_mean": truth,
    }
    seconds = {
        "global_fit": round(fit_s, 2),
        "global_predict": round(predict_s, 2),
        "global_total": round(fit_s + predict_s, 2),
        "seasonal_naive_fit_predict": round(naive_fit_s + naive_predict_s, 2),
    }
    if args.autoets:
        console.print("statsforecast AutoETS on the same series ...")
        ets = AutoETS(n_jobs=args.autoets_jobs)
        ets_fc, ets_s = timed(lambda: ets.fit(data).predict(args.holdout, future))
        forecasts["autoets"] = ets_fc.to_frame()
        seconds[f"autoets_fit_predict_{args.autoets_jobs}_jobs"] = round(ets_s, 2)
    metrics = score(forecasts, test, train, 7)
    return {
        "mode": "synthetic",
        "series": args.synthetic,
        "days": args.days,
        "training_rows": len(train),
        "seconds": seconds,
        "mase": {m: metrics[m]["mase"] for m in forecasts},
        "coverage_p90": {m: metrics[m]["coverage_p90"] for m in forecasts},
        "training": _training(forecast.meta),
    }


def global_model(args: argparse.Namespace) -> GlobalQuantileForecaster:
    params = {"seed": args.seed, "n_threads": args.threads, **json.loads(args.params)}
    return GlobalQuantileForecaster(**params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", help="existing var directory (aisle.db and world/)")
    parser.add_argument("--scale", default="small", help="world scale to seed (no --var-dir)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--holdout", type=int, default=28)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--params", default="{}", help="JSON of global-model hyperparameters")
    parser.add_argument("--synthetic", type=int, default=0, help="N synthetic series instead")
    parser.add_argument("--days", type=int, default=730, help="days per synthetic series")
    parser.add_argument(
        "--autoets", action="store_true", help="also time statsforecast's AutoETS (synthetic)"
    )
    parser.add_argument("--autoets-jobs", type=int, default=2, help="AutoETS worker processes")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run_synthetic(args) if args.synthetic else run_world(args)
    result["total_seconds"] = round(time.perf_counter() - started, 2)
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads,
        "python": sys.version.split()[0],
        "date": dt.date.today().isoformat(),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
