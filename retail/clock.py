"""The application's one notion of "today".

Outside production, a database that holds a generated world runs on the world's own clock: the
day after its last day of sales, recorded in the world's `dataset_loads` row when it is seeded
(`world_today`), so a demo read weeks after it was seeded still plans from the day its sales
stop instead of proposing prices for days that have passed. Everywhere else (production, or a
store with no generated world) today is the wall clock's date, in UTC.

Business dates (when a plan starts, when an approved price takes effect, the date the pages
show in their header) come from here; the times of events (a proposal's creation, a decision,
an expiry, an audit record) stay wall-clock instants, because they record when something
happened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.settings import Settings, get_settings
from retail.store.models import DailySales, DatasetLoad

WORLD_SOURCE = "generated"
# The key of a generated world's `dataset_loads.parameters` that holds its today.
TODAY_KEY = "today"

ClockSource = Literal["wall", "world"]


@dataclass(frozen=True, slots=True)
class Clock:
    """Today's date and where it comes from."""

    today: dt.date
    source: ClockSource

    def describe(self) -> str:
        """Today as the page header says it."""
        if self.source == "world":
            return f"{self.today.isoformat()} (demo world's clock)"
        return self.today.isoformat()


def world_today(last_sales_day: dt.date) -> dt.date:
    """A generated world's today: the day after its last day of sales."""
    return last_sales_day + dt.timedelta(days=1)


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


def _wall() -> Clock:
    return Clock(today=dt.datetime.now(dt.UTC).date(), source="wall")


def _clock(session: Session) -> Clock:
    load = session.scalars(select(DatasetLoad).where(DatasetLoad.source == WORLD_SOURCE)).first()
    if load is None:
        return _wall()
    recorded = (load.parameters or {}).get(TODAY_KEY)
    if isinstance(recorded, str):
        return Clock(today=dt.date.fromisoformat(recorded), source="world")
    # A world seeded before its today was recorded: the same rule, from its sales.
    last = session.scalar(select(func.max(DailySales.day)))
    return _wall() if last is None else Clock(today=world_today(last), source="world")
