"""The MCP server driven by the SDK's own client: over stdio (`aisle mcp serve --as` in a process of
its own), over Streamable HTTP (uvicorn on a loopback port, API keys as the REST API's), and
in-process for the grant matrix. Each test has its own database with the tau2 retail data.

The shopper is tau2's `olivia_ito_3591`; #W5442520 is her pending order.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.auth import issue_key
from api.mcp_server import CONFIRMATION, UCP_TOOLS, AisleMcp, http_app
from api.ratelimit import LocalRateLimiter, RateLimit
from retail.importers.common import PreparedImport, write_import
from retail.importers.tau2 import POLICY_ID, prepare_tau2
from retail.settings import Settings
from retail.store.models import AuditEvent, Order
from retail.telemetry import tracer
from tests.servers import REPO, free_port, process_env
from tools.base import ROLES, Principal, Services, action_digest, tools_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SHOPPER = "shopper:olivia_ito_3591"
PENDING_ORDER = "#W5442520"
PRODUCT = "9523456873"  # the tau2 T-Shirt, 12 SKUs


@pytest.fixture(scope="module")
def tau2_rows(shared_data: Path) -> PreparedImport:
    return prepare_tau2(shared_data / "tau2_retail")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path / "var", environment="test")


@pytest.fixture
def services(engine: Engine, settings: Settings, tau2_rows: PreparedImport) -> Iterator[Services]:
    write_import(engine, tau2_rows)
    services = Services(engine, settings)
    yield services
    services.close()


@pytest.fixture
def http_url(services: Services) -> Iterator[str]:
    """The Streamable HTTP app on a free loopback port, served from a thread of this process."""
    port = free_port()
    limiter = LocalRateLimiter(RateLimit(burst=1000, per_second=1000.0))
    config = uvicorn.Config(
        http_app(services, limiter), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the MCP app did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)


def key_for(services: Services, spec: str) -> str:
    return issue_key(services.engine, Principal.parse(spec), label="test")


@asynccontextmanager
async def http_client(url: str, key: str) -> AsyncIterator[Client]:
    import httpx2

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def audit(engine: Engine, **where: Any) -> list[AuditEvent]:
    with Session(engine) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return list(session.scalars(query))


def granted(spec: str) -> set[str]:
    names = {t.name for t in tools_for(Principal.parse(spec))}
    return names | {t.name for t in UCP_TOOLS.values() if t.uses in names}


@pytest.mark.slow  # a process of its own imports every tool module (the RAG stack with them)
def test_stdio_lists_the_roles_tools_answers_and_refuses_the_rest(
    services: Services, settings: Settings
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from api.cli import main; main()", "mcp", "serve", "--as", SHOPPER],
        env=process_env(settings),
        cwd=str(REPO),
    )

    async def session() -> None:
        async with Client(params) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == granted(SHOPPER)
            mine = await client.call_tool("my_orders", {})
            assert not mine.is_error
            assert PENDING_ORDER in str(mine.structured_content)
            with pytest.raises(MCPError, match="The shopper role may not use propose_reorders"):
                await client.call_tool("propose_reorders", {})

    anyio.run(session)
    calls = audit(services.engine, agent_name="mcp", principal_id="olivia_ito_3591")
    assert [(e.tool_name, e.status) for e in calls] == [
        ("my_orders", "ok"),
        ("propose_reorders", "forbidden"),
    ]


def test_http_refuses_a_request_without_a_valid_key(http_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    missing = httpx.post(http_url, json=body)
    assert missing.status_code == 401
    assert "needs an API key" in missing.json()["detail"]
    wrong = httpx.post(http_url, json=body, headers={"X-API-Key": "aisle_nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "The API key is not valid."}


def test_http_lists_schemas_searches_and_looks_up(services: Services, http_url: str) -> None:
    async def session() -> None:
        async with http_client(http_url, key_for(services, "associate:ann")) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed) == granted("associate:ann")
            search = listed["search_products"]
            assert search.description and search.description.startswith("Search the catalogue")
            assert "max_price" in search.input_schema["properties"]
            assert search.output_schema and "total_matches" in search.output_schema["properties"]

            found = await client.call_tool("search_products", {"categories": ["T-Shirt"]})
            assert not found.is_error
            assert found.structured_content["total_matches"] > 0

            ucp = await client.call_tool(
                "search_catalog",
                {"catalog": {"filters": {"categories": ["T-Shirt"], "price": {"max": 6000}}}},
            )
            assert not ucp.is_error
            products = ucp.structured_content["products"]
            assert products and all(p["price_range"]["min"]["amount"] <= 6000 for p in products)
            looked = await client.call_tool(
                "lookup_catalog", {"catalog": {"ids": [PRODUCT, PRODUCT, "nope"]}}
            )
            result = looked.structured_content
            assert [p["id"] for p in result["products"]] == [PRODUCT]
            assert result["products"][0]["variants"][0]["inputs"] == [
                {"id": PRODUCT, "match": "featured"}
            ]
            assert [m["code"] for m in result["messages"]] == ["not_found"]
            detail = await client.call_tool("get_product", {"catalog": {"id": PRODUCT}})
            assert len(detail.structured_content["product"]["variants"]) > 1

    anyio.run(session)
    calls = audit(services.engine, agent_name="mcp", principal_id="ann")
    assert [e.tool_name for e in calls] == [
        "search_products",
        "search_products",
        "product_details",
        "product_details",
        "product_details",
    ]


def test_http_write_waits_for_confirmation_of_its_own_hash(
    services: Services, http_url: str
) -> None:
    cancel = {"order_id": PENDING_ORDER, "reason": "no longer needed"}

    def status() -> str:
        with Session(services.engine) as session:
            order = session.get(Order, PENDING_ORDER)
            assert order is not None
            return order.status

    async def session() -> None:
        async with http_client(http_url, key_for(services, SHOPPER)) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert CONFIRMATION in listed["cancel_order"].input_schema["properties"]

            asked = await client.call_tool("cancel_order", cancel)
            assert not asked.is_error
            ask = asked.structured_content
            assert ask["status"] == "needs_confirmation"
            assert ask["action"] == {
                "tool": "cancel_order",
                "arguments": cancel,
                "summary": ask["action"]["summary"],
            }
            assert ask["confirmation"] == action_digest("cancel_order", cancel)
            assert status() == "pending"

            # The hash binds the arguments: confirming it for another reason writes nothing.
            other = {**cancel, "reason": "ordered by mistake", CONFIRMATION: ask["confirmation"]}
            again = await client.call_tool("cancel_order", other)
            assert again.structured_content["status"] == "needs_confirmation"
            assert status() == "pending"

            done = await client.call_tool(
                "cancel_order", {**cancel, CONFIRMATION: ask["confirmation"]}
            )
            assert not done.is_error, done.content
            assert status() == "cancelled"

    anyio.run(session)
    calls = audit(services.engine, agent_name="mcp", tool_name="cancel_order")
    assert [e.status for e in calls] == ["needs_confirmation", "needs_confirmation", "ok"]
    assert {e.principal_id for e in calls} == {"olivia_ito_3591"}
    assert len({e.conversation_id for e in calls}) == 1


def test_a_hash_never_asked_for_does_not_confirm(services: Services) -> None:
    """A client that computes the hash itself has not shown the person anything."""
    cancel = {"order_id": PENDING_ORDER, "reason": "no longer needed"}
    server = AisleMcp(services, principal=Principal.parse(SHOPPER)).server()

    async def session() -> None:
        async with Client(server) as client:
            forged = {**cancel, CONFIRMATION: action_digest("cancel_order", cancel)}
            result = await client.call_tool("cancel_order", forged)
            assert result.structured_content["status"] == "needs_confirmation"

    anyio.run(session)
    with Session(services.engine) as session_:
        order = session_.get(Order, PENDING_ORDER)
        assert order is not None and order.status == "pending"


def test_bad_input_is_one_sentence_never_a_traceback(services: Services) -> None:
    server = AisleMcp(services, principal=Principal.parse(SHOPPER)).server()

    async def session() -> None:
        async with Client(server) as client:
            bad: list[tuple[str, dict[str, Any]]] = [
                ("search_products", {"max_price": "cheap"}),
                ("product_details", {"product_id": "nope"}),
                ("search_catalog", {"catalog": {"pagination": {"limit": 0}}}),
                ("cancel_order", {"order_id": PENDING_ORDER, "why": "x"}),
            ]
            for name, arguments in bad:
                result = await client.call_tool(name, arguments)
                assert result.is_error, name
                text = result.content[0].text  # type: ignore[union-attr]
                assert "Traceback" not in text and text.endswith((".", ")")), text
            with pytest.raises(MCPError, match="There is no tool named 'nope'"):
                await client.call_tool("nope", {})

    anyio.run(session)


def test_a_tool_call_continues_the_clients_trace_down_to_its_audit_event(
    services: Services, spans: InMemorySpanExporter
) -> None:
    server = AisleMcp(services, principal=Principal.parse(SHOPPER)).server()

    async def session() -> None:
        async with Client(server) as client:
            with tracer().start_as_current_span("client turn"):
                await client.call_tool("product_details", {"product_id": PRODUCT})

    anyio.run(session)
    finished = spans.get_finished_spans()
    [client_turn] = [s for s in finished if s.name == "client turn"]
    [tool] = [s for s in finished if s.name == "execute_tool product_details"]
    # The SDK carries the client's trace context in the request; the tool's span joins it.
    assert tool.context.trace_id == client_turn.context.trace_id
    assert tool.attributes is not None
    [event] = audit(services.engine, tool_name="product_details")
    assert tool.attributes["aisle.audit.event_id"] == event.event_id
    assert event.detail["trace_id"] == format(client_turn.context.trace_id, "032x")


def test_policies_and_product_pages_are_resources(services: Services) -> None:
    server = AisleMcp(services, principal=Principal.parse(SHOPPER)).server()

    async def session() -> None:
        async with Client(server) as client:
            resources = (await client.list_resources()).resources
            assert [r.uri for r in resources] == [f"aisle://policies/{POLICY_ID}"]
            policy = await client.read_resource(f"aisle://policies/{POLICY_ID}")
            assert "cancel" in policy.contents[0].text.lower()  # type: ignore[union-attr]
            templates = (await client.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["aisle://products/{product_id}"]
            page = await client.read_resource(f"aisle://products/{PRODUCT}")
            text = page.contents[0].text  # type: ignore[union-attr]
            assert text.startswith("# T-Shirt") and "| SKU |" in text
            with pytest.raises(MCPError, match="No product with id 'nope'"):
                await client.read_resource("aisle://products/nope")

    anyio.run(session)


def test_no_role_calls_a_tool_it_is_not_granted(services: Services) -> None:
    """Every role x tool pair: a role lists exactly its grants, and each call outside them is
    refused (and audited as refused) before any tool runs."""
    from tools.base import REGISTRY

    arguments: dict[str, dict[str, Any]] = {
        "search_catalog": {"catalog": {"query": "tent"}},
        "lookup_catalog": {"catalog": {"ids": [PRODUCT]}},
        "get_product": {"catalog": {"id": PRODUCT}},
    }
    specs = {role: f"{role}:someone" for role in ROLES}
    specs["shopper"] = SHOPPER
    succeeded: list[tuple[str, str]] = []
    refused = 0

    async def session(spec: str) -> None:
        nonlocal refused
        server = AisleMcp(services, principal=Principal.parse(spec)).server()
        async with Client(server) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            assert listed == granted(spec)
            for name in sorted(set(REGISTRY) | set(UCP_TOOLS)):
                if name in listed:
                    continue
                try:
                    await client.call_tool(name, arguments.get(name, {}))
                except MCPError as exc:
                    assert "may not use" in exc.message
                    refused += 1
                else:
                    succeeded.append((spec, name))

    for spec in specs.values():
        anyio.run(session, spec)
    assert succeeded == []
    assert refused > 50
    forbidden = audit(services.engine, agent_name="mcp", status="forbidden")
    assert len(forbidden) == refused


def test_the_command_names_a_missing_or_misplaced_principal_in_one_sentence(aisle: Any) -> None:
    stdio = aisle("mcp", "serve")
    assert stdio.exit_code == 2
    assert "give --as ROLE:ID" in stdio.output
    http = aisle("mcp", "serve", "--transport", "http", "--as", SHOPPER)
    assert http.exit_code == 2
    assert "named by its API key" in http.output
    unknown = aisle("mcp", "serve", "--as", "shopper:nobody")
    assert unknown.exit_code == 2
    assert "No customer with id 'nobody'" in unknown.output
