"""Deciding and executing proposals: one transaction each time, exactly once per proposal.

A person's approval (or edit) and its execution (the purchase order, the price-history rows)
commit together with the proposal's move to `executed`: there is no moment at which a
proposal is approved and its order not yet written, so a process killed at any point leaves
either nothing (the decision is simply made again) or the finished order. A bad edit, or an
execution the store refuses (a price that changed since the plan), rolls the decision back and
is refused with one sentence.

The audit events (the decision, the execution) are appended after that commit, each in its own
transaction as the hash chain requires, and a checkpoint of the chain's head is signed after each
decision (`retail.audit.checkpoint`). A process killed between the two leaves an executed
proposal whose trail is short; `complete` (behind `aisle proposals resume` and
`POST /v1/proposals/{id}/execute`), any later decision attempt and `sweep` (run at service
start-up) append what is missing, once. They also finish a proposal left `approved` or
`edited` without its order by an older version that committed the two steps apart. Every one
of them is idempotent on the proposal id: a second call finds the order and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from approvals.kinds import ProposalKind, kind_of
from approvals.records import PROPOSED_HASH
from retail.audit import append_event, checkpoint
from retail.errors import AisleError, NotFoundError
from retail.identity import Principal
from retail.proposals import (
    DECISION_STATUS,
    OPEN_STATUS,
    ContentHashMismatchError,
    Decision,
    transition,
)
from retail.proposals import decide as record_decision
from retail.settings import Settings, get_settings
from retail.store.db import begin_writing, transaction
from retail.store.models import AuditEvent, Proposal
from retail.telemetry import AGENT_NAME, CONVERSATION_ID, tracer

# Decided to be carried out, not yet carried out: left so only by an interrupted older version
# (or by an execution the store refused at the time).
EXECUTABLE = ("approved", "edited")
DECIDED = ("approved", "edited", "rejected")
# Who appends the audit events a crashed process could not.
RECOVERY = Principal(id="system:recovery", role="admin")


class DecisionRefusedError(AisleError):
    """A decision or an execution was refused; the message says why, in one sentence."""


class DecisionRequest(BaseModel):
    """A person's decision about one proposal, bound to the content hash they read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: str
    decision: Decision
    content_hash: str = Field(min_length=64, max_length=64)
    changes: dict[str, float] = Field(
        default_factory=dict,
        description="Edit only: what to change, by key (a purchase order: SKU -> quantity; a "
        "price change: week start -> price).",
    )
    reason: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> DecisionRequest:
        if self.decision == "edit" and not self.changes:
            raise ValueError("an edit needs the changes to make")
        if self.decision != "edit" and self.changes:
            raise ValueError("only an edit carries changes")
        if self.decision == "reject" and not (self.reason and self.reason.strip()):
            raise ValueError("a rejection needs a reason")
        return self


class DecisionOutcome(BaseModel):
    """What became of one decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: str
    decision: Decision
    decider: str
    accepted: bool
    status: str | None = Field(description="The proposal's status afterwards; None if unknown.")
    content_hash: str | None = Field(
        default=None, description="The content hash afterwards (an edit's is new)."
    )
    message: str


class ExecutionOutcome(BaseModel):
    """What became of executing one approved proposal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: str
    executed: bool = Field(description="The proposal is executed (now or before).")
    created: bool = Field(description="This call created the record (False: it existed).")
    ref: str | None = Field(default=None, description="The id of what was created.")
    message: str


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision's outcome and, when it was carried out (now or before), its execution."""

    decision: DecisionOutcome
    execution: ExecutionOutcome | None


def check_edit(kind_name: str, content: dict[str, Any], request: DecisionRequest) -> None:
    """Raise AisleError (one sentence) when the request is an edit its kind refuses: the same
    check the decision transaction makes, for callers that answer bad input before deciding."""
    if request.decision == "edit":
        kind_of(kind_name).edit(content, request.changes)


def _locked(session: Session, proposal_id: str) -> Proposal:
    # SQLite: take the write lock before reading, so two deciders queue instead of both
    # reading `proposed`; PostgreSQL: lock the row.
    begin_writing(session)
    proposal = session.scalars(
        select(Proposal).where(Proposal.id == proposal_id).with_for_update()
    ).first()
    if proposal is None:
        raise NotFoundError(f"No proposal with id {proposal_id!r}.")
    return proposal


def _execute_locked(session: Session, kind: ProposalKind, proposal: Proposal) -> str:
    """Write the record of an approved or edited proposal and mark it executed (the caller's
    transaction, the row locked)."""
    with tracer().start_as_current_span(
        f"execute {kind.name}",
        attributes={"aisle.proposal.id": proposal.id, AGENT_NAME: kind.agent_name},
    ) as span:
        ref = kind.execute(session, proposal)
        transition(proposal, "executed", actor=kind.agent.id, expected_hash=proposal.content_hash)
        proposal.executed_ref = ref
        span.set_attribute("aisle.executed_ref", ref)
    return ref


def _already_decided(proposal: Proposal, decider: Principal, request: DecisionRequest) -> bool:
    """This decider's same decision is already recorded (a retry after a crash)."""
    wanted = DECISION_STATUS[request.decision]
    statuses = {wanted} if request.decision == "reject" else {wanted, "executed"}
    if proposal.decided_by != decider.id or proposal.status not in statuses:
        return False
    if request.decision == "edit":
        return proposal.content.get(PROPOSED_HASH) == request.content_hash
    # An approval keeps the content it approved.
    return request.decision == "reject" or proposal.content_hash == request.content_hash


def decide(
    engine: Engine,
    decider: Principal,
    request: DecisionRequest,
    *,
    conversation_id: str | None = None,
    rerun: bool = False,
    settings: Settings | None = None,
) -> Decided:
    """Approve, edit or reject a proposal and, unless rejected, execute it: one transaction.

    Refused (an outcome, audited) when the proposal is unknown, the decider's role may not
    decide its kind, it is not waiting for a decision (a replay), its content changed since it
    was read, the decider proposed it, the edit is out of bounds, or the store refuses the
    execution. A proposal left approved without its record is executed by any later attempt.
    `rerun`: the caller may be running again after a crash (a graph node), so the same
    decider's same decision, already recorded, counts as done instead of as a replay.
    `settings`: where the audit checkpoint signed after each decision goes (default: the
    environment's).
    """
    with tracer().start_as_current_span(
        f"decide {request.decision}",
        attributes={
            "aisle.proposal.id": request.proposal_id,
            "aisle.decision": request.decision,
            "aisle.principal.role": decider.role,
        }
        | ({CONVERSATION_ID: conversation_id} if conversation_id else {}),
    ) as span:
        decided = _decide(engine, decider, request, conversation_id, rerun, settings)
        span.set_attribute("aisle.accepted", decided.decision.accepted)
        if decided.decision.status is not None:
            span.set_attribute("aisle.proposal.status", decided.decision.status)
        return decided


def _decide(
    engine: Engine,
    decider: Principal,
    request: DecisionRequest,
    conversation_id: str | None,
    rerun: bool,
    settings: Settings | None,
) -> Decided:
    status: str | None = None
    new_hash: str | None = None
    kind: ProposalKind | None = None
    accepted = already = False
    decided_now = False  # this call made the decision (not a retry, not an earlier approval)
    ref: str | None = None
    created = False
    try:
        with transaction(engine) as session:
            proposal = _locked(session, request.proposal_id)
            kind = kind_of(proposal.kind)
            status = proposal.status
            if not kind.may_decide(decider):
                raise DecisionRefusedError(
                    f"The {decider.role} role may not decide {kind.name} proposals."
                )
            if rerun and _already_decided(proposal, decider, request):
                already = True
            elif proposal.status not in (OPEN_STATUS, *EXECUTABLE):
                # Named as the person knows it (a second tab's refusal once read "Proposal
                # prop-cfd6... is executed"); the id stays at the end, for whoever quotes it.
                about = kind.describe(proposal.content or {})
                raise DecisionRefusedError(
                    f"{about[0].upper()}{about[1:]} was already {proposal.status}, so it is no "
                    f"longer waiting for a decision ({proposal.id})."
                )
            if proposal.status in EXECUTABLE:
                # Approved earlier, its record never written: carry out what was approved.
                already = already or _already_decided(proposal, decider, request)
                ref, created = _execute_locked(session, kind, proposal), True
            elif proposal.status == OPEN_STATUS:
                edited = None
                if request.decision == "edit":
                    if proposal.content_hash != request.content_hash:
                        raise ContentHashMismatchError(
                            f"Proposal {proposal.id} has changed since it was read; "
                            "reload it and decide again."
                        )
                    edited = {
                        **kind.edit(proposal.content, request.changes),
                        PROPOSED_HASH: proposal.content.get(PROPOSED_HASH, proposal.content_hash),
                    }
                record_decision(
                    session,
                    proposal.id,
                    decider=decider.id,
                    decision=request.decision,
                    expected_hash=request.content_hash,
                    edited_content=edited,
                    reason=request.reason,
                )
                if request.decision != "reject":
                    ref, created = _execute_locked(session, kind, proposal), True
                accepted = decided_now = True
            elif proposal.status == "executed":
                ref = proposal.executed_ref
            status, new_hash = proposal.status, proposal.content_hash
    except AisleError as exc:
        message = str(exc)
    else:
        if accepted:
            message = f"Proposal {request.proposal_id} {DECISION_STATUS[request.decision]} by "
            message += f"{decider.id}."
        elif already:
            accepted = True
            message = f"Proposal {request.proposal_id} was already decided by {decider.id}."
        else:
            message = (
                f"Proposal {request.proposal_id} was already decided by someone else; it is "
                f"now executed as {ref}."
            )
    outcome = DecisionOutcome(
        proposal_id=request.proposal_id,
        decision=request.decision,
        decider=decider.id,
        accepted=accepted,
        status=status,
        content_hash=new_hash,
        message=message,
    )
    execution = None
    if ref is not None:
        execution = ExecutionOutcome(
            proposal_id=request.proposal_id,
            executed=True,
            created=created,
            ref=ref,
            message=f"Proposal {request.proposal_id} executed as {ref}."
            if created
            else f"Proposal {request.proposal_id} was already executed as {ref}.",
        )
    agent_name = None if kind is None else kind.agent_name
    with _audit_turn(engine, request.proposal_id):
        if not already or not _audited(engine, request.proposal_id, "approval", DECIDED):
            _audit_decision(engine, agent_name, decider, request, outcome, conversation_id)
            if outcome.accepted and outcome.status is not None:
                # A decision is what a forger would most like to rewrite: sign the head now.
                checkpoint(engine, settings or get_settings())
        if execution is not None and created and decided_now:
            assert kind is not None
            _audit_execution(engine, kind, execution, conversation_id)
        if status is not None and kind is not None:
            _complete_audit(engine, request.proposal_id, conversation_id, settings)
    return Decided(outcome, execution)


def complete(
    engine: Engine,
    proposal_id: str,
    *,
    conversation_id: str | None = None,
    settings: Settings | None = None,
) -> ExecutionOutcome:
    """Finish an approved proposal: write its record if it has none (idempotent on the id) and
    append any audit event a crash left out. Raises DecisionRefusedError for a proposal that
    was never approved, NotFoundError for an unknown one."""
    with transaction(engine) as session:
        proposal = _locked(session, proposal_id)
        kind = kind_of(proposal.kind)
        if proposal.status == "executed":
            ref, created = proposal.executed_ref, False
        elif proposal.status in EXECUTABLE:
            ref, created = _execute_locked(session, kind, proposal), True
        else:
            why: dict[str, str] = {
                OPEN_STATUS: "it waits for a decision; approve it first",
                "rejected": "it was rejected",
                "expired": "it expired",
            }
            what = why.get(proposal.status, proposal.status)
            raise DecisionRefusedError(
                f"Proposal {proposal_id} is {proposal.status}: there is nothing to execute "
                f"({what})."
            )
    outcome = ExecutionOutcome(
        proposal_id=proposal_id,
        executed=True,
        created=created,
        ref=ref,
        message=f"Proposal {proposal_id} executed as {ref}."
        if created
        else f"Proposal {proposal_id} was already executed as {ref}.",
    )
    # The approval's own event first, if a crash kept it off the trail, then the execution.
    complete_audit(engine, proposal_id, conversation_id=conversation_id, settings=settings)
    return outcome


def unfinished(engine: Engine) -> list[str]:
    """Proposals a crash left unfinished: approved or edited without their record, or executed
    without their decision's or their execution's audit event."""

    def audited(event_type: str, statuses: Iterable[str]) -> Any:
        return exists().where(
            AuditEvent.approval_id == Proposal.id,
            AuditEvent.event_type == event_type,
            AuditEvent.status.in_(tuple(statuses)),
        )

    with Session(engine) as session:
        return list(
            session.scalars(
                select(Proposal.id)
                .where(
                    Proposal.status.in_(EXECUTABLE)
                    | (
                        (Proposal.status == "executed")
                        & ~(audited("execution", ["executed"]) & audited("approval", DECIDED))
                    )
                )
                .order_by(Proposal.id)
            )
        )


def sweep(engine: Engine, settings: Settings | None = None) -> list[ExecutionOutcome]:
    """Finish every proposal a crash left unfinished (see `complete`); run at start-up.

    One that cannot be finished (the store refuses it now) is reported, not raised, so that
    one bad proposal never stops a service from starting."""
    done = []
    for proposal_id in unfinished(engine):
        try:
            done.append(complete(engine, proposal_id, settings=settings))
        except AisleError as exc:
            done.append(
                ExecutionOutcome(
                    proposal_id=proposal_id, executed=False, created=False, message=str(exc)
                )
            )
    return done


# --- audit -----------------------------------------------------------------------------------


def _audited(engine: Engine, proposal_id: str, event_type: str, statuses: Iterable[str]) -> bool:
    with Session(engine) as session:
        found = session.scalars(
            select(AuditEvent.seq).where(
                AuditEvent.approval_id == proposal_id,
                AuditEvent.event_type == event_type,
                AuditEvent.status.in_(tuple(statuses)),
            )
        ).first()
    return found is not None


def _audit_decision(
    engine: Engine,
    agent_name: str | None,
    decider: Principal,
    request: DecisionRequest,
    outcome: DecisionOutcome,
    conversation_id: str | None,
) -> None:
    accepted = outcome.accepted and outcome.status is not None
    append_event(
        engine,
        event_type="approval",
        principal_id=decider.id,
        role=decider.role,
        status=DECISION_STATUS[request.decision] if accepted else "refused",
        conversation_id=conversation_id,
        agent_name=agent_name,
        approval_id=request.proposal_id,
        arguments={"decision": request.decision, "changes": request.changes},
        detail={
            "read_hash": request.content_hash,
            "content_hash": outcome.content_hash,
            "reason": request.reason,
            "message": outcome.message,
        },
    )


def _audit_execution(
    engine: Engine,
    kind: ProposalKind,
    outcome: ExecutionOutcome,
    conversation_id: str | None,
    *,
    recovered: bool = False,
) -> None:
    append_event(
        engine,
        event_type="execution",
        principal_id=kind.agent.id,
        role=kind.agent.role,
        status="executed" if outcome.executed else "refused",
        conversation_id=conversation_id,
        agent_name=kind.agent_name,
        approval_id=outcome.proposal_id,
        result={"ref": outcome.ref},
        detail={
            "ref": outcome.ref,
            "created": outcome.created,
            "message": outcome.message,
            **({"recovered": True} if recovered else {}),
        },
    )


@contextmanager
def _audit_turn(engine: Engine, proposal_id: str) -> Iterator[None]:
    """One process at a time checks and appends a proposal's audit events, so that a start-up
    sweep beside a live decision never appends an event twice: on PostgreSQL the proposal's
    row stays locked meanwhile (the appends lock only the audit tables, so this cannot
    deadlock). SQLite takes no lock here: holding its one write lock would stop the appends
    themselves, and processes sharing a SQLite file are rare enough to leave that window."""
    with Session(engine) as session:
        if session.connection().dialect.name == "postgresql":
            session.execute(select(Proposal.id).where(Proposal.id == proposal_id).with_for_update())
        yield


def complete_audit(
    engine: Engine,
    proposal_id: str,
    *,
    conversation_id: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Append the decision and execution events of a decided proposal that a crash kept off
    the trail (as `RECOVERY`, naming who decided); returns how many were appended."""
    with _audit_turn(engine, proposal_id):
        return _complete_audit(engine, proposal_id, conversation_id, settings)


def _complete_audit(
    engine: Engine, proposal_id: str, conversation_id: str | None, settings: Settings | None
) -> int:
    with Session(engine) as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.status not in (*DECIDED, "executed"):
            return 0
        status, decided_by = proposal.status, proposal.decided_by
        decided_at, ref = proposal.decided_at, proposal.executed_ref
        content_hash = proposal.content_hash
        was = "edited" if PROPOSED_HASH in proposal.content else "approved"
        kind = kind_of(proposal.kind)
    appended = 0
    if not _audited(engine, proposal_id, "approval", DECIDED):
        append_event(
            engine,
            event_type="approval",
            principal_id=RECOVERY.id,
            role=RECOVERY.role,
            status=was if status == "executed" else status,
            conversation_id=conversation_id,
            agent_name=kind.agent_name,
            approval_id=proposal_id,
            detail={
                "decided_by": decided_by,
                "decided_at": None if decided_at is None else decided_at.isoformat(),
                "content_hash": content_hash,
                "recovered": True,
            },
        )
        checkpoint(engine, settings or get_settings())
        appended += 1
    if status == "executed" and not _audited(engine, proposal_id, "execution", ["executed"]):
        outcome = ExecutionOutcome(
            proposal_id=proposal_id,
            executed=True,
            created=True,
            ref=ref,
            message=f"Proposal {proposal_id} executed as {ref}.",
        )
        _audit_execution(engine, kind, outcome, conversation_id, recovered=True)
        appended += 1
    return appended
