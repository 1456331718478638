"""The replenishment agent end to end on a tiny generated world, on SQLite and PostgreSQL, with
the real LangGraph checkpointer of each: nothing is ordered before a planner decides; approved
and edited proposals become exactly one purchase order each; rejections, replays, stale hashes
and the proposer's own approval create nothing. (Processes killed mid-decision:
tests/approvals/test_crash_recovery.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from langgraph.types import Command
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agents.checkpoint import open_checkpointer
from agents.operations import DecisionBatch, ProposalForDecision, advance, settle
from agents.replenishment import AGENT, HANDLER, ReplenishmentState, build_graph
from approvals.decisions import DecisionRequest
from retail.audit import verify_chain
from retail.proposals import content_hash
from retail.settings import Settings
from retail.store.models import (
    AuditEvent,
    InventoryPosition,
    Proposal,
    PurchaseOrder,
    PurchaseOrderLine,
)
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tools.base import Principal, Services

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SPEC = ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0)
ANA = Principal.parse("planner:ana")


@dataclass
class World:
    engine: Engine
    settings: Settings
    services: Services


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One tiny generated world per backend, shared by the module's tests: each test starts
    its own run and decides the proposals it is given."""
    root = tmp_path_factory.mktemp(f"replenish-{request.param}")
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'aisle.db'}"
    else:
        name, url = _create_postgres_database()
    settings = Settings(database_url=url, var_dir=root / "var", environment="test")
    engine = open_store(settings)
    seed_world(
        engine,
        scale="small",
        seed=5,
        end=PINNED_END,
        world_dir=settings.world_dir,
        show_progress=False,
        spec=SPEC,
    )
    yield World(engine, settings, Services(engine, settings))
    engine.dispose()
    if name is not None:
        _drop_postgres_database(name)


def _start(world: World) -> tuple[str, list[ProposalForDecision]]:
    """Run the agent on a new thread up to its interrupt: the thread and what it waits on."""
    thread = f"test-{uuid.uuid4().hex[:8]}"
    with open_checkpointer(world.settings) as saver:
        snapshot = advance(build_graph(world.services, saver), ReplenishmentState(), thread)
    assert snapshot.next == ("await_decisions",)
    (waiting,) = snapshot.interrupts
    pending = [ProposalForDecision.model_validate(p) for p in waiting.value["proposals"]]
    assert pending and [p.id for p in pending] == [p.id for p in snapshot.values["pending"]]
    return thread, pending


def _resume(world: World, thread: str, value: Any) -> dict[str, Any]:
    with open_checkpointer(world.settings) as saver:
        return dict(advance(build_graph(world.services, saver), value, thread).values)


def _batch(*decisions: DecisionRequest, decider: Principal = ANA) -> Command:
    batch = DecisionBatch(decider=decider, decisions=list(decisions))
    return Command(resume=batch.model_dump(mode="json"))


def _orders(engine: Engine, proposal_id: str) -> list[PurchaseOrder]:
    with Session(engine) as session:
        return list(
            session.scalars(select(PurchaseOrder).where(PurchaseOrder.proposal_id == proposal_id))
        )


def _po_lines(engine: Engine, po_id: str) -> dict[str, int]:
    with Session(engine) as session:
        return dict(
            session.execute(
                select(PurchaseOrderLine.variant_id, PurchaseOrderLine.quantity).where(
                    PurchaseOrderLine.purchase_order_id == po_id
                )
            ).all()
        )


def _proposal(engine: Engine, proposal_id: str) -> Proposal:
    with Session(engine) as session:
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        return proposal


def _on_order(engine: Engine, location_id: str, skus: list[str]) -> dict[str, int]:
    with Session(engine) as session:
        return dict(
            session.execute(
                select(InventoryPosition.variant_id, InventoryPosition.on_order).where(
                    InventoryPosition.location_id == location_id,
                    InventoryPosition.variant_id.in_(skus),
                )
            ).all()
        )


def _executions(engine: Engine, proposal_id: str) -> int:
    with Session(engine) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.approval_id == proposal_id, AuditEvent.event_type == "execution")
            )
            or 0
        )


def test_the_run_proposes_as_the_agent_and_orders_nothing_before_a_decision(world: World) -> None:
    with Session(world.engine) as session:
        orders_before = session.scalar(select(func.count()).select_from(PurchaseOrder))
    thread, pending = _start(world)
    with Session(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(PurchaseOrder)) == orders_before
        for p in pending:
            stored = session.get(Proposal, p.id)
            assert stored is not None and stored.status == "proposed"
            assert stored.content_hash == p.content_hash
        calls = session.execute(
            select(AuditEvent.tool_name, AuditEvent.principal_id, AuditEvent.role).where(
                AuditEvent.conversation_id == thread, AuditEvent.event_type == "tool_call"
            )
        ).all()
        requested = session.scalars(
            select(AuditEvent.approval_id).where(
                AuditEvent.conversation_id == thread, AuditEvent.status == "requested"
            )
        ).all()
    assert {name for name, _, _ in calls} >= {"skus_at_risk", "propose_reorders"}
    assert {(who, role) for _, who, role in calls} == {(AGENT.id, "planner")}
    assert sorted(requested) == sorted(p.id for p in pending)


def test_approve_edit_and_reject_in_one_batch(world: World) -> None:
    thread, pending = _start(world)
    assert len(pending) >= 3
    approved, edited, rejected = pending[:3]
    content = _proposal(world.engine, approved.id).content
    to_edit = _proposal(world.engine, edited.id).content
    first = to_edit["lines"][0]
    new_quantity = first["quantity"] + first["case_pack"]
    on_order_before = _on_order(
        world.engine, approved.location_id or "", [line["sku"] for line in content["lines"]]
    )

    state = _resume(
        world,
        thread,
        _batch(
            DecisionRequest(
                proposal_id=approved.id, decision="approve", content_hash=approved.content_hash
            ),
            DecisionRequest(
                proposal_id=edited.id,
                decision="edit",
                content_hash=edited.content_hash,
                changes={first["sku"]: new_quantity},
            ),
            DecisionRequest(
                proposal_id=rejected.id,
                decision="reject",
                content_hash=rejected.content_hash,
                reason="the supplier is on strike",
            ),
        ),
    )

    (po,) = _orders(world.engine, approved.id)
    wanted = {line["sku"]: line["quantity"] for line in content["lines"]}
    assert _po_lines(world.engine, po.id) == wanted
    assert (po.supplier_id, po.location_id) == (content["supplier"]["id"], approved.location_id)
    after = _on_order(world.engine, approved.location_id or "", list(wanted))
    assert {sku: after[sku] - on_order_before[sku] for sku in wanted} == wanted
    stored = _proposal(world.engine, approved.id)
    assert (stored.status, stored.executed_ref, stored.decided_by) == ("executed", po.id, "ana")

    (edited_po,) = _orders(world.engine, edited.id)
    edited_lines = _po_lines(world.engine, edited_po.id)
    assert edited_lines[first["sku"]] == new_quantity
    assert len(edited_lines) == len(to_edit["lines"])
    stored_edit = _proposal(world.engine, edited.id)
    assert stored_edit.status == "executed" and stored_edit.content_hash != edited.content_hash
    assert stored_edit.content["lines"][0]["proposed_quantity"] == first["quantity"]

    assert _orders(world.engine, rejected.id) == []
    stored_reject = _proposal(world.engine, rejected.id)
    assert (stored_reject.status, stored_reject.reason) == ("rejected", "the supplier is on strike")

    assert [e.ref for e in state["executions"]] == [po.id, edited_po.id]
    # The thread waits on what is left, and only that.
    assert {p.id for p in state["pending"]} == {p.id for p in pending[3:]}
    assert verify_chain(world.engine, settings=world.settings).ok


def test_stale_hashes_replays_and_the_proposers_own_approval_are_refused(world: World) -> None:
    thread, pending = _start(world)
    target = pending[0]
    proposer = Principal(id=_proposal(world.engine, target.id).proposer, role="planner")
    stale = content_hash({"lines": []})
    state = _resume(
        world,
        thread,
        _batch(DecisionRequest(proposal_id=target.id, decision="approve", content_hash=stale)),
    )
    refusal = state["decisions"][-1]
    assert not refusal.accepted
    assert refusal.message == (
        f"Proposal {target.id} has changed since it was read; reload it and decide again."
    )
    assert target.id in {p.id for p in state["pending"]}

    approve = DecisionRequest(
        proposal_id=target.id, decision="approve", content_hash=target.content_hash
    )
    own = _resume(world, thread, _batch(approve, decider=proposer))
    assert "someone else must decide it" in own["decisions"][-1].message
    shopper = _resume(world, thread, _batch(approve, decider=Principal.parse("shopper:cus-1")))
    assert shopper["decisions"][-1].message == (
        "The shopper role may not decide purchase_order proposals."
    )
    assert _orders(world.engine, target.id) == []
    assert _proposal(world.engine, target.id).status == "proposed"

    _resume(world, thread, _batch(approve))
    assert len(_orders(world.engine, target.id)) == 1
    with open_checkpointer(world.settings) as saver:
        replay = settle(world.services, saver, HANDLER, ANA, approve)
    assert not replay.decision.accepted and replay.execution is None
    # Named as a person knows it: by its supplier and store.
    content = _proposal(world.engine, target.id).content
    supplier, location = content["supplier"]["name"], content["location"]["name"]
    assert replay.decision.message == (
        f"The order from {supplier} for {location} was already executed, so it is no longer "
        f"waiting for a decision ({target.id})."
    )
    assert len(_orders(world.engine, target.id)) == 1
    assert _executions(world.engine, target.id) == 1
    assert verify_chain(world.engine, settings=world.settings).ok


def test_a_run_and_a_decision_are_traced_and_the_approval_names_its_span(
    world: World, spans: InMemorySpanExporter
) -> None:
    thread, pending = _start(world)
    [run] = [s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert run.name == f"invoke_agent {HANDLER.agent_name}"
    assert run.attributes is not None
    assert run.attributes["gen_ai.conversation.id"] == thread
    assert run.attributes["gen_ai.agent.name"] == HANDLER.agent_name
    proposing = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert {s.name for s in proposing} >= {"execute_tool propose_reorders"}
    assert all(s.context.trace_id == run.context.trace_id for s in proposing)
    spans.clear()
    chosen = pending[0]

    _resume(
        world,
        thread,
        _batch(
            DecisionRequest(
                proposal_id=chosen.id, decision="approve", content_hash=chosen.content_hash
            )
        ),
    )

    by_name = {s.name: s for s in spans.get_finished_spans()}
    resumed, decided = by_name[f"invoke_agent {HANDLER.agent_name}"], by_name["decide approve"]
    executed = by_name["execute purchase_order"]
    # The decision runs inside the resumed run, and the execution inside the decision.
    assert decided.parent is not None and decided.context.trace_id == resumed.context.trace_id
    assert executed.parent is not None and executed.parent.span_id == decided.context.span_id
    assert decided.attributes is not None and executed.attributes is not None
    assert decided.attributes["aisle.proposal.id"] == chosen.id
    assert decided.attributes["aisle.accepted"] is True
    (po,) = _orders(world.engine, chosen.id)
    assert executed.attributes["aisle.executed_ref"] == po.id
    with Session(world.engine) as session:
        approval = session.scalars(
            select(AuditEvent).where(
                AuditEvent.approval_id == chosen.id,
                AuditEvent.event_type == "approval",
                AuditEvent.status == "approved",
            )
        ).one()
    assert approval.detail["trace_id"] == format(decided.context.trace_id, "032x")
    assert verify_chain(world.engine, settings=world.settings).ok
