"""Daily feeds on a tiny generated world whose last days arrive again as files: every corrupted
file is quarantined with its reason and kept, nothing of it reaches the tables the models read,
and the clean files land whole."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from evals.feeds import CORRUPTIONS, FeedCase, sales_digest, withhold_sales
from ml_core.forecasting.store_panel import sales_panel
from ml_core.pricing.store_data import pricing_panel
from retail.feeds.export import export_feed
from retail.feeds.load import ACCEPTED, QUARANTINED, FeedResult, load_feed
from retail.settings import Settings, get_settings
from retail.store.models import FeedBatch, InventoryPosition, PriceChange, Variant
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from tests.ml_core.tiny_world import seed_tiny_world

FEED_DAYS = [PINNED_END - dt.timedelta(days=2 - i) for i in range(3)]
TODAY = PINNED_END + dt.timedelta(days=1)

# What each corrupted sales file's reason must say (the check that caught it, in its words).
SALES_REASONS = {
    "store_day_x100": "x its median of the last 8",
    "store_day_missing": "reported no sales for",
    "day_missing": f"No sales have arrived for {FEED_DAYS[0].isoformat()}",
    "duplicated_rows": "repeats",
    "negative_units": "Column units is negative",
    "wrong_columns": "lacks the column units",
    "future_date": "after the last day it may hold",
    "unknown_store": "S999",
    "unknown_sku": "NO-SUCH-SKU",
}


@dataclass
class FeedWorld:
    engine: Engine
    settings: Settings
    folder: Path
    clean: dict[dt.date, pd.DataFrame]

    def write(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        return path

    def load(self, kind: str, name: str, frame: pd.DataFrame) -> FeedResult:
        path = self.write(name, frame)
        return load_feed(self.engine, kind, path, loaded_by="test", settings=self.settings)  # type: ignore[arg-type]

    def case(self, frame: pd.DataFrame, next_frame: pd.DataFrame | None = None) -> FeedCase:
        return FeedCase(frame, next_frame, TODAY, np.random.default_rng(3))


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the file reads back: every column text."""
    return frame.astype(str)


@pytest.fixture
def feed_world(engine: Engine, tmp_path: Path) -> FeedWorld:
    # 3 stores and online over 120 days: enough peers and same weekdays to judge a volume.
    seed_tiny_world(engine, tmp_path, days=120, stores=3)
    clean = {day: _text(export_feed(engine, "sales", day)) for day in FEED_DAYS}
    withhold_sales(engine, FEED_DAYS[0])
    folder = tmp_path / "feeds"
    folder.mkdir()
    return FeedWorld(engine, get_settings(), folder, clean)


def test_every_corrupted_sales_file_is_quarantined_and_kept_and_the_clean_days_land(
    feed_world: FeedWorld,
) -> None:
    first, second = feed_world.clean[FEED_DAYS[0]], feed_world.clean[FEED_DAYS[1]]
    before = sales_digest(feed_world.engine)
    for name, corrupt in CORRUPTIONS["sales"].items():
        bad = corrupt(feed_world.case(first, second))
        result = feed_world.load("sales", f"bad-{name}", bad)
        assert result.status == QUARANTINED, (name, result)
        assert SALES_REASONS[name] in (result.reason or ""), (name, result.reason)
        assert result.reason is not None and result.reason.endswith("; quarantined.")
        assert result.rows_applied == 0
    # The distribution centre holds stock but sells nothing.
    at_dc = first.assign(location_id=first["location_id"].where(first.index > 0, "DC01"))
    refused = feed_world.load("sales", "at-dc", at_dc)
    assert refused.reason is not None and refused.reason.startswith(
        "The sales file names 1 location that is not a store or the online channel (DC01; "
    )
    assert sales_digest(feed_world.engine) == before

    with Session(feed_world.engine) as session:
        batches = session.scalars(select(FeedBatch).order_by(FeedBatch.id)).all()
        assert [b.status for b in batches] == [QUARANTINED] * (len(CORRUPTIONS["sales"]) + 1)
        kept = Path(batches[0].kept_at or "")
        assert (
            kept.read_bytes()
            == (feed_world.folder / f"bad-{next(iter(CORRUPTIONS['sales']))}.csv").read_bytes()
        )

    for day in FEED_DAYS:
        result = feed_world.load("sales", f"clean-{day}", feed_world.clean[day])
        assert result.status == ACCEPTED, result.reason
        assert result.rows_applied == len(feed_world.clean[day])
        assert (result.first_day, result.last_day) == (day, day)
    count, _ = sales_digest(feed_world.engine)
    assert count == before[0] + sum(len(f) for f in feed_world.clean.values())

    again = feed_world.load("sales", f"clean-{FEED_DAYS[0]}", first)
    assert again.already_loaded and again.status == ACCEPTED
    assert sales_digest(feed_world.engine)[0] == count
    # A different file for a day already loaded restates it: refused.
    restated = first.copy()
    restated.loc[restated.index[0], "units"] = "0"
    restated.loc[restated.index[0], "revenue"] = "0.00"
    refused = feed_world.load("sales", "restated", restated)
    assert refused.status == QUARANTINED and "already loaded" in (refused.reason or "")


def _model_inputs(engine: Engine) -> tuple[str, str]:
    """Digests of what the forecaster and the elasticity model train on."""
    panel, _ = sales_panel(engine)
    weekly, _ = pricing_panel(engine)
    return (
        hashlib.sha256(pd.util.hash_pandas_object(panel.frame, index=False).values).hexdigest(),
        hashlib.sha256(pd.util.hash_pandas_object(weekly, index=False).values).hexdigest(),
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_model_reads_a_quarantined_batch(feed_world: FeedWorld) -> None:
    before = _model_inputs(feed_world.engine)
    first = feed_world.clean[FEED_DAYS[0]]
    scaled = CORRUPTIONS["sales"]["store_day_x100"](feed_world.case(first))
    assert feed_world.load("sales", "x100", scaled).status == QUARANTINED
    catalog = _text(export_feed(feed_world.engine, "catalog", TODAY))
    wild = CORRUPTIONS["catalog"]["price_x100"](feed_world.case(catalog))
    assert feed_world.load("catalog", "price-x100", wild).status == QUARANTINED
    assert _model_inputs(feed_world.engine) == before

    # The same day's clean file does reach them: the digests can tell.
    assert feed_world.load("sales", "clean", first).status == ACCEPTED
    after = _model_inputs(feed_world.engine)
    assert after[0] != before[0] and after[1] != before[1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_inventory_snapshot_is_checked_then_written_over_the_stock(
    feed_world: FeedWorld,
) -> None:
    snapshot = _text(export_feed(feed_world.engine, "inventory", FEED_DAYS[1]))
    for name in ("negative_stock", "store_stock_x100", "unknown_store", "future_date"):
        bad = CORRUPTIONS["inventory"][name](feed_world.case(snapshot))
        assert feed_world.load("inventory", name, bad).status == QUARANTINED, name
    sold = snapshot.copy()
    sold.loc[sold.index[0], "on_hand"] = str(int(sold["on_hand"].iloc[0]) + 7)
    result = feed_world.load("inventory", "clean", sold)
    assert result.status == ACCEPTED and result.rows_applied == len(sold)
    first = sold.iloc[0]
    with Session(feed_world.engine) as session:
        position = session.get(InventoryPosition, (first["variant_id"], first["location_id"]))
        assert position is not None and position.on_hand == int(first["on_hand"])
    older = snapshot.assign(as_of=FEED_DAYS[0].isoformat())
    stale = feed_world.load("inventory", "older", older)
    assert stale.status == QUARANTINED and "older than the one already applied" in (
        stale.reason or ""
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_catalogue_update_records_its_price_changes(feed_world: FeedWorld) -> None:
    catalog = _text(export_feed(feed_world.engine, "catalog", TODAY))
    marked = catalog.copy()
    sku = marked["variant_id"].iloc[0]
    new_price = round(float(marked["price"].iloc[0]) * 0.7, 2)
    marked.loc[marked.index[0], "price"] = f"{new_price:.2f}"
    result = feed_world.load("catalog", "markdown", marked)
    assert result.status == ACCEPTED, result.reason
    with Session(feed_world.engine) as session:
        assert session.get(Variant, sku).price == pytest.approx(new_price)  # type: ignore[union-attr]
        change = session.scalars(
            select(PriceChange).where(
                PriceChange.variant_id == sku, PriceChange.effective_on == TODAY
            )
        ).one()
        assert change.price == pytest.approx(new_price) and change.reason == "list_change"
        changes = session.scalar(
            select(func.count()).select_from(PriceChange).where(PriceChange.effective_on == TODAY)
        )
    assert changes == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_replacing_the_world_forgets_the_batches_loaded_into_it(
    feed_world: FeedWorld, tmp_path: Path
) -> None:
    first = feed_world.clean[FEED_DAYS[0]]
    assert feed_world.load("sales", "clean", first).status == ACCEPTED
    seed_world(
        feed_world.engine,
        scale="small",
        seed=6,
        end=PINNED_END,
        world_dir=tmp_path / "world",
        show_progress=False,
        spec=ScaleSpec(25, 3, 40, 120, 0.8, 20, 1.0),
        replace=True,
    )
    with Session(feed_world.engine) as session:
        assert session.scalar(select(func.count()).select_from(FeedBatch)) == 0
    # Checked again against the new world, whose catalogue is another: not skipped as known.
    again = feed_world.load("sales", "clean", first)
    assert not again.already_loaded and again.status == QUARANTINED
    assert "the catalogue does not have" in (again.reason or ""), again.reason
