"""`aisle audit verify` and `aisle audit log` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import update
from sqlalchemy.orm import Session

from retail.store.models import AuditEvent
from retail.store.open import open_store
from tests.conftest import Aisle
from tools.audit import append_event


def _events(n: int) -> None:
    engine = open_store()
    try:
        for i in range(n):
            append_event(
                engine,
                event_type="tool_call",
                principal_id="olivia_ito_3591",
                role="shopper",
                status="ok",
                conversation_id="thread-1",
                agent_name="shopper-assistant",
                tool_name="search_products",
                tool_call_id=f"call-{i}",
                arguments={"query": "boots", "email": "o@example.com"},
                result={"products": [i]},
                latency_ms=3.0,
                brain="local",
                model_version="local-nlu-1",
            )
    finally:
        engine.dispose()


def test_verify_passes_then_names_the_edited_event(aisle: Aisle) -> None:
    _events(3)
    ok = aisle("audit", "verify", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) | {"head_hash": ""} == {
        "ok": True,
        "events": 3,
        "head_seq": 3,
        "head_hash": "",
        "problems": [],
    }
    engine = open_store()
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(principal_id="x"))
    engine.dispose()
    broken = aisle("audit", "verify")
    assert broken.exit_code == 1
    assert "event 2: was changed after it was written" in broken.stderr
    assert "BROKEN" in broken.stderr


def test_log_speaks_opentelemetry_names(aisle: Aisle) -> None:
    _events(2)
    result = aisle("audit", "log", "--json", "--conversation", "thread-1")
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    assert [e["gen_ai.tool.call.id"] for e in events] == ["call-1", "call-0"]
    assert events[0]["gen_ai.tool.name"] == "search_products"
    assert events[0]["gen_ai.conversation.id"] == "thread-1"
    assert events[0]["arguments"]["email"] == "[redacted]"
    table = aisle("audit", "log", "--limit", "1")
    assert table.exit_code == 0 and "search_products" in table.stdout
