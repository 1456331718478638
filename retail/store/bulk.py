"""Fast, dialect-aware writes: COPY on PostgreSQL, executemany on SQLite, insert-if-absent upserts."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from retail.store.models import Base

# Rows per round trip; big enough to amortise the call, small enough to keep memory flat.
_BATCH = 20_000


def _copy_literal(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Append rows to `table` as fast as the backend allows; returns the number written.

    Values must already be plain Python scalars (str, int, float, bool, date, None).
    """
    written = 0
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        cols = ", ".join(columns)
        with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join(_copy_literal(v) for v in row))
                buffer.write("\n")
                written += 1
                if written % _BATCH == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        return written
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    cursor = conn.connection.driver_connection.cursor()
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            cursor.executemany(sql, batch)
            written += len(batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)
        written += len(batch)
    cursor.close()
    return written


def insert_missing(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows whose primary key is not present yet; returns how many were new.

    Existing rows are left exactly as they are, so an import run twice changes nothing and
    never overwrites what Aisle itself changed since (a cancelled order stays cancelled).
    """
    if not rows:
        return 0
    before = conn.execute(select(func.count()).select_from(table)).scalar_one()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # Parameter limits (SQLite 32k, PostgreSQL 65k) bound rows per statement.
    per_statement = max(1, 30_000 // max(1, len(rows[0])))
    for start in range(0, len(rows), per_statement):
        chunk = list(rows[start : start + per_statement])
        conn.execute(insert(table).values(chunk).on_conflict_do_nothing())
    after = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return int(after - before)


def table(name: str) -> Table:
    return Base.metadata.tables[name]
