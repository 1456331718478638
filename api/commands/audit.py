"""`aisle audit`: check the audit log's hash chain and read its events."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.commands.common import JsonFlag, print_json, print_table, store

audit_app = typer.Typer(help="The audit log of every tool call and decision.", no_args_is_help=True)


@audit_app.command("verify")
def verify_cmd(as_json: JsonFlag = False) -> None:
    """Check the hash chain and its signed checkpoints; exit 1 naming every event edited,
    deleted, reordered, forged or rewritten."""
    from retail.audit import verify_chain
    from retail.settings import get_settings

    with store() as engine:
        report = verify_chain(engine, settings=get_settings())
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        if report.checkpoints:
            signed = (
                f"{report.checkpoints} signed checkpoint(s) hold, the last at event "
                f"{report.checkpoint_seq}"
            )
        else:
            signed = "no signed checkpoint yet"
        if report.unsigned_events:
            signed += (
                f"; {report.unsigned_events} later event(s) rest on their links only until the "
                "next checkpoint"
            )
        typer.echo(
            f"audit chain intact: {report.events} events, head {report.head_hash[:16]}; {signed}"
        )
    else:
        for problem in report.problems:
            typer.echo(f"{problem.where}: {problem.problem}", err=True)
        typer.echo(f"audit chain BROKEN: {len(report.problems)} problem(s)", err=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("log")
def log_cmd(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest events.")] = 20,
    conversation: Annotated[
        str | None, typer.Option(help="Only the events of this conversation.")
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(help="Only the events recorded inside this OpenTelemetry trace (its id)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The newest events, with OpenTelemetry GenAI attribute names in --json."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from retail.store.models import AuditEvent
    from tools.audit import otel_attributes

    with store() as engine, Session(engine) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if conversation is not None:
            query = query.where(AuditEvent.conversation_id == conversation)
        if trace is not None:
            query = query.where(AuditEvent.detail["trace_id"].as_string() == trace.lower())
        events = list(session.scalars(query))
    if as_json:
        print_json(
            [
                {
                    **otel_attributes(e),
                    "time": e.occurred_at,
                    "event_type": e.event_type,
                    "arguments": e.arguments,
                    "result_digest": e.result_digest,
                    "latency_ms": e.latency_ms,
                    "brain": e.brain,
                    "model_version": e.model_version,
                    "approval_id": e.approval_id,
                    "hash": e.hash,
                }
                for e in events
            ]
        )
        return
    table = Table(title="audit log (newest first)")
    for column in ("seq", "time", "principal", "event", "tool", "status", "ms"):
        table.add_column(column, justify="right" if column in ("seq", "ms") else "left")
    for e in events:
        table.add_row(
            str(e.seq),
            e.occurred_at[:19],
            f"{e.role}:{e.principal_id}",
            e.event_type,
            e.tool_name or "-",
            e.status,
            "-" if e.latency_ms is None else f"{e.latency_ms:.1f}",
        )
    print_table(table)
