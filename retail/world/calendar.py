"""The retail calendar of the generated world: US shopping holidays and the days stores close.

Holiday effects are chain-wide multipliers on expected demand; the ground truth saves them so a
forecaster's holiday features can be judged against the effect that was really there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def holiday_events(year: int) -> list[tuple[dt.date, str, float, float]]:
    """(date, name, store lift, online lift) for one year; a lift of 0 means closed."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    memorial = _last_weekday(year, 5, 0)
    labor = _nth_weekday(year, 9, 0, 1)
    presidents = _nth_weekday(year, 2, 0, 3)
    day = dt.timedelta(days=1)
    events = [
        (dt.date(year, 1, 1), "New Year's Day", 0.6, 0.9),
        (presidents, "Presidents' Day", 1.2, 1.2),
        (memorial - 2 * day, "Memorial Day weekend", 1.25, 1.15),
        (memorial - day, "Memorial Day weekend", 1.3, 1.15),
        (memorial, "Memorial Day", 1.35, 1.2),
        (dt.date(year, 7, 3), "Independence Day eve", 1.2, 1.1),
        (dt.date(year, 7, 4), "Independence Day", 0.8, 1.2),
        (labor - 2 * day, "Labor Day weekend", 1.2, 1.1),
        (labor, "Labor Day", 1.3, 1.2),
        (thanksgiving, "Thanksgiving", 0.0, 1.3),
        (thanksgiving + day, "Black Friday", 2.8, 2.4),
        (thanksgiving + 2 * day, "Black Friday weekend", 1.8, 1.6),
        (thanksgiving + 3 * day, "Black Friday weekend", 1.5, 1.6),
        (thanksgiving + 4 * day, "Cyber Monday", 1.1, 2.6),
        (dt.date(year, 12, 24), "Christmas Eve", 1.4, 0.9),
        (dt.date(year, 12, 25), "Christmas Day", 0.0, 0.6),
        (dt.date(year, 12, 26), "Boxing Day", 1.6, 1.4),
    ]
    # The gift-buying run-up: demand climbs through December until Christmas Eve.
    for d in range(1, 24):
        lift = 1.1 + 0.5 * d / 23
        events.append((dt.date(year, 12, d), "Holiday season", lift, lift))
    return events


@dataclass(frozen=True, slots=True)
class WorldCalendar:
    days: tuple[dt.date, ...]
    day_of_year: np.ndarray  # (n_days,) 1..366
    day_of_week: np.ndarray  # (n_days,) Monday=0
    store_lift: np.ndarray  # (n_days,) holiday multiplier for physical stores, 0 when closed
    online_lift: np.ndarray  # (n_days,) the same for the online channel
    holiday_names: tuple[str, ...]  # "" on ordinary days

    @property
    def n_days(self) -> int:
        return len(self.days)


def build_calendar(start: dt.date, n_days: int) -> WorldCalendar:
    days = tuple(start + dt.timedelta(days=i) for i in range(n_days))
    index = {d: i for i, d in enumerate(days)}
    store = np.ones(n_days)
    online = np.ones(n_days)
    names = [""] * n_days
    for year in range(days[0].year, days[-1].year + 1):
        for date, name, store_lift, online_lift in holiday_events(year):
            i = index.get(date)
            if i is None:
                continue
            # The December ramp overlaps named days; the named day's own effect wins.
            if names[i] and name == "Holiday season":
                continue
            store[i], online[i], names[i] = store_lift, online_lift, name
    return WorldCalendar(
        days=days,
        day_of_year=np.array([d.timetuple().tm_yday for d in days]),
        day_of_week=np.array([d.weekday() for d in days]),
        store_lift=store,
        online_lift=online,
        holiday_names=tuple(names),
    )
