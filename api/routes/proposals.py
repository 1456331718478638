"""The approval queues: proposals listed and read in full, decided (approve, edit, reject),
executed, and the purchase orders approvals created.

Who sees what: a planner reads and decides purchase orders, a pricing manager price changes, an
evaluator reads both, an admin does everything. A decision goes through
`agents.operations.settle` (which resumes the agent run waiting on it, or decides directly; both
decide and execute in one transaction, `approvals.decisions`) and is idempotent with an
`Idempotency-Key` (see `api.idempotency`). A bad edit (out of bounds, unknown SKU) is a 422
before anything is written; a refusal from the approval rules (the proposer deciding their own
proposal, content changed since it was read, a proposal already decided) is a 409 with the
rule's sentence. `POST /v1/proposals/{id}/execute` finishes an approved proposal whose
execution a crash interrupted, and answers the same record however often it is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from agents.operations import settle
from agents.operators import handler_for
from api import idempotency
from api.auth import RoleGuard
from api.deps import InvalidRequest, SessionDep, ToolRunner
from api.schemas import (
    AUTH_ERRORS,
    ChartLine,
    DecisionCreate,
    DecisionPublic,
    EditPreview,
    ExecutionPublic,
    PriceChangePublic,
    ProposalView,
    PurchaseOrderLinePublic,
    PurchaseOrderPublic,
    error_responses,
)
from approvals import reader
from approvals.bounds import BoundsError
from approvals.decisions import DecisionRefusedError, DecisionRequest, check_edit, complete
from approvals.kinds import kind_of
from approvals.price_changes import PricingError
from approvals.reader import ProposalSummary
from ml_core.forecasting.models import describe_model
from retail.errors import AisleError, NotFoundError
from retail.identity import Principal, Role
from retail.proposals import PROPOSAL_KINDS, ProposalStatus
from retail.schemas import Page
from retail.store.models import Location, Product, Proposal, PurchaseOrder, Supplier, Variant
from tools.forecasting import ForecastDay, SalesDay
from tools.pricing import PricingProposalDetail

router = APIRouter(prefix="/v1", tags=["proposals"])

Reader = Annotated[Principal, Depends(RoleGuard(["planner", "pricing_manager", "evaluator"]))]
Decider = Annotated[Principal, Depends(RoleGuard(["planner", "pricing_manager"]))]
Planner = Annotated[Principal, Depends(RoleGuard(["planner"]))]
Kind = Literal["purchase_order", "price_change"]
ProposalId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
# The proposal kinds a role works on; evaluators and admins read them all.
KINDS_OF_ROLE: dict[Role, frozenset[str]] = {
    "planner": frozenset({"purchase_order"}),
    "pricing_manager": frozenset({"price_change"}),
}
# Each kind and each role above as the person refused reads them.
KIND_WORDS = {"purchase_order": "purchase orders", "price_change": "price changes"}
ROLE_WORDS: dict[Role, str] = {"planner": "A planner", "pricing_manager": "A pricing manager"}

ERRORS = error_responses(*AUTH_ERRORS, 400, 404, 409)


def kinds_for(principal: Principal) -> frozenset[str]:
    return KINDS_OF_ROLE.get(principal.role, frozenset(PROPOSAL_KINDS))


def _check_kind(principal: Principal, kind: str) -> None:
    if kind not in kinds_for(principal):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"{ROLE_WORDS[principal.role]} decides "
            f"{' and '.join(KIND_WORDS[k] for k in sorted(kinds_for(principal)))}, not "
            f"{KIND_WORDS[kind]}.",
        )


@router.get(
    "/proposals",
    operation_id="listProposals",
    response_model=Page[ProposalSummary],
    responses=ERRORS,
)
def list_proposals(
    session: SessionDep,
    principal: Reader,
    kind: Kind | None = None,
    status_: Annotated[ProposalStatus | None, Query(alias="status")] = None,
    location_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[ProposalSummary]:
    """Proposals of the kinds your role works on, newest first, one page at a time."""
    if kind is not None:
        _check_kind(principal, kind)
    items, total = reader.queue(
        session,
        kinds=[kind] if kind is not None else kinds_for(principal),
        status=status_,
        location_id=location_id,
        limit=limit,
        offset=offset,
    )
    return Page[ProposalSummary].of(items, total=total, limit=limit, offset=offset)


def _chart_line(tools: ToolRunner, line: dict[str, Any], content: dict[str, Any]) -> ChartLine:
    policy = line.get("policy") or {}
    location_id = (content.get("location") or {}).get("id")
    forecast = tools("forecast_for_sku", variant_id=line["sku"], location_id=location_id)
    return ChartLine(
        sku=line["sku"],
        product=line["product"],
        quantity=line["quantity"],
        unit_cost=line["unit_cost"],
        on_hand=policy.get("on_hand"),
        on_order=policy.get("on_order"),
        safety_stock=policy.get("safety_stock"),
        lead_time_days=(content.get("supplier") or {}).get("lead_time_mean_days"),
        explanation=line.get("explanation", ""),
        forecast=[ForecastDay(**day) for day in forecast["forecast"]],
        forecast_range=forecast["forecast_range"],
        recent_sales=[SalesDay(**day) for day in forecast["recent_sales"]],
        offered_since=forecast["offered_since"],
        forecast_model=describe_model(forecast["model"]) if forecast["model"] else None,
        note=forecast["note"],
    )


@router.get(
    "/proposals/{proposal_id}",
    operation_id="getProposal",
    response_model=ProposalView,
    responses=ERRORS,
)
def get_proposal(
    proposal_id: ProposalId, session: SessionDep, principal: Reader, request: Request
) -> ProposalView:
    """One proposal in full: its content and content hash (a decision quotes it); a purchase
    order's lines with, per line, the forecast, recent sales, stock, on order, safety stock,
    lead time, cost and the policy's explanation; a price change's plan and guardrails."""
    proposal = reader.proposal(session, proposal_id)
    _check_kind(principal, proposal.kind)
    tools = ToolRunner(request, principal)
    if proposal.kind == "purchase_order":
        detail = tools("proposal_detail", proposal_id=proposal_id)
        chart = [_chart_line(tools, line, detail["content"]) for line in detail["content"]["lines"]]
        return ProposalView(**detail, chart=chart)
    pricing = tools("pricing_proposal_detail", proposal_id=proposal_id)
    return ProposalView(
        **reader.summary(proposal).model_dump(),
        content=dict(proposal.content),
        model_versions=dict(proposal.model_versions or {}),
        decided_at=proposal.decided_at,
        lines=[],
        pricing=PricingProposalDetail.model_validate(pricing),
    )


def purchase_orders_public(
    session: Session, orders: Sequence[PurchaseOrder]
) -> list[PurchaseOrderPublic]:
    """The orders as a person reads them: supplier, location and product names, line values."""
    variant_ids = {li.variant_id for order in orders for li in order.lines}
    products = dict(
        session.execute(
            select(Variant.id, Product.name)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(variant_ids))
        ).all()
    )
    suppliers = dict(
        session.execute(
            select(Supplier.id, Supplier.name).where(
                Supplier.id.in_({order.supplier_id for order in orders})
            )
        ).all()
    )
    locations = dict(
        session.execute(
            select(Location.id, Location.name).where(
                Location.id.in_({order.location_id for order in orders})
            )
        ).all()
    )
    public = []
    for order in orders:
        lines = [
            PurchaseOrderLinePublic(
                variant_id=li.variant_id,
                # An imported order may name a SKU the catalogue no longer has.
                product=products.get(li.variant_id, li.variant_id),
                quantity=li.quantity,
                unit_cost=li.unit_cost,
                line_value=round(li.quantity * li.unit_cost, 2),
            )
            for li in order.lines
        ]
        public.append(
            PurchaseOrderPublic(
                id=order.id,
                supplier_id=order.supplier_id,
                supplier_name=suppliers.get(order.supplier_id, order.supplier_id),
                location_id=order.location_id,
                location_name=locations.get(order.location_id, order.location_id),
                status=order.status,
                created_at=order.created_at,
                expected_on=order.expected_on,
                proposal_id=order.proposal_id,
                lines=lines,
                units=sum(li.quantity for li in lines),
                value=round(sum(li.line_value for li in lines), 2),
            )
        )
    return public


def _edit_refused(exc: AisleError) -> InvalidRequest:
    """A refused edit as a 422: a figure of one line (a SKU's quantity, a week's price) names
    it in `loc`, so the form shows the sentence beside its input."""
    field = exc.field if isinstance(exc, BoundsError | PricingError) and exc.field else None
    loc = ("body", "changes", field) if field else ("body", "changes")
    return InvalidRequest(str(exc), loc=loc, kind="invalid_edit")


@router.post(
    "/proposals/{proposal_id}/preview",
    operation_id="previewProposalEdit",
    response_model=ProposalView,
    responses=ERRORS,
)
def preview_edit(
    proposal_id: ProposalId,
    body: EditPreview,
    session: SessionDep,
    principal: Reader,
    request: Request,
) -> ProposalView:
    """A price change as it would read with your edit, before you decide: the week prices you
    give, the expected units and value recomputed for them by the plan's own demand model, and
    the guardrail lines and summary of the edited path. Nothing is saved; an edit the decision
    would refuse is refused here with the same sentence (422, naming the week)."""
    proposal = reader.proposal(session, proposal_id)
    _check_kind(principal, proposal.kind)
    if proposal.kind != "price_change":
        raise InvalidRequest(
            "Only a price change can be previewed; a purchase order's line values follow its "
            "quantities on the page.",
            loc=("path", "proposal_id"),
            kind="invalid_edit",
        )
    try:
        kind_of(proposal.kind).edit(dict(proposal.content), body.changes)
    except AisleError as exc:
        raise _edit_refused(exc) from None
    pricing = ToolRunner(request, principal)(
        "pricing_proposal_detail", proposal_id=proposal_id, changes=body.changes
    )
    return ProposalView(
        **reader.summary(proposal).model_dump(),
        content=dict(proposal.content),
        model_versions=dict(proposal.model_versions or {}),
        decided_at=proposal.decided_at,
        lines=[],
        pricing=PricingProposalDetail.model_validate(pricing),
    )


def _refusal(code: int, detail: str) -> tuple[int, dict[str, Any]]:
    return code, {"detail": detail}


def _written(session: Session, proposal_id: str) -> dict[str, Any]:
    """What executing the proposal wrote, as the decision and execution answers show it."""
    order = reader.purchase_order_of(session, proposal_id)
    return {
        "purchase_order": None if order is None else purchase_orders_public(session, [order])[0],
        "price_changes": [
            PriceChangePublic.model_validate(row)
            for row in reader.price_changes_of(session, proposal_id)
        ],
    }


def _decide(
    request: Request, principal: Principal, proposal_id: str, body: DecisionCreate, retry: bool
) -> tuple[int, dict[str, Any]]:
    """Apply the decision; the status code and body to answer (and to replay) with. `retry`:
    the same request again after its worker died, so this decider's same decision, already
    recorded, is answered as done (with its purchase order) rather than refused."""
    state = request.app.state
    engine: Engine = state.engine
    with Session(engine) as session:
        try:
            proposal = reader.proposal(session, proposal_id)
        except NotFoundError as exc:
            return _refusal(status.HTTP_404_NOT_FOUND, str(exc))
        content = dict(proposal.content)
    try:
        rules = kind_of(proposal.kind)
    except AisleError as exc:
        return _refusal(status.HTTP_409_CONFLICT, str(exc))
    if not rules.may_decide(principal):
        return _refusal(
            status.HTTP_403_FORBIDDEN,
            f"The {principal.role} role may not decide {proposal.kind} proposals.",
        )
    try:
        decision = DecisionRequest(proposal_id=proposal_id, **body.model_dump())
        # A bad edit is the caller's input: a 422 before anything is decided.
        check_edit(proposal.kind, content, decision)
    except ValidationError as exc:
        problem = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        invalid = InvalidRequest(
            f"The decision cannot be read: {problem}.", loc=("body",), kind="invalid_decision"
        )
        return status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.body()
    except AisleError as exc:
        return status.HTTP_422_UNPROCESSABLE_CONTENT, _edit_refused(exc).body()
    # Two decisions on one proposal would both resume its waiting run, which takes the second
    # for a re-run of the first after a crash; one at a time, the second is refused.
    with idempotency.exclusive(engine, f"decision:{proposal_id}") as held:
        if not held:
            return _refusal(
                status.HTTP_409_CONFLICT,
                f"Another decision on proposal {proposal_id} is being applied; reload it.",
            )
        settled = settle(
            state.services,
            state.checkpointer,
            handler_for(rules.name),
            principal,
            decision,
            retry=retry,
        )
    if not settled.decision.accepted:
        return _refusal(status.HTTP_409_CONFLICT, settled.decision.message)
    execution = settled.execution
    with Session(engine) as session:
        after = session.get_one(Proposal, proposal_id)
        public = DecisionPublic(
            proposal_id=proposal_id,
            decision=body.decision,
            status=after.status,
            content_hash=after.content_hash,
            executed_ref=after.executed_ref,
            message=" ".join(
                m for m in (settled.decision.message, execution and execution.message) if m
            ),
            **_written(session, proposal_id),
        )
    return status.HTTP_200_OK, public.model_dump(mode="json")


@router.post(
    "/proposals/{proposal_id}/decision",
    operation_id="decideProposal",
    response_model=DecisionPublic,
    responses=ERRORS,
)
async def decide_proposal(
    proposal_id: ProposalId,
    body: DecisionCreate,
    request: Request,
    principal: Decider,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Required: a unique string per decision (a UUID). Sending the same "
            "request again with it replays the first response instead of deciding twice.",
        ),
    ] = None,
) -> JSONResponse:
    """Approve, edit (approve changed quantities) or reject a proposal, bound to the content
    hash you read; an approved proposal is executed at once (a purchase order is created)."""
    key = idempotency.check_key(idempotency_key)
    engine: Engine = request.app.state.engine
    request_hash = idempotency.fingerprint("POST", request.url.path, body.model_dump(mode="json"))
    claimed = await run_in_threadpool(idempotency.claim, engine, principal.id, key, request_hash)
    if isinstance(claimed, idempotency.Replay):
        return JSONResponse(
            claimed.body, status_code=claimed.status_code, headers={"Idempotent-Replayed": "true"}
        )
    try:
        code, payload = await run_in_threadpool(
            _decide, request, principal, proposal_id, body, claimed.retry
        )
    except BaseException:
        await run_in_threadpool(idempotency.release, engine, principal.id, key)
        raise
    await run_in_threadpool(idempotency.complete, engine, principal.id, key, code, payload)
    return JSONResponse(payload, status_code=code)


@router.post(
    "/proposals/{proposal_id}/execute",
    operation_id="executeProposal",
    response_model=ExecutionPublic,
    responses=ERRORS,
)
def execute_proposal(
    proposal_id: ProposalId, session: SessionDep, principal: Decider, request: Request
) -> ExecutionPublic:
    """Finish an approved proposal whose execution was interrupted (a crash between the
    approval and its purchase order): write its record if it has none. Idempotent: every call
    answers the same purchase order (or price change); 409 for a proposal never approved."""
    proposal = reader.proposal(session, proposal_id)
    rules = kind_of(proposal.kind)
    if not rules.may_decide(principal):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"The {principal.role} role may not execute {proposal.kind} proposals.",
        )
    session.rollback()  # the execution takes its own locks; this session keeps none
    try:
        outcome = complete(
            request.app.state.engine, proposal_id, settings=request.app.state.settings
        )
    except DecisionRefusedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.expire_all()
    after = session.get_one(Proposal, proposal_id)
    return ExecutionPublic(
        proposal_id=proposal_id,
        status=after.status,
        executed_ref=outcome.ref,
        created=outcome.created,
        message=outcome.message,
        **_written(session, proposal_id),
    )


@router.get(
    "/purchase-orders",
    operation_id="listPurchaseOrders",
    response_model=Page[PurchaseOrderPublic],
    responses=ERRORS,
)
def list_purchase_orders(
    session: SessionDep,
    principal: Planner,
    proposal_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[PurchaseOrderPublic]:
    """Purchase orders, newest first (those an approval created name its proposal), with the
    supplier's and location's names and each line's product name and value."""
    conditions = [] if proposal_id is None else [PurchaseOrder.proposal_id == proposal_id]
    total = session.scalar(select(func.count()).select_from(PurchaseOrder).where(*conditions))
    orders = session.scalars(
        select(PurchaseOrder)
        .options(selectinload(PurchaseOrder.lines))
        .where(*conditions)
        .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id)
        .limit(limit)
        .offset(offset)
    )
    items = purchase_orders_public(session, list(orders))
    return Page[PurchaseOrderPublic].of(items, total=total or 0, limit=limit, offset=offset)
