"""The assistant's warm-up, which a server runs before `/ready` says ready: one read of each
kind a shopper's turn makes, on the real indexes and recommender, audited nowhere and writing
nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents.assistant import Assistant
from retail.store.models import AuditEvent
from tests.tools.world import ToolWorld


def _audit_events(tool_world: ToolWorld) -> int:
    with Session(tool_world.engine) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_warm_up_reads_each_kind_once_and_audits_nothing(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    before = _audit_events(tool_world)

    took = assistant.warm_up()

    assert list(took) == ["product search", "document answer", "recommendations"]
    assert all(ms > 0 for ms in took.values())
    assert assistant.warmed_up == took
    assert _audit_events(tool_world) == before
