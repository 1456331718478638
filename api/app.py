"""The FastAPI application: `create_app(settings)` builds it, `aisle serve` runs it.

The app's lifespan opens (and migrates) the database engine, the tools' shared `Services`, one
LangGraph checkpointer, the rate limiter, the chat thread pool, and starts loading the one
`Assistant` of the process in the background (`/ready` says when it is loaded); all of them live
on `app.state` for as long as the app, and routes reach them through `api.deps`. Three ASGI
middlewares wrap every request: the Prometheus request metrics, a body size limit (413) and
`api.hygiene`'s refusal of NUL characters, invalid Unicode and non-finite numbers (422).
Every error leaves as JSON with a one-sentence `detail`, so a client (or a person reading curl
output) never sees a stack trace.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SERVICE, AssistantLoader, InvalidRequest, sessions_at_once
from api.hygiene import RequestHygiene, UnacceptableBody, on_pool_exhausted, on_unacceptable_body
from api.ratelimit import RateLimit, make_rate_limiter
from api.routes import (
    associate,
    audit,
    chat,
    evals,
    events,
    experiments,
    feeds,
    health,
    me,
    metrics,
    models,
    monitor,
    ops,
    products,
    proposals,
    recommendations,
)
from api.routes.metrics import Metrics
from ml_core.recommend.live import Live
from ml_core.recommend.shadow import ShadowRunner
from ml_core.registry import RegistryConflict
from retail.errors import AisleError, DatabaseUnavailableError, NotFoundError
from retail.settings import Settings, get_settings
from retail.store.db import session_factory
from retail.store.open import open_store
from retail.telemetry import configure_tracing
from tools.base import Services, ToolContext, ToolError

if TYPE_CHECKING:
    from agents.assistant import Assistant

log = logging.getLogger(__name__)

# Routers served by the app, in the order their paths appear in the OpenAPI document.
ROUTERS: Sequence[APIRouter] = (
    health.router,
    metrics.router,
    me.router,
    products.router,
    recommendations.router,
    events.router,
    chat.router,
    associate.router,
    proposals.router,
    audit.router,
    evals.router,
    experiments.router,
    models.router,
    feeds.router,
    monitor.router,
    ops.router,
)
# The web pages (storefront, consoles, queues) live in their own module; when it exists its
# `router` is served too, and its `install(app)`, if it has one, adds what a router cannot
# carry (a static files mount).
PAGES_MODULE = "api.routes.pages"
MAX_BODY_BYTES = 64 * 1024
# Chat turns run side by side in this many threads; more would only contend for the cores.
CHAT_THREADS = 8

_MAX_PROBLEMS_IN_DETAIL = 3


def _aisle_version() -> str:
    try:
        return version("aisle")
    except PackageNotFoundError:
        return "0.1.0"


def _require_operation_id(route: APIRoute) -> str:
    # Clients are generated from operation ids; a derived one would change whenever a function
    # is renamed, so every documented route must name its own.
    if route.include_in_schema:
        raise ValueError(f"route {route.path} needs an explicit operation_id")
    return route.name


def _where(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if not parts:
        return "request"
    if parts[0] in {"query", "path", "header", "cookie"} and len(parts) > 1:
        return f"{parts[0]} parameter {'.'.join(parts[1:])!r}"
    if parts[0] == "body":
        return f"body field {'.'.join(parts[1:])!r}" if len(parts) > 1 else "request body"
    return ".".join(parts)


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One sentence naming the first few problems, e.g. for `?limit=0`:

    "Invalid request: query parameter 'limit': input should be greater than or equal to 1."
    """
    problems = []
    for error in errors[:_MAX_PROBLEMS_IN_DETAIL]:
        if error.get("type") == "json_invalid":
            # Its location is a character offset, not a field.
            loc = error.get("loc", ())
            reason = str((error.get("ctx") or {}).get("error", "JSON decode error")).lower()
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            problems.append(f"request body: not valid JSON ({reason}{where})")
            continue
        msg = str(error.get("msg", "invalid value"))
        problems.append(f"{_where(error.get('loc', ()))}: {msg[:1].lower()}{msg[1:]}")
    more = len(errors) - _MAX_PROBLEMS_IN_DETAIL
    if more > 0:
        problems.append(f"and {more} more problem{'s' if more > 1 else ''}")
    return "Invalid request: " + "; ".join(problems).rstrip(".") + "."


def _error(status_code: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    # A validator's exception object may sit in `ctx`; its message is what a client can use.
    # The rejected input is not echoed back: the client has it, and it may be 10,000 characters.
    shown = [{k: v for k, v in error.items() if k != "input"} for error in errors]
    encoded = jsonable_encoder(shown, custom_encoder={Exception: str})
    return _error(
        status.HTTP_422_UNPROCESSABLE_CONTENT, describe_validation_errors(errors), errors=encoded
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    # Routing's own 404 and 405 carry a bare phrase; say which request it was about.
    if exc.status_code == status.HTTP_404_NOT_FOUND and detail == "Not Found":
        detail = f"Nothing is served at {request.url.path}."
    elif exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}."
    elif detail == "There was an error parsing the body":  # FastAPI's, for bytes that are not text
        detail = "The request body cannot be read: send JSON as UTF-8 text."
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _on_not_found(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_404_NOT_FOUND, str(exc))


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OperationalError):
        log.warning("database operation failed: %s", exc)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unavailable right now.")
    return _error(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))


async def _on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRequest)
    return JSONResponse(exc.body(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _on_conflict(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_409_CONFLICT, str(exc))


async def _on_aisle_error(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_400_BAD_REQUEST, str(exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "Aisle failed unexpectedly; the error has been logged.",
    )


_STOREFRONT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Aisle</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;">
<h1>Aisle</h1>
<p>The storefront will live here. Meanwhile, browse the API:</p>
<ul>
<li><a href="/docs">API documentation</a></li>
<li><a href="/v1/products">Products</a></li>
<li><a href="/health">Health</a></li>
</ul>
</body>
</html>
"""


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with a 413, whether or not they say their length.

    A declared Content-Length over the limit is refused before the body is read; a body that
    turns out longer stops being read at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"The request body is over the limit of {self.max_bytes // 1024} KiB."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = _error(status.HTTP_413_CONTENT_TOO_LARGE, self._too_large())
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read: the app's handler answers it.
                    raise StarletteHTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE, detail=self._too_large()
                    )
            return message

        await self.app(scope, limited, send)


class RequestMetrics:
    """Count every request and time it, labelled by its route's path template (not the path
    itself, which would make a series per product id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def observed(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope["method"], template, status_code, time.perf_counter() - started
            )


def _open_state(
    app: FastAPI,
    stack: ExitStack,
    settings: Settings,
    services: Services | None,
    assistant: Assistant | None,
    load_assistant: bool,
    rate_limit: RateLimit,
) -> None:
    """Open what the app keeps for its lifetime onto `app.state`; `stack` closes it all."""
    from agents.checkpoint import open_checkpointer
    from approvals.decisions import sweep as finish_unfinished_approvals

    engine = open_store(settings)
    stack.callback(engine.dispose)
    app.state.engine = engine
    finish_unfinished_approvals(engine, settings)  # what a crash left approved, not executed
    app.state.session_factory = session_factory(engine)
    if services is None:
        services = Services(engine, settings)
        stack.callback(services.close)
    app.state.services = services
    live = Live(engine, settings.redis_url, settings.resolved_database_url)
    stack.callback(live.close)  # after the app stops serving: both logs are flushed
    app.state.live = live
    shadow = ShadowRunner(engine, settings, live.store, live.shadows)
    stack.callback(shadow.close)  # before the logs close: its last lists are written
    app.state.shadow = shadow
    checkpointer = stack.enter_context(open_checkpointer(settings))
    app.state.checkpointer = checkpointer
    limiter = make_rate_limiter(settings, rate_limit)
    close_limiter = getattr(limiter, "close", None)
    if close_limiter is not None:
        stack.callback(close_limiter)
    app.state.rate_limiter = limiter
    pool = ThreadPoolExecutor(CHAT_THREADS, thread_name_prefix="chat")
    stack.callback(pool.shutdown)
    app.state.chat_pool = pool
    if assistant is not None:
        loader = AssistantLoader.of(assistant)
    elif load_assistant:

        def build() -> Assistant:
            from agents.assistant import Assistant

            loaded = Assistant(services, checkpointer)
            _open_shared(services)
            # Before /ready says ready: the first turn must not pay for first reads.
            log.info("assistant warmed up: %s", loaded.warm_up())
            # The models, vocabulary and indexes loaded above are millions of objects that live
            # as long as the process: left to the collector, every full collection walks them
            # all and stops every request while it does. Frozen, it walks only what came after.
            gc.freeze()
            return loaded

        loader = AssistantLoader.start(build)
    else:
        loader = AssistantLoader.off(
            f"The assistant is not loaded in this process (environment={settings.environment})."
        )
    stack.callback(loader.settle)  # last in, first out: the load ends before the rest closes
    app.state.assistant_loader = loader


def _open_shared(services: Services) -> None:
    """Open what turns share (the RAG index, the knowledge graph, the recommender) before the
    first request: `Services` builds each on first use without a lock, and two turns racing
    to open a Qdrant Edge index would find it locked by the other."""
    from tools.inventory import knowledge_graph
    from tools.knowledge import rag_retriever
    from tools.recommendations import recommender

    ctx = ToolContext(principal=SERVICE, services=services, agent_name="api")
    for open_shared in (rag_retriever, knowledge_graph, recommender):
        with suppress(ToolError):  # not built yet: /ready says so, the tools say how
            open_shared(ctx)


def _include_pages(app: FastAPI) -> None:
    if importlib.util.find_spec(PAGES_MODULE) is None:

        @app.get("/", include_in_schema=False, response_class=HTMLResponse)
        def storefront() -> str:
            return _STOREFRONT

        return
    pages = importlib.import_module(PAGES_MODULE)
    app.include_router(pages.router)
    install = getattr(pages, "install", None)
    if install is not None:
        install(app)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    assistant: Assistant | None = None,
    load_assistant: bool | None = None,
    rate_limit: RateLimit | None = None,
) -> FastAPI:
    """Build the app; `settings` defaults to the environment's (`get_settings()`).

    `services`: share these loaded models and open indexes (a Qdrant Edge index can be opened
    once per process; tests hand in their world's), else the app opens its own. `assistant`:
    serve this one (built by the caller on the same services), else one is loaded in the
    background when `load_assistant` (default: unless environment=test, whose tests build one
    per module and hand it in). `rate_limit`: per API key (default `RateLimit()`).
    """
    settings = settings or get_settings()
    configure_tracing()  # a worker process started by uvicorn did not run the CLI's
    if assistant is not None:
        services = services or assistant.services
    load = settings.environment != "test" if load_assistant is None else load_assistant
    limit = rate_limit or RateLimit()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            # Connecting, migrating and opening block; a worker thread keeps the loop free.
            await anyio.to_thread.run_sync(
                _open_state, app, stack, settings, services, assistant, load, limit
            )
            # Made here, on the loop that serves the requests it admits.
            app.state.session_gate = anyio.Semaphore(sessions_at_once(settings))
            yield

    app = FastAPI(
        title="Aisle",
        summary="An agentic retail system.",
        version=_aisle_version(),
        lifespan=lifespan,
        generate_unique_id_function=_require_operation_id,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()

    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(NotFoundError, _on_not_found)
    app.add_exception_handler(DatabaseUnavailableError, _on_database_unavailable)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(InvalidRequest, _on_invalid_request)
    app.add_exception_handler(UnacceptableBody, on_unacceptable_body)
    app.add_exception_handler(PoolTimeoutError, on_pool_exhausted)
    app.add_exception_handler(RegistryConflict, _on_conflict)
    app.add_exception_handler(AisleError, _on_aisle_error)
    app.add_exception_handler(Exception, _on_unexpected)
    # Innermost of the three: a body over the size limit is a 413 before it is inspected.
    app.add_middleware(RequestHygiene)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)

    for router in ROUTERS:
        app.include_router(router)
    _include_pages(app)

    # FastAPI resolves included routes lazily; building the schema now makes a route without an
    # operation id, or a model that cannot be rendered, fail here rather than on a request.
    app.openapi()
    return app
