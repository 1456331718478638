"""Aisle's tools over the Model Context Protocol (the official SDK's low-level `Server`, on stdio or
Streamable HTTP), for any MCP client: the same door as the agents', nothing beside it.

The caller is a principal: the one `aisle mcp serve --as` names on stdio, or the one an HTTP
request's API key acts as (`api.auth.admit_key`, as the REST API: 401 without a valid key, 429
over its rate limit). It is shown exactly the tools its role is granted (`tools.base.tools_for`),
each with its pydantic input and output models as JSON schemas and its docstring as description,
plus the Universal Commerce Protocol's catalog tools (`api.ucp`) where it may use the tools they
stand on. Every call goes through `tools.base.invoke`: the grant, the validation, one audit event.

The SDK's low-level server is used rather than `MCPServer`, whose tools are registered once for
every caller: here the list, the schemas and the grant depend on who asks.

A write keeps the confirmation rule of the conversation (`tools.base.require_confirmation`). Its
first call asks the person, and the question is recorded in the database
(`retail.confirmations`), so whichever process serves the answer honours it, once:

- a client that declares the elicitation capability is asked through `elicitation/create`
  with the action's summary (on the request's own stream in the handshake era; as an
  `input_required` result the client answers and retries with, on 2026-07-28 connections, its
  `requestState` sealed by the SDK's `RequestStateBoundary` under a key derived from the
  deployment's secret and bound to the tool, its arguments and the principal). Only an explicit
  accept of that form (`confirm` true) executes the write; a decline or cancel writes nothing.
  Every answer is audited (`event_type` "confirmation");
- any other client gets `needs_confirmation` with the exact action and its hash, and only a later
  call of the same tool with the same arguments whose `confirmation` is that hash, by the same
  principal, executes it (`tools.base.invoke_confirmed`), whichever server process it reaches.

Store policies and product pages are resources. A refused or unknown tool is an MCP error; bad
arguments and domain refusals are tool errors; both are one sentence, never a traceback.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import mcp_types as types
from fastapi import HTTPException
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api import ucp
from api.auth import admit_key
from api.ratelimit import RateLimiter
from retail import confirmations
from retail.audit import append_event
from retail.catalog_queries import get_policy, list_policies
from retail.errors import AisleError
from tools.base import (
    Principal,
    Services,
    ToolContext,
    ToolErrorInfo,
    ToolOutcome,
    ToolSpec,
    action_digest,
    get_tool,
    invalid_arguments,
    invoke,
    invoke_confirmed,
    technical_message,
    tools_for,
)

log = logging.getLogger(__name__)

SERVER_NAME = "aisle"
AGENT_NAME = "mcp"
CONFIRMATION = "confirmation"
POLICY_URI = "aisle://policies/"
PRODUCT_URI = "aisle://products/"
# The elicitation form's one field, and the key of the question in an `input_required` result.
CONFIRM_FIELD = "confirm"
ELICITATION_KEY = "confirm_write"


class ConfirmAction(BaseModel):
    tool: str
    arguments: dict[str, Any]
    summary: str = Field(description="The exact action, in words, to show the person.")


class NeedsConfirmation(BaseModel):
    """A write waiting for the person's yes: show them `action.summary`; once they agree, call
    the same tool with the same arguments plus `confirmation` set to this hash."""

    status: Literal["needs_confirmation"] = "needs_confirmation"
    action: ConfirmAction
    confirmation: str = Field(description="The hash of exactly this action.")
    message: str


class NotConfirmed(BaseModel):
    """A write the person was asked about through elicitation and did not agree to: nothing
    was done."""

    status: Literal["declined", "cancelled"]
    action: ConfirmAction
    message: str


@dataclass(frozen=True, slots=True)
class UcpTool:
    """A UCP catalog tool: its shapes, and the Aisle tool that answers it (whose grant it has)."""

    name: str
    description: str
    arguments: type[BaseModel]
    result: type[BaseModel]
    uses: str


UCP_TOOLS = {
    t.name: t
    for t in (
        UcpTool(
            "search_catalog",
            "Search the catalogue (Universal Commerce Protocol catalog search): free text, "
            "categories and a price range in minor units; one page of products.",
            ucp.SearchCatalogArguments,
            ucp.SearchCatalogResult,
            "search_products",
        ),
        UcpTool(
            "lookup_catalog",
            "Look products up by product id or variant id, i.e. SKU (Universal Commerce Protocol "
            "catalog lookup): each product once, with the variant each id resolved to (a SKU "
            "exactly, a product id to a featured one); ids not found are listed in messages.",
            ucp.LookupCatalogArguments,
            ucp.LookupCatalogResult,
            "lookup_products",
        ),
        UcpTool(
            "get_product",
            "One product in full by product id or variant id (Universal Commerce Protocol "
            "get_product): its variants with price and availability, narrowed by the selected "
            "options, or a requested variant first with its own options selected.",
            ucp.GetProductArguments,
            ucp.GetProductResult,
            "lookup_products",
        ),
    )
}


@functools.cache
def tool_listing(spec: ToolSpec) -> types.Tool:
    """An Aisle tool as MCP lists it; a write takes `confirmation` and may answer
    `NeedsConfirmation` instead of its output. Built once per tool: JSON schemas take pydantic
    milliseconds, and the 2026-07-28 HTTP transport reads a tool's input schema on every call."""
    input_schema = spec.input_model.model_json_schema()
    output_schema = spec.output_model.model_json_schema()
    if spec.writes:
        input_schema.setdefault("properties", {})[CONFIRMATION] = {
            "type": "string",
            "description": "The hash a needs_confirmation answer gave for exactly this action; "
            "send it only after the person agreed to that action.",
        }
        either: Any = spec.output_model | NeedsConfirmation | NotConfirmed
        output_schema = {"type": "object", **TypeAdapter(either).json_schema()}
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=input_schema,
        output_schema=output_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=not spec.writes, destructive_hint=spec.writes, open_world_hint=False
        ),
    )


@functools.cache
def ucp_listing(tool: UcpTool) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.arguments.model_json_schema(),
        output_schema=tool.result.model_json_schema(),
        annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )


def product_page(product: Mapping[str, Any]) -> str:
    """A product as a markdown page: what `product_details` says, for a person or a model."""
    lines = [f"# {product['name']}", ""]
    facts = [
        ("Brand", product["brand_name"]),
        ("Category", product["category_name"]),
        ("Rating", f"{product['rating']} ({product['review_count']} reviews)")
        if product["rating"] is not None
        else None,
        ("Materials", product["materials"]),
        ("Care", product["care"]),
        ("Size guide", product["size_guide"]),
    ]
    lines += [f"- {label}: {value}" for label, value in filter(None, facts) if value]
    lines += [
        "",
        product["description"],
        "",
        "| SKU | options | price | stock |",
        "|---|---|---|---|",
    ]
    for variant in product["variants"]:
        options = ", ".join(f"{k}: {v}" for k, v in variant["options"].items())
        lines.append(
            f"| {variant['id']} | {options} | {variant['price']:.2f} | {variant['stock_status']} |"
        )
    return "\n".join(lines) + "\n"


def _text(payload: Any) -> list[types.ContentBlock]:
    return [types.TextContent(type="text", text=json.dumps(payload, default=str))]


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


def _structured(model: BaseModel) -> types.CallToolResult:
    payload = model.model_dump(mode="json")
    return types.CallToolResult(content=_text(payload), structured_content=payload)


def confirmation_form(summary: str) -> dict[str, Any]:
    """The elicitation form of a write: one yes/no field, off unless the person turns it on."""
    return {
        "type": "object",
        "properties": {
            CONFIRM_FIELD: {
                "type": "boolean",
                "title": "Do exactly this",
                "description": summary,
                "default": False,
            }
        },
        "required": [CONFIRM_FIELD],
    }


def _elicits(ctx: ServerRequestContext[Any]) -> bool:
    """Whether the client declared form elicitation (an empty `elicitation` capability means
    form, as the spec keeps it for clients older than URL mode)."""
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def request_state_key(secret: str) -> str:
    """The key sealing `requestState`, derived from the deployment's secret: every process
    serving it unseals what another sealed, and the secret itself seals nothing."""
    return hashlib.sha256(b"aisle/mcp/request-state:" + secret.encode("utf-8")).hexdigest()


class AisleMcp:
    """The handlers of one MCP server over one set of services.

    `principal` is the caller of every request (stdio); None takes it from the HTTP request,
    where `ApiKeyAuth` put it.
    """

    def __init__(self, services: Services, *, principal: Principal | None = None) -> None:
        self.services = services
        self.principal = principal
        # The audit's conversation: an HTTP caller's MCP session where the transport keeps one,
        # else one per principal for as long as this server runs (stdio: its one principal).
        self.conversations: dict[Principal, str] = {}

    def server(self) -> Server[Any]:
        server: Server[Any] = Server(
            SERVER_NAME,
            title="Aisle",
            instructions="Aisle's retail tools, as your role is granted them. A write asks the "
            "person first: through elicitation when the client supports it, else it answers "
            "needs_confirmation: show the person its summary, and only after they agree call it "
            "again with the same arguments and `confirmation` set to its hash.",
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._guarded(self._list_tools),
            on_call_tool=self._guarded(self._call_tool),
            on_list_resources=self._guarded(self._list_resources),
            on_list_resource_templates=self._guarded(self._list_templates),
            on_read_resource=self._guarded(self._read_resource),
        )
        security = RequestStateSecurity(
            keys=[request_state_key(self.services.settings.secret_key)],
            ttl=confirmations.CONFIRMATION_TTL.total_seconds(),
            bind_principal=lambda ctx: confirmations.principal_key(self._caller(ctx)),
        )
        server.middleware.append(RequestStateBoundary(security, default_audience=SERVER_NAME))
        return server

    # --- who is asking ---------------------------------------------------------------------

    def _caller(self, ctx: ServerRequestContext[Any]) -> Principal:
        if self.principal is not None:
            return self.principal
        request = ctx.request
        principal = getattr(getattr(request, "state", None), "principal", None)
        if not isinstance(principal, Principal):
            raise MCPError(INVALID_REQUEST, "This request carries no authenticated principal.")
        return principal

    def _tool_context(self, ctx: ServerRequestContext[Any], principal: Principal) -> ToolContext:
        session = None
        headers = getattr(ctx.request, "headers", None)
        if headers is not None:
            session = headers.get("mcp-session-id")
        if session:
            conversation = f"mcp-{session}"
        else:
            conversation = self.conversations.setdefault(principal, f"mcp-{uuid.uuid4().hex[:16]}")
        return ToolContext(
            principal=principal,
            services=self.services,
            conversation_id=conversation,
            agent_name=AGENT_NAME,
        )

    def _guarded(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler`, answering any failure that is not an MCP error with one sentence (the
        traceback goes to the server's log, never to the caller)."""

        async def run(ctx: ServerRequestContext[Any], params: Any) -> Any:
            try:
                return await handler(ctx, params)
            except MCPError:
                raise
            except AisleError as exc:
                raise MCPError(INVALID_PARAMS, str(exc)) from None
            except Exception:
                log.exception("MCP %s failed", ctx.method)
                raise MCPError(
                    INTERNAL_ERROR, "The server failed to answer this request; it is logged."
                ) from None

        return run

    # --- tools -----------------------------------------------------------------------------

    @staticmethod
    def _input_schema(name: str) -> dict[str, Any] | None:
        """Any tool's input schema, for the transport's header checks (which run before the
        caller is known; the grant is checked on the call itself)."""
        if name in UCP_TOOLS:
            return ucp_listing(UCP_TOOLS[name]).input_schema
        spec = get_tool(name)
        return None if spec is None else tool_listing(spec).input_schema

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = self._caller(ctx)
        listed = [tool_listing(spec) for spec in tools_for(principal)]
        granted = {t.name for t in listed}
        listed += [ucp_listing(t) for t in UCP_TOOLS.values() if t.uses in granted]
        return types.ListToolsResult(tools=sorted(listed, key=lambda t: t.name))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        principal = self._caller(ctx)
        tool_ctx = self._tool_context(ctx, principal)
        arguments = dict(params.arguments or {})
        if params.name in UCP_TOOLS:
            return await self._call_ucp(tool_ctx, UCP_TOOLS[params.name], arguments)
        spec = get_tool(params.name)
        if spec is None or not spec.writes:
            return self._answer(await self._invoke(tool_ctx, params.name, arguments))
        confirmation = arguments.pop(CONFIRMATION, None)
        if params.request_state is not None:
            # A 2026-07-28 client's retry with the person's answer to our elicitation; the
            # state is what we sealed (the boundary refuses anything else).
            answer = (params.input_responses or {}).get(ELICITATION_KEY)
            if not isinstance(answer, types.ElicitResult):
                raise MCPError(INVALID_PARAMS, "The retry carries no answer to the confirmation.")
            asked = NeedsConfirmation.model_validate_json(params.request_state)
            return await self._answered(tool_ctx, asked, arguments, answer)
        if isinstance(confirmation, str):
            outcome = await self._invoke_confirmed(tool_ctx, params.name, arguments, confirmation)
        else:
            outcome = await self._invoke(tool_ctx, params.name, arguments)
        if outcome.status != "needs_confirmation" or outcome.error is None:
            return self._answer(outcome)
        asked = await self._ask(tool_ctx, outcome.error, arguments)
        if not _elicits(ctx):
            return _structured(asked)
        form = types.ElicitRequestFormParams(
            message=asked.message, requested_schema=confirmation_form(asked.action.summary)
        )
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            # No server-initiated requests at 2026-07-28: the question rides the result, and
            # the answer comes back with this state, sealed, on the client's retry.
            return types.InputRequiredResult(
                input_requests={ELICITATION_KEY: types.ElicitRequest(params=form)},
                request_state=asked.model_dump_json(),
            )
        try:
            answer = await ctx.session.elicit_form(
                form.message, form.requested_schema, related_request_id=ctx.request_id
            )
        except NoBackChannelError:
            # A transport with no way back to the client (stateless HTTP): ask with the hash.
            return _structured(asked)
        return await self._answered(tool_ctx, asked, arguments, answer)

    async def _ask(
        self, ctx: ToolContext, question: ToolErrorInfo, arguments: dict[str, Any]
    ) -> NeedsConfirmation:
        """Record the question a write's `needs_confirmation` asks (`retail.confirmations`), so
        that the yes is honoured by whichever process it reaches; the question as MCP says it."""
        details = question.details
        digest, tool = str(details["digest"]), str(details["tool"])
        await anyio.to_thread.run_sync(
            confirmations.ask, self.services.engine, ctx.principal, digest, tool
        )
        return NeedsConfirmation(
            action=ConfirmAction(tool=tool, arguments=arguments, summary=str(details["summary"])),
            confirmation=digest,
            message=question.message,
        )

    async def _invoke_confirmed(
        self, ctx: ToolContext, name: str, arguments: dict[str, Any], digest: str
    ) -> ToolOutcome:
        """The write, confirmed by `digest` as recorded in `retail.confirmations`: used there
        once, in the write's transaction, whichever process asked."""
        return await anyio.to_thread.run_sync(
            functools.partial(invoke_confirmed, ctx, name, arguments, digest, stored=True)
        )

    async def _answered(
        self,
        ctx: ToolContext,
        asked: NeedsConfirmation,
        arguments: dict[str, Any],
        answer: types.ElicitResult,
    ) -> types.CallToolResult:
        """The person's answer to the elicitation of `asked`: audited, and the write executed
        only on an explicit accept (the form's `confirm` true) of this very action."""
        name, digest = asked.action.tool, asked.confirmation
        if digest != action_digest(name, arguments):
            # The boundary binds the state to this call's arguments; the rule, said once more.
            raise MCPError(INVALID_PARAMS, "That answer confirms another action than this call.")
        accepted = answer.action == "accept" and (answer.content or {}).get(CONFIRM_FIELD) is True
        # An accept without the box ticked said no to this action: a decline.
        refusal: Literal["declined", "cancelled"] = (
            "cancelled" if answer.action == "cancel" else "declined"
        )
        status = "accepted" if accepted else refusal
        await anyio.to_thread.run_sync(functools.partial(self._audit_answer, ctx, asked, status))
        if not accepted:
            return _structured(
                NotConfirmed(
                    status=refusal,
                    action=asked.action,
                    message="The person did not confirm this action; nothing was done.",
                )
            )
        outcome = await self._invoke_confirmed(ctx, name, arguments, digest)
        if outcome.status == "needs_confirmation" and outcome.error is not None:
            # The question lapsed before the yes came: ask again, with the hash.
            return _structured(await self._ask(ctx, outcome.error, arguments))
        return self._answer(outcome)

    @staticmethod
    def _audit_answer(ctx: ToolContext, asked: NeedsConfirmation, status: str) -> None:
        append_event(
            ctx.engine,
            event_type="confirmation",
            principal_id=ctx.principal.id,
            role=ctx.principal.role,
            status=status,
            conversation_id=ctx.conversation_id,
            agent_name=ctx.agent_name,
            tool_name=asked.action.tool,
            arguments=asked.action.arguments,
            detail={"digest": asked.confirmation, "via": "elicitation"},
            settings=ctx.settings,
        )

    def _answer(self, outcome: ToolOutcome) -> types.CallToolResult:
        """An outcome as MCP says it: the output, or a refusal. A tool the caller may not use (or
        that does not exist) is a protocol error, as the spec has it for an unknown tool."""
        if outcome.error is None:
            return types.CallToolResult(
                content=_text(outcome.output), structured_content=outcome.output
            )
        if outcome.error.kind == "forbidden" or get_tool(outcome.name) is None:
            raise MCPError(INVALID_PARAMS, outcome.error.message)
        return _tool_error(technical_message(outcome.error))

    async def _invoke(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        return await anyio.to_thread.run_sync(invoke, ctx, name, arguments)

    async def _call_ucp(
        self, ctx: ToolContext, tool: UcpTool, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        try:
            request = tool.arguments.model_validate(arguments)
        except ValidationError as exc:
            error = invalid_arguments(tool.name, exc)
            info = ToolErrorInfo(kind=error.kind, message=error.message, details=error.details)
            return _tool_error(technical_message(info))
        result: BaseModel
        if isinstance(request, ucp.SearchCatalogArguments):
            outcome = await self._invoke(ctx, tool.uses, ucp.search_arguments(request.catalog))
            if outcome.output is None:
                return self._answer(outcome)
            result = ucp.search_result(outcome.output)
        elif isinstance(request, ucp.LookupCatalogArguments):
            ids = list(dict.fromkeys(request.catalog.ids))
            outcome = await self._invoke(ctx, tool.uses, {"ids": ids})
            if outcome.output is None:
                return self._answer(outcome)
            result = ucp.lookup_result(outcome.output)
        else:
            assert isinstance(request, ucp.GetProductArguments)
            outcome = await self._invoke(ctx, tool.uses, {"ids": [request.catalog.id]})
            if outcome.output is None:
                return self._answer(outcome)
            if not outcome.output["products"]:
                return _structured(ucp.product_not_found(request.catalog.id))
            [match] = outcome.output["matches"]
            [product] = outcome.output["products"]
            result = ucp.product_result(
                product, request.catalog.selected, match["sku"], request.catalog.preferences
            )
        return _structured(result)

    # --- resources -------------------------------------------------------------------------

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._caller(ctx)
        policies = await anyio.to_thread.run_sync(self._policies)
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=f"{POLICY_URI}{p.id}",
                    name=p.id,
                    title=p.title,
                    description="A store policy page.",
                    mime_type="text/markdown",
                )
                for p in policies
            ]
        )

    def _policies(self) -> list[Any]:
        with Session(self.services.engine) as session:
            return list_policies(session)

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        principal = self._caller(ctx)
        pages = get_tool("product_details")
        templates = []
        if pages is not None and pages.allows(principal):
            templates.append(
                types.ResourceTemplate(
                    uri_template=PRODUCT_URI + "{product_id}",
                    name="product",
                    title="Product page",
                    description="A product's page: facts, description, SKUs with price and stock.",
                    mime_type="text/markdown",
                )
            )
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        principal = self._caller(ctx)
        uri = str(params.uri)
        if uri.startswith(POLICY_URI):
            policy_id = uri.removeprefix(POLICY_URI)

            def read() -> str:
                with Session(self.services.engine) as session:
                    return get_policy(session, policy_id).body

            text = await anyio.to_thread.run_sync(read)
        elif uri.startswith(PRODUCT_URI):
            product_id = uri.removeprefix(PRODUCT_URI)
            tool_ctx = self._tool_context(ctx, principal)
            outcome = await self._invoke(tool_ctx, "product_details", {"product_id": product_id})
            if outcome.output is None:
                message = outcome.error.message if outcome.error else outcome.status
                raise MCPError(INVALID_PARAMS, message)
            text = product_page(outcome.output)
        else:
            raise MCPError(
                INVALID_PARAMS,
                f"No resource at {uri!r}; Aisle serves {POLICY_URI}ID and {PRODUCT_URI}ID.",
            )
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type="text/markdown")]
        )


# --- Streamable HTTP --------------------------------------------------------------------------


class ApiKeyAuth:
    """ASGI middleware: every HTTP request names its principal with an API key (`Authorization:
    Bearer` or `X-API-Key`), admitted as the REST API admits it; the principal rides in the
    request's state to the handlers."""

    def __init__(self, app: ASGIApp, *, services: Services, limiter: RateLimiter) -> None:
        self.app = app
        self.services = services
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("x-api-key")
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if not key and scheme.lower() == "bearer":
            key = credentials
        if not key or not key.strip():
            response = JSONResponse(
                {
                    "detail": "The MCP endpoint needs an API key: send 'Authorization: Bearer "
                    "<key>' or 'X-API-Key: <key>'."
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        try:
            principal = await anyio.to_thread.run_sync(
                admit_key, self.services.engine, self.limiter, key
            )
        except HTTPException as exc:
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def http_app(services: Services, limiter: RateLimiter, *, host: str = "127.0.0.1") -> Starlette:
    """The Streamable HTTP app (at /mcp), each request admitted by its API key."""
    app = AisleMcp(services).server().streamable_http_app(host=host)
    app.add_middleware(ApiKeyAuth, services=services, limiter=limiter)
    return app


async def serve_stdio(services: Services, principal: Principal) -> None:
    """Serve one client on this process's stdin and stdout as `principal`."""
    from mcp.server.stdio import stdio_server

    server = AisleMcp(services, principal=principal).server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
