"""The store's own sales panel and `run_store_forecast`: rows, dates, covariates, versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ml_core.forecasting.baselines import SeasonalNaive
from ml_core.forecasting.run import run_store_forecast
from ml_core.forecasting.store_panel import sales_panel
from ml_core.registry import ArtifactRegistry
from retail.errors import AisleError
from retail.store.models import (
    Category,
    DailySales,
    ForecastAggregate,
    ForecastRun,
    ForecastValue,
    Product,
    Variant,
)
from tests.ml_core.tiny_world import seed_tiny_world


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Engine:
    return seed_tiny_world(engine, tmp_path, days=150)


def test_panel_is_dense_daily_with_known_covariates(world: Engine) -> None:
    data, last_day = sales_panel(world, location_id="S001")
    frame = data.frame
    with world.connect() as conn:
        units = conn.execute(
            select(func.sum(DailySales.units)).where(DailySales.location_id == "S001")
        ).scalar_one()
    assert frame["y"].sum() == units
    per_series = frame.groupby("unique_id")["ds"].agg(["min", "max", "size"])
    assert (per_series["max"] == last_day).all()
    assert ((per_series["max"] - per_series["min"]).dt.days + 1 == per_series["size"]).all()
    assert (frame["y"] == 0).any(), "zero-sale days are rows with y = 0"
    # A promotion cuts the price below the list price in force around it (the list price may
    # change inside a promotion, so below the higher of the list prices before and after it).
    list_only = frame["price_ratio"].where(frame["on_promo"] == 0).groupby(frame["unique_id"])
    around = np.fmax(list_only.ffill(), list_only.bfill())
    promo = (frame["on_promo"] > 0) & around.notna()
    assert promo.sum() > 10
    assert (frame.loc[promo, "price_ratio"] < around[promo]).all()
    assert set(data.static_cols) == {"category_id", "location_id", "product_id"}


def test_unknown_location_is_a_clear_error(world: Engine) -> None:
    with pytest.raises(AisleError, match="No location with id 'S999'"):
        sales_panel(world, location_id="S999")


def test_run_writes_versioned_forecasts_for_every_series(world: Engine, tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path / "artifacts")
    result = run_store_forecast(world, registry, SeasonalNaive(), horizon=14, location_id="S002")
    data, last_day = sales_panel(world, location_id="S002")
    assert result.series == len(data.ids)
    assert result.rows == result.series * 14
    assert result.first_day == (last_day + pd.Timedelta(days=1)).date()
    manifest, folder = registry.active("forecaster")
    assert manifest.version == result.model_version and (folder / "model.pkl").exists()
    with world.connect() as conn:
        run = conn.execute(select(ForecastRun)).one()
        values = pd.read_sql(select(ForecastValue), conn)
    assert run.model_version == result.model_version
    assert set(values["location_id"]) == {"S002"}
    q = values[["p10", "p50", "p90", "p95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    assert pd.to_datetime(values["day"]).min().date() == result.first_day


def test_reconciled_run_stores_coherent_non_negative_aggregates(
    world: Engine, tmp_path: Path
) -> None:
    registry = ArtifactRegistry(tmp_path / "artifacts")
    result = run_store_forecast(
        world,
        registry,
        SeasonalNaive(),
        horizon=7,
        reconciliation="wls_struct",
        aggregate_model=SeasonalNaive(),
    )
    with world.connect() as conn:
        bottom = pd.read_sql(select(ForecastValue), conn)
        upper = pd.read_sql(select(ForecastAggregate), conn)
        parents = {
            row.id: row.parent_id for row in conn.execute(select(Category.id, Category.parent_id))
        }
    assert result.reconciled_with == "wls_struct" and result.aggregate_rows == len(upper)
    assert {"total", "region", "location_id", "department/region", "variant_id"} <= set(
        upper["level"]
    )
    values = ["mean", "p10", "p50", "p90", "p95"]
    assert (bottom[values].to_numpy() >= 0).all() and (upper[values].to_numpy() >= 0).all()

    # Coherent: the chain's total and each store's total are the sums of their SKU rows.
    total = upper[upper["node"] == "total=all"].set_index("day")["mean"]
    np.testing.assert_allclose(total, bottom.groupby("day")["mean"].sum().loc[total.index])
    store = upper[upper["node"] == "location_id=S001"].set_index("day")["mean"]
    assert len(total) == len(store) == 7
    s001 = bottom[bottom["location_id"] == "S001"].groupby("day")["mean"].sum()
    np.testing.assert_allclose(store, s001.loc[store.index])

    # A department's row sums the SKUs of its categories.
    products = pd.read_sql(
        select(Variant.id, Product.category_id).join(Product, Product.id == Variant.product_id),
        world,
    ).set_index("id")["category_id"]
    bottom["department"] = bottom["variant_id"].map(products).map(parents)
    department = bottom["department"].dropna().iloc[0]
    node = upper[upper["node"] == f"department={department}"].set_index("day")["mean"]
    assert len(node) == 7
    # Every node is named by real attribute values, never the placeholder of a missing one.
    assert not upper["node"].str.contains("-$|=-/|/-/").any()
    summed = bottom[bottom["department"] == department].groupby("day")["mean"].sum()
    np.testing.assert_allclose(node, summed.loc[node.index])
    manifest, folder = registry.active("forecaster")
    assert manifest.parameters["reconciliation"] == "wls_struct"
    assert (folder / "aggregate_model.pkl").exists()
