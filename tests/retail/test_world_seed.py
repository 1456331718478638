"""The generated world: deterministic, coherent with its ground truth, loaded all or nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from retail.errors import AisleError
from retail.store.db import make_engine
from retail.store.models import DailySales, Order, Product, Variant
from retail.store.schema import upgrade
from retail.store.stats import store_stats
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

TINY = ScaleSpec(
    n_products=40,
    n_stores=3,
    n_customers=150,
    n_days=400,
    assortment=0.8,
    session_days=60,
    sessions_per_customer=3.0,
)


def _seed(engine: Engine, world_dir: Path, seed: int = 7, **kw: object) -> dict[str, int]:
    result = seed_world(
        engine,
        scale="small",
        seed=seed,
        end=PINNED_END,
        world_dir=world_dir,
        show_progress=False,
        spec=TINY,
        **kw,
    )
    return result.counts


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    world_dir = tmp_path / "world"
    _seed(engine, world_dir)
    return engine, world_dir


def _fingerprint(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        names = conn.execute(select(Product.name).order_by(Product.id)).scalars().all()
        sales = conn.execute(
            select(func.count(), func.sum(DailySales.units), func.sum(DailySales.revenue))
        ).one()
        orders = conn.execute(select(Order.id).order_by(Order.id)).scalars().all()
    return tuple(names), tuple(sales), tuple(orders)


def test_same_seed_same_world_and_another_seed_another(tmp_path: Path) -> None:
    engines = []
    for name in ("a", "b", "c"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        _seed(engine, tmp_path / name, seed=7 if name != "c" else 8)
        engines.append(engine)
    a, b, c = (_fingerprint(e) for e in engines)
    assert a == b
    assert a != c
    truth_a = np.load(tmp_path / "a" / "expected_demand.npy")
    truth_b = np.load(tmp_path / "b" / "expected_demand.npy")
    np.testing.assert_array_equal(truth_a, truth_b)


def test_world_has_what_a_retailer_has(world: tuple[Engine, Path]) -> None:
    engine, _ = world
    stats = store_stats(engine)
    tables = stats["tables"]
    assert stats["products"] == TINY.n_products
    assert stats["users"] == TINY.n_customers
    assert tables["locations"] == TINY.n_stores + 2  # stores, online, distribution centre
    for name in (
        "reviews",
        "suppliers",
        "supplier_items",
        "inventory",
        "price_history",
        "promotions",
        "promotion_items",
        "orders",
        "order_items",
        "payments",
        "shopper_events",
        "policies",
        "daily_sales",
    ):
        assert tables[name] > 0, name
    with engine.connect() as conn:
        kinds = set(conn.execute(text("SELECT DISTINCT event_type FROM shopper_events")).scalars())
        statuses = set(conn.execute(select(Order.status).distinct()).scalars())
        policy_ids = set(conn.execute(text("SELECT id FROM policies")).scalars())
    assert kinds == {"view", "add_to_cart", "purchase", "search"}
    assert {"pending", "delivered"} <= statuses
    assert "returns" in policy_ids


def test_sales_are_censored_realisations_of_the_saved_truth(world: tuple[Engine, Path]) -> None:
    engine, world_dir = world
    manifest = json.loads((world_dir / "manifest.json").read_text())
    start = dt.date.fromisoformat(manifest["start"])
    series = pd.read_parquet(world_dir / "series.parquet")
    expected = np.load(world_dir / "expected_demand.npy")
    demand = np.load(world_dir / "demand.npy")
    assert expected.shape == (len(series), TINY.n_days)
    with engine.connect() as conn:
        sales = pd.read_sql(
            select(
                DailySales.variant_id,
                DailySales.location_id,
                DailySales.day,
                DailySales.units,
                DailySales.stockout,
            ),
            conn,
        )
    assert sales["stockout"].any(), "a realistic world has stock-outs"
    key = {
        (v, loc): i
        for i, (v, loc) in enumerate(zip(series.variant_id, series.location_id, strict=True))
    }
    rows = sales.apply(lambda r: key[(r.variant_id, r.location_id)], axis=1).to_numpy()
    days = (pd.to_datetime(sales["day"]) - pd.Timestamp(start)).dt.days.to_numpy()
    # Sales never exceed demand; a stock-out day sold strictly less than was wanted.
    assert (sales["units"].to_numpy() <= demand[rows, days]).all()
    stockout = sales["stockout"].to_numpy()
    assert (sales["units"].to_numpy()[stockout] < demand[rows, days][stockout]).all()
    # Observed totals follow the oracle's expectation closely across series.
    observed = np.zeros(len(series))
    np.add.at(observed, rows, sales["units"].to_numpy())
    assert np.corrcoef(observed, expected.sum(axis=1))[0, 1] > 0.9


def test_no_sales_before_a_product_launches(world: tuple[Engine, Path]) -> None:
    engine, _ = world
    with engine.connect() as conn:
        early = conn.execute(
            select(func.count())
            .select_from(DailySales)
            .join(Variant, Variant.id == DailySales.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(DailySales.day < Product.launched_on)
        ).scalar_one()
    assert early == 0


def test_truth_files_describe_the_world(world: tuple[Engine, Path]) -> None:
    _, world_dir = world
    products = pd.read_parquet(world_dir / "products.parquet")
    assert len(products) == TINY.n_products
    assert products["elasticity"].between(-4.0, -0.5).all()
    prefs = np.load(world_dir / "preferences.npz")
    assert prefs["customer_vectors"].shape[0] == TINY.n_customers
    assert prefs["product_vectors"].shape[0] == TINY.n_products
    manifest = json.loads((world_dir / "manifest.json").read_text())
    assert manifest["kind"] == "world" and manifest["seed"] == 7
    assert len(manifest["data_hash"]) == 64


def test_seeding_again_is_a_no_op_and_another_world_needs_replace(
    world: tuple[Engine, Path],
) -> None:
    engine, world_dir = world
    before = store_stats(engine)["tables"]
    again = seed_world(
        engine,
        scale="small",
        seed=7,
        end=PINNED_END,
        world_dir=world_dir,
        show_progress=False,
        spec=TINY,
    )
    assert "already seeded" in again.message
    assert store_stats(engine)["tables"] == before
    with pytest.raises(AisleError, match="--replace"):
        _seed(engine, world_dir, seed=8)
    assert store_stats(engine)["tables"] == before
    _seed(engine, world_dir, seed=8, replace=True)
    after = store_stats(engine)["tables"]
    assert after["products"] == before["products"]
    assert json.loads((world_dir / "manifest.json").read_text())["seed"] == 8


def test_a_failure_midway_leaves_nothing_behind(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retail.world.seed as seed_module

    def crash(*_args: object, **_kw: object) -> dict[str, int]:
        raise RuntimeError("disk full")

    # Fault injection after the catalogue and the sales are written, inside the transaction.
    monkeypatch.setattr(seed_module, "_write_shoppers", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        _seed(engine, tmp_path / "world")
    assert all(count == 0 for count in store_stats(engine)["tables"].values())
    assert not (tmp_path / "world").exists()
    assert not list(tmp_path.glob("world-*")), "no staging directory left behind"


def test_imported_data_lives_beside_the_world_and_survives_a_replace(
    world: tuple[Engine, Path], shared_data: Path
) -> None:
    from retail.importers.tau2 import import_tau2

    engine, world_dir = world
    report = import_tau2(engine, shared_data / "tau2_retail")
    assert report.rows_added["customers"] == 500
    _seed(engine, world_dir, seed=8, replace=True)
    by_source = store_stats(engine)["by_source"]
    assert by_source["tau2"]["customers"] == 500
    assert by_source["tau2"]["orders"] == 1000
    assert by_source["generated"]["customers"] == TINY.n_customers
