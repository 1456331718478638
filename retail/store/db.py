"""Engines and sessions for the SQL store, SQLite by default and PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from retail.errors import DatabaseUnavailableError


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we install; plain postgresql:// would ask for psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections an engine's pool keeps (`size`) and lends beyond those
    (`overflow`), and how long a caller waits for one before `sqlalchemy.exc.TimeoutError`."""

    size: int
    overflow: int
    timeout_s: float


def make_engine(url: str, *, check: bool = True, pool: PoolLimits | None = None) -> Engine:
    """Build an engine for `url` and, unless told not to, prove it can connect. `pool`: the
    pool's limits (SQLAlchemy's defaults when None; an in-memory SQLite has no such pool).

    Raises DatabaseUnavailableError with one sentence when the URL is malformed or unreachable.
    """
    try:
        sa_url = make_url(_normalise(url))
    except ArgumentError:
        raise DatabaseUnavailableError(f"The database URL {url!r} is not a valid URL.") from None
    kwargs: dict[str, Any] = {}
    pooled = True
    if sa_url.get_backend_name() == "sqlite":
        pooled = bool(sa_url.database) and sa_url.database != ":memory:"
        if pooled:
            Path(str(sa_url.database)).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    if pool is not None and pooled:
        kwargs.update(pool_size=pool.size, max_overflow=pool.overflow, pool_timeout=pool.timeout_s)
    try:
        engine = create_engine(sa_url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailableError(
            f"The database URL {_redacted(url)} names an unsupported database ({exc})."
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            engine.dispose()
            raise DatabaseUnavailableError(
                f"Cannot connect to the database at {_redacted(url)}: {reason}."
            ) from None
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def begin_writing(session: Session) -> None:
    """Open the session's database transaction for writing now, if the driver has not yet.

    On SQLite, pysqlite begins a transaction only at the first INSERT, UPDATE or DELETE. A
    SAVEPOINT issued before any of them (a proposal added inside `begin_nested`) opens a
    transaction of its own, and releasing the savepoint commits it: a plan's proposals were
    committed one by one, and a plan that failed halfway left its first ones behind. A BEGIN
    IMMEDIATE first keeps every savepoint inside the session's one transaction (and takes the
    write lock at once, so a concurrent writer waits out the busy timeout rather than failing
    later). Other databases begin their transactions themselves.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together or not at all."""
    with session_factory(engine)() as session, session.begin():
        yield session
