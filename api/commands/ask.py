"""`aisle ask`: one turn of a conversation with the shopper or associate assistant."""

from __future__ import annotations

from typing import Annotated

import typer

from api.commands.common import JsonFlag, print_json, store

BrainOption = Annotated[
    str, typer.Option("--brain", help="local (offline, the default), hybrid or openai.")
]


def ask_cmd(
    message: Annotated[str, typer.Argument(help="What the person says.")],
    as_spec: Annotated[
        str,
        typer.Option(
            "--as",
            help="Who asks: shopper:CUSTOMER_ID, associate:NAME@STORE_ID, planner:NAME, ...",
        ),
    ],
    brain: BrainOption = "local",
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask the assistant as a principal; prints the answer (or the whole turn with --json)."""
    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer
    from retail.settings import get_settings
    from tools.base import Principal, Services, check_principal

    principal = Principal.parse(as_spec)
    settings = get_settings()
    with store() as engine:
        check_principal(engine, principal)
        services = Services(engine, settings)
        try:
            with open_checkpointer(settings) as checkpointer:
                assistant = Assistant(services, checkpointer)
                result = assistant.ask(principal, message, thread_id=thread, brain=brain)
        finally:
            services.close()
    if as_json:
        print_json(
            result.model_dump(
                include={
                    "thread_id",
                    "answer",
                    "tool_calls",
                    "citations",
                    "products",
                    "grounded",
                    "brain",
                    "fallback",
                    "latency_ms",
                }
            )
        )
        return
    typer.echo(result.answer)
    calls = ", ".join(f"{c.name} ({c.status}, {c.latency_ms:.0f} ms)" for c in result.tool_calls)
    typer.echo(
        f"\n[thread {result.thread_id} | {result.brain} brain | {result.latency_ms:.0f} ms"
        + (f" | tools: {calls}" if calls else "")
        + ("" if result.grounded else " | answer replaced by the grounding guard")
        + "]",
        err=True,
    )
