"""The operations KPIs for evaluators and admins: each retail KPI week by week over the last
complete weeks by the application's clock, with its definition (`retail.kpis`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import RoleGuard
from api.deps import EngineDep, SettingsDep
from api.schemas import AUTH_ERRORS, error_responses
from retail.clock import clock
from retail.identity import Principal
from retail.kpis import MAX_WEEKS, Unit, weekly_kpis

router = APIRouter(prefix="/v1/ops", tags=["ops"])

Evaluator = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
ERRORS = error_responses(*AUTH_ERRORS)


class KpiDefinitionPublic(BaseModel):
    key: str
    label: str
    unit: Unit
    definition: str


class KpiWeekPublic(BaseModel):
    week_start: dt.date
    week_end: dt.date
    forecast_error: float | None
    fill_rate: float | None
    stockouts: int | None
    inventory_turns: float | None
    margin: float | None
    conversion: float | None
    aov: float | None


class KpisPublic(BaseModel):
    first_day: dt.date
    last_day: dt.date
    definitions: list[KpiDefinitionPublic]
    points: list[KpiWeekPublic]


@router.get("/kpis", operation_id="getOpsKpis", response_model=KpisPublic, responses=ERRORS)
def get_kpis(
    engine: EngineDep,
    settings: SettingsDep,
    principal: Evaluator,
    weeks: Annotated[
        int, Query(ge=1, le=MAX_WEEKS, description="How many complete weeks, newest last.")
    ] = 12,
) -> dict[str, Any]:
    """Forecast error, fill rate, stock-outs, inventory turns, margin, conversion and average
    order value for each Monday-to-Sunday week before today; a KPI is null in a week with
    nothing to compute it from."""
    return weekly_kpis(engine, clock(engine, settings).today, weeks)
