"""The application's one clock (`retail.clock`): a generated world's own today, recorded when it
is seeded (or, for a world seeded before that, the day after its last sales), the wall clock
without a world and always in production; a world seeded without a pinned end ends yesterday, so
its today is the wall clock's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from retail.clock import TODAY_KEY, clock, seed_end, today
from retail.errors import AisleError
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import DailySales, DatasetLoad
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

SPEC = ScaleSpec(4, 1, 5, 90, 1.0, 5, 1.0)


def _wall() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _seed(engine: Engine, tmp_path: Path, end: dt.date) -> None:
    seed_world(
        engine,
        scale="small",
        seed=3,
        end=end,
        world_dir=tmp_path / "world",
        show_progress=False,
        spec=SPEC,
    )


def _last_sale(engine: Engine) -> dt.date | None:
    with Session(engine) as session:
        return session.scalar(select(func.max(DailySales.day)))


def test_a_world_pinned_to_a_past_day_runs_on_its_own_clock(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", environment="test")
    wall = _wall()
    assert clock(engine, settings).source == "wall"
    assert clock(engine, settings).note() is None
    assert today(engine, settings) in {wall, wall + dt.timedelta(days=1)}  # midnight

    _seed(engine, tmp_path, PINNED_END)
    with Session(engine) as session:
        recorded = session.scalar(select(DatasetLoad.parameters))
    assert _last_sale(engine) == PINNED_END
    world = clock(engine, settings)
    assert (world.source, world.today) == ("world", PINNED_END + dt.timedelta(days=1))
    assert recorded is not None and recorded[TODAY_KEY] == world.today.isoformat()
    # Its day is not the wall clock's, so the header names both.
    assert world.wall in {_wall(), wall} and world.wall > world.today
    assert world.note() == (
        f"demo world's clock: its sales data end {PINNED_END.isoformat()}; "
        f"the wall clock says {world.wall.isoformat()}"
    )
    # The same from a session, and production always reads the wall clock.
    with Session(engine) as session:
        assert today(session, settings) == world.today
    prod = Settings(var_dir=tmp_path / "var", environment="prod", secret_key="real")
    assert clock(engine, prod).source == "wall"

    # A world seeded before its today was recorded: the day after its last sales, the same rule.
    with transaction(engine) as session:
        session.execute(update(DatasetLoad).values(parameters={"scale": "small"}))
        session.execute(delete(DailySales).where(DailySales.day == PINNED_END))
    assert clock(engine, settings).today == PINNED_END


def test_a_world_seeded_without_a_pinned_end_is_dated_by_the_wall_clock(
    engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(var_dir=tmp_path / "var", environment="test")
    before = _wall()
    end = seed_end()
    _seed(engine, tmp_path, end)
    world = clock(engine, settings)
    after = _wall()

    assert end in {before - dt.timedelta(days=1), after - dt.timedelta(days=1)}
    assert _last_sale(engine) == end
    assert world.source == "world" and world.today == end + dt.timedelta(days=1)
    if after == before:  # not across midnight: the demo has one date
        assert world.today == world.wall == after
        assert world.note() == f"demo world's clock: its sales data end {end.isoformat()}"


def test_a_pinned_end_must_have_passed() -> None:
    yesterday = _wall() - dt.timedelta(days=1)
    assert seed_end(yesterday) == yesterday
    assert seed_end(yesterday - dt.timedelta(days=30)) == yesterday - dt.timedelta(days=30)
    tomorrow = _wall() + dt.timedelta(days=1)
    with pytest.raises(AisleError, match=f"{tomorrow.isoformat()} has not"):
        seed_end(tomorrow)
