"""The LangGraph checkpointer every graph uses: SQLite under `var/` by default, PostgreSQL when
the store is PostgreSQL (the same database, LangGraph's own tables).

A graph checkpoints after every node, so a process killed mid-run resumes from the last
completed node with `Command(resume=...)` or a plain re-invoke on the same thread id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver

from retail.settings import Settings


def _postgres_conninfo(url: str) -> str:
    # SQLAlchemy names the driver in the scheme; libpq does not know `postgresql+psycopg`.
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else url


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[str]]:
    """A ready checkpointer for the configured store; closed when the block ends."""
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_postgres_conninfo(url)) as saver:
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # One connection shared by the graph's threads; SqliteSaver serialises access with its lock.
    conn = sqlite3.connect(settings.var_dir / "checkpoints.sqlite", check_same_thread=False)
    try:
        sqlite_saver = SqliteSaver(conn)
        sqlite_saver.setup()
        yield sqlite_saver
    finally:
        conn.close()
