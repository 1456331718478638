"""A/B experiments over recommendation strategies, for evaluators (and admins): create a draft,
start it (it takes its share of its layer's traffic), stop it, list them, read a report.

Running and judging experiments is the evaluator's work, as release gates are: the planner and
the pricing manager decide proposals, not which recommender a shopper sees. An experiment
described wrongly (one arm, a weight of 0, traffic outside (0, 1]) is a 422 with the reason; a
request its state refuses (a taken name, starting one that is not a draft, a layer without
enough free traffic) is a 409.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import RoleGuard, principal_spec
from api.deps import EngineDep, InvalidRequest
from api.schemas import AUTH_ERRORS, error_responses
from ml_core.experiments import assignment
from ml_core.experiments.assignment import ExperimentStateError
from ml_core.experiments.report import describe_experiment, experiment_report, plan_before_start
from retail.errors import AisleError
from retail.identity import Principal

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

Evaluator = Annotated[Principal, Depends(RoleGuard(["evaluator"]))]
ExperimentKey = Annotated[
    str, Path(min_length=1, max_length=200, description="The experiment's id or name.")
]
Metric = Literal["ctr", "add_to_cart_rate", "conversion", "revenue_per_visit"]
Audience = Literal["live", "simulated"]
Fraction = Annotated[float, Field(allow_inf_nan=False)]
ERRORS = error_responses(*AUTH_ERRORS)
CREATE_ERRORS = error_responses(*AUTH_ERRORS, 409)
CHANGE_ERRORS = error_responses(*AUTH_ERRORS, 404, 409)
REPORT_ERRORS = error_responses(*AUTH_ERRORS, 400, 404)


class ArmSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    weight: Fraction = Field(description="Relative share of the experiment's units; above 0.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="What the arm serves: a model, rules or weights."
    )


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    layer: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        description="Experiments in one layer never share a unit.",
    )
    arms: list[ArmSpec] = Field(
        min_length=1, max_length=20, description="The first arm is the control."
    )
    traffic: Fraction = Field(default=1.0, description="Share of the layer's units, (0, 1].")
    audience: Audience = Field(
        default="live",
        description="live: the storefront's visitors; simulated: only the simulator's visits.",
    )
    primary_metric: Metric = "conversion"
    baseline_rate: Fraction | None = Field(
        default=None,
        description="The primary rate today: the plan when the store has too little history.",
    )
    minimum_uplift: Fraction = Field(
        default=0.05, description="The smallest relative change worth detecting (0.05: +5%)."
    )


class ExperimentPublic(BaseModel):
    id: str
    name: str
    layer: str
    status: Literal["draft", "running", "stopped"]
    audience: Audience
    traffic: float
    arms: list[ArmSpec]
    primary_metric: str
    planned_units: int | None = Field(description="Visits planned over all arms, if planned.")
    created_by: str
    created_at: str | None
    started_at: str | None
    stopped_at: str | None


class ArmResultPublic(BaseModel):
    metric: Metric
    arm: str
    control: str
    units: int
    visits: float
    value: float
    control_value: float
    adjusted_value: float = Field(description="The arm's value, CUPED-adjusted when `cuped`.")
    adjusted_control_value: float = Field(
        description="The control's value, CUPED-adjusted when `cuped`."
    )
    abs_diff: float = Field(description="adjusted_value - adjusted_control_value.")
    abs_ci: tuple[float, float]
    rel_diff: float | None = Field(description="adjusted_value / adjusted_control_value - 1.")
    rel_ci: tuple[float, float] | None = Field(
        description="Fieller's interval of rel_diff: excludes 0 exactly when p < alpha; null "
        "when the control is too uncertain to bound it."
    )
    p_value: float | None = Field(
        description="Null when the counts are too small for the test (`too_few` says why)."
    )
    significant: bool
    cuped: bool
    variance_reduction: float | None = Field(
        description="1 - Var(adjusted difference) / Var(plain difference)."
    )
    too_few: str | None = Field(
        default=None,
        description="Why the metric is not tested yet: too few events for the normal "
        "approximation; null when tested.",
    )


class GuardrailPublic(BaseModel):
    metric: Metric
    arm: str
    max_relative_drop: float
    rel_diff: float | None
    rel_ci: tuple[float, float] | None
    status: Literal["pass", "breach", "inconclusive"]


class PlanFigures(BaseModel):
    metric: Metric
    baseline_rate: float
    minimum_uplift: float
    alpha: float
    power: float
    method: str = Field(description="How the arms are compared: delta method over units[, CUPED].")
    visits_per_arm: int | None = Field(
        description="Visits per arm the plan needs with the report's method; None when no "
        "number of visits is enough (the returning customers' differences stay)."
    )
    visits_per_arm_without_cuped: int | None
    independent_visits_per_arm: int = Field(
        description="What a plan that takes every visit as independent would say."
    )
    design_effect: float = Field(
        description="Variance over what as many independent visits would give, at the plan's size."
    )
    cuped_variance_reduction: float | None
    smallest_detectable_uplift: float = Field(
        description="The smallest relative change the method detects however many visits."
    )


class PlannedPublic(PlanFigures):
    in_words: str = Field(description="The plan as a product manager reads it.")


class DraftPlanPublic(BaseModel):
    visits: int | None = Field(description="Visits planned over all arms; None: not planned.")
    method: Literal["history", "independent visits", "none"] = Field(
        description="history: the report's rule on the last 28 days of recommendations; "
        "independent visits: the baseline rate given, where the history is too short."
    )
    in_words: str
    planned: PlanFigures | None


class ExperimentCreated(ExperimentPublic):
    plan: DraftPlanPublic


class PointPublic(BaseModel):
    day: str
    arm: str
    visits: int
    value: float | None = Field(description="The primary metric over everything up to the day.")


class ReportPublic(BaseModel):
    experiment: ExperimentPublic
    control: str
    alpha: float
    units: dict[str, int]
    visits: dict[str, int]
    srm_p_value: float | None = Field(
        description="The sample-ratio check's p-value; null while an arm expects too few units "
        "to check (none logged yet included)."
    )
    srm_mismatch: bool
    mixed_units: int
    results: list[ArmResultPublic]
    guardrails: list[GuardrailPublic]
    planned: PlannedPublic | None
    over_time: list[PointPublic]
    note: str | None


def _invalid(exc: AisleError, loc: str = "body") -> InvalidRequest:
    return InvalidRequest(str(exc), loc=(loc,), kind="invalid")


def _conflict(exc: AisleError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


@router.post(
    "",
    operation_id="createExperiment",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentCreated,
    responses=CREATE_ERRORS,
)
def create_experiment(
    body: ExperimentCreate, engine: EngineDep, principal: Evaluator
) -> dict[str, Any]:
    """A draft experiment, planned from the store's last 28 days of recommendations; it assigns
    nobody until it is started."""
    try:
        plan = plan_before_start(
            engine,
            primary_metric=body.primary_metric,
            arms=len(body.arms),
            minimum_uplift=body.minimum_uplift,
            baseline_rate=body.baseline_rate,
        )
        row = assignment.create_experiment(
            engine,
            name=body.name,
            layer=body.layer,
            arms=[arm.model_dump() for arm in body.arms],
            traffic=body.traffic,
            primary_metric=body.primary_metric,
            audience=body.audience,
            created_by=principal_spec(principal),
            planned_units=plan.visits,
        )
    except ExperimentStateError as exc:
        raise _conflict(exc) from None
    except AisleError as exc:  # the description's fault, said in one sentence
        raise _invalid(exc) from None
    return {**describe_experiment(row), "plan": asdict(plan)}


@router.get(
    "", operation_id="listExperiments", response_model=list[ExperimentPublic], responses=ERRORS
)
def list_experiments(engine: EngineDep, principal: Evaluator) -> list[dict[str, Any]]:
    """Every experiment, newest first."""
    return [describe_experiment(e) for e in assignment.list_experiments(engine)]


@router.post(
    "/{key}/start",
    operation_id="startExperiment",
    response_model=ExperimentPublic,
    responses=CHANGE_ERRORS,
)
def start_experiment(key: ExperimentKey, engine: EngineDep, principal: Evaluator) -> dict[str, Any]:
    """Start assigning units: the experiment takes its share of its layer's free traffic."""
    try:
        return describe_experiment(assignment.start_experiment(engine, key))
    except ExperimentStateError as exc:
        raise _conflict(exc) from None


@router.post(
    "/{key}/stop",
    operation_id="stopExperiment",
    response_model=ExperimentPublic,
    responses=CHANGE_ERRORS,
)
def stop_experiment(key: ExperimentKey, engine: EngineDep, principal: Evaluator) -> dict[str, Any]:
    """Stop assigning units; the traffic it held goes back to its layer."""
    try:
        return describe_experiment(assignment.stop_experiment(engine, key))
    except ExperimentStateError as exc:
        raise _conflict(exc) from None


@router.get(
    "/{key}/report",
    operation_id="getExperimentReport",
    response_model=ReportPublic,
    responses=REPORT_ERRORS,
)
def get_experiment_report(
    key: ExperimentKey,
    engine: EngineDep,
    principal: Evaluator,
    alpha: Annotated[float, Query(ge=0.001, le=0.5, allow_inf_nan=False)] = 0.05,
    minimum_uplift: Annotated[float, Query(gt=-1, le=10, allow_inf_nan=False)] = 0.05,
    cuped: bool = True,
) -> dict[str, Any]:
    """Each arm against the control (the first arm): CTR, add-to-cart rate, conversion and
    revenue per visit with delta-method intervals and CUPED, the sample-ratio check, the
    guardrails, the planned sample size and the primary metric day by day."""
    report = experiment_report(engine, key, alpha=alpha, minimum_uplift=minimum_uplift, cuped=cuped)
    return report.as_dict()
