"""The shopper and associate assistants: one conversation graph, a brain, a principal, a thread.

`Assistant` is built once per process (it loads the NLU and compiles the graph); `ask` runs one
turn for one principal on one thread and returns what `aisle ask --json` prints and what the API
will stream. A thread belongs to the principal who started it: anyone else asking on it is told
it does not exist.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from langgraph.types import Durability
from pydantic import BaseModel, Field

from agents.brains.base import Brain
from agents.brains.local import LocalBrain
from agents.conversation import TurnContext, build_conversation_graph
from agents.nlu.parser import Nlu
from agents.state import Citation, ConversationState, Message
from agents.usage import TokenUsage, counting_tokens
from retail.errors import AisleError, NotFoundError
from tools.base import Principal, Services, ToolContext, invoke, tools_for
from tools.vocabulary import Vocabulary

BRAINS = ("local", "hybrid", "openai")
TURN_DURABILITY: Durability = "exit"
MAX_MESSAGE_CHARS = 2000
# The assistant's own service principal reads the vocabulary once at start-up.
SYSTEM = Principal(id="system:assistant", role="admin")
AGENT_NAMES = {"shopper": "shopper-assistant", "associate": "associate-assistant"}
# Tools a conversation may offer: reads and the shopper's confirmed order writes. Proposal
# tools belong to the operations agents, whose writes wait for a planner or pricing manager.
CONVERSATION_TOOLS = frozenset(
    {
        "search_products",
        "product_details",
        "compare_products",
        "recommend_for_me",
        "similar_products",
        "complete_the_look",
        "answer_from_documents",
        "stock_nearby",
        "in_stock_substitutes",
        "my_orders",
        "order_details",
        "cancel_order",
        "modify_order_address",
        "modify_order_payment",
        "modify_order_items",
        "return_order_items",
        "exchange_order_items",
        "customer_profile",
        "customer_recommendations",
        "forecast_for_sku",
        "why_short",
    }
)


class InvalidMessageError(AisleError):
    """The message cannot be handled as written (empty or too long)."""


class UnknownBrainError(AisleError):
    """No brain by that name."""


class ToolCallSummary(BaseModel):
    name: str
    args: dict[str, Any]
    status: str
    latency_ms: float


class TurnResult(BaseModel):
    """One turn, as `aisle ask --json` prints it."""

    thread_id: str
    answer: str
    tool_calls: list[ToolCallSummary]
    citations: list[Citation]
    products: list[str]
    quick_replies: list[str] = Field(default_factory=list)
    grounded: bool
    brain: str
    fallback: str | None = None
    tokens: TokenUsage | None = Field(
        default=None, description="The LLM's token usage in this turn; none for the local brain."
    )
    latency_ms: float


class Assistant:
    """Loads once; answers turns for any principal on any thread."""

    def __init__(self, services: Services, checkpointer: Any) -> None:
        import torch

        from ml_core.recommend.features import embed_texts

        # A turn embeds one short text at a time: on two busy cores torch's second intra-op
        # thread spin-waits against the other processes and one embedding took ~470 ms instead of
        # ~13 ms (measured here). Serving runs one thread per inference; batch jobs keep theirs.
        torch.set_num_threads(1)
        self.services = services
        system_ctx = ToolContext(principal=SYSTEM, services=services, agent_name="assistant")
        outcome = invoke(system_ctx, "catalogue_vocabulary")
        if not outcome.ok or outcome.output is None:
            raise AisleError(f"The catalogue vocabulary could not be read: {outcome.error}.")
        vocabulary = Vocabulary.model_validate(outcome.output)
        cache = services.settings.var_dir / "cache"
        nlu = Nlu.build(vocabulary, embed_texts, lambda texts: embed_texts(texts, cache))
        self.local = LocalBrain(nlu)
        self.product_names = sorted({p.name for p in vocabulary.products}, key=len, reverse=True)
        self.graph = build_conversation_graph(checkpointer)
        self._brains: dict[str, Brain] = {"local": self.local}

    def brain(self, name: str) -> Brain:
        if name not in BRAINS:
            raise UnknownBrainError(f"Unknown brain {name!r}; use one of {', '.join(BRAINS)}.")
        if name not in self._brains:
            self._brains[name] = _llm_brain(name, self)
        return self._brains[name]

    def ask(
        self,
        principal: Principal,
        message: str,
        *,
        thread_id: str | None = None,
        brain: str = "local",
        on_event: Callable[[str, Any], None] | None = None,
    ) -> TurnResult:
        """Run one turn; `on_event` hears each graph update as it happens (for streaming)."""
        text = message.strip()
        if not text:
            raise InvalidMessageError("The message is empty; ask something.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidMessageError(
                f"The message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}."
            )
        chosen = self.brain(brain)
        started = time.perf_counter()
        thread_id = thread_id or f"thread-{uuid.uuid4().hex[:16]}"
        config = {"configurable": {"thread_id": thread_id}}
        snapshot = self.graph.get_state(config)
        owner = snapshot.values.get("owner") if snapshot.values else None
        if owner is not None and owner != principal.id:
            raise NotFoundError(f"No conversation with id {thread_id!r}.")
        tool_ctx = ToolContext(
            principal=principal,
            services=self.services,
            conversation_id=thread_id,
            agent_name=AGENT_NAMES.get(principal.role, "assistant"),
            brain=chosen.name,
            model_version=chosen.version,
        )
        context = TurnContext(
            tool_ctx=tool_ctx,
            brain=chosen,
            tools=tools_for(principal, CONVERSATION_TOOLS),
            composer=self.local,
            product_names=self.product_names,
        )
        turn_input = {"owner": principal.id, "messages": [Message(role="user", content=text)]}
        # A turn is saved whole when it ends (or fails): a checkpoint after each of its five
        # steps serialised every turn of the server on the checkpointer's one connection, and a
        # turn cut off half-way has nothing worth resuming (the person asks again).
        with counting_tokens() as usage:
            if on_event is None:
                values = self.graph.invoke(
                    turn_input, config, context=context, durability=TURN_DURABILITY
                )
            else:
                for update in self.graph.stream(
                    turn_input,
                    config,
                    context=context,
                    stream_mode="updates",
                    durability=TURN_DURABILITY,
                ):
                    for node, change in update.items():
                        on_event(node, change)
                values = self.graph.get_state(config).values
        state = ConversationState.model_validate(values)
        assert state.answer is not None
        return TurnResult(
            thread_id=thread_id,
            answer=state.answer.text,
            tool_calls=[
                ToolCallSummary(
                    name=o.name,
                    args=o.arguments,
                    status=o.status,
                    latency_ms=round(o.latency_ms, 2),
                )
                for o in state.outcomes
            ],
            citations=state.answer.citations,
            products=state.answer.products,
            quick_replies=state.answer.quick_replies,
            grounded=state.grounded,
            brain=chosen.name,
            fallback=state.fallback,
            tokens=usage if usage.requests else None,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 2),
        )


# The LLM brains on a small model: four tools a step (about 850 to 1,000 prompt tokens for the
# embedded SmolLM2, where all of a shopper's cost 3,900), two rounds of tool calls before it must
# answer (the graph allows four steps), and room for a slow CPU-bound step on a loaded machine.
LLM_TOOLS_PER_STEP = 4
LLM_TOOL_ROUNDS = 2


def _llm_brain(name: str, assistant: Assistant) -> Brain:
    """The `openai` or `hybrid` brain on the configured endpoint, falling back to `local`."""
    from agents.brains.hybrid import HybridBrain
    from agents.brains.llm import LLMClient
    from agents.brains.local import INTENT_TOOLS
    from agents.brains.openai_brain import OpenAIBrain
    from agents.brains.tool_selection import ToolSelector, examples_by_tool
    from agents.nlu.intents import load_utterances
    from ml_core.recommend.features import embed_texts

    settings = assistant.services.settings
    client = LLMClient.from_settings(settings, timeout_s=settings.llm_timeout_s)
    if name == "hybrid":
        return HybridBrain(assistant.local, client)
    cache = settings.var_dir / "cache"
    selector = ToolSelector(
        embed_texts,
        lambda texts: embed_texts(texts, cache),
        k=LLM_TOOLS_PER_STEP,
        examples=examples_by_tool(load_utterances(), INTENT_TOOLS),
    )
    return OpenAIBrain(
        client, fallback=assistant.local, selector=selector, max_tool_rounds=LLM_TOOL_ROUNDS
    )
