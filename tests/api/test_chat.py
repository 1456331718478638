"""The chat over HTTP on the tool world: a streamed turn (server-sent events), follow-ups on the
same thread, the plain JSON turn, thread history for its owner only, and bad input.

One Assistant (real MiniLM NLU, LangGraph, tools, Qdrant Edge) is built per module and served by
a real app through Starlette's TestClient, with API keys issued in the world's database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.assistant import MAX_MESSAGE_CHARS, REQUEST_CHARS, Assistant, split_answer
from agents.checkpoint import open_checkpointer
from api.app import create_app
from api.auth import issue_key
from api.ratelimit import RateLimit
from retail.settings import Settings
from retail.store.models import Order
from tests.tools.world import ToolWorld
from tools.base import Principal
from tools.catalog import ProductCard


@dataclass
class Served:
    """The tool world served over HTTP, with one key per principal it needs."""

    client: TestClient
    keys: dict[str, str]
    """Principal spec -> its API key."""

    def auth(self, spec: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[spec]}"}


def world_settings(tool_world: ToolWorld, var_dir: Path) -> Settings:
    """The tool world's store, with agent checkpoints of the caller's own."""
    return tool_world.settings.model_copy(update={"var_dir": var_dir})


def serve(
    tool_world: ToolWorld,
    var_dir: Path,
    specs: list[str],
    *,
    assistant: Assistant | None,
    rate_limit: RateLimit | None = None,
) -> Iterator[Served]:
    """A running app over the tool world (the given assistant, or none) and keys for `specs`."""
    settings = world_settings(tool_world, var_dir)
    keys = {
        spec: issue_key(tool_world.engine, Principal.parse(spec), label="test") for spec in specs
    }
    app = create_app(
        settings,
        services=tool_world.services,
        assistant=assistant,
        load_assistant=False,
        rate_limit=rate_limit,
    )
    with TestClient(app) as client:
        yield Served(client, keys)


@pytest.fixture(scope="module")
def assistant(
    tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Assistant]:
    settings = world_settings(tool_world, tmp_path_factory.mktemp("chat-var"))
    with open_checkpointer(settings) as checkpointer:
        yield Assistant(tool_world.services, checkpointer)


@pytest.fixture(scope="module")
def served(
    tool_world: ToolWorld, assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    specs = [
        f"shopper:{tool_world.shopper_id}",
        f"shopper:{tool_world.tau2_customer_id}",
        tool_world.associate,
    ]
    yield from serve(tool_world, tmp_path_factory.mktemp("chat-app"), specs, assistant=assistant)


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """A server-sent event stream as (event, data) pairs, in order."""
    parsed = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def chat(served: Served, spec: str, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    response = served.client.post("/v1/chat", json=body, headers=served.auth(spec))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return events(response.text)


def test_a_streamed_turn_sends_tool_calls_then_chunks_then_the_final_message(
    served: Served, tool_world: ToolWorld
) -> None:
    shopper = f"shopper:{tool_world.shopper_id}"
    stream = chat(served, shopper, message="show me some jackets or shoes")
    kinds = [kind for kind, _ in stream]
    assert kinds[0] == "tool_start" and kinds[-1] == "final"
    assert kinds.index("chunk") > max(i for i, k in enumerate(kinds) if k == "tool_call")
    starts = [data for kind, data in stream if kind == "tool_start"]
    calls = [data for kind, data in stream if kind == "tool_call"]
    assert calls[0]["name"] == "search_products" and calls[0]["status"] == "ok"
    assert set(calls[0]) == {"id", "name", "args", "status", "latency_ms"}
    # Each call is announced before it runs, under the id its outcome then carries.
    assert [(s["id"], s["name"], s["args"]) for s in starts] == [
        (c["id"], c["name"], c["args"]) for c in calls
    ]
    for call in calls:
        start_at = stream.index(("tool_start", next(s for s in starts if s["id"] == call["id"])))
        assert start_at < stream.index(("tool_call", call))
    final = stream[-1][1]
    assert "".join(data["text"] for kind, data in stream if kind == "chunk") == final["answer"]
    assert final["grounded"] and final["brain"] == "local" and final["thread_id"]
    cards = final["products"]
    assert len(cards) >= 2
    for card in cards:
        assert set(card) == set(ProductCard.model_fields)
        assert card["name"] and card["price_min"] <= card["price_max"]
        # The card and the answer quote one price.
        assert card["name"] in final["answer"] and f"${card['price_min']:,.2f}" in final["answer"]
    assert any(c["kind"] == "product" for c in final["citations"])

    follow_up = chat(
        served, shopper, message="tell me more about the second one", thread_id=final["thread_id"]
    )
    assert [d["name"] for k, d in follow_up if k == "tool_call"][0] == "product_details"
    first_call = next(d for k, d in follow_up if k == "tool_call")
    assert first_call["args"] == {"product_id": cards[1]["product_id"]}

    history = served.client.get(f"/v1/threads/{final['thread_id']}", headers=served.auth(shopper))
    assert history.status_code == 200
    messages = history.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "show me some jackets or shoes"
    assert messages[1]["content"] == final["answer"]
    # Read back, an answer has the cards it was first shown with, at the same prices.
    assert messages[1]["products"] == cards
    assert messages[1]["citations"] == final["citations"]
    assert all(m["confirmation"] is None for m in messages)
    # And the tool lines it streamed, as they ended (never their arguments).
    for said, stream_of in ((messages[1], stream), (messages[3], follow_up)):
        streamed = [d for kind, d in stream_of if kind == "tool_call"]
        assert said["tool_calls"] == [
            {k: call[k] for k in ("id", "name", "status", "latency_ms")} for call in streamed
        ]


def test_a_declined_confirmation_reads_back_as_declined(
    served: Served, tool_world: ToolWorld
) -> None:
    shopper = f"shopper:{tool_world.tau2_customer_id}"
    with Session(tool_world.engine) as session:
        order_id = session.scalars(
            select(Order.id)
            .where(Order.customer_id == tool_world.tau2_customer_id, Order.status == "pending")
            .order_by(Order.id)
        ).first()
    assert order_id is not None
    asked = chat(served, shopper, message=f"please cancel order {order_id}, I ordered by mistake")
    final = asked[-1][1]
    assert final["quick_replies"] == ["Yes", "No"] and final["answers_confirmation"] is None
    statuses = [d["status"] for k, d in asked if k == "tool_call"]
    assert statuses[-1] == "needs_confirmation"
    thread = f"/v1/threads/{final['thread_id']}"
    waiting = served.client.get(thread, headers=served.auth(shopper)).json()["messages"]
    assert [m["confirmation"] for m in waiting] == [None, "pending"]
    assert waiting[1]["quick_replies"] == ["Yes", "No"]

    no = chat(served, shopper, message="No", thread_id=final["thread_id"])[-1][1]
    assert no["answers_confirmation"] == "declined"
    after = served.client.get(thread, headers=served.auth(shopper)).json()["messages"]
    assert [m["confirmation"] for m in after] == [None, "declined", None, None]
    with Session(tool_world.engine) as session:
        assert session.get_one(Order, order_id).status == "pending"


def test_a_thread_is_invisible_to_anyone_but_its_owner(
    served: Served, tool_world: ToolWorld
) -> None:
    owner = f"shopper:{tool_world.shopper_id}"
    other = f"shopper:{tool_world.tau2_customer_id}"
    thread = chat(served, owner, message="hello")[-1][1]["thread_id"]
    for path in (f"/v1/threads/{thread}", "/v1/threads/thread-does-not-exist"):
        response = served.client.get(path, headers=served.auth(other))
        assert response.status_code == 404
        assert response.json()["detail"].startswith("No conversation with id")
    hijack = served.client.post(
        "/v1/chat",
        json={"message": "what did we say?", "thread_id": thread},
        headers=served.auth(other),
    )
    assert hijack.status_code == 404
    assert served.client.get(f"/v1/threads/{thread}", headers=served.auth(owner)).status_code == 200


def test_the_json_turn_answers_like_the_stream(served: Served, tool_world: ToolWorld) -> None:
    response = served.client.post(
        "/v1/chat/turn",
        json={"message": "what's your return policy?"},
        headers=served.auth(f"shopper:{tool_world.shopper_id}"),
    )
    assert response.status_code == 200
    turn = response.json()
    assert [c["name"] for c in turn["tool_calls"]] == ["answer_from_documents"]
    assert any(c["kind"] == "policy" for c in turn["citations"]) and turn["grounded"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, f"at most {MAX_MESSAGE_CHARS} characters"),
        ({"message": "   "}, "blank"),
        ({"message": "hi", "brain": "oracle"}, "brain"),
        ({"message": "hi", "thread_id": "../../etc"}, "thread_id"),
        ({"message": "hi\x00there"}, "NUL"),
        ({"text": "hi"}, "message"),
    ],
)
def test_bad_chat_requests_are_a_422_sentence(
    served: Served, tool_world: ToolWorld, body: dict[str, Any], problem: str
) -> None:
    for path in ("/v1/chat", "/v1/chat/turn"):
        response = served.client.post(
            path, json=body, headers=served.auth(f"shopper:{tool_world.shopper_id}")
        )
        assert response.status_code == 422, response.text
        assert problem in response.json()["detail"]


def test_malformed_json_is_a_422_and_the_server_keeps_serving(
    served: Served, tool_world: ToolWorld
) -> None:
    headers = {
        **served.auth(f"shopper:{tool_world.shopper_id}"),
        "Content-Type": "application/json",
    }
    broken = served.client.post("/v1/chat", content=b'{"message": "hi', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["detail"].startswith("Invalid request: request body")
    assert chat(served, f"shopper:{tool_world.shopper_id}", message="hello")[-1][0] == "final"


def test_chat_needs_a_key(served: Served) -> None:
    response = served.client.post("/v1/chat", json={"message": "hi"})
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


def test_chat_turns_and_tool_calls_are_counted(served: Served, tool_world: ToolWorld) -> None:
    chat(served, tool_world.associate, message=f"look up customer {tool_world.shopper_id}")
    text = served.client.get("/metrics").text
    assert 'aisle_chat_turns_total{brain="local",outcome="ok"}' in text
    assert 'aisle_tool_calls_total{status="ok",tool="customer_profile"}' in text
    assert 'aisle_http_requests_total{method="POST",route="/v1/chat",status="200"}' in text
    assert "aisle_chat_first_event_seconds_count" in text


def test_the_app_is_ready_with_the_assistant_and_the_index(served: Served) -> None:
    response = served.client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready" and response.json()["missing"] == []


def test_an_answer_is_split_into_pieces_that_join_back() -> None:
    text = "We have three jackets in blue: the Alpine Shell at $129.00, and two more in stock."
    pieces = split_answer(text)
    assert "".join(pieces) == text and 2 <= len(pieces) <= 4
    assert split_answer("Hello!") == ["Hello!"]


def test_a_message_past_the_request_budget_is_answered_as_its_request(
    served: Served, tool_world: ToolWorld
) -> None:
    associate = tool_world.associate
    story = "The customer has been coming in every week since the store opened, rain or shine. "
    request = f"Can you look up customer {tool_world.shopper_id}?"
    message = f"{story * 30}{request}"
    assert REQUEST_CHARS < len(message) < MAX_MESSAGE_CHARS

    response = served.client.post(
        "/v1/chat/turn", json={"message": message}, headers=served.auth(associate)
    )

    assert response.status_code == 200, response.text
    turn = response.json()
    assert [c["name"] for c in turn["tool_calls"]] == ["customer_profile"]
    history = served.client.get(f"/v1/threads/{turn['thread_id']}", headers=served.auth(associate))
    assert history.json()["messages"][0]["content"] == request
