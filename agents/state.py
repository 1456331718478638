"""The typed state of a conversation graph, and what a brain hands back.

A brain reads `ConversationState` and returns a `Step`: tool calls to make, or the final answer
with its evidence. The graph, the tools, the audit and the evals are the same whichever brain
runs; only `Step`s differ.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from retail.product_query import ProductQuery
from tools.base import CallStatus, ToolOutcome
from tools.catalog import ProductCard

# How a person's message answered the write the assistant had asked them to confirm: anything
# but a plain yes drops it, so nothing was written ("declined").
ConfirmationReply = Literal["confirmed", "declined"]


class ToolCallRequest(BaseModel):
    """One call a brain asks for; `id` is the `gen_ai.tool.call.id` it will be audited under."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Citation(BaseModel):
    """Where a fact in the answer came from: a product, a policy section, an order, a document."""

    kind: Literal["product", "policy", "order", "document", "store", "proposal", "customer"]
    id: str
    label: str | None = Field(
        default=None,
        description='What a person calls it ("Returns and refunds", "reviews of Trail Tent"); '
        "a page shows this, never the id.",
    )


class Answer(BaseModel):
    """What the person reads, with the ids that back it."""

    text: str
    citations: list[Citation] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list, description="Product ids shown, in order.")
    quick_replies: list[str] = Field(default_factory=list)


class PendingAction(BaseModel):
    """A write the brain proposed and the person has not yet confirmed.

    `digest` binds the confirmation to exactly these arguments: the graph sets the context's
    `confirmed_action` to it only when the person's next message confirms, so a model can never
    confirm on the person's behalf.
    """

    tool: str
    arguments: dict[str, Any]
    digest: str
    summary: str = Field(description="The exact action, in words, as the person was asked.")


class DialogueState(BaseModel):
    """What the conversation remembers across turns."""

    shown_products: list[str] = Field(
        default_factory=list, description="Product ids last shown, in the order shown."
    )
    focus_product: str | None = Field(
        default=None, description="The product the person is talking about now."
    )
    product_names: dict[str, str] = Field(
        default_factory=dict, description="Names of the products shown, by id, for references."
    )
    slots: dict[str, Any] = Field(
        default_factory=dict,
        description="Constraints carried across turns: query, category, brand, colour, size, "
        "min_price, max_price, store, order_id.",
    )
    query: ProductQuery | None = Field(
        default=None,
        description="The product query in force: what the last search applied; a follow-up "
        "edits it.",
    )
    query_label: str = Field(
        default="", description="The product type of `query` in the shopper's words."
    )
    last_intent: str | None = None
    pending_actions: list[PendingAction] = Field(
        default_factory=list,
        description="Writes proposed together and not yet confirmed: one yes makes them all.",
    )
    answered: str | None = Field(
        default=None,
        description="How this turn's message answered the writes that were waiting (confirm, "
        "deny, mixed, unrelated); None when nothing was waiting.",
    )

    @property
    def pending_action(self) -> PendingAction | None:
        return self.pending_actions[0] if self.pending_actions else None


class ToolLine(BaseModel):
    """A tool an answer used, as the page's status line under it says: what it did, how it
    ended and how long it took (never its arguments)."""

    id: str = Field(description="The call's id, as its tool_start and tool_call events gave it.")
    name: str
    status: CallStatus
    latency_ms: float

    @classmethod
    def of(cls, outcome: ToolOutcome) -> ToolLine:
        return cls(
            id=outcome.call_id,
            name=outcome.name,
            status=outcome.status,
            latency_ms=round(outcome.latency_ms, 2),
        )


class Message(BaseModel):
    """One message of a thread. An assistant's keeps what its answer showed beside the text, so
    that a thread read back (a page reloaded) shows the same tool lines, cards, sources and
    buttons."""

    role: Literal["user", "assistant"]
    content: str
    cards: list[ProductCard] = Field(
        default_factory=list,
        description="The products the answer showed, priced as its text quotes them.",
    )
    citations: list[Citation] = Field(default_factory=list)
    quick_replies: list[str] = Field(default_factory=list)
    tools: list[ToolLine] = Field(
        default_factory=list, description="The tools the answer used, in the order they ran."
    )
    asks_confirmation: bool = Field(
        default=False, description="The answer asked the person to confirm a write (yes or no)."
    )
    answers_confirmation: ConfirmationReply | None = Field(
        default=None,
        description="How the person's message before this answer took the write the previous "
        "answer asked them to confirm; None when none was waiting.",
    )


class ConversationState(BaseModel):
    """The graph's state; checkpointed after every node."""

    owner: str | None = Field(
        default=None, description="The principal whose conversation this is; no one else's."
    )
    messages: Annotated[list[Message], operator.add] = Field(
        default_factory=list, description="The whole conversation; a turn appends to it."
    )
    dialogue: DialogueState = Field(default_factory=DialogueState)
    outcomes: list[ToolOutcome] = Field(
        default_factory=list, description="The tool outcomes of the current turn, in order."
    )
    calls: list[ToolCallRequest] = Field(
        default_factory=list, description="Tool calls the brain asked for, not yet made."
    )
    steps: int = Field(default=0, description="Brain steps taken in the current turn.")
    answer: Answer | None = Field(default=None, description="The current turn's final answer.")
    grounded: bool = Field(
        default=True, description="Whether the guard found the answer supported as written."
    )
    fallback: str | None = Field(
        default=None, description="Why the configured brain handed this turn to the local one."
    )


class Step(BaseModel):
    """A brain's decision: tool calls to make next, or the answer (never both)."""

    tool_calls: list[ToolCallRequest] = Field(default_factory=list)
    answer: Answer | None = None
    dialogue: DialogueState | None = Field(
        default=None, description="The dialogue state as the brain updated it, if it did."
    )
    fallback: str | None = Field(
        default=None,
        description="Why the configured brain handed this step to its fallback (timeout, "
        "connection, empty_answer...); None when it decided itself.",
    )
