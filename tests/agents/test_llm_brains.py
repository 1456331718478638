"""The `openai` and `hybrid` brains against SmolLM2 on llama.cpp's OpenAI-compatible server.

The model is far too small to choose tools well, so these tests assert the protocol (a valid
tools request, replies that parse into steps for offered tools, tool messages the server
accepts, a bounded reply) and the failure paths (unreachable, timeout, 5xx retries, the circuit
breaker), never the model's judgement. The 5xx and malformed-reply cases use a tiny scripted HTTP
peer on loopback, since the real server cannot be made to fail on cue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from agents.brains.hybrid import HybridBrain
from agents.brains.llm import CircuitBreaker, LLMClient, LLMUnavailable
from agents.brains.openai_brain import OpenAIBrain
from agents.brains.tool_selection import ToolSelector, compact_schema
from agents.llm_server import EMBEDDED_MODEL_NAME, LLMServer, LLMServerError, free_port
from agents.state import Answer, Citation, ConversationState, Message, Step, ToolCallRequest
from ml_core.recommend.features import embed_texts
from tests.agents.loopback import LoopbackPeer
from tools.base import ToolContext, ToolErrorInfo, ToolOutcome, ToolSpec

# --- tools the brains are offered --------------------------------------------------------------


class SearchProductsInput(BaseModel):
    query: str = Field(description="What the shopper is looking for, in their words.")
    max_price: float | None = Field(default=None, description="Highest price, in dollars.")


class ProductHit(BaseModel):
    product_id: str
    name: str
    price: float


class SearchProductsOutput(BaseModel):
    hits: list[ProductHit]


class GetOrderInput(BaseModel):
    order_id: str = Field(description="The order id, such as #W1234567.")


class OrderStatus(BaseModel):
    order_id: str
    status: str


def _search_products(ctx: ToolContext, **_: Any) -> BaseModel:
    return SearchProductsOutput(hits=[])


def _get_order(ctx: ToolContext, **_: Any) -> BaseModel:
    return OrderStatus(order_id="#W0000000", status="pending")


TOOLS = [
    ToolSpec(
        name="search_products",
        description="Search the catalogue for products matching a description and price limit.",
        input_model=SearchProductsInput,
        output_model=SearchProductsOutput,
        roles=frozenset({"shopper"}),
        writes=False,
        fn=_search_products,
    ),
    ToolSpec(
        name="get_order",
        description="Look up one of the shopper's orders by its id: status and items.",
        input_model=GetOrderInput,
        output_model=OrderStatus,
        roles=frozenset({"shopper"}),
        writes=False,
        fn=_get_order,
    ),
]
OFFERED = {spec.name for spec in TOOLS}


FALLBACK_STEP = Step(answer=Answer(text="I can help you with products and orders."))


def _fell_back(reason: str) -> Step:
    """The fallback brain's step, as the LLM brain hands it on: with the reason it fell back."""
    return FALLBACK_STEP.model_copy(update={"fallback": reason})


class FixedBrain:
    """Stands in for the local brain only where what is tested is that the LLM brain hands the
    step over (the fallback) or keeps it (the hybrid's router), not what that step says."""

    name = "fixed"
    version = "1"

    def __init__(self, step: Step = FALLBACK_STEP) -> None:
        self.step = step
        self.calls = 0

    def decide(self, state: ConversationState, tools: Sequence[ToolSpec]) -> Step:
        self.calls += 1
        return self.step


def _asking(text: str) -> ConversationState:
    return ConversationState(messages=[Message(role="user", content=text)])


def _after_search() -> ConversationState:
    """A turn in which the shopper asked, one search ran and one order lookup failed."""
    return ConversationState(
        messages=[Message(role="user", content="Do you have a rain jacket under $150?")],
        outcomes=[
            ToolOutcome(
                call_id="call-search-1",
                name="search_products",
                arguments={"query": "rain jacket", "max_price": 150},
                status="ok",
                output={
                    "hits": [{"product_id": "p-17", "name": "Stormline Rain Jacket", "price": 129}]
                },
                latency_ms=3.0,
            ),
            ToolOutcome(
                call_id="call-order-1",
                name="get_order",
                arguments={"order_id": "#W404"},
                status="not_found",
                error=ToolErrorInfo(kind="not_found", message="There is no order #W404."),
                latency_ms=1.0,
            ),
        ],
        steps=1,
    )


def _client(base_url: str, **options: Any) -> LLMClient:
    options = {"timeout_s": 120.0, "backoff_s": 0.01, "backoff_max_s": 0.02} | options
    return LLMClient(base_url=base_url, model=EMBEDDED_MODEL_NAME, **options)


# --- against the embedded model -----------------------------------------------------------------


@pytest.mark.slow
def test_a_tools_request_comes_back_as_calls_to_offered_tools_or_an_answer(
    llm_server: str,
) -> None:
    fallback = FixedBrain()
    brain = OpenAIBrain(_client(llm_server), fallback=fallback)

    step = brain.decide(_asking("Find me a waterproof jacket under $150, size M."), TOOLS)

    assert step.fallback is None, step.fallback
    assert fallback.calls == 0
    assert (step.answer is None) != (not step.tool_calls)
    if step.answer is not None:
        assert step.answer.text.strip()
    for call in step.tool_calls:
        assert isinstance(call, ToolCallRequest)
        assert call.name in OFFERED
        assert isinstance(call.arguments, dict)
    assert len({call.id for call in step.tool_calls}) == len(step.tool_calls)


@pytest.mark.slow
def test_tool_outcomes_round_trip_as_tool_messages_the_server_accepts(llm_server: str) -> None:
    brain = OpenAIBrain(_client(llm_server), fallback=FixedBrain())
    state = _after_search()

    chat = brain.chat_messages(state)
    step = brain.decide(state, TOOLS)

    # One assistant message carries both calls, each answered by a tool message with its id.
    assistant, *tool_messages = chat[-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call-search-1", "call-order-1"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call-search-1", "call-order-1"]
    assert json.loads(tool_messages[0]["content"])["output"]["hits"][0]["price"] == 129
    assert json.loads(tool_messages[1]["content"])["error"]["kind"] == "not_found"
    # The server took the request (a refused one would have fallen back as "rejected").
    assert step.fallback is None, step.fallback
    assert step.answer is not None or all(c.name in OFFERED for c in step.tool_calls)


@pytest.mark.slow
def test_past_the_tool_round_budget_the_model_is_offered_no_tools_and_answers(
    llm_server: str,
) -> None:
    brain = OpenAIBrain(_client(llm_server), fallback=FixedBrain(), max_tool_rounds=1)

    step = brain.decide(_after_search(), TOOLS)

    assert step.fallback is None, step.fallback
    assert step.tool_calls == []
    assert step.answer is not None and step.answer.text.strip()


@pytest.mark.slow
def test_the_final_answer_streams_in_pieces(llm_server: str) -> None:
    brain = OpenAIBrain(_client(llm_server, max_tokens=48), fallback=FixedBrain())

    pieces = list(brain.stream_answer([Message(role="user", content="Say hello to a shopper.")]))

    assert len(pieces) > 1
    assert "".join(pieces).strip()


@pytest.mark.slow
def test_the_server_bounds_a_tool_reply_by_max_tokens(llm_server: str) -> None:
    # llama-cpp-python's own chatml-function-calling ignores max_tokens when it writes a call's
    # arguments; the embedded server's chat format counts every pass against it.
    raw = OpenAI(base_url=llm_server, api_key="not-needed", max_retries=0, timeout=120)
    query = "Search for: " + ", ".join(f"waterproof jacket model {i}" for i in range(20))

    reply = raw.chat.completions.create(
        model=EMBEDDED_MODEL_NAME,
        messages=[{"role": "user", "content": query}],
        tools=[compact_schema(spec) for spec in TOOLS],
        tool_choice="auto",
        max_tokens=8,
        temperature=0,
    )

    assert reply.usage is not None and reply.usage.completion_tokens <= 8
    message = reply.choices[0].message
    for call in message.tool_calls or []:
        assert len(call.function.arguments) < len(query)


@pytest.mark.slow
def test_a_tiny_timeout_falls_back_and_says_so(llm_server: str) -> None:
    fallback = FixedBrain()
    # A short request without tools: the server still finishes the abandoned attempts before it
    # serves the next test, so they should cost it little.
    client = _client(llm_server, timeout_s=0.001, attempts=2, max_tokens=4)
    brain = OpenAIBrain(client, fallback=fallback)

    step = brain.decide(_asking("Where is my order #W404?"), [])

    assert step == _fell_back("timeout")
    assert fallback.calls == 1


@pytest.mark.slow
def test_hybrid_rewrites_the_routers_answer_and_keeps_its_evidence(llm_server: str) -> None:
    router = FixedBrain(
        Step(
            answer=Answer(
                text="Stormline Rain Jacket is $129.",
                products=["p-17"],
                citations=[Citation(kind="product", id="p-17")],
            )
        )
    )
    brain = HybridBrain(router, _client(llm_server, max_tokens=96))

    step = brain.decide(_after_search(), TOOLS)

    assert step.fallback is None, step.fallback
    assert step.answer is not None and step.answer.text.strip()
    assert step.answer.products == ["p-17"]
    assert [c.id for c in step.answer.citations] == ["p-17"]


def test_hybrid_passes_tool_calls_and_answers_without_outcomes_through_untouched(
    closed_port: int,
) -> None:
    router = FixedBrain()
    # Nothing listens here, so any request the hybrid made would have been recorded as a fallback.
    brain = HybridBrain(router, _client(f"http://127.0.0.1:{closed_port}/v1"))

    # Equal steps: no fallback reason either.
    assert brain.decide(_asking("hello"), TOOLS) == FALLBACK_STEP

    router.step = Step(tool_calls=[ToolCallRequest(id="c1", name="get_order", arguments={})])
    assert brain.decide(_after_search(), TOOLS) == router.step


@pytest.mark.slow
def test_a_server_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    server = LLMServer(model=broken, log_path=tmp_path / "server.log", startup_timeout_s=60)

    with pytest.raises(LLMServerError, match="exited while starting"):
        server.start()
    server.stop()  # nothing left to stop: a no-op


@pytest.mark.slow
def test_the_foreground_server_prints_its_url_and_a_plain_kill_stops_the_model_too(
    tmp_path: Path,
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "agents.llm_server", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--log", str(tmp_path / "server.log")], stdout=subprocess.PIPE, text=True
    ) as foreground:
        try:
            assert foreground.stdout is not None
            assert foreground.stdout.readline().startswith(f"AISLE_LLM_BASE_URL={base_url}")
            models = httpx.get(f"{base_url}/models", timeout=10).json()
            assert models["data"][0]["id"] == EMBEDDED_MODEL_NAME
        finally:
            foreground.terminate()
        assert foreground.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/models", timeout=2)


# --- failure paths ------------------------------------------------------------------------------


def test_an_unreachable_server_falls_back_and_records_why(closed_port: int) -> None:
    fallback = FixedBrain()
    brain = OpenAIBrain(_client(f"http://127.0.0.1:{closed_port}/v1"), fallback=fallback)

    step = brain.decide(_asking("Where is my order?"), TOOLS)

    assert step == _fell_back("connection")
    assert fallback.calls == 1


def test_hybrid_keeps_the_routers_answer_when_the_llm_is_unreachable(closed_port: int) -> None:
    router = FixedBrain()
    brain = HybridBrain(router, _client(f"http://127.0.0.1:{closed_port}/v1"))

    step = brain.decide(_after_search(), TOOLS)

    assert step == _fell_back("connection")


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": EMBEDDED_MODEL_NAME,
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


ANSWER = _completion({"role": "assistant", "content": "Here is what I found."})
SERVER_ERROR = {"error": {"message": "the model crashed", "type": "server_error"}}


class ScriptedPeer(LoopbackPeer):
    """Answers each request with the next scripted (status, body); the last entry repeats."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        self.script = script
        super().__init__(self._next)

    def _next(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self.script[min(len(self.exchanges), len(self.script) - 1)]


@pytest.fixture
def peer() -> Iterator[ScriptedPeer]:
    server = ScriptedPeer([(200, ANSWER)])
    yield server
    server.close()


def test_a_5xx_is_retried_and_the_retry_is_used(peer: ScriptedPeer) -> None:
    peer.script = [(500, SERVER_ERROR), (503, SERVER_ERROR), (200, ANSWER)]
    brain = OpenAIBrain(_client(peer.base_url, attempts=3), fallback=FixedBrain())

    step = brain.decide(_asking("hello"), TOOLS)

    assert len(peer.requests) == 3
    assert step.answer is not None and step.answer.text == "Here is what I found."
    assert step.fallback is None


def test_the_request_offers_every_tool_with_auto_choice_and_no_streaming(
    peer: ScriptedPeer,
) -> None:
    brain = OpenAIBrain(_client(peer.base_url), fallback=FixedBrain())

    brain.decide(_asking("hello"), TOOLS)

    sent = peer.requests[0]
    assert sent["tools"] == [compact_schema(spec) for spec in TOOLS]
    assert sent["tool_choice"] == "auto"
    assert not sent.get("stream")
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "hello"}


def test_with_a_selector_only_the_closest_tools_are_offered_and_used_ones_stay(
    peer: ScriptedPeer,
) -> None:
    brain = OpenAIBrain(
        _client(peer.base_url), fallback=FixedBrain(), selector=ToolSelector(embed_texts, k=1)
    )

    brain.decide(_asking("What is the status of my order #W1234567?"), TOOLS)
    brain.decide(_after_search(), TOOLS)  # both tools were called in this turn

    offered = [[t["function"]["name"] for t in sent["tools"]] for sent in peer.requests]
    assert offered == [["get_order"], ["search_products", "get_order"]]


def test_5xx_after_every_retry_falls_back(peer: ScriptedPeer) -> None:
    peer.script = [(500, SERVER_ERROR)]
    brain = OpenAIBrain(_client(peer.base_url, attempts=2), fallback=FixedBrain())

    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("server_error")
    assert len(peer.requests) == 2


def test_a_refused_request_is_not_retried_and_does_not_trip_the_circuit(
    peer: ScriptedPeer,
) -> None:
    peer.script = [(400, {"error": {"message": "context too long"}})]
    breaker = CircuitBreaker(threshold=1, cooldown_s=60)
    brain = OpenAIBrain(_client(peer.base_url, breaker=breaker), fallback=FixedBrain())

    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("rejected")
    assert len(peer.requests) == 1
    assert breaker.state == "closed"


def test_a_reply_without_the_apis_shape_falls_back_and_counts_as_a_failure(
    peer: ScriptedPeer,
) -> None:
    peer.script = [(200, {"choices": [{"message": "not a message"}]})]
    breaker = CircuitBreaker(threshold=1, cooldown_s=60, clock=Clock())
    brain = OpenAIBrain(_client(peer.base_url, breaker=breaker), fallback=FixedBrain())

    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("malformed")
    assert breaker.state == "open"


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_calls_to_unknown_tools_or_with_unreadable_arguments_are_dropped_and_counted(
    peer: ScriptedPeer,
) -> None:
    peer.script = [
        (
            200,
            _completion(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        _tool_call("a", "delete_everything", "{}"),
                        _tool_call("b", "search_products", '{"query": "jacket"'),
                        _tool_call("c", "get_order", '["#W1"]'),
                        _tool_call("d", "search_products", '{"query": "rain jacket"}'),
                        _tool_call("d", "get_order", ""),
                    ],
                }
            ),
        )
    ]
    brain = OpenAIBrain(_client(peer.base_url), fallback=FixedBrain())

    step = brain.decide(_asking("a rain jacket"), TOOLS)

    assert [(c.name, c.arguments) for c in step.tool_calls] == [
        ("search_products", {"query": "rain jacket"}),
        ("get_order", {}),
    ]
    assert step.tool_calls[0].id == "d"
    assert step.tool_calls[1].id != "d"  # a repeated id would merge two calls in the audit
    assert brain.dropped_calls == 3
    assert step.fallback is None


def test_nothing_usable_in_the_reply_falls_back(peer: ScriptedPeer) -> None:
    peer.script = [
        (
            200,
            _completion(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [_tool_call("a", "delete_everything", "{}")],
                }
            ),
        ),
        (200, _completion({"role": "assistant", "content": "  "})),
    ]
    fallback = FixedBrain()
    brain = OpenAIBrain(_client(peer.base_url), fallback=fallback)

    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("no_usable_tool_calls")
    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("empty_answer")
    assert fallback.calls == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_opens_after_k_failures_and_then_spares_the_network(
    peer: ScriptedPeer,
) -> None:
    peer.script = [(500, SERVER_ERROR)]
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown_s=30, clock=clock)
    brain = OpenAIBrain(_client(peer.base_url, attempts=2, breaker=breaker), fallback=FixedBrain())

    for _ in range(2):
        assert brain.decide(_asking("hello"), TOOLS) == _fell_back("server_error")
    assert breaker.state == "open"
    assert len(peer.requests) == 4

    clock.now += 29
    assert brain.decide(_asking("hello"), TOOLS) == _fell_back("circuit_open")
    assert len(peer.requests) == 4

    # After the cool-down one probe goes through; the server has recovered, so it closes.
    peer.script = [(200, ANSWER)]
    peer.exchanges.clear()
    clock.now += 1
    step = brain.decide(_asking("hello"), TOOLS)
    assert step.answer is not None and step.answer.text == "Here is what I found."
    assert len(peer.requests) == 1
    assert breaker.state == "closed"


def test_the_stream_refuses_to_open_while_the_circuit_is_open(peer: ScriptedPeer) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, clock=Clock())
    breaker.record_failure()
    client = _client(peer.base_url, breaker=breaker)

    with pytest.raises(LLMUnavailable) as raised:
        list(client.stream([{"role": "user", "content": "hello"}]))

    assert raised.value.reason == "circuit_open"
    assert peer.requests == []


# --- the breaker on its own ---------------------------------------------------------------------


def test_breaker_counts_only_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()


def test_breaker_lets_one_probe_through_after_the_cooldown_and_reopens_if_it_fails() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # the probe is in flight: everyone else still falls back

    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
