"""`aisle replenish ...`: reorder proposals from the forecast and the inventory policy."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.commands.common import JsonFlag, print_json, store

if TYPE_CHECKING:
    from approvals.records import RecordSummary

replenish_app = typer.Typer(
    help="Plan replenishment: write reorder proposals.", no_args_is_help=True
)
StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Plan one store (its id, e.g. S001); default: all stores."),
]
LimitOption = Annotated[
    int | None,
    typer.Option(min=1, help="Review at most this many SKU-locations (in id order)."),
]


COUNT_LABELS = {
    "proposals_written": "proposals written",
    "proposals_unchanged": "proposals already open (unchanged)",
    "already_decided": "already approved (not proposed again)",
    "proposals_superseded": "older proposals superseded",
    "proposals_withdrawn": "older proposals withdrawn (no change proposed now)",
}


def recorded_counts(recorded: RecordSummary) -> dict[str, int]:
    """What recording a plan did, as the planning commands print it."""
    return {
        "proposals_written": recorded.written,
        "proposals_unchanged": recorded.unchanged,
        "already_decided": recorded.already_decided,
        "proposals_superseded": recorded.superseded,
        "proposals_withdrawn": recorded.withdrawn,
    }


@replenish_app.command("plan")
def plan(
    store_id: StoreOption = None,
    limit: LimitOption = None,
    review_days: Annotated[
        int, typer.Option(min=1, max=56, help="Days between reviews (the review period).")
    ] = 7,
    as_json: JsonFlag = False,
) -> None:
    """Review stock against the forecast and write purchase-order proposals (never orders)."""
    from approvals.purchase_orders import KIND
    from approvals.records import record_plan_committed
    from ml_core.inventory.planning import FALLBACK_SOURCE, PROPOSER, plan_replenishment
    from retail.settings import get_settings

    with store() as engine:
        summary = plan_replenishment(
            engine,
            artifacts=get_settings().var_dir / "artifacts",
            store_id=store_id,
            limit=limit,
            review_days=review_days,
        )
        recorded = record_plan_committed(engine, KIND, summary.planned, proposer=PROPOSER)
    if as_json:
        plan = asdict(summary)
        del plan["planned"]
        proposals = [
            {
                **asdict(r),
                "supplier_id": p.supplier_id,
                "location_id": p.location_id,
                "lines": p.lines,
                "units": p.units,
                "value": p.value,
            }
            for p, r in zip(summary.planned, recorded.recorded, strict=True)
        ]
        print_json({**plan, **recorded_counts(recorded), "proposals": proposals})
        return
    table = Table(title=f"replenishment plan as of {summary.as_of}", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("locations", ", ".join(summary.locations))
    table.add_row("SKU-locations reviewed", f"{summary.skus_reviewed:,}")
    if summary.skus_without_supplier:
        table.add_row("  without a supplier (skipped)", f"{summary.skus_without_supplier:,}")
    table.add_row("lines proposed", f"{summary.lines_proposed:,}")
    for label, count in recorded_counts(recorded).items():
        table.add_row(COUNT_LABELS[label], f"{count:,}")
    table.add_row("total value", f"{summary.total_value:,.2f}")
    for source, count in sorted(summary.forecast_sources.items()):
        label = "fallback (8-week day-of-week mean)" if source == FALLBACK_SOURCE else source
        table.add_row(f"forecast: {label}", f"{count:,}")
    Console().print(table)
    typer.echo("proposals only: a planner approves them before any purchase order is made")


@replenish_app.command("run")
def run(
    store_id: StoreOption = None,
    limit: LimitOption = None,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Id for the run (default: a new one).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the replenishment agent: it finds SKUs at risk, proposes purchase orders and waits
    for a planner's decisions (aisle proposals approve|edit|reject); nothing is ordered yet."""
    from agents.replenishment import ReplenishmentState
    from api.commands.proposals import run_until_decisions

    run_until_decisions(
        "purchase_order", ReplenishmentState(location_id=store_id, limit=limit), thread, as_json
    )
