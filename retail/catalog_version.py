"""The catalogue's version: how a process holding a snapshot of the catalogue learns it is stale.

Every write that changes what a shopper can buy or what they pay (an approved price change, an
inventory snapshot or catalogue file loaded as a feed) calls `bump` in its own transaction, so
the new version commits with the rows it describes or not at all. A reader (the recommender's
catalogue snapshot, `ml_core.recommend.serving`) compares `current` with the version it loaded
from: one primary-key read, which every process sharing the database sees the same, on SQLite as
on PostgreSQL, with or without Redis.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from retail.store.models import CatalogVersion


def bump(bind: Connection | Session) -> None:
    """Move the version on, inside the caller's transaction (its row lock also orders two
    writers on PostgreSQL)."""
    bind.execute(
        update(CatalogVersion)
        .where(CatalogVersion.id == 1)
        .values(version=CatalogVersion.version + 1, changed_at=dt.datetime.now(dt.UTC))
    )


def current(bind: Connection | Session) -> int:
    """The version now (0 before any write moved it)."""
    found = bind.execute(select(CatalogVersion.version).where(CatalogVersion.id == 1)).scalar()
    return int(found or 0)
