"""The LangGraph checkpointer every graph uses: SQLite under `var/` by default, PostgreSQL when
the store is PostgreSQL (the same database, LangGraph's own tables).

A graph checkpoints after every node, so a process killed mid-run resumes from the last
completed node with `Command(resume=...)` or a plain re-invoke on the same thread id.
`compile_with` compiles a graph whose checkpoints revive only its own state models.
"""

from __future__ import annotations

import copy
import sqlite3
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

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
    # As the store's own SQLite (retail.store.db): write-ahead log, synced at checkpoints. A turn
    # commits a checkpoint after every node under the saver's one lock, and the default rollback
    # journal's fsyncs cost about 2 ms a commit here against 0.06 ms, serialising every
    # conversation behind the disk. A crash loses no committed turn; a power cut may lose the
    # last ones, never the file's consistency.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        sqlite_saver = SqliteSaver(conn)
        sqlite_saver.setup()
        yield sqlite_saver
    finally:
        conn.close()


def compile_with(
    builder: StateGraph[Any, Any, Any, Any],
    state_type: type[BaseModel],
    checkpointer: BaseCheckpointSaver[Any],
    *,
    name: str,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile, named `name` (the agent's name in its traces), with a copy of the checkpointer
    that revives exactly the state's own pydantic models from a checkpoint (the default
    serializer revives any class it finds, with a warning now and a refusal in later LangGraph
    versions)."""
    allowed = {(model.__module__, model.__qualname__) for model in _models_in(state_type)}
    saver = copy.copy(checkpointer)
    saver.serde = JsonPlusSerializer(allowed_msgpack_modules=sorted(allowed))
    return builder.compile(checkpointer=saver, name=name)


def _models_in(annotation: Any, seen: set[type] | None = None) -> Iterator[type[BaseModel]]:
    seen = set() if seen is None else seen
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation, seen)
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg, seen)
