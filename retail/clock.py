"""The application's one notion of "today".

Outside production, a database that holds a generated world runs on the world's own clock: the
day after its last day of sales, recorded in the world's `dataset_loads` row when it is seeded
(`world_today`). `aisle data seed` ends a world yesterday by the wall clock (`seed_end`), so on
the day it is seeded the world's today is the wall clock's today and the demo has one date;
benchmarks, evals, tests and anyone who passes `--end` pin the last day instead, so their
figures do not move with the day they run. The world's clock does not advance after that: a demo
read days later still plans from the day after its sales stop instead of from days it has no
stock or forecasts for, and the page header then names both dates (`Clock.note`). Everywhere
else (production, or a store with no generated world) today is the wall clock's date, in UTC.

Business dates (when a plan starts, when an approved price takes effect, the date the pages
show in their header) come from here; the times of events (a proposal's creation, a decision,
an expiry, an audit record) stay wall-clock instants, because they record when something
happened, and the pages count them from now ("3 days ago", "in 7 days"), which is true whichever
date the header shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.errors import AisleError
from retail.settings import Settings, get_settings
from retail.store.models import DailySales, DatasetLoad

WORLD_SOURCE = "generated"
# The key of a generated world's `dataset_loads.parameters` that holds its today.
TODAY_KEY = "today"

ClockSource = Literal["wall", "world"]


@dataclass(frozen=True, slots=True)
class Clock:
    """Today's date, where it comes from, and the wall clock's date beside it."""

    today: dt.date
    source: ClockSource
    wall: dt.date

    def note(self) -> str | None:
        """What the page header says after today's date: whose clock it is, where the world's
        sales stop, and the wall clock's date once the two clocks differ (a demo read days after
        it was seeded, or a world pinned to another day); nothing on the wall clock."""
        if self.source == "wall":
            return None
        note = f"demo world's clock: its sales data end {last_sales_day(self.today).isoformat()}"
        if self.wall != self.today:
            note += f"; the wall clock says {self.wall.isoformat()}"
        return note


def world_today(last_day: dt.date) -> dt.date:
    """A generated world's today: the day after its last day of sales."""
    return last_day + dt.timedelta(days=1)


def last_sales_day(today: dt.date) -> dt.date:
    """A generated world's last day of sales, from its today (the inverse of `world_today`)."""
    return today - dt.timedelta(days=1)


def recorded_today(load: DatasetLoad) -> dt.date | None:
    """The today a generated world's load recorded when it was seeded (None for a world seeded
    before its today was recorded)."""
    recorded = (load.parameters or {}).get(TODAY_KEY)
    return dt.date.fromisoformat(recorded) if isinstance(recorded, str) else None


def seed_end(pinned: dt.date | None = None) -> dt.date:
    """The last day of sales of a world seeded now: yesterday by the wall clock, so the world's
    today is the wall clock's today, or `pinned`, which must have passed (a world holds no sales
    of days to come)."""
    yesterday = last_sales_day(_wall_date())
    if pinned is None:
        return yesterday
    if pinned > yesterday:
        raise AisleError(
            f"A world's sales must end on a day that has passed; {pinned.isoformat()} has not "
            f"(give {yesterday.isoformat()} or earlier)."
        )
    return pinned


def clock(bind: Session | Engine, settings: Settings | None = None) -> Clock:
    """The clock of the store behind `bind` (see the module docstring)."""
    settings = settings or get_settings()
    if settings.environment == "prod":
        return _wall()
    if isinstance(bind, Session):
        return _clock(bind)
    with Session(bind) as session:
        return _clock(session)


def today(bind: Session | Engine, settings: Settings | None = None) -> dt.date:
    """Today's date by `clock`."""
    return clock(bind, settings).today


def _wall_date() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _wall() -> Clock:
    wall = _wall_date()
    return Clock(today=wall, source="wall", wall=wall)


def _world(today: dt.date) -> Clock:
    return Clock(today=today, source="world", wall=_wall_date())


def _clock(session: Session) -> Clock:
    load = session.scalars(select(DatasetLoad).where(DatasetLoad.source == WORLD_SOURCE)).first()
    if load is None:
        return _wall()
    recorded = recorded_today(load)
    if recorded is not None:
        return _world(recorded)
    # A world seeded before its today was recorded: the same rule, from its sales.
    last = session.scalar(select(func.max(DailySales.day)))
    return _wall() if last is None else _world(world_today(last))
