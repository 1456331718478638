"""Proposals: what an operations agent wants to write, waiting for a person to decide.

A proposal (a purchase order, a price change) is created in status `proposed` with a
`content_hash`: the SHA-256 of its content as canonical JSON (sorted keys, no whitespace), so an
approval can be bound to exactly the content the approver read. Status moves only along
`TRANSITIONS`; anything else, or a decision about content whose hash has changed, raises a typed
error. `decide` records a person's approval, edit or rejection under the rules every queue
shares (only open proposals, only the content the decider read, never by the proposer). These are
the domain's rules; `approvals.decisions` runs them in the transaction that also executes an
approved proposal (a purchase order, a price change), and `approvals.records` records plans.

Creating a proposal whose kind, location and content hash match an open (`proposed`) one returns
that one instead of a duplicate (the unique index settles a race between two planners).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail.errors import AisleError
from retail.store.db import begin_writing
from retail.store.models import Proposal

ProposalStatus = Literal["proposed", "approved", "edited", "rejected", "executed", "expired"]
PROPOSAL_STATUSES: tuple[ProposalStatus, ...] = (
    "proposed",
    "approved",
    "edited",
    "rejected",
    "executed",
    "expired",
)
PURCHASE_ORDER = "purchase_order"
PRICE_CHANGE = "price_change"
PROPOSAL_KINDS = (PURCHASE_ORDER, PRICE_CHANGE)
# Rejected, executed and expired proposals are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"approved", "edited", "rejected", "expired"}),
    "approved": frozenset({"executed"}),
    "edited": frozenset({"executed"}),
}
OPEN_STATUS: ProposalStatus = "proposed"
# Statuses whose content a person decided to carry out (applied, or to be applied).
APPROVED_STATUSES: tuple[ProposalStatus, ...] = ("approved", "edited", "executed")


class ProposalError(AisleError):
    """A proposal cannot be created or changed as asked."""


class InvalidTransitionError(ProposalError):
    """The status change is not one of the allowed transitions."""


class ContentHashMismatchError(ProposalError):
    """The proposal's content is not the content the decision was made about."""


class SelfApprovalError(ProposalError):
    """The person deciding a proposal is the one who proposed it."""


Decision = Literal["approve", "edit", "reject"]
DECISION_STATUS: dict[str, ProposalStatus] = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
}


def canonical_json(content: Mapping[str, Any]) -> str:
    """Content as canonical JSON: sorted keys, no whitespace, UTF-8 kept, no NaN or infinity."""
    try:
        return json.dumps(
            content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ProposalError(f"Proposal content is not plain JSON ({exc}).") from None


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of `content`; the same for any key order."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _check_plain(value: Any, path: str = "content") -> None:
    # Values must survive a round trip through JSON / JSONB unchanged, or the stored content
    # would hash differently from the content that was approved.
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProposalError(f"Proposal {path} is {value}; JSON has no such number.")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProposalError(f"Proposal {path} has a non-text key {key!r}.")
            _check_plain(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{path}[{i}]")
        return
    raise ProposalError(f"Proposal {path} holds a {type(value).__name__}, not plain JSON.")


def find_open_proposal(
    session: Session, *, kind: str, location_id: str | None, content_hash: str
) -> Proposal | None:
    """The open proposal of this kind and location with exactly this content, if any."""
    query = select(Proposal).where(
        Proposal.kind == kind,
        Proposal.status == OPEN_STATUS,
        Proposal.content_hash == content_hash,
    )
    query = query.where(
        Proposal.location_id.is_(None)
        if location_id is None
        else Proposal.location_id == location_id
    )
    return session.scalars(query.order_by(Proposal.created_at, Proposal.id)).first()


def create_proposal(
    session: Session,
    *,
    kind: str,
    content: Mapping[str, Any],
    proposer: str,
    location_id: str | None = None,
    model_versions: Mapping[str, Any] | None = None,
    expires_at: dt.datetime | None = None,
) -> Proposal:
    """Add a `proposed` proposal, or return the open one with the same kind, location and content.

    The caller owns the transaction; the new row is flushed, not committed.
    """
    if kind not in PROPOSAL_KINDS:
        raise ProposalError(
            f"Unknown proposal kind {kind!r}; use one of {', '.join(PROPOSAL_KINDS)}."
        )
    if not proposer:
        raise ProposalError("A proposal needs a proposer.")
    _check_plain(dict(content))
    _check_plain(dict(model_versions or {}), "model_versions")
    digest = content_hash(content)
    existing = find_open_proposal(session, kind=kind, location_id=location_id, content_hash=digest)
    if existing is not None:
        return existing
    proposal = Proposal(
        id=f"prop-{uuid.uuid4().hex}",
        kind=kind,
        status=OPEN_STATUS,
        # A deep copy through JSON: what is stored is exactly what was hashed.
        content=json.loads(canonical_json(content)),
        content_hash=digest,
        location_id=location_id,
        proposer=proposer,
        created_at=dt.datetime.now(dt.UTC),
        expires_at=expires_at,
        model_versions=json.loads(canonical_json(model_versions or {})),
    )
    begin_writing(session)
    try:
        # A savepoint: losing a race to an identical open proposal must not undo the caller's work.
        with session.begin_nested():
            session.add(proposal)
    except IntegrityError:
        winner = find_open_proposal(
            session, kind=kind, location_id=location_id, content_hash=digest
        )
        if winner is None:
            raise
        return winner
    return proposal


def list_proposals(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    location_id: str | None = None,
) -> list[Proposal]:
    """Proposals matching the filters given, newest first."""
    if status is not None and status not in PROPOSAL_STATUSES:
        raise ProposalError(
            f"Unknown proposal status {status!r}; use one of {', '.join(PROPOSAL_STATUSES)}."
        )
    query = select(Proposal)
    if kind is not None:
        query = query.where(Proposal.kind == kind)
    if status is not None:
        query = query.where(Proposal.status == status)
    if location_id is not None:
        query = query.where(Proposal.location_id == location_id)
    return list(session.scalars(query.order_by(Proposal.created_at.desc(), Proposal.id)))


def check_transition(current: str, new: str) -> None:
    """Raise InvalidTransitionError unless `current -> new` is an allowed status change."""
    if new not in PROPOSAL_STATUSES:
        raise InvalidTransitionError(
            f"Unknown proposal status {new!r}; use one of {', '.join(PROPOSAL_STATUSES)}."
        )
    allowed = TRANSITIONS.get(current, frozenset())
    if new not in allowed:
        options = ", ".join(sorted(allowed)) if allowed else "nothing: it is final"
        raise InvalidTransitionError(
            f"A {current} proposal cannot become {new}; it can become {options}."
        )


def verify_content_hash(proposal: Proposal, expected_hash: str) -> None:
    """Raise ContentHashMismatchError unless the proposal's content still hashes to the
    hash the decider saw (and to the hash stored with it)."""
    actual = content_hash(proposal.content)
    if actual != proposal.content_hash or actual != expected_hash:
        raise ContentHashMismatchError(
            f"Proposal {proposal.id} has changed since it was read; reload it and decide again."
        )


def transition(
    proposal: Proposal,
    new_status: str,
    *,
    actor: str,
    expected_hash: str,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Proposal:
    """Move a proposal to `new_status` after the guard and the content check.

    A decision (approved, edited, rejected, expired) records who made it, when and why;
    execution keeps the decision as it was. The caller owns the transaction (and, for
    `executed`, the record it created and `executed_ref`).
    """
    check_transition(proposal.status, new_status)
    verify_content_hash(proposal, expected_hash)
    proposal.status = new_status
    if new_status != "executed":
        proposal.decided_by = actor
        proposal.decided_at = now or dt.datetime.now(dt.UTC)
        proposal.reason = reason
    return proposal


def decide(
    session: Session,
    proposal_id: str,
    *,
    decider: str,
    decision: Decision,
    expected_hash: str,
    edited_content: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Proposal:
    """Approve, edit (approve changed content) or reject an open proposal.

    Refused, with one sentence, when the proposal is unknown, already decided (a replayed
    approval), expired, changed since the decider read it (`expected_hash`), or decided by its
    own proposer. The row is locked for the decision (FOR UPDATE on PostgreSQL), so two deciders
    racing on one proposal cannot both succeed. The caller owns the transaction.
    """
    from retail.errors import NotFoundError

    if decision not in DECISION_STATUS:
        raise ProposalError(f"Unknown decision {decision!r}; use approve, edit or reject.")
    proposal = session.scalars(
        select(Proposal).where(Proposal.id == proposal_id).with_for_update()
    ).first()
    if proposal is None:
        raise NotFoundError(f"No proposal with id {proposal_id!r}.")
    if decider == proposal.proposer:
        raise SelfApprovalError(
            f"Proposal {proposal_id} was proposed by {decider}; someone else must decide it."
        )
    now = now or dt.datetime.now(dt.UTC)
    expires_at = proposal.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    if proposal.status == OPEN_STATUS and expires_at is not None and expires_at <= now:
        raise InvalidTransitionError(
            f"Proposal {proposal_id} expired at {expires_at:%Y-%m-%d %H:%M}."
        )
    status = DECISION_STATUS[decision]
    if decision == "reject" and not (reason and reason.strip()):
        raise ProposalError("A rejection needs a reason.")
    transition(proposal, status, actor=decider, expected_hash=expected_hash, reason=reason, now=now)
    if decision == "edit":
        if edited_content is None:
            raise ProposalError("An edit needs the edited content.")
        _check_plain(dict(edited_content))
        proposal.content = json.loads(canonical_json(edited_content))
        proposal.content_hash = content_hash(edited_content)
    return proposal
