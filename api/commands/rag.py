"""`aisle rag ...`: build the RAG index from the store and query it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.commands.common import JsonFlag, artifact_registry, print_json, registered_as, store

rag_app = typer.Typer(help="Ingest and query the RAG index.", no_args_is_help=True)


class QueryMode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    sparse = "sparse"


@rag_app.command("ingest")
def ingest_cmd(
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Register the index as a challenger: it serves only once `aisle models "
            "promote rag-index` makes it champion.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Index the catalogue, reviews, size guides and policies; only changed documents are
    embedded again, and removed ones are deleted. The index is then saved as a version of
    `rag-index` in the registry (champion by default), which is what readers serve."""
    from ml_core.document_encoder import graph_name
    from rag.index import QdrantRagStore, ingest, open_backend, register_index
    from retail.settings import get_settings

    settings = get_settings()
    model_dir = settings.var_dir / "models"
    exported = all((model_dir / graph_name(p)).is_file() for p in ("int8", "fp32"))
    if not as_json and not exported:
        # Seconds with nothing on screen otherwise (torch is imported to export it).
        Console(stderr=True).print("exporting the document encoder (once per var dir) ...")
    vectors = QdrantRagStore(open_backend(settings, create=True))
    try:
        with (
            store() as engine,
            Progress(
                TextColumn("embedding"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                disable=as_json,
            ) as bar,
        ):
            task = bar.add_task("embedding", total=None)
            report = ingest(
                engine,
                vectors,
                model_dir=model_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        hashes = vectors.hashes()
    finally:
        vectors.client.close()
    manifest = register_index(
        settings,
        artifact_registry(),
        hashes,
        report,
        **registered_as(candidate, "ingested"),
    )
    version = None if manifest is None else manifest.version
    if as_json:
        print_json({**report.as_dict(), "version": version})
        return
    typer.echo(
        f"{report.documents:,} documents: {report.added:,} added, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.deleted:,} deleted "
        f"in {report.seconds:.1f} s ({report.docs_per_second:.0f} docs/s)"
        + ("" if version is None else f"; rag-index version {version}")
        + (" (candidate)" if candidate and version else "")
    )


@rag_app.command("query")
def query_cmd(
    text: Annotated[str, typer.Argument(help="The question.")],
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="key=value (doc_type, category, brand, colour, size, in_stock, min_price, "
            "max_price, product_id, policy_id, source); repeat for more.",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many hits.")] = 5,
    mode: Annotated[QueryMode, typer.Option("--mode", help="Retrieval mode.")] = QueryMode.hybrid,
    diverse: Annotated[
        bool, typer.Option("--diverse", help="Re-rank dense hits for diversity (MMR).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ranked documents for a question, each with its citation (ids, section, score, text)."""
    from rag.index import QdrantRagStore, open_backend
    from rag.retrieve import EmptyQueryError, Retriever, parse_filters
    from retail.settings import get_settings

    # Checked before the index is opened or the model loaded: bad input fails fast.
    if not text.strip():
        raise EmptyQueryError("The query is empty; ask about a product or a policy.")
    where = parse_filters(filters or [])
    vectors = QdrantRagStore(open_backend(get_settings()))
    try:
        hits = Retriever(vectors).search(text, k=k, mode=mode.value, filters=where, diverse=diverse)
    finally:
        vectors.client.close()
    if as_json:
        print_json({"query": text, "mode": mode.value, "hits": [h.as_dict() for h in hits]})
        return
    for hit in hits:
        cite = hit.policy_id or hit.product_id or ""
        section = f" / {hit.section}" if hit.section else ""
        typer.echo(f"{hit.rank}. [{hit.doc_id}] {cite}{section}  score {hit.score:.4f}")
        typer.echo("   " + hit.text.splitlines()[0][:150])
