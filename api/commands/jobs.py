"""`aisle jobs ...`: batch jobs (model retraining): run one or every due one, trigger one on a
drift alert or performance breach, list the schedules and the runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.commands.common import (
    JsonFlag,
    artifact_registry,
    iso_date,
    print_json,
    print_table,
    store,
)

jobs_app = typer.Typer(
    help="Retraining jobs: run NAME|due, trigger, list.",
    no_args_is_help=True,
)
QuietFlag = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]
RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="A promotion rules file (default: evals/promotion.yaml)."),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="Train on the sales up to this day, and answer the alerts raised up to it "
        "(default: all).",
    ),
]


def _day(text: str | None) -> dt.date | None:
    return None if text is None else iso_date("--as-of", text)


@jobs_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="A job from evals/jobs.yaml, or `due`.")],
    as_of: AsOf = None,
    rules: RulesOption = None,
    quiet: QuietFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Run a job now, or with `due` every job whose schedule has come round or whose trigger
    has an open alert. A job that runs only on its triggers runs only while one is open."""
    from evals import jobs, promotion

    rules = rules or promotion.PROMOTION_FILE
    day = _day(as_of)
    notes: list[str] = []
    with store() as engine:
        if name == "due":
            done = jobs.run_due(
                engine, artifact_registry(), rules=rules, show_progress=not quiet, as_of=day
            )
            runs = done.runs
            notes = [_died_note(run) for run in done.died] + done.skipped
            empty = "no job is due" if not done.skipped else "no job run"
        else:
            run = jobs.run_named(
                engine, artifact_registry(), name, rules=rules, show_progress=not quiet, as_of=day
            )
            runs = [] if run is None else [run]
            empty = f"{name}: no open alert it answers, nothing to retrain"
    # Said before the runs (on stderr under --json, whose stdout stays the list of runs).
    for note in notes:
        typer.echo(note, err=as_json)
    _print_runs(runs, as_json, empty=empty)


def _died_note(run: dict[str, Any]) -> str:
    return f"Run {run['id'][:12]} of {run['job']} marked died. {run['message']}"


@jobs_app.command("trigger")
def trigger_cmd(
    kind: Annotated[str, typer.Argument(help="The model kind to retrain, e.g. forecaster.")],
    source: Annotated[
        str, typer.Option("--source", help="What fired: drift or performance.")
    ] = "drift",
    reason: Annotated[str, typer.Option("--reason", help="The alert, in a sentence.")] = "",
    segment: Annotated[
        str | None, typer.Option("--segment", help="The segment it fired on (category, store).")
    ] = None,
    as_of: AsOf = None,
    rules: RulesOption = None,
    quiet: QuietFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Retrain KIND now because of a drift alert or a performance breach."""
    from evals import jobs, promotion
    from retail.errors import AisleError

    if source not in ("drift", "performance"):
        raise AisleError(f"Unknown trigger source {source!r}: choose drift or performance.")
    trigger = jobs.RetrainTrigger(
        kind=kind,
        source=source,  # type: ignore[arg-type]  # checked above
        reason=reason or f"{source} alert",
        segment=segment,
    )
    with store() as engine:
        run = jobs.on_trigger(
            engine,
            artifact_registry(),
            trigger,
            rules=rules or promotion.PROMOTION_FILE,
            show_progress=not quiet,
            as_of=_day(as_of),
        )
    _print_runs([run], as_json, empty="")


@jobs_app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The jobs with their schedules and whether they are due, then the newest runs."""
    from evals import jobs

    spec = jobs.load_jobs()
    with store() as engine:
        registry = artifact_registry()
        # A run still shown as running whose process died is marked so before it is listed.
        jobs.reap(engine, registry, spec.lease)
        now = dt.datetime.now(dt.UTC)
        due = {d.job: d.why for d in jobs.due_jobs(engine, spec, now, registry)}
        runs = jobs.list_runs(engine, limit)
    schedules: list[dict[str, Any]] = [
        {
            "job": name,
            "kind": job.kind,
            "tier": job.tier,
            "every_days": job.every_days,
            "model": job.model,
            "triggered_by": job.triggered_by,
            "due": due.get(name),
        }
        for name, job in spec.jobs.items()
    ]
    if as_json:
        print_json({"jobs": schedules, "runs": runs})
        return
    table = Table(title="jobs")
    for column in ("job", "kind", "tier", "every", "model", "triggered by", "due"):
        table.add_column(column)
    for row in schedules:
        table.add_row(
            row["job"],
            row["kind"],
            row["tier"] or "-",
            "on trigger" if row["every_days"] is None else f"{row['every_days']} days",
            row["model"],
            ", ".join(row["triggered_by"]) or "-",
            row["due"] or "no",
        )
    print_table(table)
    _print_runs(runs, False, empty="no runs yet")


def _print_runs(runs: list[dict[str, Any]], as_json: bool, *, empty: str) -> None:
    if as_json:
        print_json(runs)
        return
    if not runs:
        typer.echo(empty)
        return
    table = Table(title="job runs")
    for column in ("run", "job", "trigger", "status", "started", "ended", "versions", "decision"):
        table.add_column(column)
    for run in runs:
        decision = run["decision"] or {}
        verdict = (
            "-"
            if "promoted" not in decision
            else ("promoted" if decision["promoted"] else "refused")
        )
        table.add_row(
            run["id"][:12],
            run["job"],
            run["trigger"],
            run["status"],
            str(run["started_at"])[:19],
            str(run["ended_at"] or "")[:19],
            ", ".join(run["versions"]) or "-",
            f"{verdict}: {run['message']}" if run["message"] else verdict,
        )
    print_table(table)
