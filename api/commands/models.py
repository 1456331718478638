"""`aisle models ...`: the model registry's versions and stages: list, show, diff, compare, promote,
rollback.

KIND is an artifact's name in the registry (forecaster, recommender, knowledge-graph, elasticity,
intent-classifier). A promotion
to champion goes through the kind's gate (`evals/promotion.yaml`); a refusal is one sentence and
exit 2, and `--force --reason` is an admin's recorded override. Changes name who made them
(`--as admin:NAME`); only an admin changes stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from api.commands.common import JsonFlag, artifact_registry, print_json, print_table, store
from retail.errors import AisleError

if TYPE_CHECKING:
    from ml_core.registry import ArtifactRegistry

models_app = typer.Typer(
    help="Model versions and stages: list, show, diff, compare, promote, rollback.",
    no_args_is_help=True,
)
KindArgument = Annotated[
    str,
    typer.Argument(
        help="The model kind: forecaster, recommender, knowledge-graph, elasticity, "
        "intent-classifier."
    ),
]
VersionArgument = Annotated[
    str | None, typer.Argument(help="A version (default: the champion).", show_default=False)
]
AsOption = Annotated[str, typer.Option("--as", help="Who acts: admin:NAME.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why; kept in the stage history.")]


def _admin(spec: str) -> str:
    from retail.identity import Principal

    principal = Principal.parse(spec)
    if principal.role != "admin":
        raise AisleError(
            f"Only an admin changes model stages, not the {principal.role} role; "
            "pass --as admin:NAME."
        )
    return f"{principal.role}:{principal.id}"


def _known(registry: ArtifactRegistry, kind: str) -> None:
    if not registry.version_ids(kind):
        known = ", ".join(registry.names()) or "none yet"
        raise AisleError(f"No model kind {kind!r} in the registry (known: {known}).")


def _version_or_champion(registry: ArtifactRegistry, kind: str, version: str | None) -> str:
    _known(registry, kind)
    if version is not None:
        return version
    champion = registry.ledger(kind).champion
    if champion is None:
        raise AisleError(f"{kind!r} has no champion yet; name a version.")
    return champion


@models_app.command("list")
def list_models(
    kind: Annotated[
        str | None, typer.Argument(help="One kind's versions (default: every kind).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every kind with its champion and challengers, or one kind's versions with their stages."""
    from ml_core.registry import describe_kind, describe_versions

    registry = artifact_registry()
    if kind is None:
        rows = [describe_kind(registry, name) for name in registry.names()]
        if as_json:
            print_json(rows)
            return
        table = Table(title="models")
        for column in ("kind", "champion", "model", "challengers", "versions"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["kind"],
                row["champion"] or "-",
                str(row["model"] or "-"),
                ", ".join(row["challengers"]) or "-",
                str(row["versions"]),
            )
        print_table(table)
        return
    _known(registry, kind)
    versions = describe_versions(registry, kind)
    if as_json:
        print_json(versions)
        return
    table = Table(title=kind)
    for column in ("version", "stage", "model", "created", "by", "data", "code"):
        table.add_column(column)
    for row in versions:
        table.add_row(
            row["version"],
            row["stage"],
            str(row.get("model") or "-"),
            str(row.get("created_at", ""))[:19],
            str(row.get("created_by", "")),
            str(row.get("data_hash", ""))[:12],
            str(row.get("code_version", ""))[:16],
        )
    print_table(table)


@models_app.command("show")
def show(kind: KindArgument, version: VersionArgument = None, as_json: JsonFlag = False) -> None:
    """A version's manifest (lineage, parameters, metrics, file digests), stage, history and
    whether its signature verifies."""
    from ml_core.registry import describe_version

    registry = artifact_registry()
    described = describe_version(registry, kind, _version_or_champion(registry, kind, version))
    if as_json:
        print_json(described)
        return
    typer.echo(
        f"{kind} {described['version']}  {described['stage']}  "
        f"{'signature verified' if described['signature_verified'] else described['problem']}"
    )
    for key in ("data_hash", "code_version", "created_at", "created_by"):
        typer.echo(f"  {key}: {described[key]}")
    for section in ("parameters", "metrics"):
        for key, value in described[section].items():
            typer.echo(f"  {section}.{key}: {value}")
    for change in described["history"]:
        typer.echo(
            f"  {change['at'][:19]} -> {change['stage']} by {change['by']}"
            f"{' (forced)' if change['forced'] else ''}: {change['reason']}"
        )


@models_app.command("diff")
def diff(
    kind: KindArgument,
    version: Annotated[str, typer.Argument(help="The version to compare.")],
    other: Annotated[
        str | None, typer.Argument(help="Against this version (default: the champion).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What differs between two versions' manifests: data, code, parameters, metrics, files."""
    from ml_core.registry import diff_manifests

    registry = artifact_registry()
    base = _version_or_champion(registry, kind, other)
    a = registry.read_manifest(kind, base)[0]
    b = registry.read_manifest(kind, version)[0]
    rows = diff_manifests(a, b)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{kind}: {a.version} -> {b.version}")
    for column in ("field", a.version, b.version):
        table.add_column(column)
    for row in rows:
        table.add_row(row["field"], str(row[a.version]), str(row[b.version]))
    print_table(table)


ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Write the champion/challenger HTML report (forecaster)."),
]


@models_app.command("compare")
def compare(
    kind: KindArgument,
    version: Annotated[
        str | None,
        typer.Argument(help="The challenger (default: the newest candidate or shadow)."),
    ] = None,
    report: ReportOption = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Recommender: the shadow's lists against the served ones on live requests "
            "(the items shoppers clicked or bought).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Score a challenger against the champion on the same backtest or holdout, without
    promoting it; with --live, a recommender shadow on the live requests it answered."""
    from evals.promotion import newest_challenger, score

    registry = artifact_registry()
    champion = _version_or_champion(registry, kind, None)
    challenger = version or newest_challenger(registry, kind)
    if live:
        if challenger not in registry.version_ids(kind):
            raise AisleError(f"No version {challenger!r} of {kind!r} in the registry.")
        _compare_live(kind, challenger, as_json)
        return
    with store() as engine:
        scored = score(engine, registry, kind, champion, challenger)
    written = None
    if report is not None and scored.report is not None:
        written = str(scored.report.write_report(report))
    payload = {
        "kind": kind,
        "champion": champion,
        "challenger": challenger,
        "basis": scored.basis,
        "scores": {"champion": scored.champion, "challenger": scored.challenger},
        "per_window": scored.table,
        "report": written,
    }
    if as_json:
        print_json(payload)
        return
    typer.echo(f"{kind}: champion {champion} against challenger {challenger} on {scored.basis}")
    table = Table()
    for column in ("metric", "champion", "challenger"):
        table.add_column(column, justify="right")
    for name in sorted(set(scored.champion) | set(scored.challenger)):
        table.add_row(name, _fmt(scored.champion.get(name)), _fmt(scored.challenger.get(name)))
    print_table(table)
    if written:
        typer.echo(f"report: {written}")


def _compare_live(kind: str, version: str, as_json: bool) -> None:
    from ml_core.recommend.shadow import live_comparison

    if kind != "recommender":
        raise AisleError(f"Only the recommender runs in shadow on live requests, not {kind!r}.")
    with store() as engine:
        found = live_comparison(engine, version)
    if as_json:
        print_json(found.as_dict())
        return
    typer.echo(found.sentence())
    table = Table()
    for column in ("list", "hit rate", "MRR"):
        table.add_column(column, justify="right")
    served = ", ".join(found.served_versions) or "-"
    table.add_row(f"served ({served})", _fmt(found.served.hit_rate), _fmt(found.served.mrr))
    table.add_row(f"shadow ({version})", _fmt(found.shadow.hit_rate), _fmt(found.shadow.mrr))
    print_table(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@models_app.command("promote")
def promote(
    kind: KindArgument,
    version: Annotated[
        str | None,
        typer.Argument(help="The version (default: the newest candidate or shadow)."),
    ] = None,
    to: Annotated[
        str, typer.Option("--to", help="The stage: champion, shadow or retired.")
    ] = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="Override a refused gate (needs --reason).")
    ] = False,
    reason: ReasonOption = "",
    report: ReportOption = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="A promotion rules file (default: evals/promotion.yaml)."),
    ] = None,
    actor: AsOption = "admin:cli",
    as_json: JsonFlag = False,
) -> None:
    """Promote a version through its kind's gate: scored against the champion on the same
    backtest or holdout; refused with the reason (exit 2) unless forced with a reason."""
    from evals import promotion

    rules = rules or promotion.PROMOTION_FILE
    if to not in ("champion", "shadow", "retired"):
        raise AisleError(f"Unknown stage {to!r}: choose from champion, shadow, retired.")
    by = _admin(actor)
    registry = artifact_registry()
    _known(registry, kind)
    with store() as engine:
        outcome = promotion.promote(
            engine,
            registry,
            kind,
            version,
            by=by,
            to=to,  # type: ignore[arg-type]  # checked above
            reason=reason,
            force=force,
            report=report,
            rules=rules,
        )
    if as_json:
        print_json(outcome.as_dict())
        return
    typer.echo(
        f"{kind} {outcome.version} is now {outcome.stage}"
        + (f" (replacing {outcome.previous})" if outcome.previous else "")
        + (" — forced" if outcome.forced else "")
        + (f"; scored on {outcome.basis}" if outcome.basis else "")
    )
    for gate in outcome.gates:
        typer.echo(
            f"  {'pass' if gate.passed else 'FAIL'} {gate.metric}: {_fmt(gate.challenger)} "
            f"(champion {_fmt(gate.champion)}; {gate.rule})"
        )
    if outcome.report:
        typer.echo(f"report: {outcome.report}")


@models_app.command("rollback")
def rollback(kind: KindArgument, reason: ReasonOption = "", actor: AsOption = "admin:cli") -> None:
    """Restore the previous champion (the current one is retired) in one step."""
    from evals import promotion

    by = _admin(actor)
    registry = artifact_registry()
    _known(registry, kind)
    change = promotion.rollback(registry, kind, by=by, reason=reason)
    typer.echo(f"{kind} {change.version} is champion again (rolled back {change.previous})")
