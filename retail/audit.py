"""The audit log: one append-only, hash-chained event per tool call and per guard or approval.

Every event's `hash` is the SHA-256 of its canonical JSON (sorted keys, no whitespace), which
includes the previous event's hash, so `verify_chain` finds any event edited, deleted, inserted
or reordered after the fact. A hash chain alone does not stop someone who can write to the
database: they can edit an event and recompute every later hash, or drop the last events and
move the head back. So the head is also signed: every `audit_checkpoint_every` events, and on
every approval (`checkpoint`), its sequence number and hash are signed with an Ed25519 key that
lives outside the database and appended to a JSON-lines file under the var folder. A chain that
no longer holds a signed head at its position was rewritten or truncated. Events after the last
checkpoint are covered by their links only, until the next checkpoint.

Appends serialise on the one-row `audit_head` table (an UPDATE takes its row lock on PostgreSQL
and the write lock on SQLite before the tip is read), so two writers can never chain onto the
same tip. Each append commits in its own transaction: a tool call whose own work failed and
rolled back is still on the record.

An event appended inside a trace's span carries that span's `trace_id` and `span_id` in its
`detail` (covered by the hash like the rest), so an auditor can go from a trace to the signed
chain and back (`aisle audit log --trace ID`).

Arguments are stored with personal data redacted (names, e-mail addresses, street addresses,
phone and card numbers, payment details); the result is kept only as a digest.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retail.errors import AisleError
from retail.settings import Settings, get_settings
from retail.store.models import AuditEvent, AuditHead
from retail.telemetry import current_ids

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
# A card or phone number stands alone: digits inside an id ("prop-" and 32 hex digits, a
# purchase order's "po-20261116-0001") or an ISO date are part of that id or date, which the
# log must show whole.
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_PHONE = re.compile(r"(?<![\w.+-])(?!\d{4}-\d\d-\d\d(?!\d))\+?\d[\d ().-]{7,}\d(?![\w-])")
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
    settings: Settings | None = None,
) -> AuditEvent:
    """Append one event at the chain's tip and commit it; returns the stored event.

    Every `settings.audit_checkpoint_every`-th event also signs a checkpoint of the new head
    (`settings` defaults to the environment's)."""
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
        # The trace ids are added after redaction: a run of hex digits can look like a phone.
        "detail": json.loads(canonical({**redact(dict(detail or {})), **current_ids()})),
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
    settings = settings or get_settings()
    # After the commit: a checkpoint must only ever name events that are on the record.
    if seq % settings.audit_checkpoint_every == 0:
        _sign_checkpoint(engine, settings, seq, fields["hash"])
    return event


class AuditKeyError(AisleError):
    """The audit log's signing key cannot be created, read or trusted."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the chain held `seq` events ending in `hash` at time `at`."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        return canonical(
            {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id}
        ).encode("utf-8")


def _key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_key_path(settings: Settings) -> Path:
    return settings.resolved_audit_key_path.with_suffix(".pub")


def _signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The private key, created with mode 0600 (and its public key beside it) on first use."""
    path = settings.resolved_audit_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written in full under a private name, then linked into place: a second process
        # creating the key at the same moment loses the link and uses the winner's key.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AuditKeyError(
            f"The audit signing key {path} is readable by others (mode {mode:o}); "
            f"run chmod 600 {path}."
        )
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"The audit signing key {path} cannot be read: {exc}.") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditKeyError(f"The audit signing key {path} is not an Ed25519 key.")
    public = _public_key_path(settings)
    if not public.exists():
        public.write_bytes(
            loaded.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return loaded


def _verify_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public key that checks checkpoints; None when there is none beside the key path."""
    path = _public_key_path(settings)
    if not path.exists():
        return None
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def checkpoints_path(engine: Engine, settings: Settings) -> Path:
    """The append-only JSON lines of signed checkpoints of this database's chain, in the var
    folder. One file per database: a var folder may see several (an evaluation world's copy,
    the test suite's worlds), and a checkpoint of one chain says nothing about another."""
    url = engine.url.render_as_string(hide_password=True)
    database = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return settings.var_dir / "audit" / f"checkpoints-{database}.jsonl"


def forget_checkpoints_past_head(engine: Engine, settings: Settings) -> int:
    """After the database was restored from a backup, drop the checkpoints of events the
    restored chain no longer holds (else verify reports the restore as a truncation); returns
    how many were dropped. The file is rewritten whole under a private name, then renamed."""
    path = checkpoints_path(engine, settings)
    if not path.exists():
        return 0
    with Session(engine) as session:
        head = _head(session)
    last = head[0] if head else 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if _checkpoint_seq(line) <= last]
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    tmp.replace(path)
    return len(lines) - len(kept)


def _checkpoint_seq(line: str) -> int:
    """The event a checkpoint line names; an unreadable line is kept for verify to report."""
    try:
        return int(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        return 0


def _sign_checkpoint(engine: Engine, settings: Settings, seq: int, head_hash: str) -> Checkpoint:
    key = _signing_key(settings)
    unsigned = Checkpoint(
        seq=seq,
        hash=head_hash,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        key_id=_key_id(key.public_key()),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode("ascii")
    signed = dataclasses.replace(unsigned, signature=signature)
    line = (canonical(dataclasses.asdict(signed)) + "\n").encode("utf-8")
    path = checkpoints_path(engine, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write on an O_APPEND descriptor: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return signed


def checkpoint(engine: Engine, settings: Settings) -> Checkpoint | None:
    """Sign the chain's current head and append it to the checkpoint file; None while the
    chain is empty. Called after every approval decision, and by `append_event` at the cadence.
    """
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        seq, head_hash = head.seq, head.hash
    return _sign_checkpoint(engine, settings, seq, head_hash)


@dataclass(slots=True)
class ChainProblem:
    seq: int | None
    problem: str
    where: str = ""
    """What the problem is about, as the CLI names it: `event 5`, `head`, `checkpoint line 3`."""

    def __post_init__(self) -> None:
        if not self.where:
            self.where = "head" if self.seq is None else f"event {self.seq}"


@dataclass(slots=True)
class VerifyReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0
    """Signed checkpoints whose head the chain still holds at its position."""
    checkpoint_seq: int = 0
    """The last event a valid checkpoint covers; later events are covered by their links only."""
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unsigned_events(self) -> int:
        return max(0, self.head_seq - self.checkpoint_seq)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "checkpoint_seq": self.checkpoint_seq,
            "problems": [
                {"seq": p.seq, "where": p.where, "problem": p.problem} for p in self.problems
            ],
        }


def _span(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"events {first}..{last}"


def _read_checkpoints(engine: Engine, settings: Settings, report: VerifyReport) -> list[Checkpoint]:
    """The checkpoints whose signature holds; every other line is a problem in `report`."""
    path = checkpoints_path(engine, settings)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return []
    key = _verify_key(settings)
    if key is None:
        report.problems.append(
            ChainProblem(
                None,
                f"there is no readable Ed25519 public key at {_public_key_path(settings)} to "
                f"check the {len(lines)} signed checkpoints in {path} against",
                where="checkpoints",
            )
        )
        return []
    valid: list[Checkpoint] = []
    for number, line in enumerate(lines, start=1):
        where = f"checkpoint line {number}"
        try:
            raw = json.loads(line)
            cp = Checkpoint(
                seq=int(raw["seq"]),
                hash=str(raw["hash"]),
                at=str(raw["at"]),
                key_id=str(raw["key_id"]),
                signature=str(raw.get("signature") or ""),
            )
        except (ValueError, KeyError, TypeError):
            report.problems.append(
                ChainProblem(None, f"is not a checkpoint record: {line[:80]!r}", where=where)
            )
            continue
        where = f"checkpoint line {number} (event {cp.seq})"
        if not cp.signature:
            report.problems.append(ChainProblem(cp.seq, "has no signature", where=where))
            continue
        try:
            key.verify(base64.b64decode(cp.signature, validate=True), cp.signed_bytes())
        except (InvalidSignature, ValueError):
            report.problems.append(
                ChainProblem(
                    cp.seq,
                    "its signature does not match: the checkpoint was altered, or signed by "
                    f"another key than {_public_key_path(settings)}",
                    where=where,
                )
            )
            continue
        valid.append(cp)
    return valid


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


def _head(session: Session) -> tuple[int, str] | None:
    head = session.get(AuditHead, 1)
    return None if head is None else (head.seq, head.hash)


def verify_chain(engine: Engine, *, settings: Settings, max_problems: int = 20) -> VerifyReport:
    """Walk the chain from the first event and report every broken link (up to `max_problems`),
    then check the head record and every signed checkpoint against the chain."""
    report = VerifyReport()
    # Read before the walk: a checkpoint is written after its events commit, so every
    # checkpoint read now names events the walk will see.
    checkpoints = _read_checkpoints(engine, settings, report)
    wanted = {cp.seq for cp in checkpoints}
    held: dict[int, str] = {}
    expected_seq, prev = 1, GENESIS
    complete = True
    with Session(engine) as session:
        # The head is read before and after the walk: events appended meanwhile (by a live
        # system) lie between the two, and only what lies past the later one is foreign.
        head_before = _head(session)
        for event in _events(session):
            report.events += 1
            fields = {name: getattr(event, name) for name in HASHED_FIELDS}
            if event.seq != expected_seq:
                report.problems.append(
                    ChainProblem(
                        event.seq,
                        f"expected event {expected_seq} here: "
                        f"{_span(expected_seq, event.seq - 1)} missing or out of order",
                    )
                )
            if event.prev_hash != prev:
                report.problems.append(
                    ChainProblem(
                        event.seq,
                        f"does not follow event {expected_seq - 1}: its prev_hash is not that "
                        "event's hash (a broken link: inserted, reordered or forged)",
                    )
                )
            if event_hash(fields) != event.hash:
                report.problems.append(ChainProblem(event.seq, "was changed after it was written"))
            if event.seq in wanted:
                held[event.seq] = event.hash
            expected_seq, prev = event.seq + 1, event.hash
            if len(report.problems) >= max_problems:
                complete = False
                break
        head_after = _head(session)
    end = expected_seq - 1
    if head_before is None or head_after is None:
        report.problems.append(ChainProblem(None, "the chain's head record is missing"))
        return report
    report.head_seq, report.head_hash = head_after
    if complete:
        _check_head(report, end, prev, head_before, head_after)
    _check_checkpoints(report, checkpoints, held, end if complete else None)
    return report


def _check_head(
    report: VerifyReport,
    end: int,
    last_hash: str,
    head_before: tuple[int, str],
    head_after: tuple[int, str],
) -> None:
    if end > head_after[0]:
        report.problems.append(
            ChainProblem(
                None,
                f"the chain goes on past its head record (event {head_after[0]}) to event "
                f"{end}: what follows the head was written into the table, not appended "
                "through the log",
            )
        )
    elif end < head_before[0]:
        report.problems.append(
            ChainProblem(
                None,
                f"the head says {head_before[0]} events but the chain ends at {end}: events "
                f"were removed from the end ({_span(end + 1, head_before[0])})",
            )
        )
    elif end == head_after[0] and last_hash != head_after[1]:
        report.problems.append(
            ChainProblem(
                None,
                f"the head record's hash is not the hash of event {end}: the head or the last "
                "event was altered",
            )
        )


def _check_checkpoints(
    report: VerifyReport,
    checkpoints: list[Checkpoint],
    held: Mapping[int, str],
    end: int | None,
) -> None:
    """Each signed head must still be in the chain at its position. `end` is where the chain
    ends, or None when the walk stopped early (then the later checkpoints are not judged)."""
    last_good = 0
    rewritten = False
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.seq in held:
            if held[cp.seq] == cp.hash:
                last_good = cp.seq
                report.checkpoints += 1
                report.checkpoint_seq = cp.seq
                continue
            report.problems.append(
                ChainProblem(
                    cp.seq,
                    f"is not the event signed in the checkpoint of {cp.at}"
                    + (
                        ""
                        if rewritten
                        else f": the chain was rewritten and rehashed within "
                        f"{_span(last_good + 1, cp.seq)}"
                    ),
                )
            )
            rewritten = True
        elif end is None:
            continue
        elif cp.seq > end:
            report.problems.append(
                ChainProblem(
                    cp.seq,
                    f"was signed in the checkpoint of {cp.at} but the chain now ends at event "
                    f"{end}: events were removed from the end and the head moved back "
                    f"({_span(end + 1, cp.seq)} at least)",
                )
            )
        else:
            report.problems.append(
                ChainProblem(
                    cp.seq,
                    f"was signed in the checkpoint of {cp.at} but is no longer in the chain",
                )
            )
