"""Evaluation runs for evaluators: the runs kept under the var dir, each one's summary and its
HTML report. Runs are made by `aisle eval run` (minutes of work), not over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, Response

from api.auth import RoleGuard
from api.deps import SettingsDep
from api.schemas import AUTH_ERRORS, EvalRunPublic, error_responses
from evals.runs import RUN_ID_PATTERN, list_runs, run_folder, run_summary
from retail.errors import NotFoundError
from tools.base import Principal

router = APIRouter(prefix="/v1/evals/runs", tags=["evals"])

Evaluator = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN)]
ERRORS = error_responses(*AUTH_ERRORS)
ONE_RUN_ERRORS = error_responses(*AUTH_ERRORS, 404)


@router.get("", operation_id="listEvalRuns", response_model=list[EvalRunPublic], responses=ERRORS)
def list_eval_runs(settings: SettingsDep, principal: Evaluator) -> list[dict[str, Any]]:
    """Every evaluation run kept under the var dir, newest first."""
    return [
        {
            **run,
            "report_url": f"{router.prefix}/{run['run_id']}/report" if run["has_report"] else None,
        }
        for run in list_runs(settings)
    ]


@router.get("/{run_id}", operation_id="getEvalRun", responses=ONE_RUN_ERRORS)
def get_eval_run(run_id: RunId, settings: SettingsDep, principal: Evaluator) -> dict[str, Any]:
    """The run's whole summary: the run, each brain's figures, the model suites, the goals."""
    return run_summary(settings, run_id)


@router.get(
    "/{run_id}/report",
    operation_id="getEvalReport",
    # Only the report itself is HTML; its errors are JSON like every other route's.
    response_class=Response,
    responses={
        200: {
            "description": "The report.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **ONE_RUN_ERRORS,
    },
)
def get_eval_report(run_id: RunId, settings: SettingsDep, principal: Evaluator) -> HTMLResponse:
    """The run's HTML report (tables and plots), as `aisle eval run` wrote it."""
    report = run_folder(settings, run_id) / "report.html"
    if not report.is_file():
        raise NotFoundError(f"Evaluation run {run_id!r} has no report.")
    return HTMLResponse(report.read_text(encoding="utf-8"))
