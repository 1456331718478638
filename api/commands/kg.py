"""`aisle kg ...`: build the product knowledge graph and ask it for a SKU's neighbours."""

from __future__ import annotations

from typing import Annotated

import typer

from api.commands.common import JsonFlag, print_json, store

kg_app = typer.Typer(help="The product knowledge graph.", no_args_is_help=True)


@kg_app.command("build")
def build_cmd(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when the catalogue has not changed.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build the graph from the store's catalogue, orders, suppliers and policies.

    A catalogue that has not changed since the active version is not rebuilt. Stock is never
    part of the build: queries read it live.
    """
    from rag.graph import build_and_save
    from retail.settings import get_settings

    with store() as engine:
        report = build_and_save(engine, get_settings(), force=force)
    if as_json:
        print_json(report.model_dump())
        return
    state = "built" if report.rebuilt else "unchanged, kept"
    nodes = ", ".join(f"{n:,} {kind}" for kind, n in report.nodes.items())
    edges = ", ".join(f"{n:,} {rel}" for rel, n in report.edges.items())
    typer.echo(f"knowledge graph {report.version} {state} in {report.seconds:.2f} s")
    typer.echo(f"nodes: {nodes}")
    typer.echo(f"edges: {edges}")


@kg_app.command("neighbors")
def neighbors_cmd(
    sku: Annotated[str, typer.Argument(help="The SKU (variant id) to start from.")],
    rel: Annotated[
        str, typer.Option("--rel", help="substitutes, complements or accessories.")
    ] = "substitutes",
    store_id: Annotated[
        str | None, typer.Option("--store", help="Only SKUs in stock at this store now.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many neighbours.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Ranked neighbours of SKU with scores, reasons and the path that explains each."""
    from rag.graph import KnowledgeGraph
    from retail.settings import get_settings

    with store() as engine:
        result = KnowledgeGraph.load(engine, get_settings()).neighbors(
            sku, rel, store=store_id, k=k
        )
    if as_json:
        print_json(result.model_dump())
        return
    where = f" in stock at {result.store}" if result.store else ""
    typer.echo(f"{rel} of {result.sku} ({result.name}){where}:")
    if not result.neighbors:
        typer.echo("  none found")
    for rank, n in enumerate(result.neighbors, start=1):
        typer.echo(f"{rank:>3}. {n.sku}  {n.name}  ${n.price:.2f}  score {n.score:.3f}")
        typer.echo(f"     {n.reason}")
