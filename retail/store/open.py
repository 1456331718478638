"""Opening the configured store: connect, then migrate to the current schema."""

from __future__ import annotations

from sqlalchemy import Engine

from retail.settings import Settings, get_settings
from retail.store.db import make_engine
from retail.store.schema import upgrade


def open_store(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine
