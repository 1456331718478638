"""What someone with write access to the database can do to the audit log, straight in the
tables (no Aisle code on the write path): the tests of `verify_chain` and `aisle audit verify`
tamper with these and expect to be told."""

from __future__ import annotations

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from retail.audit import GENESIS, HASHED_FIELDS, event_hash
from retail.store.models import AuditEvent, AuditHead


def edit_and_rehash(engine: Engine, seq: int, **values: object) -> None:
    """Edit event `seq`, then recompute every later link and hash with the (public) hashing rule
    and move the head to the new last hash: the chain is consistent again."""
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(**values))
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = events[seq - 2].hash if seq > 1 else GENESIS
        for event in events[seq - 1 :]:
            event.prev_hash = prev
            event.hash = event_hash({name: getattr(event, name) for name in HASHED_FIELDS})
            prev = event.hash
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


def truncate(engine: Engine, keep: int, *, move_head: bool = True) -> None:
    """Delete every event after `keep`, and (unless told not to) move the head back onto it."""
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEvent).where(AuditEvent.seq > keep))
        if move_head:
            last = session.scalars(select(AuditEvent.hash).where(AuditEvent.seq == keep)).one()
            session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=keep, hash=last))


def forge(engine: Engine, seq: int, prev_hash: str, *, move_head: bool = False) -> str:
    """Insert an approval event nobody made at `seq`, hashed by the rule; returns its hash."""
    fields: dict[str, object] = {
        "seq": seq,
        "event_id": f"evt-forged-{seq}",
        "occurred_at": "2026-01-01T00:00:00.000000+00:00",
        "event_type": "approval",
        "principal_id": "mallory",
        "role": "planner",
        "arguments": {},
        "status": "approved",
        "detail": {},
        "prev_hash": prev_hash,
    }
    fields["hash"] = event_hash(fields)
    with Session(engine) as session, session.begin():
        session.add(AuditEvent(**fields))
        if move_head:
            session.execute(
                update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=fields["hash"])
            )
    return str(fields["hash"])


def head_hash(engine: Engine) -> str:
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        return head.hash
