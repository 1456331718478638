"""The `hybrid` brain: a router (the local NLU) decides the tool calls, an LLM writes the answer.

Routing stays with the brain that routes reliably; the LLM only rewrites the router's grounded
answer into fluent text, told to use nothing but this turn's tool outputs. The router's citations,
products and quick replies are kept as they were, the graph's grounding guard checks the rewritten
text, and whenever the LLM cannot serve (or says nothing) the router's answer stands unchanged,
with the reason in the step's `fallback`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agents.brains.base import Brain
from agents.brains.llm import ChatMessage, LLMClient, LLMUnavailable, outcome_json
from agents.state import Answer, ConversationState, Step
from tools.base import ToolSpec

log = logging.getLogger(__name__)

REWRITE_PROMPT = (
    "You write the reply of Aisle's retail assistant to {serves}. Rewrite the draft answer so "
    "that it reads naturally and answers the question. Use only facts found in the tool outputs "
    "below: never add a price, a stock figure, a product, an order detail or a policy that they "
    "do not contain. Keep every price and figure exactly as written. Name a payment method as "
    "the draft does, never by an id such as credit_card_1234567. Reply with the answer only."
)


class HybridBrain:
    """`router` decides every step; `client` rewrites the router's answer from the tool outputs."""

    name = "hybrid"

    def __init__(
        self,
        router: Brain,
        client: LLMClient,
        *,
        serves: str = "the store's shoppers and staff",
        max_tool_chars: int = 2000,
    ) -> None:
        self.router = router
        self.client = client
        self.rewrite_prompt = REWRITE_PROMPT.format(serves=serves)
        self.max_tool_chars = max_tool_chars

    @property
    def version(self) -> str:
        return f"hybrid:{self.router.version}+{self.client.model}"

    def decide(self, state: ConversationState, tools: Sequence[ToolSpec]) -> Step:
        step = self.router.decide(state, tools)
        # Without tool outputs there is nothing the LLM may state: the router's answer stands.
        if step.answer is None or not state.outcomes:
            return step
        try:
            reply = self.client.complete(self.rewrite_messages(state, step.answer))
        except LLMUnavailable as exc:
            log.info("the hybrid brain kept the router's answer: %s (%s)", exc.reason, exc.detail)
            return step.model_copy(update={"fallback": exc.reason})
        text = (reply.content or "").strip()
        if not text:
            return step.model_copy(update={"fallback": "empty_answer"})
        return step.model_copy(update={"answer": step.answer.model_copy(update={"text": text})})

    def rewrite_messages(self, state: ConversationState, draft: Answer) -> list[ChatMessage]:
        question = next((m.content for m in reversed(state.messages) if m.role == "user"), "")
        outputs = "\n".join(
            f"{o.name}: {outcome_json(o, self.max_tool_chars)}" for o in state.outcomes
        )
        return [
            {"role": "system", "content": self.rewrite_prompt},
            {
                "role": "user",
                "content": f"Question: {question}\n\nTool outputs:\n{outputs}\n\n"
                f"Draft answer: {draft.text}",
            },
        ]
