"""Token usage of the LLM requests made during one turn.

`Assistant.ask` opens `counting_tokens()` around the turn; `LLMClient` calls `record_usage` for
every answered request. The count lives in a context variable, not on the client, because one
client serves concurrent turns; LangGraph runs a turn's nodes in the caller's context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from pydantic import BaseModel


class ReportedUsage(Protocol):
    """What an OpenAI-compatible reply says it used (`openai.types.CompletionUsage`)."""

    prompt_tokens: int
    completion_tokens: int


class TokenUsage(BaseModel):
    """What the endpoint reported for the requests of one turn."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unreported_requests: int = 0  # a streamed reply, or an endpoint that sends no usage

    def add(self, usage: ReportedUsage | None) -> None:
        self.requests += 1
        if usage is None:
            self.unreported_requests += 1
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens


_TURN_USAGE: ContextVar[TokenUsage | None] = ContextVar("aisle_turn_usage", default=None)


@contextmanager
def counting_tokens() -> Iterator[TokenUsage]:
    """A `TokenUsage` that the LLM requests made inside the block add to."""
    usage = TokenUsage()
    reset = _TURN_USAGE.set(usage)
    try:
        yield usage
    finally:
        _TURN_USAGE.reset(reset)


def record_usage(usage: ReportedUsage | None) -> None:
    """Add one request's usage (None: not reported) to the turn being counted, if any."""
    counter = _TURN_USAGE.get()
    if counter is not None:
        counter.add(usage)
