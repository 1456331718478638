"""The brain interface every implementation (`local`, `hybrid`, `openai`) follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agents.state import ConversationState, Step
from tools.base import ToolSpec


class Brain(Protocol):
    """Given the conversation and the tools the principal may call, the next step."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def decide(self, state: ConversationState, tools: Sequence[ToolSpec]) -> Step: ...
