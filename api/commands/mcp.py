"""`aisle mcp serve`: Aisle's tools for any MCP client, on stdio (one principal, `--as`) or
Streamable HTTP (each caller named by its API key)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from api.commands.common import store
from retail.errors import AisleError

mcp_app = typer.Typer(
    help="Serve Aisle's tools over the Model Context Protocol.", no_args_is_help=True
)

DEFAULT_PORT = 8765


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


@mcp_app.command("serve")
def serve_cmd(
    transport: Annotated[
        Transport, typer.Option(help="stdio (a client starts this command) or http.")
    ] = Transport.stdio,
    as_spec: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="stdio only: who calls, shopper:CUSTOMER_ID, associate:NAME@STORE_ID, "
            "planner:NAME, ... (over http each request's API key says it).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="http: interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="http: port to listen on (endpoint /mcp).")
    ] = DEFAULT_PORT,
) -> None:
    """Serve the tools your role is granted, audited like the assistants' calls."""
    import anyio

    from api.mcp_server import http_app, serve_stdio
    from api.ratelimit import RateLimit, make_rate_limiter
    from retail.settings import get_settings
    from tools.base import Principal, Services, check_principal

    if transport is Transport.stdio and as_spec is None:
        raise AisleError(
            "The stdio transport serves one principal: give --as ROLE:ID (over --transport http "
            "each caller's API key names it)."
        )
    if transport is Transport.http and as_spec is not None:
        raise AisleError(
            "Over --transport http each caller is named by its API key; --as is for stdio."
        )
    settings = get_settings()
    with store() as engine:
        services = Services(engine, settings)
        try:
            if transport is Transport.stdio:
                assert as_spec is not None
                principal = Principal.parse(as_spec)
                check_principal(engine, principal)
                anyio.run(serve_stdio, services, principal)
            else:
                import uvicorn

                limiter = make_rate_limiter(settings, RateLimit())
                typer.echo(f"MCP over Streamable HTTP at http://{host}:{port}/mcp", err=True)
                uvicorn.run(http_app(services, limiter, host=host), host=host, port=port)
        finally:
            services.close()
