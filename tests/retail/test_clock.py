"""The application's one clock (`retail.clock`): a generated world's own today, recorded when it
is seeded (or, for a world seeded before that, the day after its last sales), the wall clock
without a world and always in production."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from retail.clock import TODAY_KEY, clock, today
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import DailySales, DatasetLoad
from retail.world.seed import ScaleSpec, seed_world

SPEC = ScaleSpec(4, 1, 5, 90, 1.0, 5, 1.0)


def test_a_seeded_world_runs_on_its_own_clock(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", environment="test")
    wall = dt.datetime.now(dt.UTC).date()
    assert clock(engine, settings).source == "wall"
    assert today(engine, settings) in {wall, wall + dt.timedelta(days=1)}  # midnight

    seed_world(
        engine, scale="small", seed=3, world_dir=tmp_path / "world", show_progress=False, spec=SPEC
    )
    with Session(engine) as session:
        last_sale = session.scalar(select(func.max(DailySales.day)))
        recorded = session.scalar(select(DatasetLoad.parameters))
    assert last_sale is not None
    world = clock(engine, settings)
    assert (world.source, world.today) == ("world", last_sale + dt.timedelta(days=1))
    assert recorded is not None and recorded[TODAY_KEY] == world.today.isoformat()
    assert world.describe() == f"{world.today.isoformat()} (demo world's clock)"
    # The same from a session, and production always reads the wall clock.
    with Session(engine) as session:
        assert today(session, settings) == world.today
    prod = Settings(var_dir=tmp_path / "var", environment="prod", secret_key="real")
    assert clock(engine, prod).source == "wall"

    # A world seeded before its today was recorded: the day after its last sales, the same rule.
    with transaction(engine) as session:
        session.execute(update(DatasetLoad).values(parameters={"scale": "small"}))
        session.execute(delete(DailySales).where(DailySales.day == last_sale))
    assert clock(engine, settings).today == last_sale
