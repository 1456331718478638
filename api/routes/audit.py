"""The audit log for evaluators and admins: recent events, and a verification of the chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, select

from api.auth import RoleGuard
from api.deps import SessionDep, SettingsDep
from api.schemas import AUTH_ERRORS, AuditEventPublic, AuditVerifyPublic, error_responses
from retail.audit import verify_chain
from retail.store.models import AuditEvent
from tools.base import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
ERRORS = error_responses(*AUTH_ERRORS)


@router.get(
    "", operation_id="listAuditEvents", response_model=list[AuditEventPublic], responses=ERRORS
)
def list_audit_events(
    session: SessionDep,
    principal: Auditor,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    conversation_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    approval_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> list[AuditEvent]:
    """The latest audit events, newest first; optionally of one conversation or approval."""
    query = select(AuditEvent)
    if conversation_id is not None:
        query = query.where(AuditEvent.conversation_id == conversation_id)
    if approval_id is not None:
        query = query.where(AuditEvent.approval_id == approval_id)
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))


@router.get(
    "/verify", operation_id="verifyAudit", response_model=AuditVerifyPublic, responses=ERRORS
)
def verify_audit(session: SessionDep, settings: SettingsDep, principal: Auditor) -> dict[str, Any]:
    """Walk the hash chain from its first event and check it against its signed checkpoints:
    ok, or each edited, missing, reordered, forged or rewritten event found."""
    # The walk reads through its own connections, but it takes the request's session slot so
    # that a burst of verifications waits its turn like every other session-holding request,
    # instead of taking every pooled connection (the API key lookups then got 503s).
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return verify_chain(engine, settings=settings).as_dict()
