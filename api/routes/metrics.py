"""Prometheus metrics: what the app counts, and `/metrics` in Prometheus's text format.

Each app has its own registry (two apps in one test process do not mix their counts). The
figures are per process: with several uvicorn workers, scrape each or run one per container.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from agents.assistant import TurnResult

router = APIRouter(tags=["health"])

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The app's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aisle_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aisle_http_request_duration_seconds",
            "Time to answer an HTTP request (a chat stream: until its last event).",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.chat_turns = Counter(
            "aisle_chat_turns",
            "Chat turns, by brain and outcome (ok or error).",
            ["brain", "outcome"],
            registry=self.registry,
        )
        self.first_event = Histogram(
            "aisle_chat_first_event_seconds",
            "Time from a chat request to its first server-sent event.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "aisle_tool_calls",
            "Tool calls made for API requests and chat turns, by tool and status.",
            ["tool", "status"],
            registry=self.registry,
        )
        self.guard_replacements = Counter(
            "aisle_guard_replacements",
            "Chat answers the grounding guard replaced, by brain.",
            ["brain"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_turn(self, result: TurnResult) -> None:
        self.chat_turns.labels(result.brain, "ok").inc()
        for call in result.tool_calls:
            self.tool_calls.labels(call.name, call.status).inc()
        if not result.grounded:
            self.guard_replacements.labels(result.brain).inc()


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process: requests and latency per route and status, chat
    turns, tool calls by name and status, grounding-guard replacements."""
    collected: Metrics = request.app.state.metrics
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
