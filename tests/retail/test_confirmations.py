"""Write confirmations in the database (`retail.confirmations`), on SQLite and PostgreSQL: a
question is used once, in the transaction of the write it confirms, by its own principal only,
and not after it lapsed. The MCP tests drive the same rows through real server processes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retail import confirmations
from retail.identity import Principal
from retail.store.db import transaction
from retail.store.models import WriteConfirmation

ANA = Principal.parse("planner:ana")
DIGEST = "d" * 64


def claim(engine: Engine, principal: Principal = ANA, digest: str = DIGEST) -> str:
    with transaction(engine) as session:
        return confirmations.claim(session, principal, digest)


def test_a_confirmation_is_used_once_and_a_write_that_fails_gives_it_back(
    engine: Engine,
) -> None:
    confirmations.ask(engine, ANA, DIGEST, "modify_user_address")
    with pytest.raises(RuntimeError), transaction(engine) as session:
        assert confirmations.claim(session, ANA, DIGEST) == "claimed"
        raise RuntimeError("the write failed after its claim")
    assert claim(engine, Principal.parse("planner:bob")) == "not_asked"
    assert claim(engine, ANA, "e" * 64) == "not_asked"
    assert claim(engine) == "claimed"
    assert claim(engine) == "used"
    # Asked again, the person may agree again: once more.
    confirmations.ask(engine, ANA, DIGEST, "modify_user_address")
    assert claim(engine) == "claimed"
    assert claim(engine) == "used"


def test_a_lapsed_question_confirms_nothing_and_goes_when_the_next_is_asked(
    engine: Engine,
) -> None:
    confirmations.ask(engine, ANA, DIGEST, "cancel_order")
    with transaction(engine) as session:
        session.execute(
            update(WriteConfirmation).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert claim(engine) == "not_asked"
    confirmations.ask(engine, ANA, "e" * 64, "cancel_order")
    with Session(engine) as session:
        held = session.scalars(select(WriteConfirmation.digest)).all()
        assert held == ["e" * 64]
        assert session.scalar(select(func.count()).select_from(WriteConfirmation)) == 1
