"""Benchmark: end-of-season markdown plans on the generated world's true demand.

On a generated world (seeded into a temporary directory, or an existing one with `--var-dir`),
every product of a seasonal category (yearly amplitude at least 0.35, the categories the world
itself clears) gets a markdown horizon: the `--weeks` weeks before its season ends in the last
season the world covers, with `--overstock` times its true expected horizon sales at the current
price on hand. The season ends `SEASON_END_AFTER_PEAK` days after the category's seasonal peak.
The TRUE demand decides sales: the world's expected demand (`retail.world.demand`, with its
seasonality, holidays, trend and launch ramp) at the reference price, times
(price / reference) ** true elasticity; no promotion runs and rivals keep their prices. Policies,
in the same run and all scored under that truth (continuous sales, no rounding):

- `oracle`: the markdown optimiser fed the true elasticity and the true baseline;
- `aisle`: the same optimiser fed the DML elasticity fitted, as `bench_pricing_world.py` fits
  it, on the store's daily sales before the horizon (`ml_core.pricing.elasticity`) and the
  baseline of `ml_core.pricing.baseline` (a smooth demand model with last year's chain calendar)
  on the same history;
- `aisle-point-estimate`: the same, planned at the elasticity's point estimate alone, as plans
  were before they weighed the elasticity's posterior (`ml_core.pricing.markdown`);
- `aisle-seasonal-naive-baseline`: the same elasticity with the earlier baseline, estimated from
  the weekly totals of the same history (see `estimated_baseline`);
- `aisle-true-baseline` and `aisle-true-elasticity`: diagnostics, one estimate swapped for truth;
- `naive`: 30% off from eight weeks before season end;
- `none`: the current price all horizon.

Profit is the optimiser's `margin` objective: revenue - unit cost x units sold + (salvage - unit
cost) x units left, i.e. revenue + salvage of the leftovers - cost of all the stock.

    .venv/bin/python benchmarks/bench_pricing_markdown.py [--var-dir var] [--scale small]
        [--seed 42] [--weeks 10] [--overstock 1.5] [--salvage 0.3]

Prints one JSON document on stdout; the table goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from worlds import world_var_dir

from ml_core.pricing.baseline import weekly_baseline
from ml_core.pricing.elasticity import ITEM, LOG_PRICE, PERIOD, QTY, DMLElasticity, weekly_panel
from ml_core.pricing.guardrails import Guardrails
from ml_core.pricing.markdown import MarkdownItem, evaluate, solve
from ml_core.pricing.store_data import CONTROLS, PROMO, daily_pricing_panel, item_features
from retail.store.db import make_engine
from retail.store.models import Location, Variant
from retail.world.demand import (
    SeriesBlock,
    category_time_effects,
    expected_demand,
    product_time_effects,
)

# Wide enough for the policy names when stderr is not a terminal.
console = Console(stderr=True, width=110)

# retail/world/pricing_paths.py clears the categories with at least this yearly amplitude, 50 days
# after their seasonal peak ("after their season"): the same seasons and ends here.
SEASONAL_AMPLITUDE = 0.35
SEASON_END_AFTER_PEAK = 50
RULE_WEEKS, RULE_DEPTH = 8, 0.3
RECENT_WEEKS = 8  # the level of the estimated baseline: mean weekly sales over these weeks
MIN_RECENT_WEEKS = 4  # fewer clean (no promotion, in stock) recent weeks: no estimate
YEAR = pd.Timedelta(weeks=52)  # last year's same weeks (same weekdays)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A price path scored under the true demand."""

    prices: list[float]
    profit: float
    sold: float
    leftover: float


def rule_prices(
    item: MarkdownItem, *, weeks: int = RULE_WEEKS, depth: float = RULE_DEPTH
) -> list[float]:
    """The naive rule: the current price, then `depth` off list for the last `weeks` weeks."""
    marked = round(item.list_price * (1 - depth), 2)
    return [item.current_price] * max(item.horizon - weeks, 0) + [marked] * min(weeks, item.horizon)


def simulate_item(
    truth: MarkdownItem, models: Mapping[str, MarkdownItem], guardrails: Guardrails
) -> dict[str, Outcome]:
    """Each model's optimised plan, the naive rule and no markdown, scored under `truth`.

    The models differ from the truth only in their demand (baseline, elasticity): the prices,
    cost, stock and salvage are the store's own facts.
    """
    paths = {name: solve(model, guardrails, "margin").prices for name, model in models.items()}
    paths["naive"] = rule_prices(truth)
    paths["none"] = [truth.current_price] * truth.horizon
    outcomes = {}
    for name, prices in paths.items():
        profit, units, left = evaluate(truth, prices, "margin")
        outcomes[name] = Outcome(prices=prices, profit=profit, sold=sum(units), leftover=left)
    return outcomes


def season_end(peak_doy: int, last_day: dt.date) -> dt.date:
    """The latest season end on or before `last_day`."""
    for year in range(last_day.year, last_day.year - 3, -1):
        end = dt.date(year, 1, 1) + dt.timedelta(days=peak_doy - 1 + SEASON_END_AFTER_PEAK)
        if end <= last_day:
            return end
    raise ValueError(f"no season end before {last_day}")


def reference_demand(folder: Path, locations: pd.DataFrame) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """(n_products, n_days) the world's true expected chain demand at the reference price, with
    no promotion and rivals at their reference prices, from the world's own demand functions."""
    world = folder / "world"
    products = pd.read_parquet(world / "products.parquet")
    categories = pd.read_parquet(world / "categories.parquet")
    calendar = pd.read_parquet(world / "calendar.parquet")
    series = pd.read_parquet(world / "series.parquet")
    days = pd.DatetimeIndex(pd.to_datetime(calendar["day"]))
    category_time = category_time_effects(
        categories["season_peak_doy"].to_numpy(),
        categories["season_amplitude"].to_numpy(),
        categories["weekend_lift"].to_numpy(),
        days.day_of_year.to_numpy(),
        days.day_of_week.to_numpy(),
    )
    launch = (pd.to_datetime(products["launch_date"]) - days[0]).dt.days.to_numpy().astype(np.int64)
    neutral_price = np.ones((len(products), len(days)))
    product_time = product_time_effects(
        neutral_price, products["trend_per_year"].to_numpy(), launch
    )
    product_index = pd.Series(np.arange(len(products)), index=products["product_id"])
    category_index = pd.Series(np.arange(len(categories)), index=categories["category_id"])
    sp = product_index[series["product_id"]].to_numpy()
    n = len(series)
    online = locations["kind"].reindex(series["location_id"]).eq("online").to_numpy()
    # expected_demand reads only base, product, category and online; the ordering fields are the
    # store simulator's and play no part here.
    block = SeriesBlock(
        base=series["base_units"].to_numpy(),
        product=sp,
        category=category_index[products["category_id"].to_numpy()[sp]].to_numpy(),
        online=online,
        review_weekday=np.zeros(n, dtype=np.int64),
        lead_mean=np.zeros(n),
        lead_sd=np.zeros(n),
        case_pack=np.ones(n, dtype=np.int64),
        launch_day=launch[sp],
    )
    mu = expected_demand(
        block,
        category_time,
        product_time,
        calendar["store_lift"].to_numpy(),
        calendar["online_lift"].to_numpy(),
    )
    daily = np.zeros((len(products), len(days)))
    np.add.at(daily, sp, mu.astype(np.float64))
    return daily, days


def estimated_baseline(
    history: pd.DataFrame, item: str, category_items: list[str], start: pd.Timestamp, weeks: int
) -> np.ndarray | None:
    """Expected weekly units at the first recorded (reference) price over the horizon, from the
    store's sales before `start` only: the item's mean over its last `RECENT_WEEKS` clean weeks
    times the category's seasonal index, the ratio of each horizon week (a year earlier, smoothed
    over three weeks) to the recent window a year earlier, averaged over the category's items.

    `history` holds the pricing panel's clean weeks (no promotion) with `adj`, the units deflated
    to the reference price by the item's estimated elasticity. None when data are too thin.
    """
    recent = (history[PERIOD] >= start - pd.Timedelta(weeks=RECENT_WEEKS)) & (
        history[PERIOD] < start
    )
    own = history[(history[ITEM] == item) & recent]
    if len(own) < MIN_RECENT_WEEKS:
        return None
    level = own["adj"].mean()
    horizon = pd.date_range(start - YEAR - pd.Timedelta(weeks=1), periods=weeks + 2, freq="7D")
    ratios = []
    for other in category_items:
        rows = history[history[ITEM] == other].set_index(PERIOD)["adj"]
        window = rows[(rows.index >= start - YEAR - pd.Timedelta(weeks=RECENT_WEEKS))]
        before = window[window.index < start - YEAR]
        if len(before) < MIN_RECENT_WEEKS:
            continue
        ratios.append(rows.reindex(horizon) / before.mean())
    if not ratios:
        return None
    index = pd.concat(ratios, axis=1).mean(axis=1).rolling(3, center=True, min_periods=1).mean()
    index = index.iloc[1:-1]
    if index.isna().any():
        return None
    return level * index.to_numpy()


def load_store(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the daily pricing panel, the products' features for the elasticity prior, variants' unit
    costs, locations' kinds) from the store's data."""
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    try:
        panel, _ = daily_pricing_panel(engine)
        features = item_features(engine)
        with engine.connect() as conn:
            costs = pd.read_sql(select(Variant.id, Variant.unit_cost), conn).set_index("id")
            locations = pd.read_sql(select(Location.id, Location.kind), conn).set_index("id")
    finally:
        engine.dispose()
    return panel, features, costs, locations


def build_items(
    folder: Path, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per simulated product: the true model, the estimates and its facts; and run notes."""
    started = time.perf_counter()
    panel, features, costs, locations = load_store(folder)
    panel_seconds = time.perf_counter() - started
    weekly = weekly_panel(panel, time_col=PERIOD, controls=CONTROLS)
    world = folder / "world"
    products = pd.read_parquet(world / "products.parquet")
    categories = pd.read_parquet(world / "categories.parquet").set_index("category_id")
    variants = pd.read_parquet(world / "variants.parquet")
    series = pd.read_parquet(world / "series.parquet")
    list_price = np.load(world / "list_price.npy")
    daily, days = reference_demand(folder, locations)
    product_row = {p: i for i, p in enumerate(products["product_id"])}
    # Each SKU's weight in its product's composite unit: its share of the product's demand.
    weight = series.groupby("variant_id")["base_units"].sum().reindex(variants["variant_id"])
    variants = variants.assign(
        weight=weight.fillna(0.0).to_numpy(),
        unit_cost=costs["unit_cost"].reindex(variants["variant_id"]).to_numpy(),
        row=np.arange(len(variants)),
    )
    seasonal = categories[categories["season_amplitude"] >= SEASONAL_AMPLITUDE]
    fits: dict[pd.Timestamp, pd.Series] = {}
    baselines: dict[pd.Timestamp, pd.DataFrame] = {}
    items, skipped = [], {"no sales before the horizon": 0, "thin history": 0}
    fit_seconds = 0.0
    for category, spec in seasonal.iterrows():
        end = pd.Timestamp(season_end(int(spec["season_peak_doy"]), days[-1].date()))
        start = end - pd.Timedelta(days=end.day_of_week) - pd.Timedelta(weeks=args.weeks)
        if start not in fits:
            began = time.perf_counter()
            fit = DMLElasticity().fit(
                panel[panel[PERIOD] < start], controls=CONTROLS, item_features=features
            )
            fits[start] = fit.items_.set_index("item")[["elasticity", "se"]]
            baselines[start] = weekly_baseline(
                panel, fits[start]["elasticity"], start=start, weeks=args.weeks, promo_col=PROMO
            )
            fit_seconds += time.perf_counter() - began
        estimates, standard_errors = fits[start]["elasticity"], fits[start]["se"]
        history = weekly[(weekly[PERIOD] < start) & (weekly[PROMO] == 0)]
        history = history.assign(
            adj=history[QTY]
            * np.exp(-estimates.reindex(history[ITEM]).to_numpy() * history[LOG_PRICE])
        ).dropna(subset=["adj"])
        members = products.loc[products["category_id"] == category, "product_id"].tolist()
        first = days.get_loc(start)
        for product in members:
            e_hat = estimates.get(product)
            if e_hat is None or not np.isfinite(e_hat):
                skipped["no sales before the horizon"] += 1
                continue
            naive_base = estimated_baseline(history, product, members, start, args.weeks)
            if naive_base is None or product not in baselines[start].index:
                skipped["thin history"] += 1
                continue
            base_hat = baselines[start].loc[product].to_numpy()
            skus = variants[variants["product_id"] == product]
            w = skus["weight"] / skus["weight"].sum()
            reference = float((skus["reference_price"] * w).sum())
            ratio = float(
                np.mean(list_price[skus["row"].to_numpy(), first - 1] / skus["reference_price"])
            )
            e_true = float(products.loc[product_row[product], "elasticity"])
            daily_true = daily[product_row[product], first : first + 7 * args.weeks]
            base_true = daily_true.reshape(args.weeks, 7).sum(axis=1) * ratio**e_true
            current = round(reference * ratio, 2)
            unit_cost = float((skus["unit_cost"] * w).sum())
            truth = MarkdownItem(
                item_id=product,
                list_price=current,
                current_price=current,
                unit_cost=unit_cost,
                stock=float(np.ceil(args.overstock * base_true.sum())),
                baseline=tuple(float(b) for b in base_true),
                elasticity=e_true,
                salvage=args.salvage * unit_cost,
            )
            estimate = replace(
                truth,
                baseline=tuple(float(b) for b in base_hat * ratio**e_hat),
                elasticity=float(e_hat),
                elasticity_se=float(standard_errors[product]),
            )
            items.append(
                {
                    "category": category,
                    "season_end": end.date().isoformat(),
                    "truth": truth,
                    "estimate": estimate,
                    "naive_baseline": replace(
                        estimate, baseline=tuple(float(b) for b in naive_base * ratio**e_hat)
                    ),
                }
            )
    notes = {
        "skipped": skipped,
        "horizon_starts": sorted({str(s.date()) for s in fits}),
        "seconds": {"panel": panel_seconds, "dml_fits": fit_seconds, "fits": len(fits)},
    }
    return items, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--weeks", type=int, default=10, help="horizon before season end")
    parser.add_argument("--overstock", type=float, default=1.5, help="stock / true sales")
    parser.add_argument("--salvage", type=float, default=0.3, help="leftover value / unit cost")
    args = parser.parse_args()
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.seed, console=console) as (
        folder,
        seed_seconds,
    ):
        items, notes = build_items(folder, args)
    guardrails = Guardrails()
    started = time.perf_counter()
    per_item = []
    for entry in items:
        truth, estimate = entry["truth"], entry["estimate"]
        models = {
            "oracle": truth,
            "aisle": estimate,
            "aisle-seasonal-naive-baseline": entry["naive_baseline"],
            "aisle-point-estimate": replace(estimate, elasticity_se=0.0),
            "aisle-true-baseline": replace(
                truth, elasticity=estimate.elasticity, elasticity_se=estimate.elasticity_se
            ),
            "aisle-true-elasticity": replace(
                estimate, elasticity=truth.elasticity, elasticity_se=0
            ),
        }
        per_item.append((entry, simulate_item(truth, models, guardrails)))
    sim_seconds = time.perf_counter() - started
    policies = list(per_item[0][1]) if per_item else []
    stock = sum(entry["truth"].stock for entry, _ in per_item)
    totals: dict[str, dict[str, float]] = {}
    for name in policies:
        profit = sum(out[name].profit for _, out in per_item)
        sold = sum(out[name].sold for _, out in per_item)
        totals[name] = {
            "profit": profit,
            "sell_through": sold / stock,
            "leftover_units": sum(out[name].leftover for _, out in per_item),
            "marked_down_items": sum(
                any(p < e["truth"].current_price - 0.005 for p in out[name].prices)
                for e, out in per_item
            ),
        }
    oracle, none = totals["oracle"]["profit"], totals["none"]["profit"]
    for r in totals.values():
        r["vs_oracle"] = r["profit"] / oracle
        # Share of the oracle's gain over not marking down that the policy captures.
        r["gain_captured"] = (r["profit"] - none) / (oracle - none)
    per_item_ratio = np.array([out["aisle"].profit / out["oracle"].profit for _, out in per_item])
    table = Table(
        title=f"markdown simulation: {len(per_item)} seasonal products, "
        f"{args.weeks} weeks before season end, true demand"
    )
    for column in ("policy", "profit", "vs oracle", "gain captured", "sell-through", "leftover"):
        table.add_column(column, justify="right")
    for name, r in totals.items():
        table.add_row(
            name,
            f"{r['profit']:,.0f}",
            f"{r['vs_oracle']:.3f}",
            f"{r['gain_captured']:.0%}",
            f"{r['sell_through']:.1%}",
            f"{r['leftover_units']:,.0f}",
        )
    console.print(table)
    e_true = np.array([e["truth"].elasticity for e, _ in per_item])
    e_hat = np.array([e["estimate"].elasticity for e, _ in per_item])
    base_err, naive_err = (
        np.array([sum(e[key].baseline) / sum(e["truth"].baseline) - 1 for e, _ in per_item])
        for key in ("estimate", "naive_baseline")
    )
    payload = {
        "benchmark": "pricing_markdown",
        "scale": args.scale,
        "seed": args.seed,
        "machine": platform.processor() or platform.machine(),
        "config": {
            "weeks": args.weeks,
            "overstock": args.overstock,
            "salvage_fraction_of_cost": args.salvage,
            "rule": f"{RULE_DEPTH:.0%} off for the last {RULE_WEEKS} weeks",
            "guardrails": guardrails.model_dump(),
            "season_end": f"{SEASON_END_AFTER_PEAK} days after the category's seasonal peak",
        },
        "items": len(per_item),
        "stock_units": stock,
        **notes,
        "estimates": {
            "elasticity_mae": float(np.abs(e_hat - e_true).mean()),
            "elasticity_bias": float((e_hat - e_true).mean()),
            "baseline_horizon_total_mape": float(np.abs(base_err).mean()),
            "baseline_horizon_total_bias": float(base_err.mean()),
            "seasonal_naive_baseline_horizon_total_mape": float(np.abs(naive_err).mean()),
            "seasonal_naive_baseline_horizon_total_bias": float(naive_err.mean()),
        },
        "policies": totals,
        "aisle_over_oracle": totals["aisle"]["vs_oracle"],
        "naive_over_oracle": totals["naive"]["vs_oracle"],
        "aisle_item_ratio": {
            "median": float(np.median(per_item_ratio)),
            "min": float(per_item_ratio.min()),
            "share_at_least_0.97": float((per_item_ratio >= 0.97).mean()),
        },
        "goal": 0.97,
        "goal_met": bool(totals["aisle"]["vs_oracle"] >= 0.97),
        "seconds_simulate": sim_seconds,
        "seconds_seed": seed_seconds,
        "per_item": [
            {
                "item": e["truth"].item_id,
                "category": e["category"],
                "season_end": e["season_end"],
                "stock": e["truth"].stock,
                "true_elasticity": e["truth"].elasticity,
                "estimated_elasticity": e["estimate"].elasticity,
                **{name: round(o.profit, 2) for name, o in out.items()},
                "aisle_prices": out["aisle"].prices,
                "oracle_prices": out["oracle"].prices,
            }
            for e, out in per_item
        ],
    }
    sys.stdout.write(json.dumps(payload, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
