"""The FastAPI application: `create_app(settings)` builds it, `aisle serve` runs it.

The app owns one database engine, opened (and migrated) in its lifespan and kept on `app.state`;
routes get a session per request through `api.deps`. Every error leaves as JSON with a one-sentence
`detail`, so a client (or a person reading curl output) never sees a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import health, products
from retail.errors import AisleError, DatabaseUnavailableError, NotFoundError
from retail.settings import Settings, get_settings
from retail.store.db import session_factory
from retail.store.open import open_store

log = logging.getLogger(__name__)

# Routers served by the app, in the order their paths appear in the OpenAPI document.
ROUTERS: Sequence[APIRouter] = (health.router, products.router)

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
    encoded = jsonable_encoder(errors, custom_encoder={Exception: str})
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
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _on_not_found(request: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_404_NOT_FOUND, str(exc))


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OperationalError):
        log.warning("database operation failed: %s", exc)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unavailable right now.")
    return _error(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))


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


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to the environment's (`get_settings()`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Connecting and migrating block; a worker thread keeps the event loop free meanwhile.
        engine = await anyio.to_thread.run_sync(open_store, settings)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Aisle",
        summary="An agentic retail system.",
        version=_aisle_version(),
        lifespan=lifespan,
        generate_unique_id_function=_require_operation_id,
    )
    app.state.settings = settings

    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(NotFoundError, _on_not_found)
    app.add_exception_handler(DatabaseUnavailableError, _on_database_unavailable)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(AisleError, _on_aisle_error)
    app.add_exception_handler(Exception, _on_unexpected)

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def storefront() -> str:
        return _STOREFRONT

    # FastAPI resolves included routes lazily; building the schema now makes a route without an
    # operation id, or a model that cannot be rendered, fail here rather than on a request.
    app.openapi()
    return app
