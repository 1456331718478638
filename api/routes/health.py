"""Liveness and readiness: is the service up, can it reach its database, at which schema; and
is everything a request may need loaded (the assistant, the RAG index)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SERVICE, AssistantLoader, EngineDep
from api.schemas import CheckPublic, HealthPublic, ReadinessPublic
from retail.store.schema import current_revision, head_revision
from tools.base import Services, ToolContext, ToolError
from tools.knowledge import rag_retriever

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    operation_id="health",
    response_model=HealthPublic,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthPublic}},
)
def health(request: Request, response: Response, engine: EngineDep) -> HealthPublic:
    """Report whether the service and its database are up, and the database's schema revision."""
    try:
        revision = current_revision(engine)
    except SQLAlchemyError:
        # A load balancer reads the status code; a person reads the body.
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(
            status="error",
            database="unavailable",
            schema_revision=None,
            version=request.app.version,
        )
    return HealthPublic(
        status="ok", database="ok", schema_revision=revision, version=request.app.version
    )


def _check_store(engine: Engine) -> tuple[CheckPublic, CheckPublic]:
    try:
        revision = current_revision(engine)
    except SQLAlchemyError:
        down = CheckPublic(ok=False, detail="The database is unreachable.")
        return down, CheckPublic(ok=False, detail="The schema revision cannot be read.")
    head = head_revision()
    schema = CheckPublic(
        ok=revision == head,
        detail=f"At revision {revision}."
        if revision == head
        else f"At revision {revision}, not {head}; run `aisle db upgrade`.",
    )
    return CheckPublic(ok=True, detail="Reachable."), schema


def _check_rag_index(services: Services) -> CheckPublic:
    ctx = ToolContext(principal=SERVICE, services=services, agent_name="api")
    try:
        retriever = rag_retriever(ctx)
    except ToolError as exc:
        return CheckPublic(ok=False, detail=exc.message)
    if getattr(retriever.store.client, "stale", False):
        # It still serves what it opened: each process reads its own copy of the index.
        return CheckPublic(
            ok=True,
            detail="Open, as it was when this process started; it has been rebuilt since: "
            "restart to serve the new one.",
        )
    return CheckPublic(ok=True, detail="Open.")


def _checked(what: str, check: Callable[[], CheckPublic]) -> CheckPublic:
    """`check()`, or a failed check that names `what`: readiness answers 503 with a sentence
    whatever goes wrong, since a load balancer reads a 500 as a broken probe."""
    try:
        return check()
    except Exception:
        log.exception("the readiness check of %s failed", what)
        return CheckPublic(ok=False, detail=f"{what} cannot be checked; the error has been logged.")


@router.get(
    "/ready",
    operation_id="ready",
    response_model=ReadinessPublic,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadinessPublic}},
)
def ready(request: Request, response: Response, engine: EngineDep) -> ReadinessPublic:
    """Whether this process can serve every route: the database reachable and at the newest
    schema, the assistant loaded, the RAG index present. 503 with what is missing if not."""
    database, schema = _check_store(engine)
    loader: AssistantLoader = request.app.state.assistant_loader
    loaded, said = loader.state()
    checks = {
        "database": database,
        "schema": schema,
        "assistant": CheckPublic(ok=loaded, detail=said),
        "rag_index": _checked(
            "The document index", partial(_check_rag_index, request.app.state.services)
        ),
    }
    missing = [name for name, check in checks.items() if not check.ok]
    if missing:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessPublic(
        status="not_ready" if missing else "ready", checks=checks, missing=missing
    )
