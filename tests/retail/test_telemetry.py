"""`configure_tracing`: spans reach the OTLP/HTTP collector the environment names, and nothing is
set up without one."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.test.globals_test import reset_trace_globals

from retail.telemetry import configure_tracing, current_ids, tracer


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, ExportTraceServiceRequest.FromString(body)))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what arrived."""


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, ExportTraceServiceRequest]]]]:
    """An OTLP/HTTP trace collector on loopback: its URL and the requests it received."""
    received: list[tuple[str, ExportTraceServiceRequest]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clean_globals() -> Iterator[None]:
    reset_trace_globals()
    try:
        yield
    finally:
        reset_trace_globals()


def test_spans_reach_the_collector_the_environment_names(
    collector: tuple[str, list[tuple[str, ExportTraceServiceRequest]]],
    clean_globals: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)

    assert configure_tracing("aisle-test")
    with tracer().start_as_current_span("invoke_agent tester", attributes={"a": 1}):
        ids = current_ids()
    provider = trace.get_tracer_provider()
    assert provider.force_flush()  # type: ignore[attr-defined]
    provider.shutdown()  # type: ignore[attr-defined]

    [(path, request)] = received
    assert path == "/v1/traces"
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "aisle-test"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "invoke_agent tester"
    assert (span.trace_id.hex(), span.span_id.hex()) == (ids["trace_id"], ids["span_id"])


def test_without_a_collector_nothing_is_set_up_and_spans_are_no_ops(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    assert not configure_tracing()
    with tracer().start_as_current_span("invoke_agent tester") as span:
        assert not span.is_recording()
        assert current_ids() == {}
