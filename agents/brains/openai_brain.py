"""The `openai` brain: any OpenAI-compatible endpoint decides the next step by function calling.

The model is shown the conversation, this turn's tool calls with their outcomes, and the tools the
principal may use (with a `ToolSelector`, only the few closest to the message, plus those this
turn already called; always in compact schemas); it answers with tool calls or with the answer.
What it returns is checked before the graph sees it: a call to a tool it was not offered, or with
arguments that are not a JSON object, is dropped (and counted), and whenever the endpoint cannot
serve the step (timeout, connection, 5xx after retries, open circuit) or leaves nothing usable,
the fallback brain (the local one) decides instead and the step carries the reason (`Step.fallback`)
for the audit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from openai.types.chat import ChatCompletionMessage

from agents.brains.base import Brain
from agents.brains.llm import (
    ChatMessage,
    LLMClient,
    LLMUnavailable,
    conversation_messages,
    outcome_json,
)
from agents.brains.tool_selection import ToolSelector, compact_schema
from agents.state import Answer, ConversationState, Message, Step, ToolCallRequest
from tools.base import ToolOutcome, ToolSpec

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are Aisle's retail assistant, serving {serves}. Use the tools for every fact: products, "
    "prices, stock, orders and store policies. Never invent a price, a stock figure, an order "
    "detail or a policy; if the tools did not give you a fact, say that you do not know it. Call "
    "a tool whenever you need a fact; once the tool results hold what the person asked, answer "
    "briefly from them. Name a payment method as the tools describe it (its `method` or "
    "`description`, such as 'your Visa credit card ending 1234'), never by its id."
)


class OpenAIBrain:
    """Native function calling against `client`'s endpoint, falling back to `fallback`."""

    name = "openai"

    def __init__(
        self,
        client: LLMClient,
        *,
        fallback: Brain,
        serves: str = "the store's shoppers and staff",
        selector: ToolSelector | None = None,
        # One fewer than the graph's steps, so the model always gets a step to answer in.
        max_tool_rounds: int = 3,
        max_tool_chars: int = 2000,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.selector = selector
        self.system_prompt = SYSTEM_PROMPT.format(serves=serves)
        self.max_tool_rounds = max_tool_rounds
        self.max_tool_chars = max_tool_chars
        self.dropped_calls = 0

    @property
    def version(self) -> str:
        return f"openai:{self.client.model}"

    def offered(self, state: ConversationState, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        """The tools this step shows the model: the selector's pick, or all of them; none past
        the budget of tool rounds, so that the model has to answer."""
        if state.steps >= self.max_tool_rounds:
            return []
        return self.selector.for_step(state, tools) if self.selector else list(tools)

    def decide(self, state: ConversationState, tools: Sequence[ToolSpec]) -> Step:
        offered = self.offered(state, tools)
        try:
            reply = self.client.complete(
                self.chat_messages(state), [compact_schema(spec) for spec in offered]
            )
        except LLMUnavailable as exc:
            return self._fall_back(state, tools, exc.reason, exc.detail)
        if reply.tool_calls:
            calls, dropped = self._usable_calls(reply, {spec.name for spec in offered})
            self.dropped_calls += dropped
            if calls:
                return Step(tool_calls=calls)
            return self._fall_back(
                state, tools, "no_usable_tool_calls", f"all {dropped} tool calls were unusable"
            )
        text = (reply.content or "").strip()
        if not text:
            return self._fall_back(state, tools, "empty_answer", "the model said nothing")
        return Step(answer=Answer(text=text))

    def stream_answer(self, messages: Sequence[Message]) -> Iterator[str]:
        """The answer to the conversation, streamed, for a turn where no tools are offered.

        Raises `LLMUnavailable` if the endpoint cannot serve it; the caller then answers with
        `decide` (which falls back) instead.
        """
        return self.client.stream(conversation_messages(self.system_prompt, messages))

    def chat_messages(self, state: ConversationState) -> list[ChatMessage]:
        """The conversation, then this turn's calls and their outcomes as the API expects them:
        one assistant message with the tool calls, one tool message per outcome."""
        chat = conversation_messages(self.system_prompt, state.messages)
        if state.outcomes:
            chat.append(
                {
                    "role": "assistant",
                    # Empty, not null: llama.cpp's server refuses an assistant message whose
                    # content is null, and the API takes either.
                    "content": "",
                    "tool_calls": [_call_message(o) for o in state.outcomes],
                }
            )
            chat.extend(
                {
                    "role": "tool",
                    "tool_call_id": o.call_id,
                    "content": outcome_json(o, self.max_tool_chars),
                }
                for o in state.outcomes
            )
        return chat

    def _usable_calls(
        self, reply: ChatCompletionMessage, offered: set[str]
    ) -> tuple[list[ToolCallRequest], int]:
        calls: list[ToolCallRequest] = []
        seen: set[str] = set()
        for call in reply.tool_calls or []:
            if call.type != "function" or call.function.name not in offered:
                continue
            arguments = _parse_arguments(call.function.arguments)
            if arguments is None:
                continue
            # The id is what the call is audited under, so it must be unique within the turn.
            call_id = call.id if call.id and call.id not in seen else _new_call_id()
            seen.add(call_id)
            calls.append(ToolCallRequest(id=call_id, name=call.function.name, arguments=arguments))
        return calls, len(reply.tool_calls or []) - len(calls)

    def _fall_back(
        self, state: ConversationState, tools: Sequence[ToolSpec], reason: str, detail: str
    ) -> Step:
        log.info("the %s brain fell back: %s (%s)", self.name, reason, detail)
        return self.fallback.decide(state, tools).model_copy(update={"fallback": reason})


def _call_message(outcome: ToolOutcome) -> dict[str, Any]:
    return {
        "id": outcome.call_id,
        "type": "function",
        "function": {"name": outcome.name, "arguments": json.dumps(outcome.arguments)},
    }


def _parse_arguments(raw: str) -> dict[str, Any] | None:
    """The call's arguments as a JSON object; None when the model wrote anything else."""
    if not raw.strip():
        return {}
    try:
        # Not strict: small models put raw newlines inside strings, and the intent is still clear.
        parsed = json.loads(raw, strict=False)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _new_call_id() -> str:
    return f"call-{uuid.uuid4().hex[:16]}"
