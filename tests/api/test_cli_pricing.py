"""`aisle pricing elasticity` on a CSV and `aisle pricing markdown` on a tiny seeded world."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import Result

from retail.store.models import PriceChange, Proposal
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _sales_csv(path: Path) -> Path:
    rng = np.random.default_rng(1)
    days = pd.date_range("2024-01-01", periods=280, freq="D")
    rows = []
    for i in range(6):
        # Promotions run Monday to Sunday, as the model's weeks do.
        promo = np.repeat((rng.random(len(days) // 7) < 0.2).astype(int), 7)
        price = 10.0 * (1 - 0.25 * promo) * np.exp(0.03 * rng.standard_normal(len(days)))
        qty = rng.poisson(20 * (price / 10.0) ** -2.0)
        rows.append(
            pd.DataFrame(
                {
                    "sku": f"P{i}",
                    "date": days,
                    "units": qty,
                    "price": price.round(2),
                    "cat": f"C{i % 2}",
                    "promo": promo,
                }
            )
        )
    frame = pd.concat(rows)
    frame.to_csv(path, index=False)
    return path


def _args(data: Path, out: Path, **overrides: str) -> list[str]:
    options = {
        "--data": str(data),
        "--id-col": "sku",
        "--time-col": "date",
        "--qty-col": "units",
        "--price-col": "price",
        "--output-dir": str(out),
        **overrides,
    }
    return ["pricing", "elasticity", *[x for pair in options.items() for x in pair]]


def test_elasticity_writes_estimates_with_intervals(aisle: Aisle, tmp_path: Path) -> None:
    data, out = _sales_csv(tmp_path / "sales.csv"), tmp_path / "out"
    result = aisle(*_args(data, out, **{"--group-col": "cat", "--controls": "promo"}))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "elasticities.csv")
    items = table[table["level"] == "item"]
    assert len(items) == 6 and set(table["level"]) == {"item", "group", "all"}
    assert (items["lower"] < items["elasticity"]).all() and (
        items["elasticity"] < items["upper"]
    ).all()
    assert items["method"].eq("ppml-fe-pooled").all()
    assert abs(items["elasticity"].mean() + 2.0) < 0.4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["items"] == 6 and summary["model"]["controls"] == ["promo"]


def test_elasticity_item_columns_shift_the_prior(aisle: Aisle, tmp_path: Path) -> None:
    data, out = _sales_csv(tmp_path / "sales.csv"), tmp_path / "out"
    frame = pd.read_csv(data)
    frame["tier"] = np.where(frame["sku"].isin(["P0", "P3"]), "premium", "core")
    frame.to_csv(data, index=False)
    args = {"--group-col": "cat", "--controls": "promo", "--item-cols": "tier"}
    result = aisle(*_args(data, out, **args))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["overall"]["prior_features"]) == {"tier=premium"}
    items = pd.read_csv(out / "elasticities.csv").query("level == 'item'").set_index("item")
    slope = summary["overall"]["prior_features"]["tier=premium"]["slope"]
    assert items.loc["P0", "prior_shift"] - items.loc["P1", "prior_shift"] == pytest.approx(slope)
    # An item column must hold one value per item.
    frame.loc[frame.index[3], "tier"] = "value"
    frame.to_csv(data, index=False)
    result = aisle(*_args(data, tmp_path / "again", **args))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "'tier'" in result.stderr and not (tmp_path / "again").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "has no column 'price'"),
        ("date", "is not a date"),
        ("price", "prices must be positive"),
        ("short", "too little data"),
    ],
)
def test_elasticity_bad_input_is_one_sentence(
    aisle: Aisle, tmp_path: Path, change: str, message: str
) -> None:
    data = _sales_csv(tmp_path / "sales.csv")
    frame = pd.read_csv(data)
    if change == "missing":
        frame = frame.drop(columns="price")
    elif change == "date":
        frame["date"] = frame["date"].astype(str)
        frame.loc[5, "date"] = "not-a-day"
    elif change == "price":
        frame.loc[7, "price"] = 0.0
    else:
        frame["price"] = 10.0
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    result = aisle(*_args(data, out))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_markdown_writes_proposals_idempotently_and_never_prices(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 240, 0.8, 20, 1.0))
    engine = open_store()
    try:
        with engine.connect() as conn:
            prices_before = conn.execute(select(func.count()).select_from(PriceChange)).scalar()
        plan = ("pricing", "markdown", "--store", "S001", "--horizon-weeks", "6")
        first = aisle(*plan, "--objective", "clearance", "--json")
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stdout)
        assert summary["proposals_written"] > 0
        again = json.loads(aisle(*plan, "--objective", "clearance", "--json").stdout)
        assert again["proposals_written"] == 0
        assert again["proposals_unchanged"] == summary["proposals_written"]
        with engine.connect() as conn:
            proposals = conn.execute(select(Proposal)).all()
            assert conn.execute(select(func.count()).select_from(PriceChange)).scalar() == (
                prices_before
            )
        assert len(proposals) == summary["proposals_written"]
        content = proposals[0].content
        assert proposals[0].kind == "price_change" and proposals[0].status == "proposed"
        assert content["type"] == "markdown" and "Mark down from" in content["explanation"]
        # Another objective plans other paths: each newer plan expires the older open one for
        # its product and price zone (and withdraws the ones it no longer proposes), so no
        # product has two open plans in a zone.
        margin = json.loads(aisle(*plan, "--objective", "margin", "--json").stdout)
        assert margin["proposals_written"] > 0 and margin["proposals_superseded"] > 0
        with Session(engine) as session:
            by_id = {p.id: p for p in session.scalars(select(Proposal))}
        expired = [p for p in by_id.values() if p.status == "expired"]
        assert len(expired) == margin["proposals_superseded"] + margin["proposals_withdrawn"]
        for old in expired:
            if (old.reason or "").startswith("withdrawn: "):
                continue
            newer = by_id[(old.reason or "").removeprefix("superseded by ")]
            assert newer.status == "proposed" and newer.location_id == old.location_id == "CHAIN"
            assert newer.content["product_id"] == old.content["product_id"]
            assert newer.content["objective"] == "margin" != old.content["objective"]
        open_products = [
            (p.content["product_id"], p.location_id)
            for p in by_id.values()
            if p.status == "proposed"
        ]
        assert len(open_products) == len(set(open_products))
    finally:
        engine.dispose()
    unknown = aisle("pricing", "markdown", "--store", "S999")
    assert unknown.exit_code == 2
    assert "There is no price zone or priced location 'S999'" in unknown.stderr
