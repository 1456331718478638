"""`aisle data load|feeds|export-feed`: daily feed files, checked before they land."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.commands.common import JsonFlag, iso_date, print_json, print_table, store
from retail.errors import AisleError


class Kind(StrEnum):
    sales = "sales"
    inventory = "inventory"
    catalog = "catalog"


class Status(StrEnum):
    accepted = "accepted"
    quarantined = "quarantined"


def load_cmd(
    kind: Annotated[Kind, typer.Argument(help="What the file holds.")],
    file: Annotated[Path, typer.Argument(help="The CSV file (formats in README, Data).")],
    as_json: JsonFlag = False,
) -> None:
    """Check a daily feed file (schema, ids, dates, volumes against each store's own history)
    and apply it whole, or quarantine it with the reason; exit 1 when quarantined."""
    from retail.feeds.load import QUARANTINED, load_feed

    with store() as engine:
        result = load_feed(engine, kind.value, file, loaded_by="cli")
    if as_json:
        print_json(result.as_dict())
    else:
        typer.echo(result.sentence)
    if result.status == QUARANTINED:
        raise typer.Exit(1)


def feeds_cmd(
    kind: Annotated[Kind | None, typer.Option(help="Only batches of this kind.")] = None,
    status: Annotated[Status | None, typer.Option(help="Only batches with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many of the newest.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The feed batches received, newest first, each with its status and reason."""
    from sqlalchemy.orm import Session

    from retail.feeds.load import list_batches
    from retail.schemas import FeedBatchPublic

    with store() as engine, Session(engine) as session:
        batches = [
            FeedBatchPublic.model_validate(b).model_dump()
            for b in list_batches(
                session,
                kind=kind.value if kind else None,
                status=status.value if status else None,
                limit=limit,
            )
        ]
    if as_json:
        print_json(batches)
        return
    table = Table(title="feed batches")
    for column in ("id", "kind", "status", "days", "rows", "received", "reason"):
        table.add_column(column, justify="right" if column in ("id", "rows") else "left")
    for b in batches:
        days = "" if b["first_day"] is None else str(b["first_day"])
        if b["last_day"] not in (None, b["first_day"]):
            days += f" to {b['last_day']}"
        table.add_row(
            str(b["id"]),
            b["kind"],
            b["status"],
            days,
            f"{b['rows_applied']:,}/{b['rows_read']:,}",
            b["received_at"].strftime("%Y-%m-%d %H:%M"),
            b["reason"] or "",
        )
    print_table(table)


def export_feed_cmd(
    kind: Annotated[Kind, typer.Argument(help="What to export.")],
    day: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="The day of sales to export (required for sales); the date a snapshot or a "
            "catalogue file carries (default: today by the store's clock).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the CSV here (default: standard output).")
    ] = None,
) -> None:
    """Write a feed file in the load format from what the store holds: a day's sales, the stock
    as it stands, the catalogue as it stands."""
    from retail.clock import today
    from retail.feeds.export import export_feed

    if kind is Kind.sales and day is None:
        raise AisleError("Which day's sales? Give --day YYYY-MM-DD.")
    with store() as engine:
        date = today(engine) if day is None else iso_date("--day", day)
        frame = export_feed(engine, kind.value, date)
    if output is None:
        frame.to_csv(sys.stdout, index=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(output, index=False)
    except OSError as exc:
        raise AisleError(f"Cannot write {output}: {exc.strerror}.") from None
    typer.echo(f"wrote {len(frame):,} {kind.value} rows to {output}")
