"""Fast, dialect-aware writes: COPY on PostgreSQL, executemany on SQLite, insert-if-absent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from retail.store.models import Base

# Rows per round trip; big enough to amortise the call, small enough to keep memory flat.
_BATCH = 20_000
_CSV_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_BULK_CACHE_KIB = -262_144  # negative: KiB, so 256 MiB


def _driver(conn: Connection) -> Any:
    """The DB-API connection under SQLAlchemy's, for COPY and raw executemany."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection has been closed")
    return driver


def _sqlite_value(value: Any) -> Any:
    # Stored as SQLAlchemy's SQLite types store them, so ORM reads see the same values.
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def copy_frame(conn: Connection, table_name: str, frame: pd.DataFrame) -> int:
    """Append a data frame to a table as fast as the backend allows; returns rows written.

    PostgreSQL gets COPY in CSV form; SQLite gets executemany on the raw connection. Column names
    of the frame must be column names of the table.
    """
    if frame.empty:
        return 0
    columns = ", ".join(frame.columns)
    if conn.dialect.name == "postgresql":
        dbapi = _driver(conn)
        sql = f"COPY {table_name} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '')"
        frame = frame.copy()
        for name, col in frame.items():
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                # An explicit offset, so the server's own time zone cannot shift the instant.
                frame[name] = col.dt.strftime("%Y-%m-%d %H:%M:%S.%f%z")
        with dbapi.cursor() as cur, cur.copy(sql) as copy:
            for start in range(0, len(frame), _BATCH * 5):
                chunk = frame.iloc[start : start + _BATCH * 5]
                copy.write(chunk.to_csv(index=False, header=False, date_format=_CSV_DATETIME))
        return len(frame)
    placeholders = ", ".join("?" for _ in frame.columns)
    sql = f"INSERT INTO {table_name} ({columns}) VALUES ({placeholders})"
    converted = {
        name: [_sqlite_value(v) for v in col]
        if col.dtype == object or pd.api.types.is_datetime64_any_dtype(col)
        else col.to_numpy().tolist()
        for name, col in frame.items()
    }
    cursor = _driver(conn).cursor()
    # A bigger page cache keeps the key indexes in memory while millions of rows go in.
    previous = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute(f"PRAGMA cache_size={_SQLITE_BULK_CACHE_KIB}")
    try:
        cursor.executemany(sql, zip(*converted.values(), strict=True))
    finally:
        cursor.execute(f"PRAGMA cache_size={int(previous)}")
        cursor.close()
    return len(frame)


def insert_missing(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows whose primary key is not present yet; returns how many were new.

    Existing rows are left exactly as they are, so an import run twice changes nothing and
    never overwrites what Aisle itself changed since (a cancelled order stays cancelled).
    """
    if not rows:
        return 0
    before = conn.execute(select(func.count()).select_from(table)).scalar_one()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # One statement, many parameter sets: compiled once, sent as executemany batches.
    conn.execute(insert(table).on_conflict_do_nothing(), list(rows))
    after = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return int(after - before)


def table(name: str) -> Table:
    return Base.metadata.tables[name]
