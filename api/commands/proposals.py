"""`aisle proposals ...`: the approval queue on the command line: list, show, approve, edit,
reject, resume; and `run_until_decisions`, how an operations agent's command starts a run and
shows the proposals it waits on.

A decision names the person deciding (`--as planner:NAME`) and the content hash they read
(`--hash`). When a run waits on the proposal, the decision resumes that run, so the agent's graph
records it; otherwise it is decided directly. Either way the decision and its execution commit
together (`approvals.decisions`), and a bad edit is refused (exit 2) before anything is written.
`resume` finishes what a crash left unfinished: an approved proposal without its order, or an
executed one whose audit trail is short.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.orm import Session

from api.commands.common import JsonFlag, print_json, print_table, store
from retail.errors import AisleError

proposals_app = typer.Typer(
    help="The approval queue: list, show, approve, edit or reject proposals.",
    no_args_is_help=True,
)

AsOption = Annotated[
    str, typer.Option("--as", help="Who decides: ROLE:NAME, e.g. planner:ana.", show_default=False)
]
ReaderOption = Annotated[str, typer.Option("--as", help="Who reads: ROLE[:NAME].")]
HashOption = Annotated[
    str, typer.Option("--hash", help="The content hash you read (aisle proposals show ID).")
]
ThreadOption = Annotated[
    str | None, typer.Option("--thread", help="The agent run waiting on it (default: found).")
]
IdArgument = Annotated[str, typer.Argument(help="The proposal id.")]


@contextmanager
def _services() -> Iterator[Any]:
    from retail.settings import get_settings
    from tools.base import Services

    with store() as engine:
        services = Services(engine, get_settings())
        try:
            yield services
        finally:
            services.close()


def _read(reader: str, tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a read tool as `reader` (audited); its typed error becomes one sentence."""
    from tools.base import Principal, ToolContext, invoke, technical_message

    principal = Principal.parse(reader)
    with _services() as services:
        outcome = invoke(ToolContext(principal=principal, services=services), tool_name, arguments)
    if outcome.error is not None or outcome.output is None:
        raise AisleError(
            technical_message(outcome.error) if outcome.error else f"{tool_name} returned nothing."
        )
    return outcome.output


@proposals_app.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Option(help="purchase_order or price_change.")] = None,
    status: Annotated[str | None, typer.Option(help="proposed, approved, executed, ...")] = None,
    location: Annotated[str | None, typer.Option("--store", help="One store or channel.")] = None,
    reader: ReaderOption = "planner",
    as_json: JsonFlag = False,
) -> None:
    """Proposals, newest first, with their status, totals and content hash."""
    items = _read(
        reader, "list_proposals", {"kind": kind, "status": status, "location_id": location}
    )["items"]
    if as_json:
        print_json(items)
        return
    table = Table(title=f"{len(items)} proposals")
    for column in ("id", "kind", "status", "location", "lines", "units", "value", "hash"):
        table.add_column(
            column, justify="right" if column in ("lines", "units", "value") else "left"
        )
    for p in items:
        totals = p["totals"]
        table.add_row(
            p["id"],
            p["kind"],
            p["status"],
            p["location_id"] or "-",
            str(totals.get("lines", "")),
            str(totals.get("units", "")),
            f"{totals['value']:,.2f}" if "value" in totals else "",
            p["content_hash"][:12],
        )
    print_table(table)


@proposals_app.command("show")
def show_cmd(
    proposal_id: IdArgument, reader: ReaderOption = "planner", as_json: JsonFlag = False
) -> None:
    """One proposal in full: content hash, then the lines with the forecast and policy behind
    each (purchase orders), or the weekly prices with margins and guardrails (price changes,
    read as a pricing manager)."""
    from tools.base import Principal

    pricing = Principal.parse(reader).role == "pricing_manager"
    tool_name = "pricing_proposal_detail" if pricing else "proposal_detail"
    detail = _read(reader, tool_name, {"proposal_id": proposal_id})
    if as_json:
        print_json(detail)
        return
    kind = "price_change" if pricing else detail["kind"]
    typer.echo(f"{detail['id']}  {kind}  {detail['status']}  at {detail['location_id']}")
    typer.echo(f"content hash: {detail['content_hash']}")
    typer.echo(f"proposed by {detail['proposer']} at {detail['created_at']}")
    if detail["decided_by"]:
        typer.echo(f"decided by {detail['decided_by']}: {detail['reason'] or ''}".rstrip(": "))
    if detail["executed_ref"]:
        typer.echo(f"executed as {detail['executed_ref']}")
    if pricing:
        _print_price_weeks(detail)
        return
    if kind == "price_change":
        typer.echo("a price change: read it as a pricing manager (--as pricing_manager:NAME)")
        return
    table = Table(title="lines")
    for column in ("sku", "product", "qty", "cases", "unit cost", "value", "why"):
        table.add_column(column)
    for line in detail["lines"]:
        table.add_row(
            line["sku"],
            line["product"],
            str(line["quantity"]),
            str(line["cases"]),
            f"{line['unit_cost']:.2f}",
            f"{line['line_value']:.2f}",
            line["explanation"],
        )
    if detail["lines"]:
        print_table(table)


def _print_price_weeks(detail: dict[str, Any]) -> None:
    typer.echo(
        f"{detail['product']} ({detail['sku']}): now {detail['current_price']:.2f}, "
        f"unit cost {detail['unit_cost']:.2f}"
    )
    table = Table(title="weekly prices")
    for column in ("week starting", "price", "change", "margin"):
        table.add_column(column, justify="left" if column == "week starting" else "right")
    for week in detail["weeks"]:
        table.add_row(
            week["week_starting"],
            f"{week['price']:.2f}",
            f"{week['change']:+.1%}",
            f"{week['margin']:.1%}",
        )
    print_table(table)
    guard = detail["guardrails"]
    typer.echo(f"guardrails: {guard['summary']}")
    for reason in guard["violations"]:
        typer.echo(f"  broken: {reason}")
    for check in guard["checks"]:
        typer.echo(f"  - {check['text']}")
    if detail.get("explanation"):
        typer.echo(detail["explanation"])


def _decide(
    proposal_id: str,
    decider_spec: str,
    content_hash: str,
    thread: str | None,
    *,
    decision: str,
    changes: dict[str, float] | None = None,
    reason: str | None = None,
    as_json: bool = False,
) -> None:
    from approvals.decisions import DecisionRefusedError, DecisionRequest, check_edit
    from approvals.kinds import kind_of
    from approvals.reader import proposal as read_proposal
    from retail.identity import Principal

    decider = Principal.parse(decider_spec)
    try:
        request = DecisionRequest(
            proposal_id=proposal_id,
            decision=decision,  # type: ignore[arg-type]
            content_hash=content_hash,
            changes=changes or {},
            reason=reason,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "decision"
        if field == "content_hash":
            raise AisleError(
                "--hash must be the 64-character content hash shown by aisle proposals show."
            ) from None
        raise AisleError(f"The decision cannot be read: {problem['msg']}.") from None
    with _services() as services:
        with Session(services.engine) as session:
            proposal = read_proposal(session, proposal_id)
            kind, content = proposal.kind, dict(proposal.content)
        rules = kind_of(kind)
        if not rules.may_decide(decider):
            raise DecisionRefusedError(
                f"The {decider.role} role may not decide {kind} proposals; decide as "
                f"{rules.who_decides()}."
            )
        # A bad edit is refused before anything is decided (exit 2, one sentence), and before
        # the agents' graphs are imported: they load the forecasting and pricing stacks (~3 s).
        check_edit(kind, content, request)
        from agents.checkpoint import open_checkpointer
        from agents.operations import settle
        from agents.operators import handler_for

        with open_checkpointer(services.settings) as checkpointer:
            handler = handler_for(kind)
            settled = settle(services, checkpointer, handler, decider, request, thread_id=thread)
    if not settled.decision.accepted:
        raise DecisionRefusedError(settled.decision.message)
    execution = settled.execution
    if as_json:
        print_json(
            {
                "decision": settled.decision.model_dump(mode="json"),
                "execution": None if execution is None else execution.model_dump(mode="json"),
                "thread_id": settled.thread_id,
            }
        )
    else:
        typer.echo(settled.decision.message)
        if execution is not None:
            typer.echo(execution.message)
        if settled.thread_id:
            typer.echo(f"(run {settled.thread_id} resumed)")
    if execution is not None and not execution.executed:
        raise DecisionRefusedError(execution.message)


@proposals_app.command("approve")
def approve_cmd(
    proposal_id: IdArgument,
    decider: AsOption,
    content_hash: HashOption,
    thread: ThreadOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a proposal as read (bound to its content hash); it is executed at once."""
    _decide(proposal_id, decider, content_hash, thread, decision="approve", as_json=as_json)


@proposals_app.command("edit")
def edit_cmd(
    proposal_id: IdArgument,
    decider: AsOption,
    content_hash: HashOption,
    changes: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="Purchase orders: SKU=QUANTITY (0 drops the line); price changes: "
            "WEEK_START=PRICE, e.g. 2026-11-30=149.09. Repeat it.",
        ),
    ],
    thread: ThreadOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a proposal with changed quantities; it is executed with them at once."""
    parsed: dict[str, float] = {}
    for change in changes:
        key, sep, value = change.partition("=")
        try:
            parsed[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise AisleError(
                f"--set takes SKU=QUANTITY, e.g. --set P00003-BLK-M=12; got {change!r}."
            )
    _decide(
        proposal_id, decider, content_hash, thread, decision="edit", changes=parsed, as_json=as_json
    )


@proposals_app.command("reject")
def reject_cmd(
    proposal_id: IdArgument,
    decider: AsOption,
    content_hash: HashOption,
    reason: Annotated[str, typer.Option("--reason", help="Why, in a sentence (kept with it).")],
    thread: ThreadOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject a proposal, with the reason; nothing is executed."""
    _decide(
        proposal_id,
        decider,
        content_hash,
        thread,
        decision="reject",
        reason=reason,
        as_json=as_json,
    )


@proposals_app.command("resume")
def resume_cmd(
    proposal_id: Annotated[
        str | None,
        typer.Argument(help="The proposal to finish (default: every unfinished one)."),
    ] = None,
    decider: Annotated[
        str, typer.Option("--as", help="Who resumes: ROLE:NAME, one who may decide it.")
    ] = "admin",
    as_json: JsonFlag = False,
) -> None:
    """Finish approvals a crash interrupted: create the order (or prices) of an approved
    proposal that has none, and complete its audit trail. Safe to repeat: a finished proposal
    answers the same order again."""
    from approvals.decisions import DecisionRefusedError, complete, sweep
    from approvals.kinds import kind_of
    from approvals.reader import proposal as read_proposal
    from retail.identity import Principal

    principal = Principal.parse(decider)
    with store() as engine:
        if proposal_id is None:
            if principal.role != "admin":
                raise DecisionRefusedError(
                    "Resuming every unfinished proposal takes --as admin; name one proposal "
                    "to resume it as its decider."
                )
            outcomes = sweep(engine)
        else:
            with Session(engine) as session:
                proposal = read_proposal(session, proposal_id)
                rules = kind_of(proposal.kind)
            if not rules.may_decide(principal):
                raise DecisionRefusedError(
                    f"The {principal.role} role may not resume {rules.name} proposals; resume "
                    f"as {rules.who_decides()}."
                )
            outcomes = [complete(engine, proposal_id)]
    if as_json:
        print_json([o.model_dump(mode="json") for o in outcomes])
    else:
        for outcome in outcomes:
            typer.echo(outcome.message)
        if not outcomes:
            typer.echo("Nothing to resume: every approved proposal is executed and audited.")
    failed = [o for o in outcomes if not o.executed]
    if failed:
        raise DecisionRefusedError(failed[0].message)


def run_until_decisions(kind: str, initial: Any, thread: str | None, as_json: bool) -> None:
    """Start the agent that owns `kind` on a new thread with state `initial`; it runs until it
    waits for decisions (or finishes), and the proposals it waits on are printed."""
    from agents.checkpoint import open_checkpointer
    from agents.operations import advance, interrupt_payload
    from agents.operators import handler_for

    handler = handler_for(kind)
    thread = thread or f"{handler.agent_name}-{uuid.uuid4().hex[:12]}"
    with _services() as services, open_checkpointer(services.settings) as checkpointer:
        graph = handler.build_graph(services, checkpointer)
        if graph.get_state({"configurable": {"thread_id": thread}}).values:
            raise AisleError(f"Run {thread} already exists; choose a new --thread.")
        snapshot = advance(graph, initial, thread)
    values = snapshot.values
    failed = [o for o in values.get("outcomes", []) if o.error is not None]
    if failed and not values.get("proposals"):
        raise AisleError(failed[-1].error.message)
    pending = values.get("pending", []) if snapshot.next else []
    payload = {
        "thread_id": thread,
        "waiting": bool(snapshot.next),
        "notes": values.get("notes", []),
        **interrupt_payload(pending, handler.agent_name),
    }
    if as_json:
        print_json(payload)
        return
    typer.echo(f"run {thread}")
    for note in payload["notes"]:
        typer.echo(f"  {note}")
    if not pending:
        return
    table = Table(title=f"{len(pending)} proposals wait for a decision")
    for column in ("id", "location", "what", "content hash"):
        table.add_column(column)
    for p in pending:
        table.add_row(p.id, p.location_id or "-", p.summary, p.content_hash)
    print_table(table)
    typer.echo(
        "decide: aisle proposals approve|edit|reject ID --as ROLE:NAME --hash HASH "
        f"--thread {thread}"
    )
