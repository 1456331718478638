"""`aisle experiments ...`: create, start, stop, list and report A/B experiments over
recommendation strategies."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from api.commands.common import JsonFlag, print_json, print_table, store

if TYPE_CHECKING:
    from ml_core.experiments.report import ExperimentReport

experiments_app = typer.Typer(
    help="A/B experiments: deterministic assignment, exclusive layers, reports with intervals.",
    no_args_is_help=True,
)
KeyArgument = Annotated[str, typer.Argument(help="The experiment's id or name.")]


def show_experiment(experiment: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(experiment)
        return
    arms = ", ".join(f"{a['name']}={a['weight']:g}" for a in experiment["arms"])
    typer.echo(
        f"{experiment['id']}  {experiment['name']!r}  {experiment['status']}  "
        f"{experiment['audience']}  layer {experiment['layer']}  "
        f"traffic {experiment['traffic']:.0%}  arms {arms}"
    )


@experiments_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A unique name.", show_default=False)],
    arm: Annotated[
        list[str],
        typer.Option(
            "--arm",
            help="NAME=WEIGHT[:JSON config], repeated; the first arm is the control, e.g. "
            '--arm control=1 --arm margin=1:\'{"rules": {"margin_boost": 0.5}}\' (an arm\'s '
            '"rules" are the ranking rules its visitors get).',
            show_default=False,
        ),
    ],
    layer: Annotated[
        str, typer.Option("--layer", help="Experiments in one layer never share a unit.")
    ] = "default",
    traffic: Annotated[
        float, typer.Option("--traffic", help="Share of the layer's units, above 0 up to 1.")
    ] = 1.0,
    audience: Annotated[
        str,
        typer.Option(
            "--audience",
            help="live: the storefront's visitors; simulated: only `aisle simulate traffic` "
            'visits (arms that name a simulated {"policy": ...}).',
        ),
    ] = "live",
    metric: Annotated[
        str,
        typer.Option(
            "--metric", help="Primary metric: ctr, add_to_cart_rate, conversion, revenue_per_visit."
        ),
    ] = "conversion",
    baseline_rate: Annotated[
        float | None,
        typer.Option(
            help="The primary rate today: the plan when the store has too little history."
        ),
    ] = None,
    min_uplift: Annotated[
        float, typer.Option(help="The smallest relative change worth detecting (0.05: +5%).")
    ] = 0.05,
    creator: Annotated[str, typer.Option("--as", help="Who creates it: ROLE[:NAME].")] = (
        "evaluator"
    ),
    as_json: JsonFlag = False,
) -> None:
    """Create a draft experiment (it assigns nobody until `aisle experiments start`), planned
    from the store's last 28 days of recommendations."""
    from ml_core.experiments.assignment import create_experiment, parse_arm
    from ml_core.experiments.report import describe_experiment, plan_before_start
    from retail.identity import Principal

    principal = Principal.parse(creator)
    arms = [parse_arm(text) for text in arm]
    with store() as engine:
        plan = plan_before_start(
            engine,
            primary_metric=metric,
            arms=len(arms),
            minimum_uplift=min_uplift,
            baseline_rate=baseline_rate,
        )
        row = create_experiment(
            engine,
            name=name,
            layer=layer,
            arms=arms,
            traffic=traffic,
            primary_metric=metric,
            audience=audience,
            created_by=f"{principal.role}:{principal.id}",
            planned_units=plan.visits,
        )
    described = describe_experiment(row)
    if as_json:
        print_json({**described, "plan": asdict(plan)})
        return
    show_experiment(described, as_json)
    typer.echo(f"planned sample size ({plan.method}): {plan.in_words}")


@experiments_app.command("start")
def start(key: KeyArgument, as_json: JsonFlag = False) -> None:
    """Start assigning units: the experiment takes its share of its layer's free traffic."""
    from ml_core.experiments.assignment import start_experiment
    from ml_core.experiments.report import describe_experiment

    with store() as engine:
        show_experiment(describe_experiment(start_experiment(engine, key)), as_json)


@experiments_app.command("stop")
def stop(key: KeyArgument, as_json: JsonFlag = False) -> None:
    """Stop assigning units; the layer's traffic it held is free again."""
    from ml_core.experiments.assignment import stop_experiment
    from ml_core.experiments.report import describe_experiment

    with store() as engine:
        show_experiment(describe_experiment(stop_experiment(engine, key)), as_json)


@experiments_app.command("list")
def list_cmd(as_json: JsonFlag = False) -> None:
    """Every experiment, newest first."""
    from ml_core.experiments.assignment import list_experiments
    from ml_core.experiments.report import describe_experiment

    with store() as engine:
        rows = [describe_experiment(e) for e in list_experiments(engine)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no experiments yet: aisle experiments create --name ... --arm ... --arm ...")
        return
    table = Table(title="experiments")
    for column in ("id", "name", "status", "layer", "traffic", "arms", "metric", "started"):
        table.add_column(column, justify="right" if column == "traffic" else "left")
    for e in rows:
        table.add_row(
            e["id"],
            e["name"],
            e["status"],
            e["layer"],
            f"{e['traffic']:.0%}",
            ", ".join(f"{a['name']}={a['weight']:g}" for a in e["arms"]),
            e["primary_metric"],
            (e["started_at"] or "-")[:16],
        )
    print_table(table)


def format_metric(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if metric == "revenue_per_visit" else f"{value:.2%}"


def _interval(metric: str, bounds: tuple[float, float]) -> str:
    return f"[{format_metric(metric, bounds[0])}, {format_metric(metric, bounds[1])}]"


def print_report(report: ExperimentReport) -> None:
    from ml_core.experiments.stats import METRIC_LABELS

    e = report.experiment
    arms = Table(
        title=f"{e['name']} ({e['id']}): {e['status']}, layer {e['layer']}, "
        f"control arm {report.control}"
    )
    for column in ("arm", "weight", "units", "visits"):
        arms.add_column(column, justify="left" if column == "arm" else "right")
    for a in e["arms"]:
        units, visits = report.units[a["name"]], report.visits[a["name"]]
        arms.add_row(a["name"], f"{a['weight']:g}", f"{units:,}", f"{visits:,}")
    print_table(arms)
    if report.srm_p_value is None:
        typer.echo("sample ratio check: not yet, too few units to check the split")
    else:
        verdict = (
            "MISMATCH: the split is not what the weights ask for" if report.srm_mismatch else "ok"
        )
        typer.echo(f"sample ratio check: p = {report.srm_p_value:.3g} ({verdict})")
    if report.results:
        table = Table(title=f"arms against {report.control} (primary: {e['primary_metric']})")
        interval = f"{1 - report.alpha:.0%} interval"
        for column in (
            "metric", "arm", "control", "arm value", "CUPED-adjusted", "difference", interval,
            "relative", "p-value", "CUPED variance cut",
        ):  # fmt: skip
            table.add_column(column, justify="left" if column in ("metric", "arm") else "right")
        for r in report.results:
            metric = r["metric"]
            relative = "-"
            if r["rel_diff"] is not None:
                # No interval: the control's rate is too uncertain to bound the ratio.
                bounds = "(interval unbounded)"
                if r["rel_ci"] is not None:
                    low, high = r["rel_ci"]
                    bounds = f"[{low:+.1%}, {high:+.1%}]"
                relative = f"{r['rel_diff']:+.1%} {bounds}"
            # The difference, its intervals and the p-value are of this pair when adjusted.
            adjusted = (
                f"{format_metric(metric, r['adjusted_control_value'])} vs "
                f"{format_metric(metric, r['adjusted_value'])}"
                if r["cuped"]
                else "-"
            )
            cut = f"{r['variance_reduction']:.0%}" if r["variance_reduction"] is not None else "-"
            table.add_row(
                METRIC_LABELS[metric] + (" *" if metric == e["primary_metric"] else ""),
                r["arm"],
                format_metric(metric, r["control_value"]),
                format_metric(metric, r["value"]),
                adjusted,
                format_metric(metric, r["abs_diff"]),
                _interval(metric, r["abs_ci"]),
                relative,
                "not tested: " + r["too_few"]
                if r["p_value"] is None
                else f"{r['p_value']:.3g}" + (" (significant)" if r["significant"] else ""),
                cut,
            )
        print_table(table)
    for g in report.guardrails:
        typer.echo(
            f"guardrail {METRIC_LABELS[g['metric']]} must not drop over "
            f"{g['max_relative_drop']:.0%} ({g['arm']}): {g['status']}"
        )
    if report.planned:
        typer.echo(f"planned sample size: {report.planned['in_words']}")
    if report.mixed_units:
        typer.echo(f"warning: {report.mixed_units:,} units were served more than one arm")
    if report.note:
        typer.echo(report.note)


@experiments_app.command("report")
def report_cmd(
    key: KeyArgument,
    alpha: Annotated[float, typer.Option(min=0.001, max=0.5, help="Significance level.")] = 0.05,
    min_uplift: Annotated[
        float, typer.Option(help="Relative change the planned sample size is for (0.05: +5%).")
    ] = 0.05,
    cuped: Annotated[
        bool, typer.Option("--cuped/--no-cuped", help="Adjust with pre-period covariates.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Each arm against the control: CTR, add-to-cart rate, conversion and revenue per visit
    with delta-method intervals, CUPED, the sample-ratio check, guardrails, planned size."""
    from ml_core.experiments.report import experiment_report

    with store() as engine:
        report = experiment_report(engine, key, alpha=alpha, minimum_uplift=min_uplift, cuped=cuped)
    if as_json:
        print_json(report.as_dict())
        return
    print_report(report)
