"""Feed batches for evaluators and admins: every daily file received, accepted or quarantined
with the reason. Files are loaded by `aisle data load` (the retailer's nightly job), not over
HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import RoleGuard
from api.deps import SessionDep
from api.schemas import AUTH_ERRORS, error_responses
from retail.feeds.load import list_batches
from retail.schemas import FeedBatchPublic
from retail.store.models import FeedBatch
from tools.base import Principal

router = APIRouter(prefix="/v1/feeds", tags=["feeds"])

Evaluator = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
ERRORS = error_responses(*AUTH_ERRORS)


@router.get(
    "", operation_id="listFeedBatches", response_model=list[FeedBatchPublic], responses=ERRORS
)
def list_feed_batches(
    session: SessionDep,
    principal: Evaluator,
    kind: Annotated[Literal["sales", "inventory", "catalog"] | None, Query()] = None,
    status: Annotated[Literal["accepted", "quarantined"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[FeedBatch]:
    """The latest feed batches, newest first, with their status and, when quarantined, why."""
    return list_batches(session, kind=kind, status=status, limit=limit)
