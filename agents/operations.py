"""The operations agents' (replenishment, pricing) decision loop: a proposal run's state, the
approval `interrupt`, and resuming a waiting run with a person's decisions.

An operations graph proposes through tools, then waits at a LangGraph `interrupt` for a person's
decisions (`DecisionBatch`: approve, edit, reject, each bound to the content hash the person
read). `apply_decisions` hands each to `approvals.decisions.decide`, which decides and executes
it (the purchase order, the price change) in one transaction; the graph loops back to the
interrupt while proposals of the run still wait. A process killed inside `apply_decisions`
re-runs it on resume, and `decide` recognises the decisions already recorded. Deciding and
executing are never tools a model can call: only a resume with a person's principal does it.

Each agent module exposes `HANDLER`, its `ProposalHandler`: the proposal kind it owns (whose
rules are `approvals.kinds.KINDS[kind]`) and how to build its graph; `agents.operators` maps
each kind to its handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot, interrupt
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from approvals.decisions import (
    DecisionOutcome,
    DecisionRefusedError,
    DecisionRequest,
    ExecutionOutcome,
    decide,
)
from approvals.kinds import KINDS, ProposalKind
from retail.audit import append_event
from retail.identity import Principal
from retail.proposals import OPEN_STATUS
from retail.store.models import AuditEvent
from retail.telemetry import AGENT_NAME, CONVERSATION_ID, OPERATION, PROVIDER, tracer
from tools.base import Services, ToolContext, ToolOutcome, invoke


class ProposalForDecision(BaseModel):
    """One proposal as the person deciding it is shown it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    content_hash: str = Field(description="Bind the decision to this hash: the content read.")
    location_id: str | None = None
    summary: str = Field(description="One line: what would be written, and its value.")
    totals: dict[str, Any] = Field(default_factory=dict)


class DecisionBatch(BaseModel):
    """What resumes a waiting run: who decides, and their decisions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decider: Principal
    decisions: list[DecisionRequest] = Field(min_length=1)


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
    executions: list[ExecutionOutcome] = Field(
        default_factory=list, description="Every execution, in order."
    )
    notes: list[str] = Field(
        default_factory=list, description="What the run tells the person (refusals, summary)."
    )


GraphBuilder = Callable[
    [Services, BaseCheckpointSaver[Any]], CompiledStateGraph[Any, Any, Any, Any]
]


@dataclass(frozen=True, slots=True)
class ProposalHandler:
    """An operations agent: the proposal kind it owns and how to build its graph."""

    kind: str
    build_graph: GraphBuilder

    @property
    def rules(self) -> ProposalKind:
        """Who decides this kind, its bounds, edit and execution (`approvals.kinds`)."""
        return KINDS[self.kind]

    @property
    def agent(self) -> Principal:
        """The agent's service principal: its tool calls run as it, so it is the proposer."""
        return self.rules.agent

    @property
    def agent_name(self) -> str:
        return self.rules.agent_name

    def context(self, services: Services, conversation_id: str) -> ToolContext:
        """The context the agent's own tool calls run in: as its service principal."""
        return ToolContext(
            principal=self.agent,
            services=services,
            conversation_id=conversation_id,
            agent_name=self.agent_name,
        )


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
    """Add `await_decisions` -> `apply_decisions` to `builder`, entered after the node `after`
    (which has set `pending` and audited the requests with `record_requests`) and looping back
    while proposals of the run still wait."""
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
        executions: list[ExecutionOutcome] = []
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
            done = decide(
                engine,
                decider,
                request,
                conversation_id=thread,
                rerun=True,
                settings=services.settings,
            )
            outcomes.append(done.decision)
            if done.execution is not None:
                executions.append(done.execution)
        # A refusal leaves the proposal waiting unless it is no longer open (decided elsewhere,
        # expired): a stale hash or a decider without the role changes nothing.
        settled = {
            o.proposal_id
            for o in outcomes
            if o.accepted or (o.status is not None and o.status != OPEN_STATUS)
        }
        return {
            "decisions": [*state.decisions, *outcomes],
            "executions": [*state.executions, *executions],
            "pending": [p for p in state.pending if p.id not in settled],
            "requests": [],
            "notes": [*state.notes, *(o.message for o in outcomes if not o.accepted)],
        }

    def after_proposing(state: ProposalRunState) -> Literal["await_decisions", "__end__"]:
        return "await_decisions" if state.pending else "__end__"

    builder.add_node("await_decisions", await_decisions)
    builder.add_node("apply_decisions", apply_decisions)
    builder.add_conditional_edges(after, after_proposing)
    builder.add_edge("await_decisions", "apply_decisions")
    builder.add_conditional_edges("apply_decisions", after_proposing)


def advance(
    graph: CompiledStateGraph[Any, Any, Any, Any], value: Any, thread_id: str
) -> StateSnapshot:
    """Run a thread from `value` (initial state, `Command(resume=...)`, or None to carry on after
    a crash) until it waits or ends, and return its state.

    Each step's checkpoint is written before the next step starts, so a process killed inside
    a step resumes from that step, never from an older one.
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with tracer().start_as_current_span(
        f"invoke_agent {graph.name}",
        attributes={
            OPERATION: "invoke_agent",
            AGENT_NAME: graph.name,
            CONVERSATION_ID: thread_id,
            PROVIDER: "aisle.local",
        },
    ):
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
    retry: bool = False,
) -> Settled:
    """Apply a person's decision about one proposal (executed with it when approved).

    When a run waits on the proposal (the thread named, else the latest run that asked for
    it), the decision resumes that run, so its graph records it; otherwise it is decided
    directly, through the same transaction (`approvals.decisions.decide`). A run whose process
    died inside a step (it waits on nothing, yet has a next step) first finishes that step.
    `retry`: the same request again after the process that ran it died (its decision may be
    on record already, which then counts as done).
    """
    engine = services.engine
    thread = thread_id or waiting_thread(engine, request.proposal_id)
    if thread is not None:
        graph = handler.build_graph(services, checkpointer)
        stalled = graph.get_state({"configurable": {"thread_id": thread}})
        if stalled.next and not stalled.interrupts:
            advance(graph, None, thread)
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
            ran = [e for e in state.executions if e.proposal_id == request.proposal_id]
            return Settled(mine[-1], ran[-1] if ran else None, thread)
        if thread_id is not None:
            raise DecisionRefusedError(
                f"Run {thread_id} is not waiting for a decision on proposal {request.proposal_id}."
            )
    done = decide(engine, decider, request, rerun=retry, settings=services.settings)
    return Settled(done.decision, done.execution, None)
