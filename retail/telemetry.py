"""OpenTelemetry traces in the GenAI semantic conventions.

Every layer makes its spans through `tracer()`, the OpenTelemetry API's global tracer: until a
tracer provider is installed its spans are non-recording no-ops, so tracing costs next to
nothing when nobody collects it. `configure_tracing()` installs the SDK's provider with the
OTLP/HTTP exporter only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set;
the exporter and sampler read the other standard `OTEL_*` variables themselves. Tests install a
provider with the SDK's in-memory exporter instead.

The spans (https://opentelemetry.io/docs/specs/semconv/gen-ai/):
- `invoke_agent {agent}`: one conversation turn, or one step of an operations agent's run;
- `execute_tool {tool}`: one call through `tools.base.invoke` (the audit event it appends
  carries this span's trace and span ids, and the span the event's id);
- `chat {model}`: one request to an OpenAI-compatible endpoint, with its token usage;
- `decide {decision}` and `execute {kind}`: a person's decision on a proposal and what
  carrying it out wrote.
"""

from __future__ import annotations

import os

from opentelemetry import trace

# Attribute names of the GenAI conventions (semconv 1.37+), spelled once.
OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracer() -> trace.Tracer:
    return trace.get_tracer("aisle")


def exporting() -> bool:
    """Whether the environment names a collector to send traces to."""
    return any(os.environ.get(name) for name in _ENDPOINT_VARIABLES)


def configure_tracing(service_name: str = "aisle") -> bool:
    """Send spans to the OTLP collector the environment names; without one, do nothing and
    return False (spans stay no-ops). Called once at the start of a process (the API app, the
    CLI); a provider already installed (a test's, a host's) is left in place."""
    if not exporting() or _provider_installed():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, names the service; the SDK's resource detector reads it.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def _provider_installed() -> bool:
    # The API hands out a proxy until a real provider is set; only the SDK's has processors.
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def current_ids() -> dict[str, str]:
    """The recording span's trace and span ids as hex (the W3C form), or nothing outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }
