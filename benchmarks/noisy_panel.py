"""A real-shaped weekly retail panel built from the generated world, with its regularity removed.

The generated world's demand follows the assumptions its forecasters were built beside: smooth
seasonality, a few scheduled promotions, gamma-Poisson noise. Real store x brand panels (the
public weekly ones with prices and promotions) are rougher. This builder keeps the world's
demand shape (seasonality, holidays, trends, launches; store and product levels) and replaces
what it controls with irregular versions:

- **Prices.** The world's own price effect is divided out of its expected demand (own price
  against the reference price through the product's true elasticity, the display lift and the
  category's cross-price index, as `retail.world.pricing_paths` applies them). Each series then
  gets its own regular price, which steps up or down at random weeks (on average twice a year,
  by about 8%), and temporary price reductions ("deals") that start at random with a per-series
  intensity (3-15% of weeks), last 1-4 weeks and cut 10-40%.
- **Promotions.** A feature ad runs in 60% of deal weeks and in 2% of other weeks; an in-store
  display in 40% of deal weeks and 1% of others. Demand responds to the price against the
  series' usual price with a per-series elasticity (the product's, times 0.7-1.5), to the price
  against the other brands of its category in the same store (cross elasticity 0.5), to
  feature (+35%) and display (+20%), and dips 15% the week after a deal (pantry loading).
- **Noise.** Heavy-tailed multiplicative noise (Student t, 3 degrees of freedom, scale 0.2);
  one level shift in a quarter of the series (log-normal, sd 0.35) at a random week; outlier
  weeks (1%: x2-4 or x0-0.3); gamma-Poisson counts around that; 2% of the weeks missing (no row,
  which `load_series_csv` reads as no sales, as a store's feed with a gap reads).

Series are product x location (the world's SKUs summed over sizes and colours), weekly from
the world's first to its last full week, ending on the world's last day. Volumes are scaled so
that the median series sells about 150 units a week, a store x brand panel's order of size.
Columns: id, store, brand, category, product, week, units, price, deal, feat, display.

    .venv/bin/python benchmarks/noisy_panel.py --var-dir VAR --out /tmp/noisy.csv
    aisle forecast backtest --data /tmp/noisy.csv --freq W --id-col id --time-col week \\
        --target-col units --future-exog price,deal,feat,display \\
        --static-cols store,brand,category --horizon 3 --gap 1 --step 2 --windows 12 \\
        --output-dir /tmp/noisy_bt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from retail.world.pricing_paths import CROSS_PRICE_ELASTICITY, PROMO_DISPLAY_LIFT

TARGET_MEDIAN_WEEKLY_UNITS = 150.0


def world_price_multiplier(world: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """(n_products, n_days) the world's own demand multiplier from prices and displays, and the
    truth table of its products, in the order of the price arrays."""
    products = pd.read_parquet(world / "products.parquet")
    variants = pd.read_parquet(world / "variants.parquet")
    list_price = np.load(world / "list_price.npy").astype(np.float64)
    discount = np.load(world / "promo_discount.npy").astype(np.float64)
    product_index = pd.Index(products["product_id"])
    variant_product = product_index.get_indexer(variants["product_id"])
    paid = list_price * (1.0 - discount[variant_product])
    ratio = paid / variants["reference_price"].to_numpy()[:, None]
    counts = np.bincount(variant_product, minlength=len(products))
    product_ratio = np.zeros((len(products), ratio.shape[1]))
    np.add.at(product_ratio, variant_product, ratio)
    product_ratio /= counts[:, None]
    own = product_ratio ** products["elasticity"].to_numpy()[:, None]
    display = np.where(discount > 0, PROMO_DISPLAY_LIFT, 1.0)
    cross = np.ones_like(own)
    for _, members in products.groupby("category_id").indices.items():
        if len(members) < 2:
            continue
        total = product_ratio[members].sum(axis=0)
        others = (total[None, :] - product_ratio[members]) / (len(members) - 1)
        cross[members] = others**CROSS_PRICE_ELASTICITY
    return own * display * cross, products


def build(var_dir: Path, seed: int = 0) -> pd.DataFrame:
    """The noisy weekly panel of the world under `var_dir` (see the module docstring)."""
    world = var_dir / "world"
    rng = np.random.default_rng(seed)
    manifest = json.loads((world / "manifest.json").read_text())
    days = pd.date_range(manifest["start"], manifest["end"], freq="D")
    series = pd.read_parquet(world / "series.parquet")
    expected = np.load(world / "expected_demand.npy").astype(np.float64)
    multiplier, products = world_price_multiplier(world)
    product_of = pd.Index(products["product_id"]).get_indexer(series["product_id"])
    baseline = expected / np.maximum(multiplier[product_of], 1e-6)

    # Weekly sums per product x location, weeks ending on the world's last day.
    n_weeks = len(days) // 7
    first_day = len(days) - 7 * n_weeks
    weekly = baseline[:, first_day:].reshape(len(series), n_weeks, 7).sum(axis=2)
    keys = series["product_id"] + "@" + series["location_id"]
    codes, labels = pd.factorize(keys)
    demand = np.zeros((len(labels), n_weeks))
    np.add.at(demand, codes, weekly)
    product = labels.str.split("@").str[0].to_numpy()
    store = labels.str.split("@").str[1].to_numpy()
    truth = products.set_index("product_id").loc[product]
    weeks = days[first_day + 6 :: 7][:n_weeks]
    n = len(labels)

    # Regular prices: a per-store level, stepping at random weeks.
    base_price = truth["base_price"].to_numpy() * rng.uniform(0.9, 1.1, n)
    steps = (rng.random((n, n_weeks)) < 2 / 52) * rng.normal(0.0, 0.08, (n, n_weeks))
    regular = base_price[:, None] * np.exp(np.cumsum(steps, axis=1))
    # Deals: per-series intensity, 1-4 weeks long, 10-40% off.
    deal = np.zeros((n, n_weeks))
    depth = np.zeros((n, n_weeks))
    intensity = rng.uniform(0.03, 0.15, n)
    for i in range(n):
        week = 0
        while week < n_weeks:
            if rng.random() < intensity[i]:
                length = min(int(rng.integers(1, 5)), n_weeks - week)
                deal[i, week : week + length] = 1.0
                depth[i, week : week + length] = rng.uniform(0.1, 0.4)
                week += length + 1
            else:
                week += 1
    price = regular * (1.0 - depth)
    feat = np.where(deal > 0, rng.random((n, n_weeks)) < 0.6, rng.random((n, n_weeks)) < 0.02)
    display = np.where(deal > 0, rng.random((n, n_weeks)) < 0.4, rng.random((n, n_weeks)) < 0.01)

    # Demand response.
    usual = np.median(regular, axis=1, keepdims=True)
    elasticity = truth["elasticity"].to_numpy() * rng.uniform(0.7, 1.5, n)
    ratio = price / usual
    category = truth["category_id"].to_numpy()
    cross = np.ones_like(ratio)
    groups = pd.Series(np.arange(n)).groupby([category, store]).indices
    for members in groups.values():
        if len(members) < 2:
            continue
        total = ratio[members].sum(axis=0)
        others = (total[None, :] - ratio[members]) / (len(members) - 1)
        cross[members] = (ratio[members] / others) ** (-0.5)
    after_deal = np.zeros_like(deal)
    after_deal[:, 1:] = (deal[:, :-1] > 0) & (deal[:, 1:] == 0)
    mu = (
        demand
        * ratio ** elasticity[:, None]
        * cross
        * np.exp(0.35 * feat + 0.2 * display)
        * np.where(after_deal > 0, 0.85, 1.0)
    )

    # Irregular noise.
    mu *= np.exp(0.2 * rng.standard_t(3, (n, n_weeks)).clip(-6, 6))
    shifted = rng.random(n) < 0.25
    at = rng.integers(n_weeks // 4, n_weeks, n)
    jump = np.exp(rng.normal(0.0, 0.35, n))
    mu *= np.where(
        shifted[:, None] & (np.arange(n_weeks)[None, :] >= at[:, None]), jump[:, None], 1
    )
    outlier = rng.random((n, n_weeks)) < 0.01
    spike = np.where(rng.random((n, n_weeks)) < 0.5, rng.uniform(2, 4, (n, n_weeks)), 1.0)
    mu *= np.where(outlier, np.where(spike > 1, spike, rng.uniform(0, 0.3, (n, n_weeks))), 1.0)
    active = demand > 0
    level = np.nanmedian(np.where(active, mu, np.nan).mean(axis=1))
    mu *= TARGET_MEDIAN_WEEKLY_UNITS / level if level > 0 else 1.0
    units = rng.poisson(mu * rng.gamma(8.0, 1 / 8.0, (n, n_weeks)))

    rows, cols = np.nonzero(active & (rng.random((n, n_weeks)) >= 0.02))
    frame = pd.DataFrame(
        {
            "id": labels.to_numpy()[rows],
            "store": store[rows],
            "brand": truth["brand_id"].to_numpy()[rows],
            "category": category[rows],
            "product": product[rows],
            "week": weeks[cols].strftime("%Y-%m-%d"),
            "units": units[rows, cols],
            "price": price[rows, cols].round(2),
            "deal": deal[rows, cols].astype(int),
            "feat": feat[rows, cols].astype(int),
            "display": display[rows, cols].astype(int),
        }
    )
    return frame.sort_values(["id", "week"], kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", required=True, help="a seeded world's var folder")
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = build(Path(args.var_dir), args.seed)
    frame.to_csv(args.out, index=False)
    sys.stderr.write(f"{frame['id'].nunique()} series, {len(frame)} rows -> {args.out}\n")


if __name__ == "__main__":
    main()
