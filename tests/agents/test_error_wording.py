"""What a shopper reads when a tool call fails: plain sentences, with no tool or argument names,
no store or SKU ids and no validation messages; the technical detail stays in the outcome's
details, which the audit digests and an LLM brain reads."""

from __future__ import annotations

import re

import pytest

from agents.compose import compose
from agents.state import ConversationState, Message
from tests.tools.world import ToolWorld
from tools.base import INVALID_ARGUMENTS, ToolOutcome, invoke

# What a shopper must never read: snake_case names, quoted ids, pydantic's phrasing.
PLUMBING = re.compile(
    r"\b[a-z]+_[a-z_]+\b|'[^']*\d[^']*'|Input should|String should|Field required"
)


def _answer(outcome: ToolOutcome) -> str:
    state = ConversationState(messages=[Message(role="user", content="?")], outcomes=[outcome])
    answer = compose(state).answer
    assert answer is not None
    return answer.text


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("product_details", {"product_id": ""}),
        ("product_details", {"product_id": "P1", "colour": "red"}),
        ("stock_nearby", {"limit": 99}),
    ],
)
def test_arguments_that_fail_validation_are_one_plain_sentence_with_the_detail_kept(
    tool_world: ToolWorld, tool: str, arguments: dict[str, object]
) -> None:
    outcome = invoke(tool_world.ctx(f"shopper:{tool_world.shopper_id}"), tool, arguments)

    assert outcome.status == "invalid" and outcome.error is not None
    assert outcome.error.message == INVALID_ARGUMENTS
    [problem] = outcome.error.details["problems"]
    assert problem["argument"] in arguments and problem["problem"]
    assert outcome.error.details["tool"] == tool
    assert _answer(outcome) == INVALID_ARGUMENTS


def test_a_tool_sentence_naming_a_store_id_reaches_the_shopper_in_plain_words(
    tool_world: ToolWorld,
) -> None:
    outcome = invoke(
        tool_world.ctx(f"shopper:{tool_world.shopper_id}"),
        "stock_nearby",
        {"product_id": tool_world.product_id, "store_id": "S999"},
    )

    assert outcome.status == "not_found" and outcome.error is not None
    assert "S999" in outcome.error.message  # the tool's own words, kept for the audit
    text = _answer(outcome)
    assert text and not PLUMBING.search(text) and "S999" not in text


def test_a_plain_tool_sentence_is_shown_as_written(tool_world: ToolWorld) -> None:
    outcome = invoke(
        tool_world.ctx(f"shopper:{tool_world.shopper_id}"),
        "order_details",
        {"order_id": "#W0000000"},
    )

    assert outcome.status == "not_found" and outcome.error is not None
    assert _answer(outcome) == outcome.error.message
    assert "#W0000000" in outcome.error.message and not PLUMBING.search(outcome.error.message)
