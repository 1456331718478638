"""Recording what a planner proposes: the one step the replenishment and pricing planners share.

A plan is a list of proposal contents. Each is checked against the bounds of its kind, then:
- an open proposal with the same kind, location and content hash is reused (re-running a
  planner on unchanged data writes nothing new);
- a proposal with that content that a person already approved, edited or that was executed is
  NOT proposed again: re-running an agent after an approval (or a crash during one) can never
  put the same order up for a second approval; nor is one that would conflict with an approved
  one still in force (the kind's rule: a markdown of the same product and zone);
- otherwise a new `proposed` proposal is written, and every older open proposal it supersedes
  (the kind's rule: the same supplier at the same location, the same product in the same price
  zone), whoever proposed it, is expired with the reason "superseded by <its id>": kept, never
  deleted, and never open beside its replacement;
- a plan that covers whole locations (`covers`: a markdown plan covers its price zones) also
  withdraws the open proposals there that it does not carry: the newer plan proposes no change
  for them, so they are expired with the reason "withdrawn: ...".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from approvals.kinds import kind_of
from retail.proposals import (
    APPROVED_STATUSES,
    content_hash,
    create_proposal,
    list_proposals,
    transition,
)
from retail.store.models import Proposal

# Statuses whose content a person has decided to carry out: never proposed again.
DECIDED_TO_EXECUTE = APPROVED_STATUSES
# The key an edit adds to the content: the hash of the content the planner proposed.
PROPOSED_HASH = "proposed_hash"


class PlannedProposal(Protocol):
    """One proposal a planner wants recorded (what the `ml_core` planners return)."""

    @property
    def content(self) -> Mapping[str, Any]: ...
    @property
    def location_id(self) -> str: ...
    @property
    def model_versions(self) -> Mapping[str, Any]: ...
    @property
    def expires_at(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one planned proposal."""

    id: str
    content_hash: str
    status: str  # proposed: waiting for a decision; otherwise decided already
    new: bool


@dataclass(slots=True)
class RecordSummary:
    written: int = 0
    unchanged: int = 0
    already_decided: int = 0
    superseded: int = 0
    withdrawn: int = 0
    # One per planned proposal, in the plan's order.
    recorded: list[Recorded] = field(default_factory=list)


def _decided_hashes(session: Session, kind: str, location_id: str) -> dict[str, Proposal]:
    """This location's proposals decided to be carried out, by content hash, including the
    hash each edited one was proposed with."""
    rows = session.scalars(
        select(Proposal).where(
            Proposal.kind == kind,
            Proposal.location_id == location_id,
            Proposal.status.in_(DECIDED_TO_EXECUTE),
        )
    )
    hashes: dict[str, Proposal] = {}
    for proposal in rows:
        hashes[proposal.content_hash] = proposal
        proposed = proposal.content.get(PROPOSED_HASH)
        if isinstance(proposed, str):
            hashes[proposed] = proposal
    return hashes


def record_plan(
    session: Session,
    kind_name: str,
    planned: Sequence[PlannedProposal],
    *,
    proposer: str,
    covers: Collection[str] = (),
) -> RecordSummary:
    """Record a planner's proposals in the caller's transaction (see the module docstring);
    `covers` names the locations (or price zones) the plan reviewed whole.

    Raises AisleError (one sentence) when a content is outside its kind's bounds, before
    anything of the plan is flushed."""
    kind = kind_of(kind_name)
    for item in planned:
        kind.check(item.content)
    summary = RecordSummary()
    # What was open before this run: each plan holds one proposal per supplier and location
    # (or product and zone), so what this run writes never supersedes itself.
    open_before = list_proposals(session, kind=kind.name, status="proposed")
    decided_at: dict[str, dict[str, Proposal]] = {}
    for item in planned:
        if item.location_id not in decided_at:
            decided_at[item.location_id] = _decided_hashes(session, kind.name, item.location_id)
        decided = decided_at[item.location_id]
        digest = content_hash(item.content)
        same = [
            p for p in open_before if p.content_hash == digest and p.location_id == item.location_id
        ]
        if same:
            existing = min(same, key=lambda p: (p.created_at, p.id))
            summary.unchanged += 1
            summary.recorded.append(Recorded(existing.id, digest, existing.status, False))
            continue
        done = decided.get(digest) or (
            kind.in_force(session, item.location_id, item.content) if kind.in_force else None
        )
        if done is not None:
            summary.already_decided += 1
            summary.recorded.append(Recorded(done.id, done.content_hash, done.status, False))
            continue
        proposal = create_proposal(
            session,
            kind=kind.name,
            content=item.content,
            proposer=proposer,
            location_id=item.location_id,
            model_versions=item.model_versions,
            expires_at=item.expires_at,
        )
        summary.written += 1
        summary.recorded.append(Recorded(proposal.id, proposal.content_hash, "proposed", True))
        for older in open_before:
            if (
                older.id != proposal.id
                and older.status == "proposed"
                and kind.supersedes(
                    older.location_id, older.content, item.location_id, item.content
                )
            ):
                _expire(older, proposer, f"superseded by {proposal.id}")
                summary.superseded += 1
    carried = {r.id for r in summary.recorded}
    for older in open_before:
        if older.status == "proposed" and older.location_id in covers and older.id not in carried:
            where = older.location_id
            _expire(older, proposer, f"withdrawn: a newer plan for {where} proposes no change here")
            summary.withdrawn += 1
    return summary


def _expire(older: Proposal, proposer: str, reason: str) -> None:
    """Close an open proposal a newer plan replaces: kept, with the reason, never deleted."""
    transition(older, "expired", actor=proposer, expected_hash=older.content_hash, reason=reason)


def record_plan_committed(
    engine: Engine,
    kind_name: str,
    planned: Sequence[PlannedProposal],
    *,
    proposer: str,
    covers: Collection[str] = (),
) -> RecordSummary:
    """`record_plan` in its own transaction, committed."""
    with Session(engine) as session, session.begin():
        return record_plan(session, kind_name, planned, proposer=proposer, covers=covers)
