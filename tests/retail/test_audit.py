"""The audit log on both databases: appends chain, verification finds every kind of tampering,
including the rewrites a database writer can make look consistent (edit and rehash, truncate and
move the head back), which only the signed checkpoints outside the database can reveal."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session

from retail.audit import (
    REDACTED,
    AuditKeyError,
    append_event,
    checkpoint,
    checkpoints_path,
    forget_checkpoints_past_head,
    redact,
    verify_chain,
)
from retail.settings import Settings
from retail.store.db import make_engine
from retail.store.models import AuditEvent
from retail.store.schema import upgrade
from tests.audit_tampering import edit_and_rehash, forge, head_hash, truncate


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var", environment="test", audit_checkpoint_every=5)


def _append(engine: Engine, settings: Settings, n: int, start: int = 0) -> None:
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
            settings=settings,
        )


def _problems(engine: Engine, settings: Settings) -> list[tuple[str, str]]:
    return [(p.where, p.problem) for p in verify_chain(engine, settings=settings).problems]


def test_appended_events_chain_and_verify(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 5)
    report = verify_chain(engine, settings=settings)
    assert report.ok, report.problems
    assert report.events == 5 and report.head_seq == 5
    with Session(engine) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert events[0].arguments["email"] == REDACTED


def test_an_edited_event_is_found(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 6)
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(status="forbidden"))
    assert _problems(engine, settings) == [("event 3", "was changed after it was written")]


def test_a_deleted_event_is_found(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 6)
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    report = verify_chain(engine, settings=settings)
    assert {p.seq for p in report.problems} == {5}
    assert any("missing or out of order" in p.problem for p in report.problems)


def test_reordered_events_are_found(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 4)
    with Session(engine) as session, session.begin():
        # Swap events 2 and 3 through a free seq, keeping every row's own hash intact.
        session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(seq=1000))
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(seq=2))
        session.execute(update(AuditEvent).where(AuditEvent.seq == 1000).values(seq=3))
    report = verify_chain(engine, settings=settings)
    assert not report.ok
    assert {p.seq for p in report.problems} >= {2, 3}


def test_a_truncated_tail_is_found(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 4)
    truncate(engine, 2, move_head=False)
    assert _problems(engine, settings) == [
        (
            "head",
            "the head says 4 events but the chain ends at 2: events were removed from the "
            "end (events 3..4)",
        )
    ]


def test_an_empty_log_verifies(engine: Engine, settings: Settings) -> None:
    report = verify_chain(engine, settings=settings)
    assert report.ok and report.events == 0 and report.checkpoints == 0
    assert checkpoint(engine, settings) is None


def test_checkpoints_are_signed_at_the_cadence_with_a_private_key(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 12)
    lines = checkpoints_path(engine, settings).read_text(encoding="utf-8").splitlines()
    with Session(engine) as session:
        hashes = dict(session.execute(select(AuditEvent.seq, AuditEvent.hash)).all())
    signed = [json.loads(line) for line in lines]
    assert [(c["seq"], c["hash"]) for c in signed] == [(5, hashes[5]), (10, hashes[10])]
    assert all(c["signature"] for c in signed)
    key = settings.resolved_audit_key_path
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.with_suffix(".pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    report = verify_chain(engine, settings=settings)
    assert report.ok, report.problems
    assert (report.checkpoints, report.checkpoint_seq, report.unsigned_events) == (2, 10, 2)


def test_an_edited_and_rehashed_chain_is_found(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 12)
    edit_and_rehash(engine, 7, status="forbidden")
    problems = _problems(engine, settings)
    # Every link and hash in the database is consistent again; only the signature betrays it.
    assert [where for where, _ in problems] == ["event 10"]
    assert problems[0][1].startswith("is not the event signed in the checkpoint of ")
    assert problems[0][1].endswith(": the chain was rewritten and rehashed within events 6..10")


def test_a_truncated_chain_with_its_head_moved_back_is_found(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 12)
    truncate(engine, 8)
    problems = _problems(engine, settings)
    assert [where for where, _ in problems] == ["event 10"]
    assert problems[0][1].endswith(
        "but the chain now ends at event 8: events were removed from the end and the head "
        "moved back (events 9..10 at least)"
    )


def test_an_approval_checkpoint_covers_the_events_since_the_last_cadence(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 7)
    signed = checkpoint(engine, settings)
    assert signed is not None and signed.seq == 7
    assert verify_chain(engine, settings=settings).checkpoint_seq == 7
    truncate(engine, 6)
    assert [where for where, _ in _problems(engine, settings)] == ["event 7"]


def test_a_forged_event_inserted_at_the_end_is_a_broken_link(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 3)
    forge(engine, 4, prev_hash="f" * 64)
    assert _problems(engine, settings) == [
        (
            "event 4",
            "does not follow event 3: its prev_hash is not that event's hash (a broken link: "
            "inserted, reordered or forged)",
        ),
        (
            "head",
            "the chain goes on past its head record (event 3) to event 4: what follows the head "
            "was written into the table, not appended through the log",
        ),
    ]


def test_a_well_linked_event_after_the_last_checkpoint_rests_on_its_links(
    engine: Engine, settings: Settings
) -> None:
    """Not tampering by itself: the report says how much of the chain no signature covers yet."""
    _append(engine, settings, 5)
    forge(engine, 6, prev_hash=head_hash(engine), move_head=True)
    report = verify_chain(engine, settings=settings)
    assert report.ok and report.checkpoint_seq == 5 and report.unsigned_events == 1


def _rewrite_checkpoints(engine: Engine, settings: Settings, edit: dict[int, str | None]) -> None:
    """Replace line N (1-based) of the checkpoint file by `edit[N]`, or drop it when None."""
    path = checkpoints_path(engine, settings)
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [edit.get(n, line) for n, line in enumerate(lines, start=1)]
    path.write_text("".join(f"{line}\n" for line in kept if line is not None), encoding="utf-8")


def test_tampered_missing_and_unreadable_signatures_are_reported(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 15)
    lines = checkpoints_path(engine, settings).read_text(encoding="utf-8").splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    moved = {**first, "seq": 4}
    unsigned = {**second, "signature": ""}
    _rewrite_checkpoints(
        engine, settings, {1: json.dumps(moved), 2: json.dumps(unsigned), 3: "{oops"}
    )
    problems = _problems(engine, settings)
    assert problems == [
        (
            "checkpoint line 1 (event 4)",
            "its signature does not match: the checkpoint was altered, or signed by another key "
            f"than {settings.resolved_audit_key_path.with_suffix('.pub')}",
        ),
        ("checkpoint line 2 (event 10)", "has no signature"),
        ("checkpoint line 3", "is not a checkpoint record: '{oops'"),
    ]


def test_checkpoints_without_the_public_key_are_reported(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 5)
    public = settings.resolved_audit_key_path.with_suffix(".pub")
    public.unlink()
    assert _problems(engine, settings) == [
        (
            "checkpoints",
            f"there is no readable Ed25519 public key at {public} to check the 1 signed "
            f"checkpoints in {checkpoints_path(engine, settings)} against",
        )
    ]


def test_a_signing_key_others_can_read_is_refused(engine: Engine, settings: Settings) -> None:
    _append(engine, settings, 1)
    assert checkpoint(engine, settings) is not None
    settings.resolved_audit_key_path.chmod(0o644)
    with pytest.raises(AuditKeyError, match="readable by others .* chmod 600"):
        checkpoint(engine, settings)


@pytest.mark.postgres
def test_concurrent_appends_keep_one_chain(engine: Engine, settings: Settings) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself; the race is PostgreSQL's")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: _append(engine, settings, 10, start=s * 10), range(8)))
    report = verify_chain(engine, settings=settings)
    assert report.ok, report.problems
    assert report.events == 80 and report.checkpoints == 16
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


def test_ids_and_dates_are_shown_whole_while_numbers_standing_alone_are_redacted() -> None:
    """A proposal id whose hex holds a run of digits read as a phone number lost it in the log
    ("prop-[redacted]abcdef"); an id, a purchase order number or a date is shown whole."""
    ids = {
        "proposal_id": "prop-1234567890abcdef1234567890abcdef",
        "tail": "prop-abcdef0123456789012345678901234",
        "purchase_order": "po-20261116-0001",
        "week_starting": "2026-11-16",
    }
    assert redact(ids) == ids
    out = redact({"note": "prop-12345678901 for 555-010-9999; card 4111-1111-1111-1111."})
    assert out["note"] == f"prop-12345678901 for {REDACTED}; card {REDACTED}."


def test_each_database_keeps_its_own_checkpoints(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Two databases beside one var folder (an evaluation world's copy, a test's world): the
    checkpoints of one chain are never read as claims about the other."""
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    try:
        _append(engine, settings, 10)
        _append(other, settings, 10, start=100)
        assert checkpoints_path(engine, settings) != checkpoints_path(other, settings)
        for db in (engine, other):
            report = verify_chain(db, settings=settings)
            assert report.ok and report.checkpoint_seq == 10, report.problems
    finally:
        other.dispose()


def test_a_restore_forgets_the_checkpoints_past_the_restored_head(
    engine: Engine, settings: Settings
) -> None:
    _append(engine, settings, 7)
    _append(engine, settings, 5, start=7)  # a checkpoint at event 10, after the "backup"
    truncate(engine, 7)  # the database is put back as it was at event 7
    assert not verify_chain(engine, settings=settings).ok, "unexplained, a truncation"
    assert forget_checkpoints_past_head(engine, settings) == 1
    _append(engine, settings, 5, start=50)
    report = verify_chain(engine, settings=settings)
    assert report.ok and report.checkpoint_seq == 10, report.problems
