"""`aisle recommend ...`: evaluate recommenders on any interactions data, train on the store's."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from api.commands.common import (
    JsonFlag,
    print_json,
    print_metrics_table,
    publish_outputs,
    store,
)
from retail.errors import AisleError

recommend_app = typer.Typer(help="Train and evaluate recommenders.", no_args_is_help=True)

# The most accurate model on held-out data under the public benchmarks' protocol (per-user random
# split; benchmarks/bench_recommend_default.py, docs/BENCHMARKS.md): level with item-item on the
# small generated world's short histories, well ahead on a world with MovieLens-100k's long ones.
# Its fit inverts an items x items matrix, so it scores at most `EASE.max_items` items (the most
# popular); `_note_ease_cap` says so when a catalogue is larger.
DEFAULT_MODEL = "ease"


@recommend_app.command("eval")
def eval_cmd(
    train: Annotated[Path, typer.Option("--train", help="Interactions CSV to train on.")],
    test: Annotated[Path, typer.Option("--test", help="Interactions CSV to score against.")],
    k: Annotated[int, typer.Option("--k", help="Items recommended per test user.")],
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", help="Where recommendations.csv and metrics.json go."),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model", help="A model name, or several separated by commas to compare them."
        ),
    ] = DEFAULT_MODEL,
    user_col: Annotated[str, typer.Option("--user-col", help="Column naming the user.")] = (
        "user_id"
    ),
    item_col: Annotated[str, typer.Option("--item-col", help="Column naming the item.")] = (
        "item_id"
    ),
    time_col: Annotated[
        str | None,
        typer.Option(
            "--time-col", help="Column of interaction times [default: timestamp, if present]."
        ),
    ] = None,
    weight_col: Annotated[
        str | None,
        typer.Option(
            "--weight-col", help="Column of interaction strengths [default: every row is 1]."
        ),
    ] = None,
) -> None:
    """Train on TRAIN, recommend K items to every TEST user (none of their TRAIN items), score.

    Writes recommendations.csv (user_id, item_id, rank; rank 1 is best; with a leading `model`
    column when several models are named) and metrics.json (precision, recall, nDCG and MAP at K,
    catalogue coverage, and the same for cold-start users and items, per model). Columns not
    named are ignored, so ratings count as implicit feedback unless named with --weight-col.
    """
    from ml_core.recommend.base import check_k
    from ml_core.recommend.data import InteractionColumns, load_interactions_csv
    from ml_core.recommend.evaluate import evaluate_recommenders
    from ml_core.recommend.metrics import ITEM
    from ml_core.recommend.models import resolve_recommenders

    # Settings first: a typo should not cost the time it takes to read a large file.
    check_k(k)
    names = [part.strip() for part in model.split(",") if part.strip()]
    chosen = resolve_recommenders(names)
    if output_dir.exists() and not output_dir.is_dir():
        raise AisleError(f"The output folder {output_dir} is a file.")
    columns = InteractionColumns(user=user_col, item=item_col, time=time_col, weight=weight_col)
    train_frame = load_interactions_csv(train, columns)
    test_frame = load_interactions_csv(test, columns)
    _note_ease_cap(names, train_frame[ITEM].nunique())

    result = evaluate_recommenders(train_frame, test_frame, chosen, k)

    several = len(chosen) > 1
    summary = {
        "k": k,
        "train": str(train),
        "test": str(test),
        "data": result.data,
        "models": result.metrics,
    }

    def write(folder: Path) -> None:
        import pandas as pd

        if several:
            frames = [f.assign(model=name) for name, f in result.recommendations.items()]
            out = pd.concat(frames, ignore_index=True)[["model", "user_id", "item_id", "rank"]]
        else:
            out = next(iter(result.recommendations.values()))
        out.to_csv(folder / "recommendations.csv", index=False)
        (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")

    publish_outputs(output_dir, write)
    _print_metrics(result.metrics, k)
    typer.echo(f"wrote recommendations.csv and metrics.json to {output_dir}")


def _note_ease_cap(names: list[str], items: int) -> None:
    """Say on stderr when EASE will score only part of the catalogue."""
    from ml_core.recommend.ease import EASE

    cap = EASE().max_items
    if EASE.name in names and items > cap:
        typer.echo(
            f"note: EASE scores the {cap:,} most popular of the {items:,} items; the others follow "
            "in popularity order (pass --model item_item to score every item).",
            err=True,
        )


def _print_metrics(metrics: dict[str, dict[str, Any]], k: int) -> None:
    print_metrics_table(
        f"top-{k} metrics per model",
        metrics,
        (
            (f"P@{k}", lambda m: m["precision"], "{:.4f}"),
            (f"R@{k}", lambda m: m["recall"], "{:.4f}"),
            (f"nDCG@{k}", lambda m: m["ndcg"], "{:.4f}"),
            (f"MAP@{k}", lambda m: m["map"], "{:.4f}"),
            ("coverage", lambda m: m["catalog_coverage"], "{:.1%}"),
            (f"cold users R@{k}", lambda m: m["cold_start_users"]["recall"], "{:.4f}"),
            (f"cold items R@{k}", lambda m: m["cold_start_items"]["recall"], "{:.4f}"),
            ("fit s", lambda m: m["fit_seconds"], "{:.2f}"),
        ),
    )


@recommend_app.command("train")
def train_cmd(
    model: Annotated[
        str, typer.Option("--model", help="A model name, e.g. ease, item_item, popularity.")
    ] = DEFAULT_MODEL,
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Register it as a challenger that serves only once `aisle models promote "
            "recommender` passes its gate.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train a recommender on the store's events and orders; register it as the champion (the
    version that serves), or with --candidate as a challenger."""
    from ml_core.recommend.models import resolve_recommenders
    from ml_core.recommend.train import train_store_recommender
    from ml_core.registry import ArtifactRegistry
    from retail.settings import get_settings

    recommender = resolve_recommenders([model])[model]()
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    with store() as engine:
        result = train_store_recommender(
            engine, registry, recommender, stage="candidate" if candidate else "champion"
        )
    _note_ease_cap([model], result.items)
    if as_json:
        print_json(asdict(result))
        return
    holdout = result.holdout
    check = (
        f"; recall@{holdout['k']} {holdout['recall']:.3f} on purchases after {holdout['cutoff']}"
        if holdout.get("recall") is not None
        else ""
    )
    typer.echo(
        f"recommender {result.model} version {result.model_version}: {result.users:,} customers, "
        f"{result.items:,} products, {result.interactions:,} interactions, "
        f"fitted in {result.fit_seconds:.2f} s{check}"
    )
