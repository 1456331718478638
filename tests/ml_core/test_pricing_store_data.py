"""The store's daily pricing panel: prices as recorded with the sales, stock-outs imputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom, poisson
from sqlalchemy import Engine, select, update

from ml_core.pricing.elasticity import ITEM, LOG_PRICE, PERIOD, QTY
from ml_core.pricing.store_data import (
    daily_pricing_panel,
    mean_above,
)
from retail.store.models import DailySales, PriceChange, Product, Variant
from tests.ml_core.tiny_world import seed_tiny_world


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Engine:
    return seed_tiny_world(engine, tmp_path, days=200)


def _recorded(engine: Engine) -> pd.DataFrame:
    """Per product and day: units sold, stocked-out SKU-locations and the mean log price ratio
    of the day's sales records (price over the SKU's first listed price)."""
    with engine.connect() as conn:
        sales = pd.read_sql(
            select(
                Variant.product_id,
                DailySales.variant_id,
                DailySales.day,
                DailySales.units,
                DailySales.price,
                DailySales.stockout,
            ).join(Variant, Variant.id == DailySales.variant_id),
            conn,
        )
        listed = pd.read_sql(
            select(PriceChange.variant_id, PriceChange.effective_on, PriceChange.price), conn
        )
    first = listed.sort_values("effective_on").groupby("variant_id")["price"].first()
    sales["log_ratio"] = np.log(sales["price"] / sales["variant_id"].map(first))
    sales[PERIOD] = pd.to_datetime(sales["day"])
    return (
        sales.groupby(["product_id", PERIOD])
        .agg(
            units=("units", "sum"),
            stocked_out=("stockout", "sum"),
            log_ratio=("log_ratio", "mean"),
        )
        .rename_axis([ITEM, PERIOD])
    )


def test_prices_are_the_ones_recorded_with_the_sales(world: Engine) -> None:
    """A price list that disagrees with the till (every later list change recorded 30% too high)
    does not move the panel's price on a day the product sold: the recorded price decides."""
    recorded = _recorded(world)
    with world.begin() as conn:
        conn.execute(
            update(PriceChange)
            .where(PriceChange.reason == "list_change")
            .values(price=PriceChange.price * 1.3)
        )
    panel, _ = daily_pricing_panel(world)
    joined = panel.set_index([ITEM, PERIOD]).join(recorded, how="inner")
    assert len(joined) > 1_000
    assert np.allclose(joined[LOG_PRICE], joined["log_ratio"], atol=1e-9)
    # The changed list prices are in the panel's span: the test would see a planned price.
    with world.connect() as conn:
        changed = pd.read_sql(
            select(Product.id, PriceChange.effective_on)
            .join(Variant, Variant.id == PriceChange.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(PriceChange.reason == "list_change"),
            conn,
        )
    assert (pd.to_datetime(changed["effective_on"]) < panel[PERIOD].max()).any()


def test_a_stocked_out_day_counts_more_than_was_sold(world: Engine) -> None:
    """Each stocked-out SKU-location's demand was more than it sold: the day's quantity is at
    least the units sold plus one per stock-out; a day without stock-outs is what was sold."""
    panel, _ = daily_pricing_panel(world)
    joined = panel.set_index([ITEM, PERIOD]).join(_recorded(world), how="left").fillna(0.0)
    short = joined["stocked_out"] > 0
    assert short.sum() > 20
    assert (
        joined.loc[short, QTY] >= joined.loc[short, "units"] + joined.loc[short, "stocked_out"]
    ).all()
    assert np.allclose(joined.loc[~short, QTY], joined.loc[~short, "units"])


@pytest.mark.parametrize("dispersion", [0.0, 0.25, 2.0])
@pytest.mark.parametrize(("mean", "floor"), [(1.0, 0), (0.3, 2), (6.0, 4), (40.0, 3)])
def test_mean_above_a_floor(mean: float, floor: int, dispersion: float) -> None:
    k = np.arange(floor + 1, 5_000)
    if dispersion:
        shape = 1 / dispersion
        pmf = nbinom.pmf(k, shape, shape / (shape + mean))
    else:
        pmf = poisson.pmf(k, mean)
    expected = float(np.sum(k * pmf) / np.sum(pmf))
    got = float(mean_above(np.array([mean]), np.array([floor]), dispersion)[0])
    assert got == pytest.approx(expected, rel=1e-7)


def test_mean_above_a_floor_for_a_vanishing_mean() -> None:
    for dispersion in (0.0, 0.5):
        got = mean_above(np.array([0.0, 1e-12]), np.array([0, 3]), dispersion)
        assert np.allclose(got, [1.0, 4.0])
