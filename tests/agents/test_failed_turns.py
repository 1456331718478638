"""A turn that fails still leaves its thread answered: the person's message is saved as the turn
ends, failed or not, so the thread's last word must not be theirs, as if still being answered."""

from __future__ import annotations

import pytest

from agents.assistant import FAILED_TURN_ANSWER, Assistant
from agents.state import ConversationState, Message
from tests.tools.world import ToolWorld
from tools.base import Principal, ToolSpec


def _messages(assistant: Assistant, thread_id: str) -> list[Message]:
    values = assistant.graph.get_state({"configurable": {"thread_id": thread_id}}).values
    return [Message.model_validate(m) for m in values["messages"]]


def test_a_failed_turn_is_answered_plainly_and_the_thread_goes_on(
    assistant: Assistant, tool_world: ToolWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    shopper = Principal.parse(f"shopper:{tool_world.shopper_id}")
    thread_id = "thread-failed-turn"

    def broken(state: ConversationState, tools: list[ToolSpec]) -> None:
        raise RuntimeError("the brain broke")

    with monkeypatch.context() as patch:
        patch.setattr(assistant.local, "decide", broken)
        with pytest.raises(RuntimeError, match="the brain broke"):
            assistant.ask(shopper, "do you have jackets?", thread_id=thread_id)
    failed = _messages(assistant, thread_id)
    assert [(m.role, m.content) for m in failed] == [
        ("user", "do you have jackets?"),
        ("assistant", FAILED_TURN_ANSWER),
    ]

    result = assistant.ask(shopper, "do you have jackets?", thread_id=thread_id)
    after = _messages(assistant, thread_id)
    assert [m.role for m in after] == ["user", "assistant", "user", "assistant"]
    assert after[-1].content == result.answer != FAILED_TURN_ANSWER
