"""The audit log on both databases: appends chain, verification finds every kind of tampering."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session

from retail.store.models import AuditEvent
from tools.audit import REDACTED, append_event, redact, verify_chain


def _append(engine: Engine, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        append_event(
            engine,
            event_type="tool_call",
            principal_id=f"user-{i % 3}",
            role="shopper",
            status="ok",
            tool_name="search_products",
            tool_call_id=f"call-{i}",
            arguments={"query": f"jacket {i}", "email": "a@b.example"},
            result={"hits": [i]},
            latency_ms=1.5 + i,
        )


def test_appended_events_chain_and_verify(engine: Engine) -> None:
    _append(engine, 5)
    report = verify_chain(engine)
    assert report.ok, report.problems
    assert report.events == 5 and report.head_seq == 5
    with Session(engine) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert events[0].arguments["email"] == REDACTED


def test_an_edited_event_is_found(engine: Engine) -> None:
    _append(engine, 6)
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(status="forbidden"))
    report = verify_chain(engine)
    assert not report.ok
    assert [(p.seq, p.problem) for p in report.problems] == [
        (3, "was changed after it was written")
    ]


def test_a_deleted_event_is_found(engine: Engine) -> None:
    _append(engine, 6)
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    report = verify_chain(engine)
    assert {p.seq for p in report.problems} == {5}
    assert any("missing or out of order" in p.problem for p in report.problems)


def test_reordered_events_are_found(engine: Engine) -> None:
    _append(engine, 6)
    with Session(engine) as session, session.begin():
        # Swap events 2 and 3 through a free seq, keeping every row's own hash intact.
        session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(seq=1000))
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(seq=2))
        session.execute(update(AuditEvent).where(AuditEvent.seq == 1000).values(seq=3))
    report = verify_chain(engine)
    assert not report.ok
    assert {p.seq for p in report.problems} >= {2, 3}


def test_a_truncated_tail_is_found(engine: Engine) -> None:
    _append(engine, 6)
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEvent).where(AuditEvent.seq >= 5))
    report = verify_chain(engine)
    assert len(report.problems) == 1
    assert "removed from the end" in report.problems[0].problem


def test_an_empty_log_verifies(engine: Engine) -> None:
    report = verify_chain(engine)
    assert report.ok and report.events == 0


@pytest.mark.postgres
def test_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself; the race is PostgreSQL's")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: _append(engine, 10, start=s * 10), range(8)))
    report = verify_chain(engine)
    assert report.ok, report.problems
    assert report.events == 80
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(DISTINCT prev_hash) FROM audit_events")).scalar() == 80
        )


def test_redaction_covers_keys_and_patterns() -> None:
    out = redact(
        {
            "order_id": "#W123",
            "address": {"address1": "1 Main St", "city": "Austin"},
            "note": "call +1 (555) 010-9999 or mail jo@x.io, card 4111 1111 1111 1111",
            "items": [{"payment_method_id": "credit_card_1"}],
        }
    )
    assert out["order_id"] == "#W123"
    assert out["address"] == REDACTED
    assert "555" not in out["note"] and "jo@x.io" not in out["note"] and "4111" not in out["note"]
    assert out["items"][0]["payment_method_id"] == REDACTED
