"""Opening the configured store: connect, then migrate to the current schema."""

from __future__ import annotations

from sqlalchemy import Engine

from retail.settings import Settings, get_settings
from retail.store.db import PoolLimits, make_engine
from retail.store.schema import upgrade


def open_store(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    pool = PoolLimits(
        size=settings.database_pool_size,
        overflow=settings.database_max_overflow,
        timeout_s=settings.database_pool_timeout_s,
    )
    engine = make_engine(settings.resolved_database_url, pool=pool)
    upgrade(engine)
    return engine
