"""The `openai` and `hybrid` brains through `Assistant.ask`, on the real tools and the embedded LLM.

A recording proxy on loopback sits between the brains and the SmolLM2 server, so the tests see
what went over the wire: which tools a step offered, what the model replied, and how much prompt
it cost. They assert the protocol, the audit and the fallbacks, and that whatever the turn
answers passes the grounding guard's check; what the 135M model chooses is reported, not judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, get_args

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.assistant import CONVERSATION_TOOLS, LLM_TOOLS_PER_STEP, Assistant, TurnResult
from agents.brains.llm import FailureReason
from agents.brains.openai_brain import OpenAIBrain
from agents.checkpoint import open_checkpointer
from agents.guard import check_answer
from agents.llm_server import DEFAULT_N_CTX
from agents.state import ConversationState
from retail.audit import verify_chain
from retail.store.models import AuditEvent
from tests.agents.loopback import LoopbackPeer, recording_proxy, refusing_port
from tests.tools.world import ToolWorld
from tools.base import Principal, tools_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# Why an LLM brain may hand a step to the local one: the endpoint failed, or its reply was unusable.
FALLBACK_REASONS = {*get_args(FailureReason), "no_usable_tool_calls", "empty_answer"}


@pytest.fixture(scope="module")
def checkpointer(tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = tool_world.settings.model_copy(
        update={"var_dir": tmp_path_factory.mktemp("llm-assistant-var")}
    )
    with open_checkpointer(settings) as saver:
        yield saver


def _assistant_on(tool_world: ToolWorld, checkpointer: Any, base_url: str) -> Assistant:
    """An assistant whose LLM brains talk to `base_url`. They read the endpoint from the
    services' settings when first asked for, so they are built here, while those name it."""
    settings = tool_world.settings.model_copy(update={"llm_base_url": base_url})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tool_world.services, "settings", settings)
        assistant = Assistant(tool_world.services, checkpointer)
        brain = assistant.brain("openai")
        assistant.brain("hybrid")
    # One round of tool calls, then the answer: two requests a turn keep this module's time
    # in bounds on a loaded two-core machine (the assistant allows two rounds).
    assert isinstance(brain, OpenAIBrain)
    brain.max_tool_rounds = 1
    return assistant


@pytest.fixture(scope="module")
def proxy(llm_server: str) -> Iterator[LoopbackPeer]:
    peer = recording_proxy(llm_server)
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def assistant(tool_world: ToolWorld, checkpointer: Any, proxy: LoopbackPeer) -> Assistant:
    return _assistant_on(tool_world, checkpointer, proxy.base_url)


@pytest.fixture(scope="module")
def offline(tool_world: ToolWorld, checkpointer: Any) -> Iterator[Assistant]:
    with refusing_port() as port:
        yield _assistant_on(tool_world, checkpointer, f"http://127.0.0.1:{port}/v1")


@pytest.fixture(scope="module")
def shopper(tool_world: ToolWorld) -> Principal:
    return Principal.parse(f"shopper:{tool_world.shopper_id}")


def _events(tool_world: ToolWorld, thread_id: str) -> list[AuditEvent]:
    with Session(tool_world.engine) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.conversation_id == thread_id)
                .order_by(AuditEvent.seq)
            )
        )


def _turn_state(assistant: Assistant, result: TurnResult) -> ConversationState:
    snapshot = assistant.graph.get_state({"configurable": {"thread_id": result.thread_id}})
    return ConversationState.model_validate(snapshot.values)


def _assert_grounded_by_the_guard(
    assistant: Assistant, tool_world: ToolWorld, result: TurnResult
) -> AuditEvent:
    """The turn's one guard decision; whichever it was, the answer given passes the check."""
    [guard] = [e for e in _events(tool_world, result.thread_id) if e.event_type == "guard"]
    assert guard.status in {"pass", "replaced"}
    assert result.grounded == (guard.status == "pass")
    outcomes = _turn_state(assistant, result).outcomes
    report = check_answer(result.answer, outcomes, assistant.product_names)
    assert report.grounded, report.unsupported
    return guard


def _message(exchange_response: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = exchange_response["choices"][0]["message"]
    return message


@pytest.mark.slow
def test_an_openai_turn_offers_the_retrieved_tools_and_audits_the_models_calls(
    assistant: Assistant,
    proxy: LoopbackPeer,
    tool_world: ToolWorld,
    shopper: Principal,
    spans: InMemorySpanExporter,
) -> None:
    brain = assistant.brain("openai")
    assert isinstance(brain, OpenAIBrain) and brain.selector is not None
    message = "where is my order?"
    proxy.exchanges.clear()

    result = assistant.ask(shopper, message, brain="openai")

    assert result.brain == "openai"
    first = proxy.exchanges[0]
    # The server took the request: the shopper's every tool would have overflowed its context.
    assert first.status == 200, first.response
    offered = [tool["function"]["name"] for tool in first.request["tools"]]
    granted = tools_for(shopper, CONVERSATION_TOOLS)
    assert offered == [spec.name for spec in brain.selector.select(message, granted)]
    assert len(offered) == LLM_TOOLS_PER_STEP < len(granted)
    assert "my_orders" in offered
    assert first.response["usage"]["prompt_tokens"] + first.request["max_tokens"] <= DEFAULT_N_CTX
    # The turn's token count is what the server reported for the requests it answered.
    answered = [e.response["usage"] for e in proxy.exchanges if e.status == 200]
    assert result.tokens is not None and result.tokens.requests == len(answered)
    assert result.tokens.prompt_tokens == sum(u["prompt_tokens"] for u in answered) > 0
    assert result.tokens.completion_tokens == sum(u["completion_tokens"] for u in answered)
    # Each request is a `chat {model}` span inside the turn's trace, with the usage reported.
    finished = spans.get_finished_spans()
    [turn] = [s for s in finished if s.name.startswith("invoke_agent ")]
    chats = [s for s in finished if s.name.startswith("chat ")]
    assert chats and {s.name for s in chats} == {f"chat {brain.client.model}"}
    assert all(s.context.trace_id == turn.context.trace_id for s in chats)
    assert all(s.attributes and s.attributes["gen_ai.provider.name"] == "openai" for s in chats)
    reported = [
        s.attributes for s in chats if s.attributes and "gen_ai.usage.input_tokens" in s.attributes
    ]
    assert len(reported) == len(answered)
    assert sum(int(a["gen_ai.usage.input_tokens"]) for a in reported) == result.tokens.prompt_tokens
    assert turn.attributes is not None
    assert turn.attributes["gen_ai.usage.input_tokens"] == result.tokens.prompt_tokens

    model_calls = {
        call["id"]: call["function"]["name"]
        for exchange in proxy.exchanges
        for call in _message(exchange.response).get("tool_calls") or []
    }
    tool_events = [e for e in _events(tool_world, result.thread_id) if e.event_type == "tool_call"]
    assert [e.tool_name for e in tool_events] == [c.name for c in result.tool_calls]
    for event in tool_events:
        assert (event.brain, event.model_version) == ("openai", brain.version)
        assert event.principal_id == shopper.id
    if result.fallback is None:
        # Every call was the model's, under the id it gave, to a tool it was offered.
        for event in tool_events:
            assert model_calls[event.tool_call_id] == event.tool_name
            assert event.tool_name in offered
    else:
        assert result.fallback in FALLBACK_REASONS
    guard = _assert_grounded_by_the_guard(assistant, tool_world, result)
    if result.fallback is None and guard.status == "pass":
        assert result.answer == (_message(proxy.exchanges[-1].response)["content"] or "").strip()
    assert verify_chain(tool_world.engine, settings=tool_world.settings).ok


@pytest.mark.slow
def test_a_hybrid_turn_answers_with_the_llms_rewrite_or_the_guards_replacement(
    assistant: Assistant, proxy: LoopbackPeer, tool_world: ToolWorld, shopper: Principal
) -> None:
    proxy.exchanges.clear()

    result = assistant.ask(shopper, "show me some jackets or shoes", brain="hybrid")

    # The local NLU routed; the LLM was asked once, without tools, to rewrite the draft.
    assert [c.name for c in result.tool_calls] == ["search_products"]
    assert result.products
    [rewrite] = proxy.exchanges
    assert rewrite.status == 200 and "tools" not in rewrite.request
    prompt = rewrite.request["messages"][-1]["content"]
    assert "search_products: " in prompt
    draft = prompt.split("Draft answer: ", 1)[1]
    rewritten = (_message(rewrite.response)["content"] or "").strip()

    guard = _assert_grounded_by_the_guard(assistant, tool_world, result)
    if not rewritten:
        assert result.fallback == "empty_answer" and result.answer == draft
    elif guard.status == "pass":
        assert result.fallback is None and result.answer == rewritten
    else:
        # The rewrite claimed what the search did not say: the local composition replaced it.
        assert guard.detail["unsupported"]
        assert result.answer == draft != rewritten
    assert guard.brain == "hybrid"


@pytest.mark.slow
@pytest.mark.parametrize("brain", ["openai", "hybrid"])
def test_an_unreachable_llm_answers_through_the_local_brain_and_says_why(
    offline: Assistant, tool_world: ToolWorld, shopper: Principal, brain: str
) -> None:
    message = "show me backpacks and bags"

    result = offline.ask(shopper, message, brain=brain)

    local = offline.ask(shopper, message)
    assert result.brain == brain and result.fallback == "connection"
    assert [c.name for c in result.tool_calls] == [c.name for c in local.tool_calls]
    assert (result.answer, result.products) == (local.answer, local.products)
    assert result.products and result.grounded
