"""Retraining as jobs: `aisle jobs run NAME|due`, `aisle jobs list`, `aisle jobs trigger`.

A retraining job (defined in `evals/jobs.yaml`) trains a challenger of its kind as a candidate,
shadows it, and promotes it only through the kind's gate (`evals.promotion`); a refused
challenger is retired with the gate's reason. Each run is a `job_runs` row: what started it
(the schedule, a person, a drift alert, a performance breach), its status, start and end, the
versions it produced and the gate's decision.

Schedules are tiered by how fast the panel's series drift (`ml_core.forecasting.tiers`): a job
for a tier is due when its `every_days` have passed since its kind was last retrained (by any
job) and the panel holds at least `min_series` series of that tier: weekly while some series drift
fast, monthly otherwise. A drift or performance trigger
(`RetrainTrigger`, e.g. from the drift monitor's alert) runs the job of its kind that declares
that source in `triggered_by`, at once.

A job without `every_days` runs only on its triggers: it is due while an open alert of a source
it answers exists (`open_alerts`: the monitor raised it on a day of sales that no version of the
kind has been trained through yet). `aisle jobs run due --as-of DAY` then trains its challenger on
the sales up to DAY, and the alert's sentence is the run's trigger; a challenger refused by the
gate answers the alert too (the gate's no is a decision), so the same day is not retrained twice.

The forecaster in the registry covers the whole panel, so a retrain refits every series; the
tier decides how often, and a trigger's segment is recorded as what prompted it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from evals import promotion
from evals.compare import load_versioned_yaml
from ml_core.forecasting.tiers import DriftRule, level_shift
from ml_core.registry import ArtifactRegistry
from retail.errors import AisleError
from retail.store.models import JobRun, MonitorAlert

JOBS_FILE = Path(__file__).with_name("jobs.yaml")
Source = Literal["drift", "performance"]


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Only the forecaster is retrained by a job so far; the recommender retrains by hand.
    kind: Literal["forecaster"]
    # None: the job runs only when one of its `triggered_by` sources has an open alert.
    every_days: int | None = Field(default=None, ge=1)
    tier: Literal["fast", "stable"] | None = None
    min_series: int = Field(default=1, ge=1)
    model: str = "seasonal_naive"
    horizon: int = Field(default=28, ge=1)
    history_days: int | None = Field(default=None, ge=28)
    triggered_by: list[Source] = []

    @model_validator(mode="after")
    def _runs_at_all(self) -> Self:
        if self.every_days is None and not self.triggered_by:
            raise ValueError("a job needs every_days or triggered_by, or it never runs")
        return self


class JobsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    drift: DriftRule = DriftRule()
    jobs: dict[str, JobSpec]


def load_jobs(path: Path = JOBS_FILE) -> JobsFile:
    return load_versioned_yaml(path, JobsFile, "jobs file")


@dataclass(frozen=True, slots=True)
class RetrainTrigger:
    """Why a model should be retrained now: a drift alert or a performance breach on `segment`
    (a category, store or channel) of the model `kind`."""

    kind: str
    source: Source
    reason: str
    segment: str | None = None

    def describe(self) -> str:
        """The job run's trigger, as `job_runs` records it."""
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Due:
    job: str
    why: str
    trigger: RetrainTrigger | None = None
    """The open alert that makes a trigger-only job due."""


# Which monitor alerts each trigger source answers (`ml_core.monitoring.alerts`).
_ALERT_KIND: dict[Source, str] = {"drift": "drift", "performance": "forecast"}


def tier_counts(engine: Engine, rule: DriftRule) -> dict[str, int]:
    """How many of the store's series are in each drift tier now."""
    from ml_core.forecasting.store_panel import sales_panel

    data, _ = sales_panel(engine)
    tiers = level_shift(data.frame, rule)["tier"]
    return {str(k): int(v) for k, v in tiers.value_counts().items()}


def open_alerts(
    engine: Engine,
    registry: ArtifactRegistry,
    kind: str,
    source: Source,
    as_of: dt.date | None = None,
) -> list[MonitorAlert]:
    """The `source` alerts asking for a retrain of `kind`, raised up to `as_of`, on a day of sales
    after the last day any version of `kind` was trained through: no version has seen the data
    that raised them. The strongest first."""
    trained = [m.parameters.get("data_through") for m in registry.versions(kind)]
    through = max((dt.date.fromisoformat(d) for d in trained if d), default=None)
    query = select(MonitorAlert).where(
        MonitorAlert.kind == _ALERT_KIND[source], MonitorAlert.retrain_kind == kind
    )
    if through is not None:
        query = query.where(MonitorAlert.as_of > through)
    if as_of is not None:
        query = query.where(MonitorAlert.as_of <= as_of)
    with Session(engine) as session:
        return list(session.scalars(query.order_by(MonitorAlert.p_value, MonitorAlert.id)))


def due_jobs(
    engine: Engine,
    jobs: JobsFile,
    now: dt.datetime,
    registry: ArtifactRegistry | None = None,
    as_of: dt.date | None = None,
) -> list[Due]:
    """The jobs whose schedule has come round and whose tier is in the panel, and (with the
    `registry`) the trigger-only jobs with an open alert up to `as_of`, with why."""
    counts: dict[str, int] | None = None
    due: list[Due] = []
    for name, spec in jobs.jobs.items():
        if spec.every_days is None:
            alert = _alert_trigger(engine, registry, spec, as_of) if registry else None
            if alert is not None:
                due.append(Due(name, alert.reason, alert))
            continue
        last = _last_retrain(engine, spec.kind)
        if last is not None and now - last < dt.timedelta(days=spec.every_days):
            continue
        since = "never run" if last is None else f"last run {last:%Y-%m-%d}"
        if spec.tier is None:
            due.append(Due(name, f"every {spec.every_days} days, {since}"))
            continue
        if counts is None:
            counts = tier_counts(engine, jobs.drift)
        found = counts.get(spec.tier, 0)
        if found >= spec.min_series:
            due.append(
                Due(name, f"every {spec.every_days} days, {since}; {found} {spec.tier} series")
            )
    return due


def run_job(
    engine: Engine,
    registry: ArtifactRegistry,
    name: str,
    *,
    trigger: str = "manual",
    segment: str | None = None,
    jobs: JobsFile | None = None,
    rules: Path = promotion.PROMOTION_FILE,
    show_progress: bool = True,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Run the job `name` now and record it; the run's row as a dict. Its challenger is trained
    on the sales up to `as_of` (default: all) and judged by the promotion `rules`. A failure is
    recorded with its reason and raised."""
    jobs = jobs or load_jobs()
    spec = jobs.jobs.get(name)
    if spec is None:
        raise AisleError(f"No job {name!r} (known: {', '.join(jobs.jobs) or 'none'}).")
    run_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(
            insert(JobRun),
            {
                "id": run_id,
                "job": name,
                "kind": spec.kind,
                "segment": segment,
                "trigger": trigger[:200],
                "status": "running",
                "started_at": _now(),
                "versions": [],
                "decision": {},
                "message": "",
            },
        )
    versions: list[str] = []
    try:
        decision = _retrain(
            engine, registry, name, spec, run_id, versions, rules, show_progress, trigger, as_of
        )
    except Exception as exc:
        _finish(engine, run_id, "failed", versions, {}, str(exc) or type(exc).__name__)
        raise
    _finish(engine, run_id, "succeeded", versions, decision, decision["reason"])
    return describe_run(engine, run_id)


def run_named(
    engine: Engine,
    registry: ArtifactRegistry,
    name: str,
    *,
    jobs: JobsFile | None = None,
    rules: Path = promotion.PROMOTION_FILE,
    show_progress: bool = True,
    as_of: dt.date | None = None,
) -> dict[str, Any] | None:
    """`aisle jobs run NAME`: a scheduled job runs now, by hand; a trigger-only job runs only
    while an open alert it answers exists (None, and nothing recorded, when there is none)."""
    jobs = jobs or load_jobs()
    spec = jobs.jobs.get(name)
    found = None
    if spec is not None and spec.every_days is None:
        found = _alert_trigger(engine, registry, spec, as_of)
        if found is None:
            return None
    return run_job(
        engine,
        registry,
        name,
        trigger="manual" if found is None else found.describe(),
        segment=None if found is None else found.segment,
        jobs=jobs,
        rules=rules,
        show_progress=show_progress,
        as_of=as_of,
    )


def run_due(
    engine: Engine,
    registry: ArtifactRegistry,
    *,
    jobs: JobsFile | None = None,
    now: dt.datetime | None = None,
    rules: Path = promotion.PROMOTION_FILE,
    show_progress: bool = True,
    as_of: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Run every job that is due (with its open alerts up to `as_of`), one after another."""
    jobs = jobs or load_jobs()
    runs: list[dict[str, Any]] = []
    retrained: set[str] = set()
    for due in due_jobs(engine, jobs, now or _now(), registry, as_of):
        kind = jobs.jobs[due.job].kind
        if kind in retrained:  # one fresh challenger per kind per pass is enough
            continue
        runs.append(
            run_job(
                engine,
                registry,
                due.job,
                trigger=f"schedule: {due.why}" if due.trigger is None else due.trigger.describe(),
                segment=None if due.trigger is None else due.trigger.segment,
                jobs=jobs,
                rules=rules,
                show_progress=show_progress,
                as_of=as_of,
            )
        )
        retrained.add(kind)
    return runs


def on_trigger(
    engine: Engine,
    registry: ArtifactRegistry,
    trigger: RetrainTrigger,
    *,
    jobs: JobsFile | None = None,
    rules: Path = promotion.PROMOTION_FILE,
    show_progress: bool = True,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Run the retraining job of `trigger.kind` that answers `trigger.source`, now: the entry
    point for the drift monitor's alerts and performance breaches."""
    jobs = jobs or load_jobs()
    for name, spec in jobs.jobs.items():
        if spec.kind == trigger.kind and trigger.source in spec.triggered_by:
            return run_job(
                engine,
                registry,
                name,
                trigger=trigger.describe(),
                segment=trigger.segment,
                jobs=jobs,
                rules=rules,
                show_progress=show_progress,
                as_of=as_of,
            )
    raise AisleError(
        f"No job retrains {trigger.kind!r} on {trigger.source}; add `triggered_by: "
        f"[{trigger.source}]` to one in {JOBS_FILE.name}."
    )


def list_runs(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The newest job runs first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(JobRun.__table__).order_by(JobRun.started_at.desc()).limit(limit)
        ).mappings()
        return [dict(row) for row in rows]


def describe_run(engine: Engine, run_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(JobRun.__table__).where(JobRun.id == run_id)).mappings().one()
    return dict(row)


def _retrain(
    engine: Engine,
    registry: ArtifactRegistry,
    name: str,
    spec: JobSpec,
    run_id: str,
    versions: list[str],
    rules: Path,
    show_progress: bool,
    trigger: str,
    as_of: dt.date | None,
) -> dict[str, Any]:
    from ml_core.forecasting.backtest import resolve_models
    from ml_core.forecasting.models import MODELS
    from ml_core.forecasting.run import run_store_forecast

    by = f"job:{name}"
    model = resolve_models([spec.model], MODELS)[spec.model]()
    progress = Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task(f"{name}: training the challenger", total=3)
        trained = run_store_forecast(
            engine,
            registry,
            model,
            horizon=spec.horizon,
            history_days=spec.history_days,
            stage="candidate",
            by=by,
            as_of=as_of,
        )
        versions.append(trained.model_version)
        progress.update(task, advance=1, description=f"{name}: shadowing {trained.model_version}")
        # Every stage change of this challenger is made by this job, through the promotion rules.
        move = partial(promotion.promote, engine, registry, spec.kind, trained.model_version, by=by)
        # The stage history says why the job ran (the schedule, a person, the alert's sentence).
        why = f"job run {run_id} ({trigger})"
        if registry.ledger(spec.kind).champion is not None:
            move(to="shadow", reason=f"challenger of {why}")
        progress.update(task, advance=1, description=f"{name}: scoring against the champion")
        try:
            outcome = move(reason=f"passed the promotion gate in {why}", rules=rules)
        except promotion.PromotionRefused as refused:
            move(to="retired", reason=f"refused by the promotion gate in {why}")
            progress.update(task, advance=1, description=f"{name}: refused by the gate")
            return {"promoted": False, "stage": "retired", "reason": str(refused)}
        progress.update(task, advance=1, description=f"{name}: promoted")
    return {
        "promoted": True,
        "stage": outcome.stage,
        "previous": outcome.previous,
        "basis": outcome.basis,
        "gates": [g.model_dump() for g in outcome.gates],
        "scores": outcome.scores,
        "reason": (
            f"{trained.model_version} promoted to champion"
            + (f" over {outcome.previous}" if outcome.previous else " (first champion)")
            + (f", scored on {outcome.basis}" if outcome.basis else "")
        ),
    }


def _finish(
    engine: Engine,
    run_id: str,
    status: str,
    versions: list[str],
    decision: dict[str, Any],
    message: str,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(
                status=status,
                ended_at=_now(),
                versions=versions,
                decision=decision,
                message=message,
            )
        )


def _alert_trigger(
    engine: Engine, registry: ArtifactRegistry, spec: JobSpec, as_of: dt.date | None
) -> RetrainTrigger | None:
    """The trigger of the strongest open alert a trigger-only job answers, if any."""
    for source in spec.triggered_by:
        alerts = open_alerts(engine, registry, spec.kind, source, as_of)
        if alerts:
            first = alerts[0]
            more = f" (+{len(alerts) - 1} more open)" if len(alerts) > 1 else ""
            return RetrainTrigger(
                spec.kind,
                source,
                f"{first.message}{more}",
                first.segment.get("category") or first.segment.get("location"),
            )
    return None


def _last_retrain(engine: Engine, kind: str) -> dt.datetime | None:
    """When a job last retrained `kind` successfully, whichever job it was."""
    with engine.connect() as conn:
        last = conn.scalar(
            select(JobRun.started_at)
            .where(JobRun.kind == kind, JobRun.status == "succeeded")
            .order_by(JobRun.started_at.desc())
            .limit(1)
        )
    if last is not None and last.tzinfo is None:  # SQLite keeps no zone; stored as UTC
        last = last.replace(tzinfo=dt.UTC)
    return last


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
