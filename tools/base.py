"""What every tool shares: who is acting, the typed errors, the registry and the one way to call.

A tool is a plain function `def name(ctx: ToolContext, *, arg: T = ..., ...) -> OutputModel`
registered with `@tool(roles=..., writes=...)`. Its keyword-only parameters become its pydantic
input model (their `Annotated[..., Field(description=...)]` metadata is what the LLM reads), its
docstring becomes its description. Identity never appears among the parameters: it comes from
`ctx.principal`, which the API's auth or the CLI's `--as` made, so nothing a model writes can
change whose orders a tool reads.

`invoke` is the only door: it checks the role grant, validates the arguments, runs the tool,
turns a `ToolError` into a typed result, and appends one audit event per call, whatever happened.
"""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail import confirmations, telemetry
from retail.audit import append_event, digest
from retail.errors import AisleError
from retail.identity import ROLES as ROLES
from retail.identity import InvalidPrincipalError as InvalidPrincipalError
from retail.identity import Principal as Principal
from retail.identity import Role as Role
from retail.settings import Settings
from retail.store.models import AuditEvent
from retail.telemetry import tracer

ErrorKind = Literal["not_found", "forbidden", "needs_confirmation", "policy_denied", "invalid"]
CallStatus = Literal[
    "ok", "not_found", "forbidden", "needs_confirmation", "policy_denied", "invalid"
]


class ToolError(AisleError):
    """A tool's typed failure: the caller gets `kind` and one sentence, never a stack trace."""

    def __init__(self, kind: ErrorKind, message: str, *, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.details = dict(details or {})


def not_found(message: str) -> ToolError:
    return ToolError("not_found", message)


def forbidden(message: str) -> ToolError:
    return ToolError("forbidden", message)


def invalid(message: str) -> ToolError:
    return ToolError("invalid", message)


def policy_denied(message: str) -> ToolError:
    return ToolError("policy_denied", message)


class Services:
    """Process-wide caches of loaded models and indexes (the embedder, the retriever, the
    knowledge graph, the recommender), built on first use by the tool modules that need them.

    Loading MiniLM takes seconds; a conversation turn must not pay for it, so one `Services`
    lives as long as the process (the API app, a CLI command, a test module's fixture).
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._cache: dict[str, Any] = {}
        # The API serves turns on several threads: two first calls must not both build (an
        # embedded Qdrant index admits one holder, so the second build would fail).
        self._lock = threading.RLock()

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        value = self._cache.get(key)
        if value is None:
            with self._lock:
                value = self._cache.get(key)
                if value is None:
                    value = self._cache[key] = build()
        return value

    def close(self) -> None:
        with self._lock:
            for value in self._cache.values():
                close = getattr(value, "close", None)
                if callable(close):
                    close()
            self._cache.clear()


@dataclass(slots=True)
class ToolContext:
    """Everything a tool may know besides its arguments, injected by the graph or the API.

    `confirmed_action` is the digest of the exact write the person confirmed in this turn (set
    by the dialogue, never by a model's arguments); `confirmation_stored`: that confirmation was
    asked through `retail.confirmations` (an MCP client's yes, which may reach another process
    than the question did), and the write uses it there, once, in its own transaction;
    `approval_id` names the human approval an operations write executes.
    """

    principal: Principal
    services: Services
    conversation_id: str = field(default_factory=lambda: f"conv-{uuid.uuid4().hex[:16]}")
    agent_name: str = "cli"
    brain: str = "none"
    model_version: str = "none"
    confirmed_action: str | None = None
    confirmation_stored: bool = False
    approval_id: str | None = None

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def settings(self) -> Settings:
        return self.services.settings


ToolFn = Callable[..., BaseModel]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A registered tool: what an LLM is shown and what the grant and the audit need."""

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    roles: frozenset[Role]
    writes: bool
    fn: ToolFn
    model_argument: str | None = None
    """The one argument of a tool that takes a whole pydantic model (a typed request): the
    model's fields are the tool's arguments, flat, as an LLM fills them."""

    def call(self, ctx: ToolContext, params: BaseModel) -> Any:
        if self.model_argument is not None:
            return self.fn(ctx, **{self.model_argument: params})
        return self.fn(ctx, **dict(params))

    def allows(self, principal: Principal) -> bool:
        return principal.role == "admin" or principal.role in self.roles

    def openai_schema(self) -> dict[str, Any]:
        """The tool as OpenAI's function-calling API describes one."""
        params = self.input_model.model_json_schema()
        params.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }


REGISTRY: dict[str, ToolSpec] = {}


class _Arguments(BaseModel):
    # A model that invents an argument is told so, rather than having it silently dropped.
    model_config = ConfigDict(extra="forbid")


def tool(*, roles: Iterable[Role], writes: bool = False) -> Callable[[ToolFn], ToolFn]:
    """Register `fn` as a tool granted to `roles` (admin is granted everything)."""
    granted = frozenset(roles)
    unknown = granted - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def register(fn: ToolFn) -> ToolFn:
        name = fn.__name__
        if name in REGISTRY and REGISTRY[name].fn is not fn:
            raise ValueError(f"tool {name} is registered twice")
        hints = get_type_hints(fn, include_extras=True)
        fields: dict[str, Any] = {}
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].name != "ctx":
            raise TypeError(f"tool {name} must take ctx first")
        for param in params[1:]:
            if param.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"tool {name}: argument {param.name} must be keyword-only")
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (hints[param.name], default)
        output = hints.get("return")
        if not (isinstance(output, type) and issubclass(output, BaseModel)):
            raise TypeError(f"tool {name} must return a pydantic model")
        doc = inspect.getdoc(fn)
        if not doc:
            raise TypeError(f"tool {name} needs a docstring: it is what the model reads")
        model_argument = _model_argument(fields)
        input_model = (
            fields[model_argument][0]
            if model_argument is not None
            else create_model(
                f"{''.join(p.title() for p in name.split('_'))}Input", __base__=_Arguments, **fields
            )
        )
        REGISTRY[name] = ToolSpec(
            name=name,
            description=doc,
            input_model=input_model,
            output_model=output,
            roles=granted,
            writes=writes,
            fn=fn,
            model_argument=model_argument,
        )
        return fn

    return register


def _model_argument(fields: Mapping[str, tuple[Any, Any]]) -> str | None:
    """The name of a tool's only argument when it is a pydantic model, else None."""
    if len(fields) != 1:
        return None
    name, (annotation, _) = next(iter(fields.items()))
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return name if is_model else None


def tools_for(principal: Principal, names: Iterable[str] | None = None) -> list[ToolSpec]:
    """The tools this principal may call (optionally only among `names`), by name."""
    load_all_tools()
    wanted = set(names) if names is not None else None
    return [
        spec
        for name, spec in sorted(REGISTRY.items())
        if spec.allows(principal) and (wanted is None or name in wanted)
    ]


def get_tool(name: str) -> ToolSpec | None:
    load_all_tools()
    return REGISTRY.get(name)


TOOL_MODULES = (
    "tools.vocabulary",
    "tools.catalog",
    "tools.recommendations",
    "tools.knowledge",
    "tools.inventory",
    "tools.orders",
    "tools.customers",
    "tools.forecasting",
    "tools.replenishment",
    "tools.pricing",
)


def load_all_tools() -> None:
    """Import every tool module so that the registry is complete (modules not written yet are
    skipped: the registry lists what exists)."""
    import importlib
    import importlib.util

    for module in TOOL_MODULES:
        if module not in _loaded and importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
        _loaded.add(module)


_loaded: set[str] = set()


class ToolErrorInfo(BaseModel):
    kind: ErrorKind
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ToolOutcome(BaseModel):
    """The typed result of one call: its output, or its error; never an exception."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    status: CallStatus
    output: dict[str, Any] | None = None
    error: ToolErrorInfo | None = None
    latency_ms: float
    writes: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def invoke(
    ctx: ToolContext,
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
) -> ToolOutcome:
    """Call the tool `name` as `ctx.principal`, and audit the call, whatever its outcome."""
    call_id = call_id or f"call-{uuid.uuid4().hex[:16]}"
    with tracer().start_as_current_span(
        f"execute_tool {name}",
        attributes={
            telemetry.OPERATION: "execute_tool",
            telemetry.TOOL_NAME: name,
            telemetry.TOOL_CALL_ID: call_id,
            telemetry.TOOL_TYPE: "function",
            "aisle.principal.role": ctx.principal.role,
        }
        | ({telemetry.AGENT_NAME: ctx.agent_name} if ctx.agent_name else {})
        | ({telemetry.CONVERSATION_ID: ctx.conversation_id} if ctx.conversation_id else {}),
        # A refused or invalid call is the caller's outcome, told in its status, not a crash.
        record_exception=False,
        set_status_on_exception=True,
    ) as span:
        outcome = _call(ctx, name, dict(arguments or {}), call_id)
        event = record_tool_call(ctx, outcome)
        span.set_attribute("aisle.tool.status", outcome.status)
        span.set_attribute("aisle.audit.event_id", event.event_id)
        if outcome.error is not None and outcome.status != "needs_confirmation":
            span.set_attribute(telemetry.ERROR_TYPE, outcome.error.kind)
    return outcome


def _call(ctx: ToolContext, name: str, args: dict[str, Any], call_id: str) -> ToolOutcome:
    started = time.perf_counter()
    spec = get_tool(name)
    output: BaseModel | None = None
    error: ToolError | None = None
    if spec is None:
        error = invalid(f"There is no tool named {name!r}.")
    elif not spec.allows(ctx.principal):
        error = forbidden(f"The {ctx.principal.role} role may not use {name}.")
    else:
        try:
            params = spec.input_model.model_validate(args)
        except ValidationError as exc:
            error = invalid_arguments(name, exc)
        else:
            try:
                output = spec.call(ctx, params)
            except ToolError as exc:
                error = exc
            except AisleError as exc:
                # Domain errors below the tools (unknown SKU, bad filter) are the caller's input.
                error = ToolError(_kind_of(exc), str(exc))
    latency_ms = (time.perf_counter() - started) * 1000.0
    payload = output.model_dump(mode="json") if output is not None else None
    return ToolOutcome(
        call_id=call_id,
        name=name,
        arguments=args,
        status="ok" if error is None else error.kind,
        output=payload,
        error=None
        if error is None
        else ToolErrorInfo(kind=error.kind, message=error.message, details=error.details),
        latency_ms=latency_ms,
        writes=bool(spec and spec.writes),
    )


def record_tool_call(ctx: ToolContext, outcome: ToolOutcome) -> AuditEvent:
    """The audit event of one tool call made through `invoke`."""
    result = outcome.output if outcome.error is None else outcome.error.model_dump()
    return append_event(
        ctx.engine,
        event_type="tool_call",
        principal_id=ctx.principal.id,
        role=ctx.principal.role,
        status=outcome.status,
        conversation_id=ctx.conversation_id,
        agent_name=ctx.agent_name,
        tool_name=outcome.name,
        tool_call_id=outcome.call_id,
        arguments=outcome.arguments,
        result=result,
        latency_ms=outcome.latency_ms,
        brain=ctx.brain,
        model_version=ctx.model_version,
        approval_id=ctx.approval_id,
        detail={"writes": outcome.writes},
        settings=ctx.settings,
    )


def _kind_of(exc: AisleError) -> ErrorKind:
    from retail.errors import NotFoundError

    return "not_found" if isinstance(exc, NotFoundError) else "invalid"


# Said to whoever asked, often a shopper: no tool or argument names, no validation jargon.
INVALID_ARGUMENTS = "Part of that request could not be used as given; please put it another way."


def invalid_arguments(name: str, exc: ValidationError) -> ToolError:
    """The plain sentence for arguments that fail validation; each problem, as pydantic says it,
    stays in the details, which the audit digests and an LLM brain reads to correct its call."""
    problems = [
        {
            "argument": ".".join(str(p) for p in problem["loc"]) or "arguments",
            "problem": problem["msg"],
        }
        for problem in exc.errors()
    ]
    return ToolError("invalid", INVALID_ARGUMENTS, details={"tool": name, "problems": problems})


def technical_message(error: ToolErrorInfo) -> str:
    """The error for people who know the tools (staff commands): the sentence, then each
    argument that failed validation in pydantic's words."""
    problems = error.details.get("problems") or []
    if not problems:
        return error.message
    said = "; ".join(f"{p['argument']}: {p['problem']}" for p in problems)
    return f"{error.message} ({said})"


def action_digest(tool_name: str, arguments: Mapping[str, Any]) -> str:
    """SHA-256 of a write's tool name and arguments (canonical JSON): what a confirmation binds."""
    return digest({"tool": tool_name, "arguments": dict(arguments)})


# A confirmation a write already used; the person is asked again by calling without it.
CONFIRMATION_USED = (
    "That confirmation was already used: the action was carried out once. To do it again, ask "
    "for it anew (without the confirmation) and confirm the new question."
)


def require_confirmation(
    ctx: ToolContext,
    tool_name: str,
    arguments: Mapping[str, Any],
    summary: str,
    *,
    session: Session,
) -> None:
    """Raise `needs_confirmation` unless the person confirmed exactly this write in this turn.

    The error's details carry the digest and the summary: the dialogue asks the person with the
    summary and, on an explicit yes, sets `ctx.confirmed_action` to the digest and calls again.
    `session` is the write's own: a stored confirmation (`ctx.confirmation_stored`) is used in
    it, so the write and the use of its yes commit together or not at all.
    """
    digest = action_digest(tool_name, arguments)
    asked = ToolError(
        "needs_confirmation",
        f"Please confirm: {summary}",
        details={"digest": digest, "summary": summary, "tool": tool_name},
    )
    if ctx.confirmed_action != digest:
        raise asked
    if ctx.confirmation_stored:
        claimed = confirmations.claim(session, ctx.principal, digest)
        if claimed == "used":
            raise invalid(CONFIRMATION_USED)
        if claimed == "not_asked":
            raise asked


def invoke_confirmed(
    ctx: ToolContext,
    name: str,
    arguments: Mapping[str, Any],
    confirmed: str,
    *,
    stored: bool = False,
    call_id: str | None = None,
) -> ToolOutcome:
    """Call a write the person confirmed: `confirmed` is the digest of the action they were
    shown (a `needs_confirmation` result's details). The tool writes only when it is the digest
    of this very call (`require_confirmation`); the context holds it for this call alone.
    `stored`: the question was recorded with `retail.confirmations.ask`, and the write uses it
    there (at most once, whichever process asked)."""
    ctx.confirmed_action = confirmed
    ctx.confirmation_stored = stored
    try:
        return invoke(ctx, name, arguments, call_id=call_id)
    finally:
        ctx.confirmed_action = None
        ctx.confirmation_stored = False


def check_principal(engine: Engine, principal: Principal) -> None:
    """Raise NotFoundError unless the principal's customer and store exist.

    Authentication proves who someone is; this makes sure the records their role is scoped to
    are real, so a typo in `--as` is one clear sentence rather than an empty conversation.
    """
    from retail.errors import NotFoundError
    from retail.store.models import Customer, Location

    with Session(engine) as session:
        if principal.customer_id and session.get(Customer, principal.customer_id) is None:
            raise NotFoundError(f"No customer with id {principal.customer_id!r}.")
        if principal.store_id and session.get(Location, principal.store_id) is None:
            raise NotFoundError(f"No store with id {principal.store_id!r}.")
