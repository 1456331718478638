"""The audit log as tool calls see it: OpenTelemetry GenAI names for exports and the API.

The hash chain itself (appending, redaction, verification, signed checkpoints) lives in
`retail.audit`, below every layer that appends events; `tools.base.invoke` records each call.
"""

from __future__ import annotations

from typing import Any

# Re-exported while agents/operations.py still imports it from here (issue 18 moves it to the
# approvals package, which imports `retail.audit` directly).
from retail.audit import append_event as append_event
from retail.store.models import AuditEvent

# The OpenTelemetry GenAI attribute each column carries, for exports and the API.
OTEL_NAMES = {
    "conversation_id": "gen_ai.conversation.id",
    "agent_name": "gen_ai.agent.name",
    "tool_name": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
}


def otel_attributes(event: AuditEvent) -> dict[str, Any]:
    """The event as OpenTelemetry GenAI span attributes (plus Aisle's own `aisle.*`)."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool"}
    for column, name in OTEL_NAMES.items():
        value = getattr(event, column)
        if value is not None:
            attrs[name] = value
    attrs.update(
        {
            "aisle.audit.seq": event.seq,
            "aisle.principal.id": event.principal_id,
            "aisle.principal.role": event.role,
            "aisle.status": event.status,
        }
    )
    # The span the event was recorded in, when it was recorded inside a trace.
    for name in ("trace_id", "span_id"):
        if event.detail.get(name):
            attrs[name] = event.detail[name]
    return attrs
