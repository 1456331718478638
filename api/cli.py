"""The `aisle` command line: data, database and server commands.

Every failure caused by input or environment ends with one sentence on stderr and exit code 2;
a stack trace means a bug in Aisle.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from api.commands.ask import ask_cmd
from api.commands.audit import audit_app
from api.commands.common import JsonFlag, iso_date, print_json, store
from api.commands.evals import eval_app
from api.commands.experiments import experiments_app
from api.commands.feeds import export_feed_cmd, feeds_cmd, load_cmd
from api.commands.forecast import forecast_app
from api.commands.jobs import jobs_app
from api.commands.kg import kg_app
from api.commands.mcp import mcp_app
from api.commands.models import models_app
from api.commands.monitor import monitor_app
from api.commands.nlu import nlu_app
from api.commands.pricing import pricing_app
from api.commands.proposals import proposals_app
from api.commands.rag import rag_app
from api.commands.recommend import recommend_app
from api.commands.replenish import replenish_app
from api.commands.simulate import simulate_app
from api.commands.users import users_app
from retail.errors import AisleError


class _AisleGroup(TyperGroup):
    """Turns domain errors raised anywhere below into one sentence and exit code 2."""

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's vendored click Context
        try:
            return super().invoke(ctx)
        except AisleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="aisle",
    cls=_AisleGroup,
    help="Aisle: an agentic retail system.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Seed, import and inspect the store's data.", no_args_is_help=True)
import_app = typer.Typer(help="Import a public data set.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")
data_app.add_typer(import_app, name="import")
data_app.command("load")(load_cmd)
data_app.command("feeds")(feeds_cmd)
data_app.command("export-feed")(export_feed_cmd)
app.add_typer(forecast_app, name="forecast")
app.add_typer(recommend_app, name="recommend")
app.add_typer(replenish_app, name="replenish")
app.add_typer(proposals_app, name="proposals")
app.add_typer(pricing_app, name="pricing")
app.add_typer(kg_app, name="kg")
app.add_typer(nlu_app, name="nlu")
app.add_typer(rag_app, name="rag")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(eval_app, name="eval")
app.add_typer(experiments_app, name="experiments")
app.add_typer(simulate_app, name="simulate")
app.add_typer(models_app, name="models")
app.add_typer(jobs_app, name="jobs")
app.add_typer(monitor_app, name="monitor")
app.add_typer(mcp_app, name="mcp")
app.command("ask")(ask_cmd)

console = Console(stderr=True)


class Scale(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest revision."""
    from retail.store.schema import current_revision

    with store() as engine:
        typer.echo(f"database at revision {current_revision(engine)}")


@data_app.command("seed")
def data_seed(
    scale: Annotated[Scale, typer.Option(help="Size of the generated world.")] = Scale.small,
    seed: Annotated[int, typer.Option(help="The same seed gives the same world.")] = 42,
    end: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="The world's last day of sales (default: yesterday, so the world's today is the "
            "wall clock's, or the days of the world of this scale and seed already seeded, "
            "unless --replace); pin it to rebuild the same world on another day.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a generated world already in the database.")
    ] = False,
    shock: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE,...",
            help="Plant a shock, repeatable: a demand shift "
            "'category=Tents,from=2026-10-01,demand=+30%' (store=S003 and to=DAY optional) or a "
            "supply disruption 'supplier=SUP02,from=2026-10-01,to=2026-10-21,supply=0'; the world "
            "saves them as truth (shocks.json beside its manifest).",
        ),
    ] = None,
) -> None:
    """Generate the demo retail world (catalogue, stores, customers, sales, sessions)."""
    from retail.clock import seed_end
    from retail.settings import get_settings
    from retail.world.seed import seed_world, seeded_end
    from retail.world.shocks import parse_shock

    shocks = tuple(parse_shock(text) for text in shock or ())
    pinned = None if end is None else iso_date("--end", end)
    with store() as engine:
        if pinned is None and not replace:
            # The world already here keeps its days: running the command again changes nothing.
            pinned = seeded_end(engine, scale.value, seed)
        result = seed_world(
            engine,
            scale=scale.value,
            seed=seed,
            end=seed_end(pinned),
            world_dir=get_settings().world_dir,
            replace=replace,
            shocks=shocks,
        )
    table = Table(title=f"generated world: scale {scale.value}, seed {seed}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in result.counts.items():
        table.add_row(name, f"{count:,}")
    Console().print(table)
    typer.echo(result.message)


def _run_import(source: str, path: Path, as_json: bool) -> None:
    """Import `path` with the importer of `source`, then report what was read and added."""
    from importlib import import_module

    importer = getattr(import_module(f"retail.importers.{source}"), f"import_{source}")
    with store() as engine:
        report = importer(engine, path).as_dict()
    if as_json:
        print_json(report)
        return
    table = Table(title=f"import {report['source']}: {report['location']}")
    table.add_column("records")
    table.add_column("read", justify="right")
    table.add_column("added", justify="right")
    read, added = report["records_read"], report["rows_added"]
    for name in sorted(set(read) | set(added)):
        table.add_row(name, f"{read.get(name, 0):,}", f"{added.get(name, 0):,}")
    Console().print(table)
    if not report["changed_anything"]:
        typer.echo("already imported: nothing changed")


@import_app.command("tau2")
def import_tau2_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder holding db.json and policy.md.")],
    as_json: JsonFlag = False,
) -> None:
    """Import the tau2-bench retail domain (products, users, orders, policy)."""
    _run_import("tau2", directory, as_json)


@import_app.command("dummyjson")
def import_dummyjson_cmd(
    file: Annotated[Path, typer.Argument(help="DummyJSON products.json.")],
    as_json: JsonFlag = False,
) -> None:
    """Import DummyJSON products with descriptions and reviews."""
    _run_import("dummyjson", file, as_json)


@import_app.command("walmart")
def import_walmart_cmd(
    file: Annotated[Path, typer.Argument(help="walmart_sales_weekly.csv.")],
    as_json: JsonFlag = False,
) -> None:
    """Import Walmart weekly department sales with their covariates."""
    _run_import("walmart", file, as_json)


@data_app.command("stats")
def data_stats(as_json: JsonFlag = False) -> None:
    """Show how many rows each table holds, overall and per data source."""
    from retail.store.stats import store_stats

    with store() as engine:
        stats = store_stats(engine)
    if as_json:
        print_json(stats)
        return
    table = Table(title="Aisle store")
    sources = sorted(stats["by_source"])
    table.add_column("table")
    table.add_column("rows", justify="right")
    for source in sources:
        table.add_column(source, justify="right")
    for name, count in stats["tables"].items():
        per_source = [f"{stats['by_source'][s].get(name, 0):,}" for s in sources]
        table.add_row(name, f"{count:,}", *per_source)
    Console().print(table)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes. Each loads the assistant and reads its own copy of the "
            "embedded indexes (or the Qdrant server at AISLE_QDRANT_URL).",
        ),
    ] = 1,
) -> None:
    """Serve the API and web pages (http://127.0.0.1:8000 by default)."""
    import uvicorn

    from retail.settings import get_settings

    settings = get_settings()
    with store():  # fail fast, with one sentence, before uvicorn starts
        pass
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
    )


def main() -> None:
    from retail.telemetry import configure_tracing

    configure_tracing()
    app()
