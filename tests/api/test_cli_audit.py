"""`aisle audit verify` and `aisle audit log` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from retail.audit import append_event, checkpoints_path
from retail.settings import get_settings
from retail.store.models import AuditEvent
from retail.store.open import open_store
from retail.telemetry import tracer
from tests.audit_tampering import edit_and_rehash, forge, truncate
from tests.conftest import Aisle

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


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
        "checkpoints": 0,
        "checkpoint_seq": 0,
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


def test_log_finds_the_events_of_one_trace_in_either_case(
    aisle: Aisle, spans: InMemorySpanExporter
) -> None:
    _events(1)
    with tracer().start_as_current_span("invoke_agent shopper-assistant") as turn:
        _events(2)
    _events(1)
    trace_id = format(turn.get_span_context().trace_id, "032x")

    result = aisle("audit", "log", "--json", "--trace", trace_id.upper())

    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    assert [e["aisle.audit.seq"] for e in events] == [3, 2]
    assert {e["trace_id"] for e in events} == {trace_id}
    untraced = json.loads(aisle("audit", "log", "--json", "--limit", "1").stdout)
    assert "trace_id" not in untraced[0]
    assert aisle("audit", "verify").exit_code == 0


def _in_store(tamper: Callable[[Engine], object]) -> None:
    engine = open_store()
    try:
        tamper(engine)
    finally:
        engine.dispose()


@pytest.fixture
def every_four(aisle: Aisle, monkeypatch: pytest.MonkeyPatch) -> Aisle:
    """`aisle` with a checkpoint signed every 4 events, and 10 events appended (2 checkpoints)."""
    monkeypatch.setenv("AISLE_AUDIT_CHECKPOINT_EVERY", "4")
    get_settings.cache_clear()
    _events(10)
    return aisle


def test_verify_reports_the_signed_checkpoints(every_four: Aisle) -> None:
    ok = every_four("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact: 10 events" in ok.stdout
    assert "2 signed checkpoint(s) hold, the last at event 8; 2 later event(s) rest on" in ok.stdout


@pytest.mark.parametrize(
    ("tamper", "said", "unsaid"),
    [
        (
            lambda engine: edit_and_rehash(engine, 6, principal_id="someone-else"),
            "event 8: is not the event signed in the checkpoint of ",
            "removed",
        ),
        (
            lambda engine: truncate(engine, 7),
            "events were removed from the end and the head moved back (event 8 at least)",
            "rewritten",
        ),
        (
            lambda engine: forge(engine, 11, prev_hash="0" * 64),
            "event 11: does not follow event 10: its prev_hash is not that event's hash",
            # An event added is not one taken away.
            "removed",
        ),
    ],
    ids=["edited-and-rehashed", "truncated-head-moved-back", "forged-at-the-end"],
)
def test_verify_exits_1_on_what_a_database_writer_did(
    every_four: Aisle, tamper: Callable[[Engine], object], said: str, unsaid: str
) -> None:
    _in_store(tamper)
    broken = every_four("audit", "verify")
    assert broken.exit_code == 1
    assert said in broken.stderr and unsaid not in broken.stderr
    assert "audit chain BROKEN" in broken.stderr


def test_verify_exits_1_on_a_tampered_checkpoint(every_four: Aisle) -> None:
    engine = open_store()
    path = checkpoints_path(engine, get_settings())
    engine.dispose()
    first, second = path.read_text(encoding="utf-8").splitlines()
    path.write_text(first.replace('"seq":4', '"seq":3') + "\n" + second + "\n", encoding="utf-8")
    broken = every_four("audit", "verify", "--json")
    assert broken.exit_code == 1
    problems = json.loads(broken.stdout)["problems"]
    assert [(p["where"], p["problem"].split(":")[0]) for p in problems] == [
        ("checkpoint line 1 (event 3)", "its signature does not match")
    ]
