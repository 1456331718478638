"""Idempotent writes: an `Idempotency-Key` names one request, and only the first one runs.

The key is claimed by inserting its record (`idempotency_keys`, primary key principal + key) in
its own transaction before the write starts; the database's unique key makes exactly one claim
succeed however many API workers receive the same request. The others read the record: the
same request still running is a 409, a different request under the same key is a 422, and an
answered one is replayed (same status, same body). A write that fails unexpectedly releases
its key so that the client may retry it; a record left in flight by a worker that died is taken
over at once when that worker ran on this host (the record names its process), else after
`ABANDONED_AFTER`. A request that takes over such a record is a retry of one that may have
written before it died, and is told so (`Claimed.retry`).

The same records make `exclusive`, a lock across workers on a named resource (one decision on a
proposal at a time, whatever the keys), held by the system principal `LOCK_OWNER`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import InvalidRequest
from retail.processes import holder, holder_gone
from retail.store.db import transaction
from retail.store.models import IdempotencyRecord

IN_FLIGHT = "in_flight"
DONE = "done"
ABANDONED_AFTER = dt.timedelta(minutes=10)
MAX_KEY_LENGTH = 200
LOCK_OWNER = "system:lock"


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller holds the key and runs the request; `retry`: it took the key over from a
    request whose worker died, which may have written before it did."""

    retry: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    """The first response to a request, to send again."""

    status_code: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the request's method, path and body (canonical JSON: key order is ignored)."""
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_key(key: str | None) -> str:
    """The key as sent, or a 400 saying what is wrong with it."""
    if key is None or not key.strip():
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="This write needs an Idempotency-Key header (any unique string, e.g. a UUID) "
            "so that a retry cannot apply it twice.",
        )
    if len(key) > MAX_KEY_LENGTH:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"The Idempotency-Key has {len(key)} characters; at most {MAX_KEY_LENGTH}.",
        )
    return key.strip()


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC datetimes.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _holder_died(record: IdempotencyRecord) -> bool:
    """Whether the worker holding an in-flight record ran on this host and is gone."""
    return holder_gone((record.response or {}).get("holder"))


def _insert(engine: Engine, principal_id: str, key: str, request_hash: str) -> bool:
    """Insert an in-flight record; False when one with this principal and key exists."""
    try:
        with transaction(engine) as session:
            session.add(
                IdempotencyRecord(
                    principal_id=principal_id,
                    key=key,
                    fingerprint=request_hash,
                    state=IN_FLIGHT,
                    # Until it is answered, the record names who runs it.
                    response={"holder": holder()},
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    except IntegrityError:
        return False
    return True


def _abandoned(record: IdempotencyRecord) -> bool:
    too_old = dt.datetime.now(dt.UTC) - _utc(record.created_at) > ABANDONED_AFTER
    return too_old or _holder_died(record)


def claim(engine: Engine, principal_id: str, key: str, request_hash: str) -> Replay | Claimed:
    """Claim `key` for this request: Claimed when the caller now holds it and must run the
    write; a Replay of the first response when it was answered before. Raises 422 when the key
    named a different request and 409 while the first request is still running."""
    if _insert(engine, principal_id, key, request_hash):
        return Claimed()
    with Session(engine) as session:
        record = session.get(IdempotencyRecord, (principal_id, key))
    if record is None:
        # Released by a failed first attempt between our insert and this read: claim again.
        return claim(engine, principal_id, key, request_hash)
    if record.fingerprint != request_hash:
        raise InvalidRequest(
            f"The Idempotency-Key {key!r} was used for a different request; send a new key "
            "with a new request.",
            loc=("header", "Idempotency-Key"),
            kind="idempotency_key_reused",
        )
    if record.state == DONE and record.status_code is not None:
        return Replay(record.status_code, dict(record.response or {}))
    if _abandoned(record) and _take_over(engine, record):
        return Claimed(retry=True)
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        detail=f"A request with Idempotency-Key {key!r} is still being processed; retry it "
        "shortly to get its response.",
    )


@contextmanager
def exclusive(engine: Engine, resource: str) -> Iterator[bool]:
    """Hold `resource` across every API worker while the block runs: yields True when this
    caller holds it, False when another does (the caller answers 409)."""
    held = _insert(engine, LOCK_OWNER, resource, "")
    if not held:
        with Session(engine) as session:
            record = session.get(IdempotencyRecord, (LOCK_OWNER, resource))
        held = record is None or (_abandoned(record) and _take_over(engine, record))
        if record is None:
            held = _insert(engine, LOCK_OWNER, resource, "")
    try:
        yield held
    finally:
        if held:
            release(engine, LOCK_OWNER, resource)


def _take_over(engine: Engine, record: IdempotencyRecord) -> bool:
    """Claim an abandoned in-flight record, unless another worker just did."""
    with transaction(engine) as session:
        taken = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.principal_id == record.principal_id,
                IdempotencyRecord.key == record.key,
                IdempotencyRecord.state == IN_FLIGHT,
                IdempotencyRecord.created_at == record.created_at,
            )
            .values(created_at=dt.datetime.now(dt.UTC), response={"holder": holder()})
        )
    return bool(getattr(taken, "rowcount", 0))


def complete(
    engine: Engine, principal_id: str, key: str, status_code: int, body: dict[str, Any]
) -> None:
    """Record the response the key's request got, for replays."""
    with transaction(engine) as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key)
            .values(
                state=DONE,
                status_code=status_code,
                response=body,
                completed_at=dt.datetime.now(dt.UTC),
            )
        )


def release(engine: Engine, principal_id: str, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so that a retry runs it."""
    with transaction(engine) as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.principal_id == principal_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == IN_FLIGHT,
            )
        )
