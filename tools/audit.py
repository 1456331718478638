"""The audit log: one append-only, hash-chained event per tool call and per guard or approval.

Every event's `hash` is the SHA-256 of its canonical JSON (sorted keys, no whitespace), which
includes the previous event's hash, so `verify_chain` finds any event edited, deleted, inserted
or reordered after the fact. Appends serialise on the one-row `audit_head` table (an UPDATE takes
its row lock on PostgreSQL and the write lock on SQLite before the tip is read), so two writers
can never chain onto the same tip. Each append commits in its own transaction: a tool call whose
own work failed and rolled back is still on the record.

Arguments are stored with personal data redacted (names, e-mail addresses, street addresses,
phone and card numbers, payment details); the result is kept only as a digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retail.store.models import AuditEvent, AuditHead

if TYPE_CHECKING:
    from tools.base import ToolContext, ToolOutcome

GENESIS = "0" * 64
REDACTED = "[redacted]"
# Argument names whose values are personal data wherever they appear.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "email",
        "phone",
        "address",
        "address1",
        "address2",
        "street",
        "zip",
        "postcode",
        "payment_method_id",
        "card_number",
        "last_four",
        "birthdate",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")
# The fields the hash covers, in the row's own names; `hash` itself is the result.
HASHED_FIELDS = (
    "seq",
    "event_id",
    "occurred_at",
    "event_type",
    "principal_id",
    "role",
    "conversation_id",
    "agent_name",
    "tool_name",
    "tool_call_id",
    "arguments",
    "result_digest",
    "status",
    "latency_ms",
    "brain",
    "model_version",
    "approval_id",
    "detail",
    "prev_hash",
)
# The OpenTelemetry GenAI attribute each column carries, for exports and the API.
OTEL_NAMES = {
    "conversation_id": "gen_ai.conversation.id",
    "agent_name": "gen_ai.agent.name",
    "tool_name": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` with personal data replaced by `[redacted]`."""
    if key is not None and key.lower() in PERSONAL_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        for pattern in (_EMAIL, _CARD, _PHONE):
            value = pattern.sub(REDACTED, value)
    return value


def event_hash(fields: Mapping[str, Any]) -> str:
    return digest({name: fields.get(name) for name in HASHED_FIELDS})


def append_event(
    engine: Engine,
    *,
    event_type: str,
    principal_id: str,
    role: str,
    status: str,
    conversation_id: str | None = None,
    agent_name: str | None = None,
    tool_name: str | None = None,
    tool_call_id: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    result: Any = None,
    latency_ms: float | None = None,
    brain: str | None = None,
    model_version: str | None = None,
    approval_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event at the chain's tip and commit it; returns the stored event."""
    fields: dict[str, Any] = {
        "event_id": f"evt-{uuid.uuid4().hex}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "event_type": event_type,
        "principal_id": principal_id,
        "role": role,
        "conversation_id": conversation_id,
        "agent_name": agent_name,
        "tool_name": tool_name,
        "tool_call_id": tool_call_id,
        # Through JSON once, so that what is hashed is what the database hands back.
        "arguments": json.loads(canonical(redact(dict(arguments or {})))),
        "result_digest": None if result is None else digest(result),
        "status": status,
        "latency_ms": None if latency_ms is None else round(float(latency_ms), 3),
        "brain": brain,
        "model_version": model_version,
        "approval_id": approval_id,
        "detail": json.loads(canonical(redact(dict(detail or {})))),
    }
    with Session(engine, expire_on_commit=False) as session, session.begin():
        seq, prev = session.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
        ).one()
        fields["seq"] = seq
        fields["prev_hash"] = prev
        fields["hash"] = event_hash(fields)
        event = AuditEvent(**fields)
        session.add(event)
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=fields["hash"]))
    return event


def record_tool_call(ctx: ToolContext, outcome: ToolOutcome) -> AuditEvent:
    """The audit event of one tool call made through `tools.base.invoke`."""
    result = outcome.output if outcome.error is None else outcome.error.model_dump()
    return append_event(
        ctx.engine,
        event_type="tool_call",
        principal_id=ctx.principal.id,
        role=ctx.principal.role,
        status=outcome.status,
        conversation_id=ctx.conversation_id,
        agent_name=ctx.agent_name,
        tool_name=outcome.name,
        tool_call_id=outcome.call_id,
        arguments=outcome.arguments,
        result=result,
        latency_ms=outcome.latency_ms,
        brain=ctx.brain,
        model_version=ctx.model_version,
        approval_id=ctx.approval_id,
        detail={"writes": outcome.writes},
    )


@dataclass(slots=True)
class ChainProblem:
    seq: int | None
    problem: str


@dataclass(slots=True)
class VerifyReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": [{"seq": p.seq, "problem": p.problem} for p in self.problems],
        }


def _events(session: Session, batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > last)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(engine: Engine, *, max_problems: int = 20) -> VerifyReport:
    """Walk the chain from the first event and report every broken link (up to `max_problems`)."""
    report = VerifyReport()
    expected_seq, prev = 1, GENESIS
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        for event in _events(session):
            report.events += 1
            fields = {name: getattr(event, name) for name in HASHED_FIELDS}
            if event.seq != expected_seq:
                report.problems.append(
                    ChainProblem(
                        event.seq,
                        f"expected event {expected_seq} here: events {expected_seq}.."
                        f"{event.seq - 1} are missing or out of order",
                    )
                )
            if event.prev_hash != prev:
                report.problems.append(
                    ChainProblem(event.seq, "does not link to the event before it")
                )
            if event_hash(fields) != event.hash:
                report.problems.append(ChainProblem(event.seq, "was changed after it was written"))
            expected_seq, prev = event.seq + 1, event.hash
            if len(report.problems) >= max_problems:
                break
        if head is None:
            report.problems.append(ChainProblem(None, "the chain's head record is missing"))
            return report
        report.head_seq, report.head_hash = head.seq, head.hash
        if len(report.problems) < max_problems and (
            head.seq != expected_seq - 1 or head.hash != prev
        ):
            report.problems.append(
                ChainProblem(
                    head.seq,
                    f"the head says {head.seq} events but the chain ends at {expected_seq - 1}: "
                    "events were removed from the end",
                )
            )
    return report


def otel_attributes(event: AuditEvent) -> dict[str, Any]:
    """The event as OpenTelemetry GenAI span attributes (plus Aisle's own `aisle.*`)."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool"}
    for column, name in OTEL_NAMES.items():
        value = getattr(event, column)
        if value is not None:
            attrs[name] = value
    attrs.update(
        {
            "aisle.audit.seq": event.seq,
            "aisle.principal.id": event.principal_id,
            "aisle.principal.role": event.role,
            "aisle.status": event.status,
        }
    )
    return attrs
