"""The MCP server driven by the SDK's own client: over stdio (`aisle mcp serve --as` in a process of
its own), over Streamable HTTP (uvicorn on a loopback port, API keys as the REST API's; two
`aisle mcp serve --transport http` processes for confirmations across processes), and in-process
for the grant matrix. Each test has its own database with the tau2 retail data.

The shopper is tau2's `olivia_ito_3591`; #W5442520 is her pending order.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import mcp_types as types
import pytest
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.auth import issue_key
from api.mcp_server import CONFIRMATION, ELICITATION_KEY, UCP_TOOLS, AisleMcp, http_app
from api.ratelimit import LocalRateLimiter, RateLimit
from api.ucp import SelectedOption
from retail.importers.common import PreparedImport, write_import
from retail.importers.tau2 import POLICY_ID, prepare_tau2
from retail.settings import Settings
from retail.store.models import Address, AuditEvent, Order, Variant
from retail.telemetry import tracer
from tests.servers import REPO, free_port, process_env, start_mcp_server, stop, wait_for
from tools.base import ROLES, Principal, Services, action_digest, tools_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SHOPPER = "shopper:olivia_ito_3591"
OTHER_SHOPPER = "shopper:yara_li_8961"
PENDING_ORDER = "#W5442520"
PRODUCT = "9523456873"  # the tau2 T-Shirt, 12 SKUs
CANCEL = {"order_id": PENDING_ORDER, "reason": "no longer needed"}
# A write that would succeed again if a confirmation were honoured twice.
NEW_ADDRESS = {
    "address1": "12 Elm Street",
    "address2": "",
    "city": "Portland",
    "state": "OR",
    "country": "USA",
    "zip": "97201",
}
YES = types.ElicitResult(action="accept", content={"confirm": True})


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
async def http_client(url: str, key: str, **options: Any) -> AsyncIterator[Client]:
    """The SDK's client on `url` as the key's principal; `options` go to `Client` (an
    `elicitation_callback` declares the elicitation capability)."""
    import httpx2

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,
    ):
        yield client


@contextmanager
def mcp_processes(settings: Settings, logs: Path, count: int) -> Iterator[list[str]]:
    """`count` processes of `aisle mcp serve --transport http` over one store, as behind a
    balancer; their endpoint urls."""
    started = []
    try:
        for n in range(count):
            started.append((*start_mcp_server(settings, logs / f"mcp-{n}.log"), n))
        for process, url, n in started:
            wait_for(process, url, logs / f"mcp-{n}.log", path="", status=401)
        yield [url for _, url, _ in started]
    finally:
        for process, _, _ in started:
            stop(process)


def order_status(engine: Engine) -> str:
    with Session(engine) as session:
        order = session.get(Order, PENDING_ORDER)
        assert order is not None
        return order.status


def default_city(engine: Engine) -> str | None:
    with Session(engine) as session:
        return session.scalars(
            select(Address.city).where(
                Address.customer_id == "olivia_ito_3591", Address.is_default.is_(True)
            )
        ).first()


def answers(*results: types.ElicitResult, asked: list[str]) -> Any:
    """An elicitation callback giving `results` in turn, noting each question in `asked`."""
    given = iter(results)

    async def answer(
        context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        assert isinstance(params, types.ElicitRequestFormParams)
        assert params.requested_schema["required"] == ["confirm"]
        asked.append(params.message)
        return next(given)

    return answer


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
        "lookup_products",
        "lookup_products",
    ]


def test_ucp_lookups_take_a_variant_id_as_the_catalog_capability_defines_it(
    services: Services, http_url: str
) -> None:
    """A SKU resolves to its own variant (`exact`), a product id to a featured one; a product
    named by both comes back once, its variant carrying both inputs; `get_product` of a SKU puts
    that variant first with its own options as the selection, whatever was selected."""
    with Session(services.engine) as session:
        skus = list(session.scalars(select(Variant.id).where(Variant.product_id == PRODUCT)))
        other_product, other_sku = session.execute(
            select(Variant.product_id, Variant.id).where(Variant.product_id != PRODUCT).limit(1)
        ).one()
    sku = skus[-1]

    async def session() -> None:
        async with http_client(http_url, key_for(services, "associate:ann")) as client:
            looked = await client.call_tool(
                "lookup_catalog", {"catalog": {"ids": [sku, PRODUCT, other_sku, "nope", sku]}}
            )
            assert not looked.is_error, looked.content
            result = looked.structured_content
            products = {p["id"]: p for p in result["products"]}
            assert sorted(products) == sorted([PRODUCT, other_product])
            [variant] = products[PRODUCT]["variants"]
            assert variant["id"] == sku
            assert variant["inputs"] == [
                {"id": sku, "match": "exact"},
                {"id": PRODUCT, "match": "featured"},
            ]
            [other] = products[other_product]["variants"]
            assert other["id"] == other_sku
            assert other["inputs"] == [{"id": other_sku, "match": "exact"}]
            assert [(m["code"], "'nope'" in m["content"]) for m in result["messages"]] == [
                ("not_found", True)
            ]

            detail = await client.call_tool(
                "get_product",
                {"catalog": {"id": sku, "selected": [{"name": "size", "label": "XXL"}]}},
            )
            assert not detail.is_error, detail.content
            product = detail.structured_content["product"]
            assert product["id"] == PRODUCT
            assert product["variants"][0]["id"] == sku
            own = product["variants"][0]["options"]
            assert product["selected"] == own and own
            by_product = await client.call_tool("get_product", {"catalog": {"id": PRODUCT}})
            assert len(by_product.structured_content["product"]["variants"]) == len(skus)
            # An id that resolves to nothing is a business outcome in UCP, not a tool error.
            missing = await client.call_tool("get_product", {"catalog": {"id": "nope"}})
            assert not missing.is_error, missing.content
            assert missing.structured_content["ucp"]["status"] == "error"
            assert missing.structured_content["product"] is None
            assert missing.structured_content["messages"] == [
                {
                    "type": "error",
                    "code": "not_found",
                    "content": "No product or variant with id 'nope'.",
                    "severity": "unrecoverable",
                }
            ]

    anyio.run(session)
    calls = audit(services.engine, agent_name="mcp", principal_id="ann")
    assert [e.tool_name for e in calls] == ["lookup_products"] * 4


def _unsold_pair(engine: Engine) -> tuple[str, SelectedOption, SelectedOption]:
    """A product with two options each value of which some variant has, but no variant both:
    (product id, first option, second option)."""
    with Session(engine) as session:
        by_product: dict[str, list[dict[str, Any]]] = {}
        for product_id, options in session.execute(select(Variant.product_id, Variant.options)):
            by_product.setdefault(product_id, []).append(options)
    for product_id, variants in sorted(by_product.items()):
        names = sorted({name for options in variants for name in options})
        for first, second in ((a, b) for a in names for b in names if a < b):
            pairs = {(o.get(first), o.get(second)) for o in variants}
            for a in sorted({a for a, _ in pairs if a is not None}):
                for b in sorted({b for _, b in pairs if b is not None}):
                    if (a, b) not in pairs:
                        return (
                            product_id,
                            SelectedOption(name=first, label=str(a)),
                            SelectedOption(name=second, label=str(b)),
                        )
    raise AssertionError("the catalogue has no product with an unsold option pair")


def test_ucp_get_product_relaxes_selections_by_the_clients_preferences(
    services: Services, http_url: str
) -> None:
    """No variant has both selections: without preferences the last selection is dropped; with
    `preferences` the option named last there is dropped, the other kept."""
    product_id, first, second = _unsold_pair(services.engine)
    selected = [first.model_dump(), second.model_dump()]

    async def session() -> None:
        async with http_client(http_url, key_for(services, SHOPPER)) as client:
            plain = await client.call_tool(
                "get_product", {"catalog": {"id": product_id, "selected": selected}}
            )
            ranked = await client.call_tool(
                "get_product",
                {
                    "catalog": {
                        "id": product_id,
                        "selected": selected,
                        "preferences": [second.name, first.name],
                    }
                },
            )
            assert not plain.is_error and not ranked.is_error, (plain.content, ranked.content)
            assert plain.structured_content["product"]["selected"] == [first.model_dump()]
            kept = ranked.structured_content["product"]
            assert kept["selected"] == [second.model_dump()]
            assert kept["variants"] and all(
                second.model_dump() in v["options"] for v in kept["variants"]
            )

    anyio.run(session)


def test_http_write_waits_for_confirmation_of_its_own_hash(
    services: Services, http_url: str
) -> None:
    cancel = CANCEL

    def status() -> str:
        return order_status(services.engine)

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


@pytest.mark.slow  # two server processes of their own
def test_a_confirmation_asked_of_one_process_is_honoured_by_another_and_used_once(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    """Two `aisle mcp serve --transport http` over one store, as behind a balancer: the hash
    asked through one confirms through the other; an elicited question sealed by one is answered
    through the other; two confirmations of one hash racing through both write once."""
    key = key_for(services, SHOPPER)
    raced: list[types.CallToolResult] = []

    async def session(first: str, second: str) -> None:
        asked: list[str] = []
        async with (
            http_client(first, key) as a,
            http_client(second, key) as b,
            http_client(first, key, elicitation_callback=answers(asked=asked)) as eliciting,
        ):
            question = await a.call_tool("cancel_order", CANCEL)
            assert question.structured_content["status"] == "needs_confirmation"
            done = await b.call_tool(
                "cancel_order",
                {**CANCEL, CONFIRMATION: question.structured_content["confirmation"]},
            )
            assert not done.is_error, done.content
            assert order_status(services.engine) == "cancelled"

            # The question rides an input_required result sealed by the first process; the
            # person's yes reaches the second.
            elicited = await eliciting.session.call_tool(
                "modify_user_address", NEW_ADDRESS, allow_input_required=True
            )
            assert isinstance(elicited, types.InputRequiredResult)
            assert elicited.input_requests and elicited.request_state
            moved = await b.session.call_tool(
                "modify_user_address",
                NEW_ADDRESS,
                input_responses={ELICITATION_KEY: YES},
                request_state=elicited.request_state,
            )
            assert not moved.is_error, moved.content
            assert default_city(services.engine) == "Portland"

            again = await b.call_tool("modify_user_address", NEW_ADDRESS)
            confirm = {**NEW_ADDRESS, CONFIRMATION: again.structured_content["confirmation"]}

            async def confirm_through(client: Client) -> None:
                raced.append(await client.call_tool("modify_user_address", confirm))

            async with anyio.create_task_group() as group:
                group.start_soon(confirm_through, a)
                group.start_soon(confirm_through, b)

    with mcp_processes(settings, tmp_path, 2) as (first, second):
        anyio.run(session, first, second)
    assert sorted(r.is_error for r in raced) == [False, True]
    [refused] = [r for r in raced if r.is_error]
    assert "already used" in refused.content[0].text  # type: ignore[union-attr]
    writes = audit(services.engine, tool_name="modify_user_address", status="ok")
    assert len(writes) == 2  # the elicited one and one of the race
    [cancelled] = audit(services.engine, tool_name="cancel_order", status="ok")
    assert cancelled.principal_id == "olivia_ito_3591"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_http_elicitation_asks_the_person_and_writes_only_on_an_explicit_yes(
    services: Services, http_url: str, mode: str
) -> None:
    """A client that declares elicitation is asked with the action's summary (on 2026-07-28 in
    an `input_required` result; after the initialize handshake by `elicitation/create` on the
    call's stream); a decline, or an accept that leaves the box unticked, writes nothing; each
    answer is audited."""
    asked: list[str] = []
    callback = answers(
        types.ElicitResult(action="decline"),
        types.ElicitResult(action="accept", content={"confirm": False}),
        YES,
        asked=asked,
    )

    async def session() -> None:
        async with http_client(
            http_url, key_for(services, SHOPPER), elicitation_callback=callback, mode=mode
        ) as client:
            assert (client.protocol_version == "2026-07-28") == (mode == "auto")
            declined = await client.call_tool("cancel_order", CANCEL)
            assert declined.structured_content["status"] == "declined"
            assert declined.structured_content["action"]["arguments"] == CANCEL
            unticked = await client.call_tool("cancel_order", CANCEL)
            assert unticked.structured_content["status"] == "declined"
            assert order_status(services.engine) == "pending"
            done = await client.call_tool("cancel_order", CANCEL)
            assert not done.is_error, done.content
            assert done.structured_content["order"]["status"] == "cancelled"

    anyio.run(session)
    assert order_status(services.engine) == "cancelled"
    assert len(asked) == 3 and all(PENDING_ORDER in m for m in asked), asked
    answered = audit(services.engine, event_type="confirmation")
    assert [e.status for e in answered] == ["declined", "declined", "accepted"]
    assert {e.tool_name for e in answered} == {"cancel_order"}
    calls = audit(services.engine, event_type="tool_call", tool_name="cancel_order")
    assert [e.status for e in calls] == ["needs_confirmation"] * 3 + ["ok"]


def test_an_elicited_yes_confirms_only_its_own_action_for_its_own_principal_once(
    services: Services, http_url: str
) -> None:
    """The question's state is sealed to the tool, its arguments and the principal: other
    arguments, a forged state or another shopper are refused, and a replayed yes writes once."""
    forged = json.dumps(
        {
            "status": "needs_confirmation",
            "action": {"tool": "modify_user_address", "arguments": NEW_ADDRESS, "summary": "x"},
            "confirmation": action_digest("modify_user_address", NEW_ADDRESS),
            "message": "x",
        }
    )

    async def session() -> None:
        async with (
            http_client(
                http_url, key_for(services, SHOPPER), elicitation_callback=answers(asked=[])
            ) as client,
            http_client(http_url, key_for(services, OTHER_SHOPPER)) as other,
        ):
            question = await client.session.call_tool(
                "modify_user_address", NEW_ADDRESS, allow_input_required=True
            )
            assert isinstance(question, types.InputRequiredResult)
            assert question.input_requests is not None
            [asked] = question.input_requests.values()
            assert isinstance(asked, types.ElicitRequest)
            assert "Portland" in asked.params.message
            state = question.request_state
            yes = {ELICITATION_KEY: YES}
            for arguments, token, caller in [
                ({**NEW_ADDRESS, "city": "Salem"}, state, client),
                (NEW_ADDRESS, forged, client),
                (NEW_ADDRESS, state, other),
            ]:
                with pytest.raises(MCPError, match="Invalid or expired requestState"):
                    await caller.session.call_tool(
                        "modify_user_address",
                        arguments,
                        input_responses=yes,
                        request_state=token,
                    )
            assert default_city(services.engine) != "Portland"
            done = await client.session.call_tool(
                "modify_user_address", NEW_ADDRESS, input_responses=yes, request_state=state
            )
            assert not done.is_error, done.content
            replay = await client.session.call_tool(
                "modify_user_address", NEW_ADDRESS, input_responses=yes, request_state=state
            )
            assert replay.is_error
            assert "already used" in replay.content[0].text  # type: ignore[union-attr]

    anyio.run(session)
    assert default_city(services.engine) == "Portland"
    writes = audit(services.engine, tool_name="modify_user_address", status="ok")
    assert len(writes) == 1


@pytest.mark.slow  # a process of its own
def test_stdio_elicitation_in_the_handshake_era_cancel_writes_nothing(
    services: Services, settings: Settings
) -> None:
    """An initialize-handshake client over stdio is asked by a server-to-client
    `elicitation/create` on the call's own stream; a cancel writes nothing and is audited."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from api.cli import main; main()", "mcp", "serve", "--as", SHOPPER],
        env=process_env(settings),
        cwd=str(REPO),
    )
    asked: list[str] = []
    callback = answers(types.ElicitResult(action="cancel"), YES, asked=asked)

    async def session() -> None:
        async with Client(params, mode="legacy", elicitation_callback=callback) as client:
            assert client.protocol_version.startswith("2025")
            cancelled = await client.call_tool("cancel_order", CANCEL)
            assert cancelled.structured_content["status"] == "cancelled"
            assert order_status(services.engine) == "pending"
            done = await client.call_tool("cancel_order", CANCEL)
            assert not done.is_error, done.content

    anyio.run(session)
    assert order_status(services.engine) == "cancelled"
    assert len(asked) == 2
    answered = audit(services.engine, event_type="confirmation", principal_id="olivia_ito_3591")
    assert [(e.status, e.detail["via"]) for e in answered] == [
        ("cancelled", "elicitation"),
        ("accepted", "elicitation"),
    ]
