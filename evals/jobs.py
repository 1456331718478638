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

A run that dies (killed, crashed, its machine gone) cannot mark itself. Each run names its holder
(host, process id and start) and beats a heartbeat while it runs (`lease` in jobs.yaml); before
any job runs, a run whose process is gone on this host, or whose heartbeat stopped for longer
than the lease, is marked "died" with a sentence, and the challenger it left unjudged is retired
(it answers no alert), so the job is due again. One run of a kind runs at a time (a partial
unique index on `job_runs`): of two schedulers racing for the same retrain, one claims it and the
other is told it is running; a claim is checked again once held, so a retrain that finished
while another scheduler was deciding is not run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from evals import promotion
from evals.compare import load_versioned_yaml
from ml_core.forecasting.tiers import DriftRule, level_shift
from ml_core.registry import ArtifactRegistry
from retail.errors import AisleError
from retail.processes import holder, holder_gone
from retail.store.models import JobRun, MonitorAlert

JOBS_FILE = Path(__file__).with_name("jobs.yaml")
Source = Literal["drift", "performance"]
log = logging.getLogger(__name__)


class JobRunning(AisleError):
    """A run of the same model kind is running: this one was not started."""


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


class Lease(BaseModel):
    """How often a running job says it is alive, and how long a silence means it died (where
    its process cannot be looked at: another host)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_s: float = Field(default=10.0, gt=0)
    expires_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _beats_within(self) -> Self:
        if self.expires_s < 3 * self.heartbeat_s:
            raise ValueError("expires_s must be at least three heartbeats, or a slow beat kills")
        return self


class JobsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    drift: DriftRule = DriftRule()
    lease: Lease = Lease()
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
    # A version left by a run that died was never judged: it answers nothing.
    died = _died_runs(engine, kind)
    trained = [
        m.parameters.get("data_through")
        for m in registry.versions(kind)
        if m.parameters.get("job_run") not in died
    ]
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


@dataclass(frozen=True, slots=True)
class DuePass:
    """What `run_due` did: the runs it made, the runs it found dead and marked so, and a
    sentence for each due job it left to a run of its kind already running."""

    runs: list[dict[str, Any]]
    died: list[dict[str, Any]]
    skipped: list[str]


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
    recorded with its reason and raised; a run of the same kind still running raises
    `JobRunning` (after runs that died are marked so)."""
    jobs = jobs or load_jobs()
    spec = _spec(jobs, name)
    reap(engine, registry, jobs.lease)
    run_id = _claim(engine, name, spec, trigger, segment)
    if run_id is None:
        raise JobRunning(_running_sentence(engine, name, spec.kind))
    return _run_claimed(
        engine, registry, name, spec, run_id, jobs, rules, show_progress, trigger, as_of
    )


def _spec(jobs: JobsFile, name: str) -> JobSpec:
    spec = jobs.jobs.get(name)
    if spec is None:
        raise AisleError(f"No job {name!r} (known: {', '.join(jobs.jobs) or 'none'}).")
    return spec


def _run_claimed(
    engine: Engine,
    registry: ArtifactRegistry,
    name: str,
    spec: JobSpec,
    run_id: str,
    jobs: JobsFile,
    rules: Path,
    show_progress: bool,
    trigger: str,
    as_of: dt.date | None,
) -> dict[str, Any]:
    versions: list[str] = []
    try:
        with _Heartbeat(engine, run_id, jobs.lease.heartbeat_s):
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
        # A run that died left a challenger that looks like an answer until it is marked.
        reap(engine, registry, jobs.lease)
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
) -> DuePass:
    """Mark the runs that died, then run every job that is due (with its open alerts up to
    `as_of`), one after another; a job whose kind another scheduler is retraining is left to it.
    """
    jobs = jobs or load_jobs()
    died = reap(engine, registry, jobs.lease)
    runs: list[dict[str, Any]] = []
    skipped: list[str] = []
    retrained: set[str] = set()
    for due in due_jobs(engine, jobs, now or _now(), registry, as_of):
        spec = jobs.jobs[due.job]
        if spec.kind in retrained:  # one fresh challenger per kind per pass is enough
            continue
        trigger = f"schedule: {due.why}" if due.trigger is None else due.trigger.describe()
        segment = None if due.trigger is None else due.trigger.segment
        run_id = _claim(engine, due.job, spec, trigger, segment)
        if run_id is None:
            skipped.append(_running_sentence(engine, due.job, spec.kind))
            retrained.add(spec.kind)
            continue
        # Held now, so no run of the kind can start or end unseen: if one ended between the
        # look above and the claim, the job may no longer be due.
        if due.job not in {d.job for d in due_jobs(engine, jobs, now or _now(), registry, as_of)}:
            _release(engine, run_id)
            continue
        runs.append(
            _run_claimed(
                engine, registry, due.job, spec, run_id, jobs, rules, show_progress, trigger, as_of
            )
        )
        retrained.add(spec.kind)
    return DuePass(runs, died, skipped)


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


def reap(
    engine: Engine, registry: ArtifactRegistry, lease: Lease, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Mark every running run that died as "died", with a sentence saying how it was known,
    and retire the challengers it left unjudged; the rows marked. Each is marked by one caller
    only, however many look at once (the update is conditional on it still running)."""
    now = now or _now()
    with engine.connect() as conn:
        running = list(
            conn.execute(select(JobRun.__table__).where(JobRun.status == "running")).mappings()
        )
    marked: list[dict[str, Any]] = []
    for row in running:
        why = _death(row, lease, now)
        if why is None:
            continue
        left = _unjudged(registry, row["kind"], row["id"])
        message = f"Died mid-run: {why}" + (
            f" Its unjudged challenger {', '.join(left)} was retired; the job is due again."
            if left
            else " The job is due again."
        )
        with engine.begin() as conn:
            won = conn.execute(
                update(JobRun)
                .where(JobRun.id == row["id"], JobRun.status == "running")
                .values(status="died", ended_at=now, message=message)
            ).rowcount
        if not won:  # another scheduler marked it first
            continue
        for version in left:
            registry.set_stage(
                row["kind"],
                version,
                "retired",
                by="jobs:reaper",
                reason=f"its job run {row['id']} died before the gate judged it",
            )
        marked.append(describe_run(engine, row["id"]))
    return marked


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
            lineage={"job_run": run_id},
        )
        versions.append(trained.model_version)
        _record_versions(engine, run_id, versions)
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


def _claim(
    engine: Engine, name: str, spec: JobSpec, trigger: str, segment: str | None
) -> str | None:
    """Record a run of `name` as running, held by this process; None when a run of its kind is
    running (the database's partial unique index refuses a second: exactly one claim wins)."""
    run_id = uuid.uuid4().hex
    now = _now()
    try:
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
                    "started_at": now,
                    "holder": holder(),
                    "heartbeat_at": now,
                    "versions": [],
                    "decision": {},
                    "message": "",
                },
            )
    except IntegrityError:
        return None
    return run_id


def _release(engine: Engine, run_id: str) -> None:
    """Forget a claim that ran nothing (its job was no longer due once held)."""
    with engine.begin() as conn:
        conn.execute(delete(JobRun).where(JobRun.id == run_id, JobRun.status == "running"))


def _running_sentence(engine: Engine, name: str, kind: str) -> str:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(JobRun.__table__).where(JobRun.kind == kind, JobRun.status == "running")
            )
            .mappings()
            .first()
        )
    if row is None:  # it ended between the refused claim and this look
        return f"{name}: not run; a run of {kind} was running and has just ended."
    who = row["holder"] or {}
    where = f" by process {who['pid']} on {who['host']}" if who.get("pid") else ""
    return (
        f"{name}: not run; {row['job']} (run {row['id'][:12]}) is retraining {kind}{where} "
        f"since {_utc(row['started_at']):%Y-%m-%d %H:%M:%S} UTC."
    )


def _death(row: Any, lease: Lease, now: dt.datetime) -> str | None:
    """How a running run is known to have died, in a sentence; None while it may be alive."""
    who = row["holder"] or {}
    seen = _utc(row["heartbeat_at"] or row["started_at"])
    last = f"{seen:%Y-%m-%d %H:%M:%S} UTC"
    if holder_gone(who):
        return f"its process {who['pid']} on {who['host']} is gone (last heartbeat {last})."
    silent = (now - seen).total_seconds()
    if silent > lease.expires_s:
        where = f"process {who['pid']} on {who['host']}" if who.get("pid") else "its process"
        return (
            f"no heartbeat from {where} since {last}, {silent:.0f} s ago, past its lease of "
            f"{lease.expires_s:.0f} s."
        )
    return None


def _unjudged(registry: ArtifactRegistry, kind: str, run_id: str) -> list[str]:
    """The versions the run `run_id` trained that are still candidate or shadow."""
    stages = registry.ledger(kind).stages
    return [
        m.version
        for m in registry.versions(kind)
        if m.parameters.get("job_run") == run_id
        and stages.get(m.version, "candidate") in ("candidate", "shadow")
    ]


def _died_runs(engine: Engine, kind: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.scalars(select(JobRun.id).where(JobRun.kind == kind, JobRun.status == "died"))
        )


class _Heartbeat:
    """While the block runs, a thread stamps the run's `heartbeat_at` every `every_s` seconds.
    A missed beat (the database busy) is only logged: the lease outlasts several."""

    def __init__(self, engine: Engine, run_id: str, every_s: float) -> None:
        self.engine, self.run_id, self.every_s = engine, run_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}")
        self._thread.daemon = True

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(JobRun)
                        .where(JobRun.id == self.run_id, JobRun.status == "running")
                        .values(heartbeat_at=_now())
                    )
            except SQLAlchemyError as exc:
                log.warning("job run %s: heartbeat missed (%s)", self.run_id, exc)


def _record_versions(engine: Engine, run_id: str, versions: list[str]) -> None:
    """Name the run's versions on its row as soon as they exist (a run that dies later still
    says what it made)."""
    with engine.begin() as conn:
        conn.execute(update(JobRun).where(JobRun.id == run_id).values(versions=list(versions)))


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
    return None if last is None else _utc(last)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no zone; stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
