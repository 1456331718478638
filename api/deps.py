"""Dependencies shared by the routes, as `Annotated` aliases: `def route(session: SessionDep)`.

Everything here reads what the app's lifespan put on `app.state`, so an app built by
`create_app(settings)` in a test serves that test's database and settings, not the environment's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agents.assistant import Assistant
from api.routes.metrics import Metrics
from retail.errors import AisleError
from retail.settings import Settings
from tools.base import Principal, Services, ToolContext, invoke

log = logging.getLogger(__name__)
# Who opens shared resources on the service's behalf (never a tool call, so nothing to audit).
SERVICE = Principal(id="system:api", role="admin")
# How long a chat request waits for an assistant still loading before it is told to retry.
LOAD_WAIT_S = 120.0


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route's dependant and its sub-dependencies take."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_parameters(request: Request) -> None:
    """Refuse a query parameter the route does not take (`?store=ZZZ` for `store_id`,
    `?sort=foo` where nothing sorts): ignored silently, a client's typo reads as a filter that
    matched everything. A 422 like any other bad parameter."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    taken = _query_names(dependant)
    unknown = [name for name in request.query_params if name not in taken]
    if unknown:
        takes = ", ".join(sorted(taken)) or "none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"not a parameter of {request.url.path} (it takes {takes})",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def sessions_at_once(settings: Settings) -> int:
    """How many requests may hold a session at once: half the connections the pool can lend,
    so that the requests' other short checkouts (the API key's lookup, tools' own sessions)
    always find one."""
    return max(1, (settings.database_pool_size + settings.database_max_overflow) // 2)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed when the response has been produced.

    Nothing is committed for the route: one that writes commits explicitly, so a failure halfway
    through rolls back as the session closes.

    At most `sessions_at_once` requests hold one; the others wait here, on the event loop, not
    in a worker thread. Unbounded, a burst of 60 took all 40 worker threads, most of them
    blocked waiting for a pooled connection, while the requests holding the connections waited
    for a thread to finish in: nothing moved until the pool's timeout, 30 s later.
    """
    gate: anyio.Semaphore = request.app.state.session_gate
    async with gate:
        session = request.app.state.session_factory()
        try:
            yield session
        finally:
            # Closing rolls back on the connection (I/O); a limiter of its own, as FastAPI's
            # for the exit of a dependency, so it never waits for one of the busy threads.
            await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_checkpointer(request: Request) -> BaseCheckpointSaver[Any]:
    checkpointer: BaseCheckpointSaver[Any] = request.app.state.checkpointer
    return checkpointer


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


class AssistantLoader:
    """The process's one `Assistant`, built in a worker thread that the app's lifespan starts.

    Loading MiniLM, training the NLU and warming up what turns read (`Assistant.warm_up`)
    takes seconds; the app serves meanwhile (`/ready` says it is not ready) and chat requests
    wait for it.
    """

    def __init__(self, future: concurrent.futures.Future[Assistant] | None, off_reason: str = ""):
        self._future = future
        self._off_reason = off_reason

    @classmethod
    def start(cls, build: Callable[[], Assistant]) -> AssistantLoader:
        future: concurrent.futures.Future[Assistant] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(build())
            except BaseException as exc:  # handed to whoever waits, and logged once here
                log.exception("the assistant could not be loaded")
                future.set_exception(exc)

        threading.Thread(target=run, name="assistant-loader", daemon=True).start()
        return cls(future)

    @classmethod
    def of(cls, assistant: Assistant) -> AssistantLoader:
        future: concurrent.futures.Future[Assistant] = concurrent.futures.Future()
        future.set_result(assistant)
        return cls(future)

    @classmethod
    def off(cls, reason: str) -> AssistantLoader:
        return cls(None, reason)

    def state(self) -> tuple[bool, str]:
        """(loaded, what to tell a person)."""
        if self._future is None:
            return False, self._off_reason
        if not self._future.done():
            return False, "The assistant is still loading."
        error = self._future.exception()
        if error is not None:
            return False, f"The assistant could not be loaded: {error}"
        warmed = self._future.result().warmed_up
        if warmed:
            parts = ", ".join(f"{part} {ms:.0f} ms" for part, ms in warmed.items())
            return True, f"The assistant is loaded and warmed up ({parts})."
        return True, "The assistant is loaded."

    async def wait(self) -> Assistant:
        if self._future is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=self._off_reason)
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self._future)), LOAD_WAIT_S
            )
        except TimeoutError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="The assistant is still loading; retry in a few seconds.",
                headers={"Retry-After": "5"},
            ) from None
        except AisleError as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"The assistant could not be loaded: {exc}",
            ) from None
        except Exception:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="The assistant could not be loaded; the error has been logged.",
            ) from None

    def settle(self) -> None:
        """Wait for a load in progress to end (so shutdown does not close what it uses)."""
        if self._future is not None:
            concurrent.futures.wait([self._future])


async def get_assistant(request: Request) -> Assistant:
    """The process's assistant; waits while it is still loading, 503 when it cannot load."""
    loader: AssistantLoader = request.app.state.assistant_loader
    return await loader.wait()


ServicesDep = Annotated[Services, Depends(get_services)]
CheckpointerDep = Annotated[BaseCheckpointSaver[Any], Depends(get_checkpointer)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]


class InvalidRequest(AisleError):
    """A request that is well formed but cannot be done as asked: a 422 with the body every
    422 has (`detail`, and `errors` naming where the problem is)."""

    def __init__(self, message: str, *, loc: Sequence[str | int] = ("request",), kind: str):
        super().__init__(message)
        self.message = message
        self.loc = list(loc)
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return {
            "detail": self.message,
            "errors": [{"type": self.kind, "loc": self.loc, "msg": self.message}],
        }


# A tool's typed error as the HTTP status it means. A policy refusal (no marketing consent, say)
# is a 403: the request was understood and is not allowed, whoever retries it.
TOOL_ERROR_STATUS = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "policy_denied": status.HTTP_403_FORBIDDEN,
    "needs_confirmation": status.HTTP_409_CONFLICT,
}


class ToolRunner:
    """Calls tools for a request as its principal, through `tools.base.invoke` (so the role
    grant and the audit apply), and turns a typed error into an HTTP error."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.services: Services = request.app.state.services
        self.metrics: Metrics = request.app.state.metrics
        self.principal = principal

    def __call__(self, name: str, **arguments: Any) -> dict[str, Any]:
        ctx = ToolContext(principal=self.principal, services=self.services, agent_name="api")
        given = {key: value for key, value in arguments.items() if value is not None}
        outcome = invoke(ctx, name, given)
        self.metrics.tool_calls.labels(name, outcome.status).inc()
        if outcome.error is not None:
            if outcome.error.kind == "invalid":
                raise InvalidRequest(outcome.error.message, loc=("query",), kind="invalid")
            raise HTTPException(TOOL_ERROR_STATUS[outcome.error.kind], detail=outcome.error.message)
        assert outcome.output is not None
        return outcome.output
