"""A tiny generated world per backend for the approvals tests, shared by a module's tests, with
what a child process needs to reach the same store, and builders for fresh proposals."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agents.checkpoint import open_checkpointer
from agents.operations import ProposalForDecision, advance
from agents.replenishment import AGENT, ReplenishmentState, build_graph
from approvals.decisions import DECIDED
from retail.audit import verify_chain
from retail.proposals import create_proposal
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import AuditEvent, Proposal, PurchaseOrder
from tests.proposals import seeded_store
from tests.servers import process_env
from tools.base import Services

REPO = Path(__file__).resolve().parents[2]
SECRET = "approvals-test-secret"


@dataclass
class World:
    engine: Engine
    settings: Settings
    services: Services
    env: dict[str, str]
    """The environment a child process needs to reach the same store and checkpoints."""
    template: dict[str, Any]
    """A purchase order the replenishment agent proposed: the shape fresh proposals copy."""

    def start(self) -> tuple[str, list[ProposalForDecision]]:
        """Run the replenishment agent on a new thread up to its interrupt."""
        thread = f"test-{uuid.uuid4().hex[:8]}"
        with open_checkpointer(self.settings) as saver:
            snapshot = advance(build_graph(self.services, saver), ReplenishmentState(), thread)
        pending = [
            ProposalForDecision.model_validate(p)
            for waiting in snapshot.interrupts
            for p in waiting.value["proposals"]
        ]
        return thread, pending

    def fresh(self, lines: list[dict[str, Any]] | None = None) -> Proposal:
        """A new open purchase-order proposal by the agent: the template's order (or its
        supplier and location with `lines`), told apart by its plan date so that its content
        hash is its own."""
        content = {**self.template, "as_of": f"test-{uuid.uuid4().hex[:8]}"}
        if lines is not None:
            content["lines"] = lines
        with transaction(self.engine) as session:
            return create_proposal(
                session,
                kind="purchase_order",
                content=content,
                proposer=AGENT.id,
                location_id=content["location"]["id"],
            )

    def proposal(self, proposal_id: str) -> Proposal:
        with Session(self.engine) as session:
            return session.get_one(Proposal, proposal_id)

    def orders(self, proposal_id: str) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(PurchaseOrder.id).where(PurchaseOrder.proposal_id == proposal_id)
                )
            )

    def trail(self, proposal_id: str) -> tuple[int, int]:
        """How many decision (approved, edited or rejected) and execution events it has."""
        with Session(self.engine) as session:

            def count(event_type: str, statuses: tuple[str, ...]) -> int:
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(AuditEvent)
                        .where(
                            AuditEvent.approval_id == proposal_id,
                            AuditEvent.event_type == event_type,
                            AuditEvent.status.in_(statuses),
                        )
                    )
                    or 0
                )

            return count("approval", DECIDED), count("execution", ("executed",))

    def assert_ordered_once(self, proposal_id: str) -> str:
        """Exactly one purchase order, the proposal executed as it, one audit trail."""
        (po,) = self.orders(proposal_id)
        stored = self.proposal(proposal_id)
        assert (stored.status, stored.executed_ref) == ("executed", po)
        assert self.trail(proposal_id) == (1, 1)
        # The approval is on the trail before the execution it allowed (evals.safety's rule).
        with Session(self.engine) as session:
            kinds = session.scalars(
                select(AuditEvent.event_type)
                .where(
                    AuditEvent.approval_id == proposal_id,
                    AuditEvent.event_type.in_(("approval", "execution")),
                    AuditEvent.status.in_((*DECIDED, "executed")),
                )
                .order_by(AuditEvent.seq)
            )
            assert list(kinds) == ["approval", "execution"]
        assert verify_chain(self.engine, settings=self.settings).ok
        return po

    def aisle(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`aisle ARGS...` in a process of its own, as a person would run it."""
        return subprocess.run(
            [sys.executable, "-c", "from api.cli import main; main()", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp(f"approvals-{request.param}")
    with seeded_store(request.param, root, SECRET) as (settings, engine):
        services = Services(engine, settings)
        world = World(engine, settings, services, process_env(settings), template={})
        _, pending = world.start()
        assert pending, "the tiny world should need some orders"
        world.template = dict(world.proposal(pending[0].id).content)
        yield world
        services.close()
