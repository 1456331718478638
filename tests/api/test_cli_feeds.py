"""`aisle data export-feed|load|feeds` on a tiny world: the exit codes (0 accepted, 1
quarantined, 2 for a file that cannot be read), the sentences, and the batch list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from evals.feeds import withhold_sales
from retail.settings import get_settings
from retail.store.open import open_store
from retail.world.seed import PINNED_END
from tests.api.test_cli_data import _one_error_line
from tests.ml_core.tiny_world import seed_tiny_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py

LAST = PINNED_END
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(aisle: Aisle) -> None:
    engine = seed_tiny_world(open_store(), get_settings().var_dir, days=120, stores=3)
    engine.dispose()


def test_a_day_exported_then_withheld_loads_back_and_a_broken_copy_is_quarantined(
    aisle: Aisle, world: None, tmp_path: Path
) -> None:
    clean = tmp_path / "sales.csv"
    exported = aisle(
        "data", "export-feed", "sales", "--day", LAST.isoformat(), "--output", str(clean)
    )
    assert exported.exit_code == 0, exported.output
    engine = open_store()
    withhold_sales(engine, LAST)
    engine.dispose()

    lines = clean.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([header, *rows, rows[0]]) + "\n")
    quarantined = aisle("data", "load", "sales", str(broken))
    assert quarantined.exit_code == 1, quarantined.output
    assert quarantined.stdout.startswith("Batch 1 quarantined: The sales file repeats 1 row ")

    accepted = aisle("data", "load", "sales", str(clean), "--json")
    assert accepted.exit_code == 0, accepted.output
    body = json.loads(accepted.stdout)
    assert body["status"] == "accepted" and body["rows_applied"] == len(rows)
    assert body["first_day"] == LAST.isoformat()

    listed = json.loads(aisle("data", "feeds", "--json").stdout)
    assert [(b["id"], b["status"]) for b in listed] == [(2, "accepted"), (1, "quarantined")]
    assert listed[1]["reason"] == quarantined.stdout.removeprefix("Batch 1 quarantined: ").strip()
    assert Path(listed[1]["kept_at"]).read_bytes() == broken.read_bytes()
    only = json.loads(aisle("data", "feeds", "--status", "quarantined", "--json").stdout)
    assert [b["id"] for b in only] == [1]
    table = aisle("data", "feeds")
    assert table.exit_code == 0 and "quarantined" in table.stdout


def test_a_file_that_cannot_be_read_is_exit_2_and_no_batch(
    aisle: Aisle, world: None, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.csv"
    assert _one_error_line(aisle("data", "load", "sales", str(missing))).endswith(
        "nope.csv does not exist."
    )
    binary = tmp_path / "sales.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert "is not UTF-8 text" in _one_error_line(aisle("data", "load", "sales", str(binary)))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('day,location_id\n2026-11-15,"S001\n')
    assert "is not a readable CSV file" in _one_error_line(
        aisle("data", "load", "sales", str(ragged))
    )
    assert _one_error_line(aisle("data", "export-feed", "sales")) == (
        "error: Which day's sales? Give --day YYYY-MM-DD."
    )
    assert json.loads(aisle("data", "feeds", "--json").stdout) == []


def test_export_feed_dates_a_catalogue_file_today_by_the_worlds_clock(
    aisle: Aisle, world: None
) -> None:
    result = aisle("data", "export-feed", "catalog")
    assert result.exit_code == 0, result.output
    header, first = result.stdout.splitlines()[:2]
    assert header == "effective_on,variant_id,product_id,price,unit_cost,available"
    assert first.startswith(f"{(LAST + dt.timedelta(days=1)).isoformat()},")
