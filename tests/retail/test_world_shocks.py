"""Shocks planted in the generated world: parsed strictly, applied exactly where and when they say,
saved as the world's truth, and nothing else in the world moves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select
from typer.testing import Result

from retail.errors import AisleError
from retail.store.models import Category
from retail.world.seed import ScaleSpec
from retail.world.shocks import SHOCKS_FILE, parse_shock
from tests.ml_core.tiny_world import seed_world_file

TINY = ScaleSpec(25, 2, 30, 120, 0.8, 20, 1.0)
FROM = "2026-10-20"  # the tiny world runs 2026-07-19 .. PINNED_END (2026-11-15)
TO = "2026-11-05"


def _seed(folder: Path, *shocks: str) -> tuple[Engine, Path]:
    folder.mkdir()
    return seed_world_file(folder, TINY, seed=3, shocks=shocks), folder / "world"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    return _seed(tmp_path_factory.mktemp("plain") / "w")


def _category_name(engine: Engine, category_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Category.name).where(Category.id == category_id)).scalar_one()


@pytest.mark.parametrize(
    "text, words",
    [
        ("category=Tents,demand=+30%", "from="),
        ("category=Tents,from=2026-10-01", "exactly one"),
        ("category=Tents,from=2026-10-01,demand=30", "signed percentage"),
        ("category=Tents,from=2026-10-01,demand=-100%", "zero"),
        ("colour=red,from=2026-10-01,demand=+5%", "no key 'colour'"),
        ("category=Tents,from=2026-10-01,to=2026-09-01,demand=+5%", "before"),
        ("supplier=SUP01,from=2026-10-01,supply=120%", "supply="),
        ("supplier=SUP01,category=Tents,from=2026-10-01,supply=0", "nothing else"),
        ("category Tents", "key=value"),
        ("from=01/10/2026,store=S001,demand=+5%", "YYYY-MM-DD"),
    ],
)
def test_bad_shock_text_is_one_sentence(text: str, words: str) -> None:
    with pytest.raises(AisleError) as caught:
        parse_shock(text)
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_the_cli_refuses_a_bad_shock_with_exit_2(aisle: Callable[..., Result]) -> None:
    result = aisle("data", "seed", "--shock", "category=Tents,demand=+30%")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "from=YYYY-MM-DD" in lines[0]
    assert "Traceback" not in result.output


def test_a_shock_the_world_cannot_place_is_refused(
    plain: tuple[Engine, Path], tmp_path: Path
) -> None:
    with pytest.raises(AisleError, match="no category 'Hovercraft'"):
        _seed(tmp_path / "a", f"category=Hovercraft,from={FROM},demand=+30%")
    with pytest.raises(AisleError, match="outside the world's days"):
        _seed(tmp_path / "b", "store=S001,from=2020-01-01,demand=+30%")


def test_a_demand_shock_multiplies_the_expected_demand_of_its_series_only(
    plain: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, plain_dir = plain
    series = pd.read_parquet(plain_dir / "series.parquet")
    products = pd.read_parquet(plain_dir / "products.parquet")
    category_id = products["category_id"].value_counts().index[0]
    name = _category_name(engine, category_id)
    _, shocked_dir = _seed(
        tmp_path / "s", f"category={name},store=S001,from={FROM},to={TO},demand=+30%"
    )
    before = np.load(plain_dir / "expected_demand.npy")
    after = np.load(shocked_dir / "expected_demand.npy")
    days = pd.to_datetime(pd.read_parquet(plain_dir / "calendar.parquet")["day"])
    window = ((days >= FROM) & (days <= TO)).to_numpy()
    category = series["product_id"].map(products.set_index("product_id")["category_id"])
    hit = ((category == category_id) & (series["location_id"] == "S001")).to_numpy()
    assert hit.sum() > 0
    np.testing.assert_allclose(after[hit][:, window], before[hit][:, window] * 1.3, rtol=1e-6)
    np.testing.assert_array_equal(after[hit][:, ~window], before[hit][:, ~window])
    np.testing.assert_array_equal(after[~hit], before[~hit])

    truth = json.loads((shocked_dir / SHOCKS_FILE).read_text())
    assert truth == [
        {
            "kind": "demand",
            "start": FROM,
            "end": TO,
            "factor": 1.3,
            "category": name,
            "store": "S001",
            "supplier": None,
            "category_id": category_id,
            "location_ids": ["S001"],
            "supplier_id": None,
            "series": int(hit.sum()),
        }
    ]
    assert json.loads((shocked_dir / "manifest.json").read_text())["shocks"] == truth
    assert json.loads((plain_dir / SHOCKS_FILE).read_text()) == []


def test_a_supply_shock_runs_its_suppliers_stores_out_and_moves_nothing_else(
    plain: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, plain_dir = plain
    items = pd.read_sql("select supplier_id, variant_id from supplier_items", engine)
    supplier = items["supplier_id"].value_counts().index[0]
    shocked_engine, shocked_dir = _seed(
        tmp_path / "s", f"supplier={supplier.lower()},from={FROM},supply=0"
    )
    # The demand draws are the same: only deliveries changed.
    np.testing.assert_array_equal(
        np.load(shocked_dir / "demand.npy"), np.load(plain_dir / "demand.npy")
    )
    query = (
        "select d.variant_id, d.location_id, d.day, d.units, d.stockout from daily_sales d "
        "join locations l on l.id = d.location_id where l.kind != 'dc' order by 1, 2, 3"
    )
    before, after = pd.read_sql(query, engine), pd.read_sql(query, shocked_engine)
    hit = set(items.loc[items["supplier_id"] == supplier, "variant_id"])
    others_before = before[~before["variant_id"].isin(hit)].reset_index(drop=True)
    others_after = after[~after["variant_id"].isin(hit)].reset_index(drop=True)
    pd.testing.assert_frame_equal(others_before, others_after)

    def late_stockouts(frame: pd.DataFrame) -> int:
        rows = frame["variant_id"].isin(hit) & (frame["day"].astype(str) >= FROM)
        return int(frame.loc[rows, "stockout"].sum())

    assert late_stockouts(after) > 2 * late_stockouts(before) + 10
    truth = json.loads((shocked_dir / SHOCKS_FILE).read_text())
    assert truth[0]["kind"] == "supply" and truth[0]["supplier_id"] == supplier
    assert truth[0]["factor"] == 0.0 and truth[0]["end"] is None
