"""What the operations agents (replenishment, pricing) share: a proposal run's state, the approval
interrupt, committing a person's decisions, executing approved proposals, and auditing both.

An operations graph proposes through tools, then waits at a LangGraph `interrupt` for a person's
decisions (`DecisionBatch`: approve, edit, reject, each bound to the content hash the person
read). `apply_decisions` commits them; `execute` turns each approved or edited proposal into its
record (a purchase order, a price change) in the same transaction that marks the proposal
executed. The graph loops back to the interrupt while proposals of the run still wait.

Decisions and executions are committed in separate nodes and each is idempotent: a process killed
after the decisions' commit re-runs `apply_decisions` on resume, which recognises the decisions
it already recorded, and `execute` finds a proposal already executed and creates nothing. Deciding
and executing are never tools a model can call: only a resume with a person's principal does it.

Each agent module (see `AGENT_MODULES`) exposes `HANDLER`, its `ProposalHandler`: the proposal
kind it owns, its service principal, who may decide, how an edit changes the content, how an
approved proposal is executed, and how to build its graph.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot, interrupt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail.errors import AisleError, NotFoundError
from retail.proposals import (
    DECISION_STATUS,
    OPEN_STATUS,
    ContentHashMismatchError,
    Decision,
    decide,
    transition,
)
from retail.store.models import AuditEvent, Proposal
from tools.audit import append_event
from tools.base import Principal, Role, Services, ToolContext, ToolOutcome, invoke

# The agent module that owns each proposal kind; each exposes `HANDLER`.
AGENT_MODULES = {"purchase_order": "agents.replenishment", "price_change": "agents.pricing"}
EXECUTABLE = frozenset({"approved", "edited"})
CRASH_ENV = "AISLE_CRASH_POINT"
CRASH_EXIT_CODE = 70


class DecisionRefusedError(AisleError):
    """A decision or an execution was refused; the message says why, in one sentence."""


class ProposalForDecision(BaseModel):
    """One proposal as the person deciding it is shown it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    content_hash: str = Field(description="Bind the decision to this hash: the content read.")
    location_id: str | None = None
    summary: str = Field(description="One line: what would be written, and its value.")
    totals: dict[str, Any] = Field(default_factory=dict)


class DecisionRequest(BaseModel):
    """A person's decision about one proposal, bound to the content hash they read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: str
    decision: Decision
    content_hash: str = Field(min_length=64, max_length=64)
    changes: dict[str, float] = Field(
        default_factory=dict,
        description="Edit only: what to change, by key (a purchase order: SKU -> quantity).",
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


class DecisionBatch(BaseModel):
    """What resumes a waiting run: who decides, and their decisions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decider: Principal
    decisions: list[DecisionRequest] = Field(min_length=1)


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


class ProposalRunState(BaseModel):
    """The state every operations graph shares; an agent's own state extends it."""

    outcomes: list[ToolOutcome] = Field(
        default_factory=list, description="The tool calls the agent made, in order."
    )
    proposals: list[ProposalForDecision] = Field(
        default_factory=list, description="Every proposal this run put up for decision."
    )
    pending: list[ProposalForDecision] = Field(
        default_factory=list, description="Proposals of this run still waiting for a decision."
    )
    decider: Principal | None = Field(
        default=None, description="Who made the latest batch of decisions (from the resume)."
    )
    requests: list[DecisionRequest] = Field(
        default_factory=list, description="The latest batch of decisions, not yet applied."
    )
    decisions: list[DecisionOutcome] = Field(
        default_factory=list, description="Every decision applied or refused, in order."
    )
    to_execute: list[str] = Field(
        default_factory=list, description="Proposals approved or edited and not yet executed."
    )
    executions: list[ExecutionOutcome] = Field(
        default_factory=list, description="Every execution, in order."
    )
    notes: list[str] = Field(
        default_factory=list, description="What the run tells the person (refusals, summary)."
    )


Editor = Callable[[Mapping[str, Any], Mapping[str, float]], dict[str, Any]]
Executor = Callable[[Session, Proposal], str]
GraphBuilder = Callable[
    [Services, BaseCheckpointSaver[Any]], CompiledStateGraph[Any, Any, Any, Any]
]


@dataclass(frozen=True, slots=True)
class ProposalHandler:
    """What is particular to one proposal kind and the agent that proposes it."""

    kind: str
    # The agent's service principal: its tool calls run as it, so it is the proposer.
    agent: Principal
    agent_name: str
    deciders: frozenset[Role]
    # The edited content from the content read and the person's changes; raises AisleError.
    edit: Editor
    # Writes the record of an approved proposal in the caller's transaction and returns its id;
    # it must look for a record of this proposal first (check before insert).
    execute: Executor
    build_graph: GraphBuilder

    def may_decide(self, principal: Principal) -> bool:
        return principal.role == "admin" or principal.role in self.deciders

    def context(self, services: Services, conversation_id: str) -> ToolContext:
        """The context the agent's own tool calls run in: as its service principal."""
        return ToolContext(
            principal=self.agent,
            services=services,
            conversation_id=conversation_id,
            agent_name=self.agent_name,
        )


def handler_for(kind: str) -> ProposalHandler:
    """The handler of `kind`'s proposals, from the agent module that owns them."""
    module = AGENT_MODULES.get(kind)
    if module is None:
        raise DecisionRefusedError(
            f"Unknown proposal kind {kind!r}; use one of {', '.join(AGENT_MODULES)}."
        )
    try:
        handler: ProposalHandler = import_module(module).HANDLER
    except ModuleNotFoundError:
        raise DecisionRefusedError(f"No agent decides {kind} proposals yet.") from None
    return handler


def crash_point(name: str) -> None:
    """Die at once, as a power cut would, when `AISLE_CRASH_POINT` names this point.

    Recovery tests set it in a child process to prove that a run killed between committing a
    decision and executing it resumes without a second record.
    """
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT_CODE)


def thread_of(config: RunnableConfig) -> str:
    """The LangGraph thread id a node runs in: the run's conversation id in the audit log."""
    return str(config.get("configurable", {}).get("thread_id", ""))


def call_tool(
    handler: ProposalHandler,
    services: Services,
    config: RunnableConfig,
    name: str,
    arguments: Mapping[str, Any] | None = None,
) -> ToolOutcome:
    """Call a tool as the agent, in this run's conversation (audited by `invoke`)."""
    return invoke(handler.context(services, thread_of(config)), name, arguments)


# --- audit -----------------------------------------------------------------------------------


def record_requests(
    engine: Engine,
    handler: ProposalHandler,
    proposals: list[ProposalForDecision],
    *,
    conversation_id: str,
) -> None:
    """Audit that the run now waits for a decision on each proposal (how a thread is found)."""
    for proposal in proposals:
        append_event(
            engine,
            event_type="approval",
            principal_id=handler.agent.id,
            role=handler.agent.role,
            status="requested",
            conversation_id=conversation_id,
            agent_name=handler.agent_name,
            approval_id=proposal.id,
            detail={"kind": proposal.kind, "content_hash": proposal.content_hash},
        )


def waiting_thread(engine: Engine, proposal_id: str) -> str | None:
    """The thread of the latest run that asked for a decision on this proposal, if any."""
    with Session(engine) as session:
        return session.scalars(
            select(AuditEvent.conversation_id)
            .where(
                AuditEvent.approval_id == proposal_id,
                AuditEvent.event_type == "approval",
                AuditEvent.status == "requested",
            )
            .order_by(AuditEvent.seq.desc())
        ).first()


def _audited(engine: Engine, proposal_id: str, event_type: str, status: str) -> bool:
    with Session(engine) as session:
        return (
            session.scalars(
                select(AuditEvent.seq).where(
                    AuditEvent.approval_id == proposal_id,
                    AuditEvent.event_type == event_type,
                    AuditEvent.status == status,
                )
            ).first()
            is not None
        )


def _audit_decision(
    engine: Engine,
    handler: ProposalHandler,
    decider: Principal,
    request: DecisionRequest,
    outcome: DecisionOutcome,
    conversation_id: str | None,
) -> None:
    append_event(
        engine,
        event_type="approval",
        principal_id=decider.id,
        role=decider.role,
        status=(outcome.status or "refused") if outcome.accepted else "refused",
        conversation_id=conversation_id,
        agent_name=handler.agent_name,
        approval_id=request.proposal_id,
        arguments={"decision": request.decision, "changes": request.changes},
        detail={
            "read_hash": request.content_hash,
            "content_hash": outcome.content_hash,
            "reason": request.reason,
            "message": outcome.message,
        },
    )


# --- deciding --------------------------------------------------------------------------------


def _already_decided(proposal: Proposal, decider: Principal, request: DecisionRequest) -> bool:
    """This decider's same decision is already recorded (a node re-run after a crash)."""
    wanted = DECISION_STATUS[request.decision]
    statuses = {wanted} if request.decision == "reject" else {wanted, "executed"}
    if proposal.decided_by != decider.id or proposal.status not in statuses:
        return False
    # An approval keeps the content it approved; an edit replaced it, so only its author counts.
    return request.decision != "approve" or proposal.content_hash == request.content_hash


def decide_proposal(
    engine: Engine,
    handler: ProposalHandler,
    decider: Principal,
    request: DecisionRequest,
    *,
    conversation_id: str | None = None,
    rerun: bool = False,
) -> DecisionOutcome:
    """Commit one decision (its own transaction) and audit it; a refusal is an outcome too.

    `rerun`: the caller is a graph node that may be running again after a crash, so the same
    decider's same decision, already recorded, counts as done instead of as a replay.
    """
    status: str | None = None
    new_hash: str | None = None
    accepted, already = False, False
    if not handler.may_decide(decider):
        message = f"The {decider.role} role may not decide {handler.kind} proposals."
    else:
        try:
            with Session(engine) as session, session.begin():
                proposal = session.scalars(
                    select(Proposal).where(Proposal.id == request.proposal_id).with_for_update()
                ).first()
                if proposal is None:
                    raise NotFoundError(f"No proposal with id {request.proposal_id!r}.")
                status = proposal.status
                if proposal.kind != handler.kind:
                    raise DecisionRefusedError(
                        f"Proposal {proposal.id} is a {proposal.kind}, not a {handler.kind}."
                    )
                if rerun and _already_decided(proposal, decider, request):
                    already = True
                elif proposal.status != OPEN_STATUS:
                    raise DecisionRefusedError(
                        f"Proposal {proposal.id} is {proposal.status}, not waiting for a "
                        "decision; it cannot be decided again."
                    )
                else:
                    edited = None
                    if request.decision == "edit":
                        if proposal.content_hash != request.content_hash:
                            raise ContentHashMismatchError(
                                f"Proposal {proposal.id} has changed since it was read; "
                                "reload it and decide again."
                            )
                        edited = handler.edit(proposal.content, request.changes)
                    decide(
                        session,
                        proposal.id,
                        decider=decider.id,
                        decision=request.decision,
                        expected_hash=request.content_hash,
                        edited_content=edited,
                        reason=request.reason,
                    )
                status, new_hash, accepted = proposal.status, proposal.content_hash, True
        except AisleError as exc:
            message = str(exc)
        else:
            done = DECISION_STATUS[request.decision]
            message = f"Proposal {request.proposal_id} {done} by {decider.id}."
            if already:
                message = f"Proposal {request.proposal_id} was already {status} by {decider.id}."
    outcome = DecisionOutcome(
        proposal_id=request.proposal_id,
        decision=request.decision,
        decider=decider.id,
        accepted=accepted,
        status=status,
        content_hash=new_hash,
        message=message,
    )
    if not (already and _audited(engine, request.proposal_id, "approval", status or "")):
        _audit_decision(engine, handler, decider, request, outcome, conversation_id)
    return outcome


# --- executing -------------------------------------------------------------------------------


def execute_proposal(
    engine: Engine,
    handler: ProposalHandler,
    proposal_id: str,
    *,
    conversation_id: str | None = None,
) -> ExecutionOutcome:
    """Create the record of an approved or edited proposal, once: the record and the proposal's
    move to `executed` (with `executed_ref`) commit together; an executed proposal creates
    nothing. Audited as the agent, with the proposal as the approval id."""
    created, ref = False, None
    try:
        with Session(engine) as session, session.begin():
            proposal = session.scalars(
                select(Proposal).where(Proposal.id == proposal_id).with_for_update()
            ).first()
            if proposal is None:
                raise NotFoundError(f"No proposal with id {proposal_id!r}.")
            if proposal.status == "executed":
                ref = proposal.executed_ref
            elif proposal.status not in EXECUTABLE:
                raise DecisionRefusedError(
                    f"Proposal {proposal_id} is {proposal.status}; only approved or edited "
                    "proposals are executed."
                )
            else:
                ref = handler.execute(session, proposal)
                transition(
                    proposal,
                    "executed",
                    actor=handler.agent.id,
                    expected_hash=proposal.content_hash,
                )
                proposal.executed_ref = ref
                created = True
    except IntegrityError:
        # A concurrent executor committed this proposal's record first: it is executed.
        with Session(engine) as session:
            ref = session.scalars(
                select(Proposal.executed_ref).where(Proposal.id == proposal_id)
            ).first()
    except AisleError as exc:
        outcome = ExecutionOutcome(
            proposal_id=proposal_id, executed=False, created=False, message=str(exc)
        )
        _audit_execution(engine, handler, outcome, conversation_id)
        return outcome
    crash_point("executed")
    outcome = ExecutionOutcome(
        proposal_id=proposal_id,
        executed=True,
        created=created,
        ref=ref,
        message=f"Proposal {proposal_id} executed as {ref}."
        if created
        else f"Proposal {proposal_id} was already executed as {ref}.",
    )
    if created or not _audited(engine, proposal_id, "execution", "executed"):
        _audit_execution(engine, handler, outcome, conversation_id)
    return outcome


def _audit_execution(
    engine: Engine,
    handler: ProposalHandler,
    outcome: ExecutionOutcome,
    conversation_id: str | None,
) -> None:
    append_event(
        engine,
        event_type="execution",
        principal_id=handler.agent.id,
        role=handler.agent.role,
        status="executed" if outcome.executed else "refused",
        conversation_id=conversation_id,
        agent_name=handler.agent_name,
        approval_id=outcome.proposal_id,
        result={"ref": outcome.ref},
        detail={"ref": outcome.ref, "created": outcome.created, "message": outcome.message},
    )


# --- the decision loop of a graph -------------------------------------------------------------


def interrupt_payload(pending: list[ProposalForDecision], agent_name: str) -> dict[str, Any]:
    """What the run shows while it waits (the `interrupt` value), as plain JSON."""
    return {
        "agent": agent_name,
        "waiting_for": "decisions",
        "proposals": [p.model_dump(mode="json") for p in pending],
        "resume_with": "DecisionBatch: decider and, per proposal, approve / edit / reject "
        "with the content_hash read",
    }


def pending_in(graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str) -> list[str]:
    """Ids of the proposals a thread is waiting on now (none when it is not waiting)."""
    snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    return [
        str(p["id"])
        for item in snapshot.interrupts
        if isinstance(item.value, dict)
        for p in item.value.get("proposals", [])
    ]


def add_decision_loop(
    builder: StateGraph[Any, Any, Any, Any],
    handler: ProposalHandler,
    services: Services,
    *,
    after: str,
) -> None:
    """Add `await_decisions` -> `apply_decisions` -> `execute` to `builder`, entered after the
    node `after` (which has set `pending` and audited the requests with `record_requests`) and
    looping back while proposals of the run still wait."""
    engine = services.engine

    def await_decisions(state: ProposalRunState) -> dict[str, Any]:
        # Nothing before `interrupt` may have effects: the node runs again from the top on resume.
        value = interrupt(interrupt_payload(state.pending, handler.agent_name))
        try:
            batch = DecisionBatch.model_validate(value)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "decisions"
            note = f"The decisions could not be read ({where}: {problem['msg']}); send them again."
            return {"decider": None, "requests": [], "notes": [*state.notes, note]}
        return {"decider": batch.decider, "requests": list(batch.decisions)}

    def apply_decisions(state: ProposalRunState, config: RunnableConfig) -> dict[str, Any]:
        thread = thread_of(config)
        waiting = {p.id for p in state.pending}
        outcomes: list[DecisionOutcome] = []
        decider = state.decider
        for request in state.requests if decider is not None else []:
            assert decider is not None
            if request.proposal_id not in waiting:
                outcomes.append(
                    DecisionOutcome(
                        proposal_id=request.proposal_id,
                        decision=request.decision,
                        decider=decider.id,
                        accepted=False,
                        status=None,
                        message=f"Proposal {request.proposal_id} is not waiting for a decision "
                        "in this run.",
                    )
                )
                continue
            outcomes.append(
                decide_proposal(
                    engine, handler, decider, request, conversation_id=thread, rerun=True
                )
            )
        crash_point("decided")
        # A refusal leaves the proposal waiting unless it is no longer open (decided elsewhere,
        # expired): a stale hash or a decider without the role changes nothing.
        settled = {
            o.proposal_id
            for o in outcomes
            if o.accepted or (o.status is not None and o.status != OPEN_STATUS)
        }
        return {
            "decisions": [*state.decisions, *outcomes],
            "pending": [p for p in state.pending if p.id not in settled],
            "to_execute": [
                o.proposal_id for o in outcomes if o.accepted and o.decision != "reject"
            ],
            "requests": [],
            "notes": [*state.notes, *(o.message for o in outcomes if not o.accepted)],
        }

    def execute(state: ProposalRunState, config: RunnableConfig) -> dict[str, Any]:
        thread = thread_of(config)
        done = [
            execute_proposal(engine, handler, proposal_id, conversation_id=thread)
            for proposal_id in state.to_execute
        ]
        return {"executions": [*state.executions, *done], "to_execute": []}

    def after_proposing(state: ProposalRunState) -> Literal["await_decisions", "__end__"]:
        return "await_decisions" if state.pending else "__end__"

    def after_deciding(
        state: ProposalRunState,
    ) -> Literal["execute", "await_decisions", "__end__"]:
        if state.to_execute:
            return "execute"
        return "await_decisions" if state.pending else "__end__"

    builder.add_node("await_decisions", await_decisions)
    builder.add_node("apply_decisions", apply_decisions)
    builder.add_node("execute", execute)
    builder.add_conditional_edges(after, after_proposing)
    builder.add_edge("await_decisions", "apply_decisions")
    builder.add_conditional_edges("apply_decisions", after_deciding)
    builder.add_conditional_edges("execute", after_proposing)


def advance(
    graph: CompiledStateGraph[Any, Any, Any, Any], value: Any, thread_id: str
) -> StateSnapshot:
    """Run a thread from `value` (initial state, `Command(resume=...)`, or None to carry on after
    a crash) until it waits or ends, and return its state.

    Each step's checkpoint is written before the next step starts, so a process killed inside
    a step resumes from that step, never from an older one.
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    graph.invoke(value, config, durability="sync")
    return graph.get_state(config)


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one person's decision, and of executing it."""

    decision: DecisionOutcome
    execution: ExecutionOutcome | None
    thread_id: str | None  # the waiting run it resumed; None: decided directly


def settle(
    services: Services,
    checkpointer: BaseCheckpointSaver[Any],
    handler: ProposalHandler,
    decider: Principal,
    request: DecisionRequest,
    *,
    thread_id: str | None = None,
) -> Settled:
    """Apply a person's decision about one proposal, and execute it when approved.

    When a run waits on the proposal (the thread named, else the latest run that asked for
    it), the decision resumes that run, so its graph commits and executes it; otherwise it is
    decided and executed directly, through the same functions.
    """
    engine = services.engine
    thread = thread_id or waiting_thread(engine, request.proposal_id)
    if thread is not None:
        graph = handler.build_graph(services, checkpointer)
        if request.proposal_id in pending_in(graph, thread):
            batch = DecisionBatch(decider=decider, decisions=[request])
            snapshot = advance(graph, Command(resume=batch.model_dump(mode="json")), thread)
            state = ProposalRunState.model_validate(
                {
                    name: value
                    for name, value in snapshot.values.items()
                    if name in ProposalRunState.model_fields
                }
            )
            mine = [d for d in state.decisions if d.proposal_id == request.proposal_id]
            done = [e for e in state.executions if e.proposal_id == request.proposal_id]
            return Settled(mine[-1], done[-1] if done else None, thread)
        if thread_id is not None:
            raise DecisionRefusedError(
                f"Run {thread_id} is not waiting for a decision on proposal {request.proposal_id}."
            )
    decision = decide_proposal(engine, handler, decider, request)
    execution = None
    if decision.accepted and request.decision != "reject":
        execution = execute_proposal(engine, handler, request.proposal_id)
    return Settled(decision, execution, None)
