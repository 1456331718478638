"""Monitor alerts for evaluators and admins: drift and forecast-performance alerts, newest first.
The checks run with `aisle monitor run` (a batch over the store's sales), not over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import RoleGuard
from api.deps import SessionDep
from api.schemas import AUTH_ERRORS, MonitorAlertPublic, error_responses
from ml_core.monitoring.alerts import alerts_query
from retail.store.models import MonitorAlert
from tools.base import Principal

router = APIRouter(prefix="/v1/monitor", tags=["monitor"])

Watcher = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
ERRORS = error_responses(*AUTH_ERRORS)


@router.get(
    "/alerts",
    operation_id="listMonitorAlerts",
    response_model=list[MonitorAlertPublic],
    responses=ERRORS,
)
def list_monitor_alerts(
    session: SessionDep,
    principal: Watcher,
    as_of: Annotated[dt.date | None, Query(description="Only this as-of day's alerts.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MonitorAlert]:
    """The stored alerts, newest as-of day first, the strongest first within a day."""
    return list(session.scalars(alerts_query(as_of).limit(limit)))
