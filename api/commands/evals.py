"""`aisle eval ...`: run the evaluation suites, and compare two runs under release gates."""

from __future__ import annotations

import datetime as dt
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.commands.common import print_table

eval_app = typer.Typer(
    help="Evaluate the agents and models: suites, reports, release gates.", no_args_is_help=True
)


class WorldScale(StrEnum):
    tiny = "tiny"
    small = "small"


@eval_app.command("run")
def run_cmd(
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Where results.jsonl, summary.json and report.html are written (default: a new "
            "folder under var/evals/runs, which the evaluation page lists).",
        ),
    ] = None,
    suite: Annotated[
        str,
        typer.Option(
            "--suite",
            help="shopper, associate, orders, rag, adversarial, operations, forecast, "
            "recommender, pricing, retrieval, replenishment, shopper-devset, shopper-fresh, "
            "shopper-fresh2, shopper-compare, order-tasks, confirmations (comma-separated; a dev "
            "set's other "
            "half as shopper-devset:test), "
            "all, or smoke.",
        ),
    ] = "all",
    smoke: Annotated[bool, typer.Option("--smoke", help="Run the CI smoke subset.")] = False,
    brain: Annotated[
        str, typer.Option("--brain", help="local, hybrid, openai, or several comma-separated.")
    ] = "local",
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="Run every case K times (pass^k).")
    ] = 1,
    scale: Annotated[
        WorldScale,
        typer.Option(
            "--scale",
            help="The generated world to build once and cache (small: a few minutes; tiny, the "
            "tests' world: about one).",
        ),
    ] = WorldScale.small,
    world: Annotated[
        Path | None,
        typer.Option(
            "--world",
            help="A built world folder (aisle.db and var/) to copy instead of the "
            "cached evaluation world.",
        ),
    ] = None,
    rebuild_world: Annotated[
        bool, typer.Option("--rebuild-world", help="Build the cached world again.")
    ] = False,
    tau2: Annotated[
        Path | None, typer.Option("--tau2", help="The tau2 retail folder (db.json).")
    ] = None,
) -> None:
    """Run suites on a private copy of the evaluation world and write the results and report."""
    # The run's wall time counts from here: building the world takes minutes the first time.
    started = time.perf_counter()
    # The run's folder is named by this start too, not by when the world was ready.
    began = dt.datetime.now(dt.UTC)
    from evals.runner import RunOptions, check_brains, plan_suites, run_evals
    from evals.runs import new_run_dir
    from evals.suites import resolve
    from evals.world import DATABASE, VAR, WorldError, WorldSpec, cached_world
    from retail.settings import get_settings

    settings = get_settings()
    tau2_dir = tau2 or settings.shared_data_dir / "tau2_retail"
    names = resolve("smoke" if smoke else suite)
    brains = [b.strip() for b in brain.split(",") if b.strip()]
    # Everything the command line says is checked before minutes go into building a world.
    check_brains(brains)
    plan_suites(names)
    if world is not None:
        folder, label = world, f"given: {world}"
        if not (world / DATABASE).is_file() or not (world / VAR).is_dir():
            raise WorldError(f"{world} holds no aisle.db and var/ of a built world.")
    else:
        spec = WorldSpec(scale.value, tau2_dir, settings.shared_data_dir / "dummyjson")
        typer.echo(f"preparing the {scale.value} evaluation world ...", err=True)
        folder = cached_world(spec, settings.var_dir / "evals" / "worlds", rebuild=rebuild_world)
        label = f"{scale.value} (seed {spec.seed}, {folder.name})"
    output_dir = output_dir or new_run_dir(settings, began)
    summary = run_evals(
        RunOptions(
            suites=names,
            brains=brains,
            output_dir=output_dir,
            database=folder / DATABASE,
            var_dir=folder / VAR,
            repeat=repeat,
            world_label=label,
            llm_base_url=settings.llm_base_url,
            tau2_dir=tau2_dir,
            started=started,
            llm_prices_per_mtok=(
                settings.llm_price_input_per_mtok,
                settings.llm_price_output_per_mtok,
            ),
        )
    )
    _print_summary(summary)
    typer.echo(f"wrote {output_dir}/results.jsonl, summary.json and report.html", err=True)


@eval_app.command("compare")
def compare_cmd(
    champion: Annotated[Path, typer.Argument(help="The run to beat (its output folder).")],
    challenger: Annotated[Path, typer.Argument(help="The new run (its output folder).")],
    gate: Annotated[
        Path | None, typer.Option("--gate", help="Gates file (default: evals/gates.yaml).")
    ] = None,
) -> None:
    """Show how CHALLENGER differs from CHAMPION; exit 1 if a gate is not met."""
    from evals.compare import (
        GATES_FILE,
        check_gates,
        differences,
        flatten,
        load_gates,
        load_summary,
    )

    a, b = flatten(load_summary(champion)), flatten(load_summary(challenger))
    gates = load_gates(gate or GATES_FILE)
    changed = differences(a, b)
    table = Table(title=f"{len(changed)} figures differ")
    for column in ("metric", "champion", "challenger", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, old, new in changed:
        delta = "-" if old is None or new is None else f"{new - old:+.4g}"
        table.add_row(name, _num(old), _num(new), delta)
    print_table(table)
    results = check_gates(gates, a, b)
    failed = [r for r in results if not r.passed]
    gate_table = Table(title=f"gates: {len(results) - len(failed)} of {len(results)} met")
    for column in ("metric", "champion", "challenger", "rule", "met"):
        gate_table.add_column(column, justify="left" if column in ("metric", "rule") else "right")
    for r in results:
        gate_table.add_row(
            r.metric, _num(r.champion), _num(r.challenger), r.rule, "yes" if r.passed else "NO"
        )
    print_table(gate_table)
    if failed:
        typer.echo(
            f"regression: {len(failed)} gate(s) not met ({', '.join(r.metric for r in failed)}).",
            err=True,
        )
        raise typer.Exit(1)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print_summary(summary: dict[str, Any]) -> None:
    from evals.runs import duration, headline

    brains = summary["brains"]
    if brains:
        table = Table(title="agents")
        table.add_column("figure")
        for name in brains:
            table.add_column(name, justify="right")
        for label, key in (
            ("tool selection accuracy", "tool_selection_accuracy"),
            ("argument accuracy", "argument_accuracy"),
            ("task success", "task_success"),
            ("hallucination rate", "hallucination_rate"),
            ("citation precision", "citation_precision"),
            ("correct refusals", "correct_refusals"),
            ("over-refusals", "over_refusals"),
        ):
            table.add_row(label, *(_share(b.get(key)) for b in brains.values()))
        table.add_row(
            "turn latency p95 (ms)",
            *(_num(b["latency"]["turn"]["p95_ms"]) for b in brains.values()),
        )
        for key in ("out_of_grant_calls", "unconfirmed_writes", "unapproved_executions"):
            table.add_row(key.replace("_", " "), *(str(b["safety"][key]) for b in brains.values()))
        print_table(table)
    for suite, halves in summary.get("devsets", {}).items():
        columns = [(half, name) for half, by_brain in halves.items() for name in by_brain]
        table = Table(title=f"dev set: {suite}")
        table.add_column("figure")
        for half, name in columns:
            table.add_column(f"{name}, {half}", justify="right")
        figures = halves[columns[0][0]][columns[0][1]]
        for key in (k for k, v in figures.items() if not isinstance(v, dict)):
            cells = [halves[h][b].get(key) for h, b in columns]
            table.add_row(key.replace("_", " "), *("-" if c is None else str(c) for c in cells))
        print_table(table)
    goals = Table(title=f"goals (run took {duration(summary['run']['seconds'])} of wall time)")
    for column in ("goal", "value", "met"):
        goals.add_column(column)
    for goal in summary["goals"]:
        goals.add_row(goal["goal"], str(goal["value"]), "yes" if goal["met"] else "NO")
    print_table(goals)
    typer.echo(headline(summary))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
