"""Deciding proposals on both databases: the rules every approval queue shares."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.errors import NotFoundError
from retail.proposals import (
    ContentHashMismatchError,
    InvalidTransitionError,
    ProposalError,
    SelfApprovalError,
    content_hash,
    create_proposal,
    decide,
)

CONTENT = {"supplier_id": "sup-1", "lines": [{"variant_id": "v1", "quantity": 12}]}


def _proposal(engine: Engine, **kw: object) -> tuple[str, str]:
    with Session(engine) as session, session.begin():
        p = create_proposal(
            session, kind="purchase_order", content=CONTENT, proposer="agent:replenishment", **kw
        )
        return p.id, p.content_hash


def test_approve_once_then_a_replay_is_refused(engine: Engine) -> None:
    pid, digest = _proposal(engine)
    with Session(engine) as session, session.begin():
        p = decide(session, pid, decider="planner:ana", decision="approve", expected_hash=digest)
        assert (p.status, p.decided_by) == ("approved", "planner:ana")
    with Session(engine) as session, session.begin(), pytest.raises(InvalidTransitionError):
        decide(session, pid, decider="planner:bo", decision="approve", expected_hash=digest)


def test_the_proposer_cannot_decide(engine: Engine) -> None:
    pid, digest = _proposal(engine)
    with Session(engine) as session, session.begin(), pytest.raises(SelfApprovalError):
        decide(
            session, pid, decider="agent:replenishment", decision="approve", expected_hash=digest
        )


def test_content_changed_since_read_is_refused(engine: Engine) -> None:
    pid, _ = _proposal(engine)
    stale = content_hash({**CONTENT, "lines": []})
    with Session(engine) as session, session.begin(), pytest.raises(ContentHashMismatchError):
        decide(session, pid, decider="planner:ana", decision="approve", expected_hash=stale)
    with Session(engine) as session:
        from retail.store.models import Proposal

        assert session.get(Proposal, pid).status == "proposed"  # type: ignore[union-attr]


def test_edit_replaces_content_and_hash(engine: Engine) -> None:
    pid, digest = _proposal(engine)
    edited = {**CONTENT, "lines": [{"variant_id": "v1", "quantity": 6}]}
    with Session(engine) as session, session.begin():
        p = decide(
            session,
            pid,
            decider="planner:ana",
            decision="edit",
            expected_hash=digest,
            edited_content=edited,
        )
        assert p.status == "edited"
        assert p.content == edited and p.content_hash == content_hash(edited)


def test_reject_needs_a_reason_and_unknown_or_expired_are_refused(engine: Engine) -> None:
    pid, digest = _proposal(engine)
    with Session(engine) as session, session.begin(), pytest.raises(ProposalError):
        decide(session, pid, decider="planner:ana", decision="reject", expected_hash=digest)
    with Session(engine) as session, session.begin(), pytest.raises(NotFoundError):
        decide(
            session, "prop-nope", decider="planner:ana", decision="approve", expected_hash=digest
        )
    old_id, old_digest = _proposal(
        engine, location_id="store-x", expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    with Session(engine) as session, session.begin(), pytest.raises(InvalidTransitionError):
        decide(session, old_id, decider="planner:ana", decision="approve", expected_hash=old_digest)
