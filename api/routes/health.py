"""Liveness and readiness: is the service up, can it reach its database, at which schema."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep
from api.schemas import HealthPublic
from retail.store.schema import current_revision

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
