"""`aisle pricing ...`: elasticities from any sales CSV, the store's elasticity model trained into
the registry, markdown proposals for the store, and the pricing agent's run up to the pricing
manager's decisions."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.commands.common import (
    JsonFlag,
    artifact_registry,
    print_json,
    print_table,
    publish_outputs,
    registered_as,
    store,
)

pricing_app = typer.Typer(help="Price elasticities and markdown proposals.", no_args_is_help=True)


class ObjectiveChoice(StrEnum):
    margin = "margin"
    revenue = "revenue"
    clearance = "clearance"


@pricing_app.command("elasticity")
def elasticity_cmd(
    data: Annotated[Path, typer.Option("--data", help="Long CSV: one row per item and period.")],
    id_col: Annotated[str, typer.Option("--id-col", help="Column naming the item.")],
    time_col: Annotated[str, typer.Option("--time-col", help="Column holding the date.")],
    qty_col: Annotated[str, typer.Option("--qty-col", help="Column of units sold.")],
    price_col: Annotated[str, typer.Option("--price-col", help="Column of the price paid.")],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where elasticities.csv and summary.json go.")
    ],
    group_col: Annotated[
        str | None,
        typer.Option("--group-col", help="Column naming the item's category (pooling, cross)."),
    ] = None,
    controls: Annotated[
        str, typer.Option("--controls", help="Comma-separated numeric controls (promo, feature).")
    ] = "",
    item_cols: Annotated[
        str,
        typer.Option(
            "--item-cols",
            help="Comma-separated item features that shift the pooling prior (brand tier).",
        ),
    ] = "",
) -> None:
    """Own-price elasticity per item (pooled toward its group, shifted by its features) and
    cross-price per group, with 95% intervals; naive log-log OLS beside it for comparison."""
    from ml_core.pricing.data import load_elasticity_csv
    from ml_core.pricing.elasticity import DML, ITEM, DMLElasticity, NaiveOLSElasticity

    names = [part.strip() for part in controls.split(",") if part.strip()]
    features = [part.strip() for part in item_cols.split(",") if part.strip()]
    panel = load_elasticity_csv(
        data,
        id_col=id_col,
        time_col=time_col,
        qty_col=qty_col,
        price_col=price_col,
        group_col=group_col,
        controls=names,
        item_cols=features,
    )
    per_item = panel.groupby(ITEM)[features].first() if features else None
    model = DMLElasticity().fit(panel, controls=names, item_features=per_item)
    naive = NaiveOLSElasticity().fit(panel).items_.set_index("item")
    items = model.items_.assign(
        level="item", naive_ols=model.items_["item"].map(naive["elasticity"])
    )
    groups = model.groups_.rename(columns={"group": "item"}).assign(level="group")
    groups["group"] = groups["item"]
    overall = {"level": "all", "item": "all", "method": f"{DML} mean", **model.overall_}
    table = _table([items, groups, overall])
    summary: dict[str, Any] = {
        "data": str(data),
        "model": model.info_,
        "method": (
            "Poisson pseudo-likelihood with per-series level and trend, period effects, each "
            "group's season (see model.group_season) and group x weekday effects, fitted jointly "
            "with per-item price slopes (errors clustered by series and week), shrunk toward "
            "the group mean (plus the item features' shift, see overall.prior_features) by "
            "empirical Bayes"
        ),
        "zeros": "kept: PPML models the mean of the counts, zeros included",
        "items": len(items),
        "methods": {str(k): int(v) for k, v in items["method"].value_counts().items()},
        "overall": model.overall_,
        "naive_ols_mean": float(naive["elasticity"].mean()),
        "groups": json.loads(groups.to_json(orient="records")),
    }

    def write(folder: Path) -> None:
        table.to_csv(folder / "elasticities.csv", index=False)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    publish_outputs(output_dir, write)
    _print_items(items)
    typer.echo(f"wrote elasticities.csv and summary.json to {output_dir}")


@pricing_app.command("train")
def train_cmd(
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Register the fit as a challenger: plans and answers use it only once "
            "`aisle models promote elasticity` makes it champion.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fit the store's per-product elasticities and save them as a version of the `elasticity`
    model in the registry (champion by default), which the planner and the pricing tools read."""
    from ml_core.pricing.served import train_elasticities

    with store() as engine:
        manifest = train_elasticities(
            engine,
            artifact_registry(),
            **registered_as(candidate),
        )
    if as_json:
        print_json(asdict(manifest))
        return
    typer.echo(
        f"elasticity version {manifest.version} ({'candidate' if candidate else 'champion'}): "
        f"{manifest.metrics['products']} products, sales through "
        f"{manifest.parameters['data_through']}"
    )


def _table(parts: list[Any]) -> Any:
    """Item, group and overall rows in one table, the common columns first."""
    import pandas as pd

    frames = [p if isinstance(p, pd.DataFrame) else pd.DataFrame([p]) for p in parts]
    order = ["level", "item", "group", "method", "elasticity", "se", "lower", "upper"]
    table = pd.concat(frames, ignore_index=True)
    return table[order + [c for c in table.columns if c not in order]]


def _print_items(items: Any) -> None:
    table = Table(title="price elasticities (first 20 items)")
    for column in ("item", "group", "method", "elasticity", "95% interval", "naive OLS"):
        table.add_column(column, justify="right" if column != "item" else "left")
    for row in items.head(20).itertuples(index=False):
        table.add_row(
            str(row.item),
            str(row.group),
            str(row.method),
            f"{row.elasticity:.2f}",
            f"[{row.lower:.2f}, {row.upper:.2f}]",
            "-" if row.naive_ols != row.naive_ols else f"{row.naive_ols:.2f}",
        )
    print_table(table)


@pricing_app.command("markdown")
def markdown_cmd(
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            "--store",
            help="Plan one price zone (its id, e.g. CHAIN, or a store in it); default: all.",
        ),
    ] = None,
    horizon_weeks: Annotated[
        int, typer.Option("--horizon-weeks", min=1, max=26, help="Weeks planned ahead.")
    ] = 8,
    objective: Annotated[
        ObjectiveChoice, typer.Option("--objective", help="What the plan maximises.")
    ] = ObjectiveChoice.margin,
    as_json: JsonFlag = False,
) -> None:
    """Plan markdowns within the guardrails, one per product and price zone, and write them as
    price-change proposals (never prices); each replaces the open one for its product and
    zone."""
    from api.commands.replenish import COUNT_LABELS, recorded_counts
    from approvals.price_changes import KIND
    from approvals.records import record_plan_committed
    from ml_core.pricing.planning import PROPOSER, plan_markdowns

    with store() as engine:
        summary = plan_markdowns(
            engine,
            zone=zone,
            horizon_weeks=horizon_weeks,
            objective=objective.value,
            show_progress=True,
        )
        recorded = record_plan_committed(
            engine, KIND, summary.planned, proposer=PROPOSER, covers=summary.covers
        )
    counts = recorded_counts(recorded)
    if as_json:
        plan = asdict(summary)
        del plan["planned"], plan["covers"]
        proposals = [
            {**asdict(r), "product_id": p.product_id, "zone": p.location_id}
            for p, r in zip(summary.planned, recorded.recorded, strict=True)
        ]
        print_json({**plan, **counts, "proposals": proposals})
        return
    table = Table(
        title=f"markdown plan from {summary.starts_on}, sales up to {summary.as_of} "
        f"({summary.objective})"
    )
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("price zones", ", ".join(summary.zones))
    table.add_row("products with stock reviewed", f"{summary.products_reviewed:,}")
    table.add_row("plans that change a price", f"{summary.plans_with_changes:,}")
    table.add_row("stopped (circuit breaker, sizes out of line)", f"{len(summary.rejected):,}")
    table.add_row("deferred by the daily change cap", f"{summary.deferred_by_daily_cap:,}")
    for label, count in counts.items():
        table.add_row(COUNT_LABELS[label], f"{count:,}")
    table.add_row("expected gain vs keeping prices", f"{summary.expected_gain:,.2f}")
    for method, count in sorted(summary.elasticity_methods.items()):
        table.add_row(f"elasticity: {method}", f"{count:,}")
    Console().print(table)
    typer.echo("proposals only: a pricing manager approves them before any price changes")


@pricing_app.command("run")
def run_cmd(
    store_id: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Look at one store (its id, e.g. S001) and plan its price zone; default: all.",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=200, help="Put up at most this many proposals."),
    ] = 20,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Id for the run (default: a new one).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the pricing agent: markdown candidates, their elasticities, the markdown plan and its
    guardrail checks; it waits for the pricing manager's decisions (aisle proposals
    approve|edit|reject) and no price changes before them."""
    from agents.pricing import PricingRunState
    from api.commands.proposals import run_until_decisions

    initial = PricingRunState(location_id=store_id, limit=limit)
    run_until_decisions("price_change", initial, thread, as_json)
