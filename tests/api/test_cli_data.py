"""`aisle data seed`, `aisle db upgrade`, `aisle data stats`: results and one-sentence failures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import Result

from retail.clock import clock
from retail.settings import get_settings
from retail.store.models import DailySales
from retail.store.open import open_store
from retail.store.schema import head_revision
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py

TINY = ScaleSpec(30, 2, 60, 200, 0.8, 30, 2.0)


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_db_upgrade_reports_the_revision(aisle: Aisle) -> None:
    result = aisle("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.stdout


def test_a_wrong_scale_is_refused_with_exit_2(aisle: Aisle) -> None:
    result = aisle("data", "seed", "--scale", "huge")
    assert result.exit_code == 2
    assert "'huge' is not one of 'small', 'medium', 'large'" in result.stderr
    assert "Traceback" not in result.output


def test_a_second_world_needs_replace(aisle: Aisle) -> None:
    engine = open_store()
    seed_world(
        engine,
        scale="small",
        seed=1,
        end=PINNED_END,
        world_dir=get_settings().world_dir,
        show_progress=False,
        spec=TINY,
    )
    before = json.loads(aisle("data", "stats", "--json").stdout)
    line = _one_error_line(aisle("data", "seed", "--scale", "small", "--seed", "2"))
    assert line.startswith("error: The database already holds a generated world")
    assert "--replace" in line
    assert json.loads(aisle("data", "stats", "--json").stdout) == before
    engine.dispose()


def test_stats_reports_counts_per_source(aisle: Aisle, shared_data: Path) -> None:
    imported = aisle(
        "data", "import", "walmart", str(shared_data / "walmart" / "walmart_sales_weekly.csv")
    )
    assert imported.exit_code == 0, imported.output
    stats = json.loads(aisle("data", "stats", "--json").stdout)
    assert stats["tables"]["department_weekly_sales"] == 1001
    assert stats["by_source"]["walmart"]["department_weekly_sales"] == 1001
    table = aisle("data", "stats")
    assert table.exit_code == 0 and "department_weekly_sales" in table.stdout


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", "Cannot connect to the database at"),
        ("not a url", "is not a valid URL"),
        ("mysql://root@127.0.0.1/test", "unsupported database"),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_sentence(
    aisle: Aisle, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("AISLE_DATABASE_URL", url)
    get_settings.cache_clear()
    for command in (("data", "stats"), ("data", "seed"), ("db", "upgrade")):
        line = _one_error_line(aisle(*command))
        assert line.startswith("error: ") and message in line


def test_seed_prints_counts_and_a_second_run_changes_nothing(
    aisle: Aisle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retail.world.seed as seed_module

    # The real small world takes half a minute; the CLI path is the same at any size.
    monkeypatch.setitem(seed_module.SCALES, "small", TINY)
    first = aisle("data", "seed", "--scale", "small", "--seed", "3")
    assert first.exit_code == 0, first.output
    assert "daily_sales" in first.stdout and "seeded scale small, seed 3" in first.stdout
    before = json.loads(aisle("data", "stats", "--json").stdout)
    assert before["products"] == TINY.n_products
    second = aisle("data", "seed", "--scale", "small", "--seed", "3")
    assert second.exit_code == 0 and "already seeded" in second.stdout
    assert json.loads(aisle("data", "stats", "--json").stdout) == before


def test_seed_ends_the_world_yesterday_unless_end_pins_it(
    aisle: Aisle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retail.world.seed as seed_module

    monkeypatch.setitem(seed_module.SCALES, "small", TINY)

    def seed(*args: str) -> set[dt.date]:
        """Seed with `args`; the wall clock's date before and after."""
        before = dt.datetime.now(dt.UTC).date()
        result = aisle("data", "seed", "--seed", "3", *args)
        assert result.exit_code == 0, result.output
        return {before, dt.datetime.now(dt.UTC).date()}

    engine = open_store()
    try:
        # On the day it is seeded the world's today is the wall clock's: the demo has one date.
        walls = seed()
        assert clock(engine).source == "world" and clock(engine).today in walls

        seed("--end", "2026-10-01", "--replace")
        assert clock(engine).today == dt.date(2026, 10, 2)
        with Session(engine) as session:
            assert session.scalar(select(func.max(DailySales.day))) == dt.date(2026, 10, 1)
        # Seeding the same world again keeps its days, whatever the wall clock says ...
        again = aisle("data", "seed", "--seed", "3")
        assert "already seeded: scale small, seed 3, sales ending 2026-10-01" in again.stdout
        assert clock(engine).today == dt.date(2026, 10, 2)
        # ... another seed is another world ...
        line = _one_error_line(aisle("data", "seed", "--seed", "4"))
        assert "(scale small, seed 3, sales ending 2026-10-01); pass --replace" in line
        # ... and --replace brings it to today.
        walls = seed("--replace")
        assert clock(engine).today in walls
    finally:
        engine.dispose()


@pytest.mark.parametrize("end", ["2026-13-01", "yesterday", "tomorrow"])
def test_an_end_that_is_not_a_past_date_is_one_sentence(aisle: Aisle, end: str) -> None:
    if end == "tomorrow":
        end = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    line = _one_error_line(aisle("data", "seed", "--end", end))
    assert line.startswith("error: ")
    assert "YYYY-MM-DD" in line or f"{end} has not" in line
    assert json.loads(aisle("data", "stats", "--json").stdout)["products"] == 0
