"""`aisle monitor`: drift and forecast-performance checks on the store's sales, recommendation CTR
per placement, approved price changes' sales against their elasticity model, and their alerts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from api.commands.common import JsonFlag, iso_date, print_json, store

monitor_app = typer.Typer(
    help="Watch the data and the models after training: drift and forecast error per segment.",
    no_args_is_help=True,
)

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", metavar="YYYY-MM-DD", help="The day to check (default: the last day of sales)."
    ),
]


def _day(text: str | None) -> dt.date | None:
    return None if text is None else iso_date("--as-of", text)


@monitor_app.command("run")
def run_cmd(as_of: AsOf = None, as_json: JsonFlag = False) -> None:
    """Check demand drift per category, location and channel against a seasonal reference, and
    the latest forecast against its backtest band, and each placement's recommendation CTR against
    its previous 28 days; store and print the alerts."""
    from ml_core.monitoring.alerts import alert_public, run_monitor

    with store() as engine:
        result = run_monitor(engine, _day(as_of))
    if as_json:
        print_json(
            {
                "as_of": result.as_of.isoformat(),
                "segments": result.segments,
                "alerts": [alert_public(a) for a in result.alerts],
            }
        )
        return
    for alert in result.alerts:
        typer.echo(f"[{alert.kind}] {alert.message}")
    typer.echo(
        f"monitor {result.as_of.isoformat()}: {len(result.alerts)} alert(s) over "
        f"{result.segments} category x location segments"
    )


@monitor_app.command("alerts")
def alerts_cmd(
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many alerts.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The stored alerts, newest day first."""
    from ml_core.monitoring.alerts import alert_public, list_alerts

    with store() as engine:
        alerts = list_alerts(engine, as_of=_day(as_of), limit=limit)
    if as_json:
        print_json([alert_public(a) for a in alerts])
        return
    if not alerts:
        typer.echo("no alerts")
    for alert in alerts:
        typer.echo(f"{alert.as_of.isoformat()} [{alert.kind}] {alert.message}")
