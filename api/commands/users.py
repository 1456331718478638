"""`aisle users ...`: who may call the API: the demo principals and their keys, and new keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from api.commands.common import JsonFlag, print_json, print_table, store

if TYPE_CHECKING:
    from api.auth import DemoKey

users_app = typer.Typer(
    help="API users: the demo principals, their keys, and new keys.", no_args_is_help=True
)


def _show(title: str, keys: Sequence[DemoKey], as_json: bool) -> None:
    rows = [
        {
            "role": k.principal.role,
            "principal_id": k.principal.id,
            "customer_id": k.principal.customer_id,
            "store_id": k.principal.store_id,
            "key": k.key,
            "issued": k.issued,
        }
        for k in keys
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=title)
    for column in ("role", "principal", "key", "issued"):
        table.add_column(column)
    for row in rows:
        who = str(row["principal_id"]) + (f"@{row['store_id']}" if row["store_id"] else "")
        table.add_row(str(row["role"]), who, str(row["key"]), "yes" if row["issued"] else "no")
    print_table(table)


@users_app.command("seed-demo")
def seed_demo_cmd(as_json: JsonFlag = False) -> None:
    """Create the demo principals' API keys (shopper, associate, two planners, pricing
    manager, evaluator, admin); running it again changes nothing."""
    from api.auth import seed_demo_keys
    from retail.settings import get_settings

    with store() as engine:
        keys = seed_demo_keys(engine, get_settings())
    _show("demo API keys (send as 'Authorization: Bearer KEY')", keys, as_json)


@users_app.command("keys")
def keys_cmd(as_json: JsonFlag = False) -> None:
    """Show the demo principals' API keys for this secret, and whether each is issued."""
    from api.auth import demo_keys
    from retail.settings import get_settings

    with store() as engine:
        keys = demo_keys(engine, get_settings())
    _show("demo API keys", keys, as_json)


@users_app.command("add")
def add_cmd(
    as_spec: Annotated[
        str,
        typer.Option(
            "--as",
            help="Who the key acts as: shopper:CUSTOMER_ID, planner:NAME, ...",
            show_default=False,
        ),
    ],
    days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    as_json: JsonFlag = False,
) -> None:
    """Issue a new random API key for a principal; it is shown once, only its hash is kept."""
    from api.auth import issue_key
    from tools.base import Principal

    principal = Principal.parse(as_spec)
    expires = None if days is None else dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    with store() as engine:
        key = issue_key(engine, principal, label=label, expires_at=expires)
    if as_json:
        print_json(
            {
                "key": key,
                "role": principal.role,
                "principal_id": principal.id,
                "expires_at": None if expires is None else expires.isoformat(),
            }
        )
        return
    typer.echo(key)
