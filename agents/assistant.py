"""The shopper and associate assistants: one conversation graph, a brain, a principal, a thread.

`Assistant` is built once per process (it loads the NLU and compiles the graph). `stream` runs
one turn for one principal on one thread and yields typed events as the turn goes (a tool
started, a tool finished, a piece of the answer, then the whole turn); `ask` is the same turn
read to its end, as `aisle ask --json` prints it. A thread belongs to the principal who started
it: anyone else asking on it is told it does not exist.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Durability
from pydantic import BaseModel, Field

from agents.brains.base import Brain
from agents.brains.local import LocalBrain
from agents.conversation import ANSWER_NODE, TurnContext, build_conversation_graph
from agents.nlu.parser import Nlu
from agents.state import (
    Citation,
    ConfirmationReply,
    ConversationState,
    Message,
    ToolCallRequest,
)
from agents.usage import TokenUsage, counting_tokens
from retail import telemetry
from retail.errors import AisleError, NotFoundError
from retail.telemetry import tracer
from tools.base import (
    CallStatus,
    Principal,
    Services,
    ToolContext,
    ToolOutcome,
    get_tool,
    invoke,
    tools_for,
)
from tools.catalog import ProductCard
from tools.vocabulary import Vocabulary

log = logging.getLogger(__name__)

BRAINS = ("local", "hybrid", "openai")
TURN_DURABILITY: Durability = "exit"
# A message over the hard cap is refused; one between the two is read as its request
# (`request_of`). The request budget is the old cap, so every message that was read whole
# before still is: a customer's whole order request can run to several hundred characters.
MAX_MESSAGE_CHARS = 10_000
REQUEST_CHARS = 2_000
CHUNKS = 4  # pieces an answer is streamed in
# What a thread says after a turn that failed: the person's message is saved either way (the
# graph saves a turn as it ends, failed or not), and a thread whose last word is theirs would
# read as a question still being answered.
FAILED_TURN_ANSWER = "Sorry, something went wrong while I was answering that; please ask again."
# The assistant's own service principal reads the vocabulary once at start-up.
SYSTEM = Principal(id="system:assistant", role="admin")
# What `warm_up` asks, one read of each kind a shopper's turn makes: its part's name, the tool
# and its arguments (similar products of the catalogue's first product, added at start-up).
WARM_UP_READS: dict[str, tuple[str, dict[str, Any]]] = {
    "product search": ("search_products", {"text": "a warm waterproof jacket"}),
    "document answer": ("answer_from_documents", {"question": "what is your return policy"}),
}
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
        "my_account",
        "modify_user_address",
        "find_customers",
        "customer_profile",
        "customer_recommendations",
        "forecast_for_sku",
        "why_short",
    }
)


class InvalidMessageError(AisleError):
    """The message cannot be handled as written (empty or over the hard cap)."""


class UnknownBrainError(AisleError):
    """No brain by that name."""


class ToolCallSummary(BaseModel):
    name: str
    args: dict[str, Any]
    status: CallStatus = Field(description="ok, or the typed error: not_found, forbidden, ...")
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


# --- the events of a streamed turn ------------------------------------------------------------


class ToolStarted(BaseModel):
    """A tool the assistant calls now; its `ToolFinished` follows under the same id."""

    id: str = Field(description="The call's id; its ToolFinished carries the same.")
    name: str
    args: dict[str, Any]


class ToolFinished(ToolCallSummary):
    """A tool call, as it returns."""

    id: str = Field(description="The call's id, as in its ToolStarted.")


class AnswerChunk(BaseModel):
    """The next piece of the answer's text, once the grounding guard has checked it."""

    text: str


class Final(BaseModel):
    """The whole turn, once it is saved, with the cards of the products the answer shows."""

    result: TurnResult
    cards: list[ProductCard] = Field(
        description="The cards of `result.products`, in order: the prices the answer quoted, "
        "with images."
    )
    answers_confirmation: ConfirmationReply | None = Field(
        default=None,
        description="How this turn's message took the write the previous answer asked about.",
    )


TurnEvent = ToolStarted | ToolFinished | AnswerChunk | Final


def _turn_attributes(agent: str, thread_id: str, context: TurnContext) -> dict[str, str]:
    brain = context.brain
    attributes = {
        telemetry.OPERATION: "invoke_agent",
        telemetry.AGENT_NAME: agent,
        telemetry.CONVERSATION_ID: thread_id,
        "aisle.brain": brain.name,
        "aisle.principal.role": context.tool_ctx.principal.role,
    }
    # The local brain is Aisle's own NLU on this machine; the others call an OpenAI-compatible
    # endpoint (their `chat {model}` spans name the model).
    attributes[telemetry.PROVIDER] = "aisle.local" if brain.name == "local" else "openai"
    return attributes


class Assistant:
    """Loads once; answers turns for any principal on any thread."""

    def __init__(self, services: Services, checkpointer: Any) -> None:
        import torch

        from ml_core.recommend.features import embed_texts, load_query_model

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
        nlu = Nlu.build(
            vocabulary,
            embed_texts,
            lambda texts: embed_texts(texts, cache),
            artifacts=services.settings.var_dir / "artifacts",
        )
        load_query_model()  # every turn embeds its message; none pays for loading the model
        self.local = LocalBrain(nlu)
        self.product_names = sorted({p.name for p in vocabulary.products}, key=len, reverse=True)
        self._warm_up_reads = dict(WARM_UP_READS)
        self.warmed_up: dict[str, float] | None = None
        """What `warm_up` made, part by part (milliseconds); None before it ran."""
        if vocabulary.products:
            self._warm_up_reads["recommendations"] = (
                "similar_products",
                {"product_id": vocabulary.products[0].id},
            )
        self.graph = build_conversation_graph(checkpointer)
        self._brains: dict[str, Brain] = {"local": self.local}
        # Turns run on several threads: the first two asking for an LLM brain build one.
        self._brains_lock = threading.Lock()

    def warm_up(self) -> dict[str, float]:
        """Make each kind of read a turn makes once, before any shopper asks: a product search
        (the query encoder's first inference, the search index's first hybrid query, the
        catalogue's SQL), a policy question (the document index) and similar products (the
        recommender). The first turn then costs what later ones do (docs/BENCHMARKS.md). The
        tools are called directly, not through `invoke`: no one asked, so nothing is audited,
        and none of them writes. Returns each part's milliseconds; a part whose index or model
        is not built yet is left out (the first turn that needs it says so)."""
        ctx = ToolContext(principal=SYSTEM, services=self.services, agent_name="assistant")
        took: dict[str, float] = {}
        for part, (name, arguments) in self._warm_up_reads.items():
            spec = get_tool(name)
            assert spec is not None, name
            started = time.perf_counter()
            try:
                spec.call(ctx, spec.input_model.model_validate(arguments))
            except AisleError:  # ToolError too: not built yet, not a fault of the warm-up
                continue
            took[part] = round((time.perf_counter() - started) * 1000.0, 1)
        self.warmed_up = took
        return took

    def brain(self, name: str) -> Brain:
        if name not in BRAINS:
            raise UnknownBrainError(f"Unknown brain {name!r}; use one of {', '.join(BRAINS)}.")
        built = self._brains.get(name)
        if built is None:
            with self._brains_lock:
                built = self._brains.get(name)
                if built is None:
                    built = self._brains[name] = _llm_brain(name, self)
        return built

    def ask(
        self,
        principal: Principal,
        message: str,
        *,
        thread_id: str | None = None,
        brain: str = "local",
    ) -> TurnResult:
        """Run one turn to its end and return it."""
        for event in self.stream(principal, message, thread_id=thread_id, brain=brain):
            if isinstance(event, Final):
                return event.result
        raise AssertionError("a turn ends with its Final event")

    def stream(
        self,
        principal: Principal,
        message: str,
        *,
        thread_id: str | None = None,
        brain: str = "local",
    ) -> Iterator[TurnEvent]:
        """One turn as events: each tool as the brain calls it and as it returns, the checked
        answer in a few chunks, then `Final`.

        The message, the brain and the thread's owner are checked here, when called
        (InvalidMessageError, UnknownBrainError, NotFoundError), so that a caller can answer
        them before it starts streaming; the turn itself runs as the events are read, and is
        saved whole when the last one is.
        """
        started = time.perf_counter()
        text = message.strip()
        if not text:
            raise InvalidMessageError("The message is empty; ask something.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidMessageError(
                f"The message has {len(text):,} characters; please keep it under "
                f"{MAX_MESSAGE_CHARS:,}."
            )
        chosen = self.brain(brain)
        thread_id = thread_id or f"thread-{uuid.uuid4().hex[:16]}"
        snapshot = self.graph.get_state({"configurable": {"thread_id": thread_id}})
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
        turn_input = {
            "owner": principal.id,
            "messages": [Message(role="user", content=request_of(text))],
        }
        return self._run(turn_input, thread_id, context, started)

    def _run(
        self, turn_input: dict[str, Any], thread_id: str, context: TurnContext, started: float
    ) -> Iterator[TurnEvent]:
        finished: set[str] = set()
        values: dict[str, Any] = {}
        # A turn is saved whole when it ends (or fails): a checkpoint after each of its five
        # steps serialised every turn of the server on the checkpointer's one connection, and a
        # turn cut off half-way has nothing worth resuming (the person asks again).
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        agent = context.tool_ctx.agent_name or "assistant"
        with (
            tracer().start_as_current_span(
                f"invoke_agent {agent}", attributes=_turn_attributes(agent, thread_id, context)
            ) as span,
            counting_tokens() as usage,
        ):
            try:
                for mode, chunk in self.graph.stream(
                    turn_input,
                    config,
                    context=context,
                    stream_mode=["updates", "values"],
                    durability=TURN_DURABILITY,
                ):
                    if mode == "values":
                        values = chunk
                        continue
                    for node, update in chunk.items():
                        yield from _events(node, update, finished)
            except Exception:
                self._answer_failed_turn(config)
                raise
            if usage.requests:
                span.set_attribute(telemetry.INPUT_TOKENS, usage.prompt_tokens)
                span.set_attribute(telemetry.OUTPUT_TOKENS, usage.completion_tokens)
        state = ConversationState.model_validate(values)
        assert state.answer is not None
        # The cards were made with the answer (the guard's message keeps them for a reload).
        said = state.messages[-1]
        result = TurnResult(
            thread_id=thread_id,
            answer=state.answer.text,
            tool_calls=[_summary(o) for o in state.outcomes],
            citations=state.answer.citations,
            products=state.answer.products,
            quick_replies=state.answer.quick_replies,
            grounded=state.grounded,
            brain=context.brain.name,
            fallback=state.fallback,
            tokens=usage if usage.requests else None,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 2),
        )
        yield Final(result=result, cards=said.cards, answers_confirmation=said.answers_confirmation)

    def _answer_failed_turn(self, config: RunnableConfig) -> None:
        """Answer a failed turn's message with `FAILED_TURN_ANSWER`, as its answer node would."""
        try:
            self.graph.update_state(
                config,
                {"messages": [Message(role="assistant", content=FAILED_TURN_ANSWER)]},
                as_node=ANSWER_NODE,
            )
        except Exception:  # the turn's own error is the one to report
            log.exception("a failed turn's thread could not be answered")


ConfirmationState = Literal["pending", "confirmed", "declined"]


def confirmation_states(messages: Sequence[Message]) -> list[ConfirmationState | None]:
    """Per message, what became of the write it asked the person to confirm: the next answer
    says how their reply took it; none yet, it is still pending. None for a message that asked
    nothing."""
    states: list[ConfirmationState | None] = []
    for n, message in enumerate(messages):
        if not message.asks_confirmation:
            states.append(None)
            continue
        later = (m for m in messages[n + 1 :] if m.role == "assistant")
        states.append(next((m.answers_confirmation or "declined" for m in later), "pending"))
    return states


def _events(node: str, update: Any, finished: set[str]) -> Iterator[TurnEvent]:
    """The events one graph node's update makes: the calls a brain step decided, the outcomes
    not announced yet (a node returns the turn's whole list), and the checked answer."""
    if not isinstance(update, dict):
        return
    for call in update.get("calls") or []:
        request = ToolCallRequest.model_validate(call)
        yield ToolStarted(id=request.id, name=request.name, args=request.arguments)
    for raw in update.get("outcomes") or []:
        outcome = ToolOutcome.model_validate(raw)
        if outcome.call_id not in finished:
            finished.add(outcome.call_id)
            yield ToolFinished(id=outcome.call_id, **_summary(outcome).model_dump())
    if node == ANSWER_NODE and update.get("answer") is not None:
        for piece in split_answer(update["answer"].text):
            yield AnswerChunk(text=piece)


def _summary(outcome: ToolOutcome) -> ToolCallSummary:
    return ToolCallSummary(
        name=outcome.name,
        args=outcome.arguments,
        status=outcome.status,
        latency_ms=round(outcome.latency_ms, 2),
    )


def split_answer(text: str, pieces: int = CHUNKS) -> list[str]:
    """The answer in up to `pieces` chunks cut at spaces; joined, they are the answer."""
    if len(text) < 40:
        return [text]
    size = -(-len(text) // pieces)
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.find(" ", end)
        end = len(text) if space < 0 or end == len(text) else space + 1
        chunks.append(text[start:end])
        start = end
    return chunks


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_ASKS = re.compile(
    r"\?|\b(?:i'?d like|i would like|i want|i need|i'?m looking for|looking for|do you have|"
    r"can you|could you|can i|please|show me|find me|help me)\b",
    re.IGNORECASE,
)


def request_of(text: str, budget: int = REQUEST_CHARS) -> str:
    """The message as the assistant reads it: whole when it fits in `budget` characters, else
    its request.

    The rule: the message is split into sentences; the request is the sentences that ask (a
    question mark, or a request phrase such as "I'm looking for", "can you", "please"), or the
    first sentences when none asks, as many as fit in `budget`, in the message's order. A
    first sentence longer than the whole budget is cut at a word.
    """
    if len(text) <= budget:
        return text
    sentences = [s for s in (part.strip() for part in _SENTENCE_BREAK.split(text)) if s]
    asking = [s for s in sentences if _ASKS.search(s)] or sentences
    kept: list[str] = []
    used = -1  # no space before the first sentence
    for sentence in asking:
        used += len(sentence) + 1
        if used > budget:
            break
        kept.append(sentence)
    return " ".join(kept) if kept else asking[0][:budget].rsplit(" ", 1)[0]


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
