"""Tool retrieval and schema compaction for the LLM brains, on the real shopper tools and MiniLM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from agents.assistant import CONVERSATION_TOOLS
from agents.brains.local import INTENT_TOOLS
from agents.brains.tool_selection import ToolSelector, compact_schema, examples_by_tool
from agents.nlu.intents import load_utterances
from agents.state import ConversationState, Message
from ml_core.recommend.features import embed_texts
from tools.base import Principal, ToolOutcome, ToolSpec, tools_for

SHOPPER = Principal(id="shopper:c-1", role="shopper", customer_id="c-1")


@pytest.fixture(scope="module")
def shopper_tools() -> list[ToolSpec]:
    return tools_for(SHOPPER, CONVERSATION_TOOLS)


@pytest.fixture(scope="module")
def selector() -> ToolSelector:
    return ToolSelector(
        embed_texts, k=4, examples=examples_by_tool(load_utterances(), INTENT_TOOLS)
    )


def _walk(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    items = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            items += _walk(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            items += _walk(value, path)
    return items


def test_compact_schemas_keep_every_argument_and_constraint(shopper_tools: list[ToolSpec]) -> None:
    for spec in shopper_tools:
        full = spec.openai_schema()["function"]
        compact = compact_schema(spec)["function"]
        assert compact["name"] == full["name"]
        assert compact["description"] == " ".join(full["description"].split())
        params, original = compact["parameters"], full["parameters"]
        assert params.get("required") == original.get("required")
        assert params.get("additionalProperties") == original.get("additionalProperties")
        assert params["properties"].keys() == original["properties"].keys()
        for name, prop in params["properties"].items():
            before = original["properties"][name]
            assert "title" not in prop
            for key in ("type", "minimum", "maximum", "maxLength", "minLength", "enum", "items"):
                if key in before:
                    assert prop[key] == before[key], (spec.name, name, key)
            if before.get("default") is not None:
                assert prop["default"] == before["default"]
            if "anyOf" in before and before.get("default", 0) is None:
                # Optional and null by default: written as its one other type.
                assert "anyOf" not in prop and "default" not in prop
                assert {k: v for k, v in prop.items() if k != "description"} in before["anyOf"]
        for path, value in _walk(params):
            if path and path[-1] == "description":
                assert value == " ".join(value.split())
        assert len(json.dumps(compact)) < len(json.dumps(full))


def test_an_argument_the_compact_schema_shows_is_accepted_as_before(
    shopper_tools: list[ToolSpec],
) -> None:
    search = next(s for s in shopper_tools if s.name == "search_products")
    props = compact_schema(search)["function"]["parameters"]["properties"]
    assert props["max_price"] == {
        "type": "number",
        "minimum": 0,
        "description": "Highest price, inclusive.",
    }
    # Leaving an optional argument out still means null, and null itself is still accepted.
    assert search.input_model(text="jacket").max_price is None
    assert search.input_model(text="jacket", max_price=None).max_price is None
    with pytest.raises(ValidationError):
        search.input_model(text="jacket", limit=props["limit"]["maximum"] + 1)


@pytest.mark.slow  # the first embeds every tool's examples: about 350 texts
@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("Find me a waterproof jacket under $150, size M.", "search_products"),
        ("what's your return policy?", "answer_from_documents"),
        ("where is my order?", "my_orders"),
        ("I want to return the shoes from my last order", "return_order_items"),
        ("recommend something for me", "recommend_for_me"),
    ],
)
def test_the_tools_closest_to_the_message_are_offered(
    selector: ToolSelector, shopper_tools: list[ToolSpec], message: str, wanted: str
) -> None:
    chosen = selector.select(message, shopper_tools)

    assert len(chosen) == 4 < len(shopper_tools)
    assert wanted in [s.name for s in chosen]
    # In the tools' own order, so that the same set is the same prompt prefix.
    assert chosen == [s for s in shopper_tools if s in chosen]


@pytest.mark.slow
def test_a_policy_question_needs_the_examples_to_find_the_policy_tool(
    shopper_tools: list[ToolSpec], selector: ToolSelector
) -> None:
    described_only = ToolSelector(embed_texts, k=4)
    message = "what's your return policy?"

    assert "answer_from_documents" not in [
        s.name for s in described_only.select(message, shopper_tools)
    ]
    assert selector.rank(message, shopper_tools)[0].name == "answer_from_documents"


@pytest.mark.slow
def test_tools_this_turn_used_stay_offered(
    selector: ToolSelector, shopper_tools: list[ToolSpec]
) -> None:
    state = ConversationState(
        messages=[Message(role="user", content="what's your return policy?")],
        outcomes=[
            ToolOutcome(
                call_id="c-1", name="stock_nearby", arguments={}, status="ok", latency_ms=1.0
            ),
            ToolOutcome(
                call_id="c-2", name="compare_products", arguments={}, status="ok", latency_ms=1.0
            ),
        ],
        steps=1,
    )

    chosen = [s.name for s in selector.for_step(state, shopper_tools)]

    assert len(chosen) == 4
    assert {"stock_nearby", "compare_products", "answer_from_documents"} <= set(chosen)
    assert [s.name for s in selector.select("hello", shopper_tools[:3])] == [
        s.name for s in shopper_tools[:3]
    ]


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        ToolSelector(embed_texts, k=0)
