"""The pricing agent end to end on SQLite and PostgreSQL: `aisle pricing run` stops at the pricing
manager's decisions, and resuming its LangGraph thread (checkpointed in the store's own
database) applies only what a person other than the proposer approved, once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langgraph.types import Command
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session
from typer.testing import Result

from agents.checkpoint import open_checkpointer
from agents.operations import DecisionBatch, advance
from agents.pricing import PricingRunState, build_graph
from approvals.decisions import DecisionRequest, complete, decide
from approvals.price_changes import MarkdownContent, price_steps
from retail.audit import verify_chain
from retail.clock import clock
from retail.settings import get_settings
from retail.store.models import AuditEvent, PriceChange, Proposal, Variant
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world
from tools.base import Principal, Services

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
# Two stores, 240 days of sales: enough history for the elasticities and the circuit breaker.
SPEC = ScaleSpec(20, 2, 30, 240, 0.8, 20, 1.0)
PAT = Principal.parse("pricing_manager:pat")
START = dt.date(
    2026, 11, 16
)  # the first week the world's plans price (its sales end the day before)


def _batch(decider: Principal, *decisions: dict[str, Any]) -> Command[Any]:
    requests = [DecisionRequest.model_validate(d) for d in decisions]
    return Command(
        resume=DecisionBatch(decider=decider, decisions=requests).model_dump(mode="json")
    )


def approve(proposal: dict[str, Any], content_hash: str | None = None) -> dict[str, Any]:
    return {
        "proposal_id": proposal["id"],
        "decision": "approve",
        "content_hash": content_hash or proposal["content_hash"],
    }


def _prices(engine: Engine) -> tuple[int, dict[str, float]]:
    with Session(engine) as session:
        applied = session.scalar(
            select(func.count())
            .select_from(PriceChange)
            .where(PriceChange.proposal_id.is_not(None))
        )
        return applied or 0, dict(session.execute(select(Variant.id, Variant.price)).all())


def _proposal(engine: Engine, proposal_id: str) -> Proposal:
    with Session(engine) as session:
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        return proposal


def _rows(engine: Engine, proposal_id: str, sku: str) -> list[tuple[dt.date, float]]:
    """The dated prices a proposal wrote for one of its sizes."""
    with Session(engine) as session:
        return [
            (day, price)
            for day, price in session.execute(
                select(PriceChange.effective_on, PriceChange.price)
                .where(PriceChange.proposal_id == proposal_id, PriceChange.variant_id == sku)
                .order_by(PriceChange.effective_on)
            )
        ]


@pytest.fixture
def world(aisle: Aisle) -> Iterator[Services]:
    """The tiny world in the store `aisle` runs against, and services over it."""
    seed_configured_world(SPEC)
    settings = get_settings()
    engine = open_store(settings)
    services = Services(engine, settings)
    yield services
    services.close()
    engine.dispose()


def _steady_price_history(engine: Engine, last_day: dt.date) -> None:
    """A store whose every SKU launched at today's price and whose only price changes in the
    past year were +1% and back."""
    with Session(engine) as session:
        session.execute(delete(PriceChange))
        for variant_id, price in session.execute(select(Variant.id, Variant.price)):
            for days_ago, new, reason in (
                (400, price, "launch"),
                (200, round(price * 1.01, 2), "list_change"),
                (100, price, "list_change"),
            ):
                session.add(
                    PriceChange(
                        variant_id=variant_id,
                        effective_on=last_day - dt.timedelta(days=days_ago),
                        price=new,
                        reason=reason,
                    )
                )
        session.commit()


@pytest.mark.slow
def test_plans_far_from_the_stores_price_history_are_stopped_never_proposed(
    aisle: Aisle, world: Services
) -> None:
    engine = world.engine
    _steady_price_history(engine, START - dt.timedelta(days=1))
    before = _prices(engine)
    started = aisle("pricing", "run", "--store", "S001", "--limit", "4", "--json")
    assert started.exit_code == 0, started.output
    run = json.loads(started.stdout)
    stopped = [n for n in run["notes"] if n.startswith("Stopped: ")]
    # Every markdown is many standard deviations from changes of 1%: the breaker trips on each.
    assert stopped and all("standard deviations from recent price changes" in n for n in stopped)
    stopped_products = {note.split(": ")[1].split(" in zone ")[0] for note in stopped}
    with Session(engine) as session:
        open_products = {
            p.content["product_id"]
            for p in session.scalars(select(Proposal).where(Proposal.status == "proposed"))
        }
    assert not stopped_products & open_products
    assert _prices(engine) == before


@pytest.mark.slow
def test_the_pricing_manager_decides_and_only_approved_prices_apply(
    aisle: Aisle, world: Services
) -> None:
    engine, settings = world.engine, world.settings
    before = _prices(engine)
    started = aisle("pricing", "run", "--store", "S001", "--limit", "4", "--json")
    assert started.exit_code == 0, started.output
    run = json.loads(started.stdout)
    assert run["waiting"] and run["agent"] == "pricing"
    waiting = run["proposals"]
    assert len(waiting) == 4
    # Nothing is priced before a decision.
    assert _prices(engine) == before
    for p in waiting:
        assert _proposal(engine, p["id"]).content_hash == p["content_hash"]
        assert p["totals"]["guardrails_pass"]
    first, second, third, fourth = waiting
    thread = run["thread_id"]

    with open_checkpointer(settings) as checkpointer:
        graph = build_graph(world, checkpointer)

        def resume(decider: Principal, *decisions: dict[str, Any]) -> PricingRunState:
            snapshot = advance(graph, _batch(decider, *decisions), thread)
            return PricingRunState.model_validate(snapshot.values)

        # The proposer cannot approve its own proposal.
        assert _proposal(engine, first["id"]).proposer == "agent:pricing"
        proposer = Principal(id="agent:pricing", role="pricing_manager")
        state = resume(proposer, approve(first))
        assert not state.decisions[-1].accepted
        assert "someone else must decide" in state.decisions[-1].message
        assert first["id"] in {p.id for p in state.pending}

        current = _proposal(engine, fourth["id"]).content
        steep = round(current["current_price"] * 0.5, 2)
        state = resume(
            PAT,
            approve(first),
            {
                "proposal_id": second["id"],
                "decision": "reject",
                "reason": "too deep",
                "content_hash": second["content_hash"],
            },
            approve(third, content_hash="0" * 64),
            {
                "proposal_id": fourth["id"],
                "decision": "edit",
                "content_hash": fourth["content_hash"],
                "changes": {current["path"][0]["week_starting"]: steep},
            },
        )
        outcomes = {d.proposal_id: d for d in state.decisions[-4:]}
        assert outcomes[first["id"]].accepted and outcomes[second["id"]].accepted
        assert "changed since it was read" in outcomes[third["id"]].message
        assert "breaks the guardrails" in outcomes[fourth["id"]].message
        assert [e.proposal_id for e in state.executions] == [first["id"]]
        assert state.executions[0].created

        # A replayed approval is refused, in the run and directly.
        state = resume(PAT, approve(first))
        assert not state.decisions[-1].accepted
        direct = decide(
            engine,
            Principal.parse("pricing_manager:kim"),
            DecisionRequest.model_validate(approve(first)),
            settings=settings,
        ).decision
        assert not direct.accepted and "executed" in direct.message

        # An edit within the guardrails: hold the first new price to the end.
        held = next(w["price"] for w in current["path"] if w["price"] != current["current_price"])
        flat = {w["week_starting"]: held for w in current["path"]}
        state = resume(
            PAT,
            {
                "proposal_id": fourth["id"],
                "decision": "edit",
                "content_hash": fourth["content_hash"],
                "changes": flat,
            },
        )
        assert state.decisions[-1].accepted and state.decisions[-1].status == "executed"
        assert state.executions[-1].proposal_id == fourth["id"]
        assert state.executions[-1].created
        assert [p.id for p in state.pending] == [third["id"]]

    today = clock(engine, settings).today
    assert today == START
    executed = _proposal(engine, first["id"])
    assert (executed.status, executed.decided_by) == ("executed", "pat")
    assert executed.executed_ref == f"price_history/{first['id']}"
    plan = MarkdownContent.model_validate(executed.content)
    steps = price_steps(plan, today=today)
    assert steps and _rows(engine, first["id"], plan.sku) == steps
    assert all(day >= today for day, _ in steps)
    edited = _proposal(engine, fourth["id"])
    assert (edited.status, edited.decided_by) == ("executed", "pat")
    assert edited.content_hash != fourth["content_hash"]
    assert [w["price"] for w in edited.content["path"]] == [held] * len(current["path"])
    edited_plan = MarkdownContent.model_validate(edited.content)
    assert _rows(engine, fourth["id"], edited_plan.sku) == [(today, held)]
    # Only the two executed proposals' products changed price, every size of each to the
    # plan's price due today (a size listed at a premium at the same fraction of its list).
    applied, prices = _prices(engine)
    expected, rows = dict(before[1]), 0
    for executed_plan in (plan, edited_plan):
        for size in executed_plan.sizes():
            size_steps = price_steps(executed_plan.for_size(size), today=today)
            rows += len(size_steps)
            due = [price for day, price in size_steps if day <= today]
            expected[size.sku] = due[-1] if due else before[1][size.sku]
    assert prices == expected and applied == rows
    assert prices[plan.sku] != before[1][plan.sku] and prices[edited_plan.sku] == held
    assert _proposal(engine, second["id"]).status == "rejected"
    assert _proposal(engine, third["id"]).status == "proposed"

    # Executing again creates nothing.
    again = complete(engine, first["id"], settings=settings)
    assert again.executed and not again.created
    assert _prices(engine)[0] == applied

    with Session(engine) as session:
        events = session.execute(
            select(AuditEvent.event_type, AuditEvent.status, AuditEvent.approval_id)
        ).all()
    assert ("approval", "approved", first["id"]) in events
    assert ("approval", "rejected", second["id"]) in events
    assert ("approval", "refused", third["id"]) in events
    assert ("execution", "executed", first["id"]) in events
    assert sum(e == ("execution", "executed", first["id"]) for e in events) == 1
    assert verify_chain(engine, settings=settings).ok


def test_an_unknown_store_is_one_sentence(aisle: Aisle) -> None:
    seed_configured_world(SPEC)
    result = aisle("pricing", "run", "--store", "S999")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "There is no price zone or priced location 'S999'" in result.stderr
    assert result.stderr.count("\n") == 1
