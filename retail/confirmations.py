"""Write confirmations that any serving process honours: the write a principal was asked to
confirm, kept in the database (`write_confirmations`) rather than in one process's memory.

A client of the MCP server may ask for a write through one process and confirm it through
another (two `aisle mcp serve --transport http` behind a balancer, or a restart between the
question and the yes). Like the API's idempotency keys and the approvals, this is state that
decides whether a write happens, so it lives in SQL with the writes, not in the cache tier
(`AISLE_REDIS_URL` holds rate limits, profiles and recent events, which may be lost).

`ask` records (or renews) the question; `claim` uses it, inside the transaction of the write it
confirms: the row is marked used by an UPDATE that only an unused, unexpired row passes, so of
two processes confirming the same action at once exactly one writes (on PostgreSQL the second
UPDATE waits for the first transaction and then finds the row used; on SQLite the write
transaction holds the database's write lock from its start, `begin_writing`). A write that fails
after its claim rolls the claim back with it, and the person may confirm again.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import Engine, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from retail.identity import Principal
from retail.store.db import transaction
from retail.store.models import WriteConfirmation

# A confirmation is honoured for a while after it was asked for, as a person reads and decides.
CONFIRMATION_TTL = dt.timedelta(minutes=15)

Claim = Literal["claimed", "used", "not_asked"]


def principal_key(principal: Principal) -> str:
    """The principal as the table names it: `ROLE:ID`, with `@STORE` for a store's associate."""
    store = f"@{principal.store_id}" if principal.store_id else ""
    return f"{principal.role}:{principal.id}{store}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ask(engine: Engine, principal: Principal, digest: str, tool_name: str) -> None:
    """Record that `principal` was asked to confirm the write `digest`: honoured for
    `CONFIRMATION_TTL` from now, once. Asking again for the same write renews it, used or
    not (the person is shown the action again, and may agree again)."""
    now = _now()
    key = principal_key(principal)
    with transaction(engine) as session:
        # The principal's lapsed questions go as new ones come: the table stays small.
        session.execute(
            delete(WriteConfirmation).where(
                WriteConfirmation.principal == key, WriteConfirmation.expires_at <= now
            )
        )
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(WriteConfirmation).values(
            principal=key,
            digest=digest,
            tool_name=tool_name,
            asked_at=now,
            expires_at=now + CONFIRMATION_TTL,
            used_at=None,
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["principal", "digest"],
                set_={
                    "asked_at": statement.excluded.asked_at,
                    "expires_at": statement.excluded.expires_at,
                    "used_at": None,
                },
            )
        )


def claim(session: Session, principal: Principal, digest: str) -> Claim:
    """Use the confirmation of `digest` in `session`'s transaction (the write's own):
    "claimed" when it was asked of `principal`, is fresh and unused (it is now used, unless
    the transaction rolls back); "used" when a write already used it; "not_asked" when it was
    never asked of `principal` or has expired."""
    now = _now()
    key = principal_key(principal)
    taken = session.execute(
        update(WriteConfirmation)
        .where(
            WriteConfirmation.principal == key,
            WriteConfirmation.digest == digest,
            WriteConfirmation.used_at.is_(None),
            WriteConfirmation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) == 1:
        return "claimed"
    row = session.get(WriteConfirmation, (key, digest), populate_existing=True)
    if row is not None and row.used_at is not None:
        return "used"
    return "not_asked"
