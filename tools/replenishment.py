"""Replenishment tools: SKUs at risk of running out, reorder proposals, and the proposal queue.

`propose_reorders` runs the reorder planner (forecast + order-up-to policy) and records its plan
as purchase-order PROPOSALS only (`approvals.records`). Deciding a proposal and executing it are
not tools: a person decides, through the replenishment graph's interrupt, `aisle proposals ...`
or the API, and `approvals.decisions` creates the purchase order in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from approvals.purchase_orders import KIND, quantity_limits
from approvals.reader import ProposalSummary, queue, summary
from approvals.records import record_plan
from retail.proposals import PROPOSAL_KINDS, ProposalStatus
from retail.store.models import (
    InventoryPosition,
    Location,
    Product,
    Proposal,
    Supplier,
    SupplierItem,
    Variant,
)
from tools.base import ToolContext, invalid, not_found, tool
from tools.forecasting import (
    OpenPurchaseOrder,
    champion_of,
    daily_demand,
    open_purchase_orders,
)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SkuRisk(_Out):
    variant_id: str
    product: str
    location_id: str
    on_hand: int
    reserved: int
    on_order: int
    position: int = Field(description="On hand less reserved plus on order.")
    daily_demand: float
    lead_time_days: float
    demand_over_lead_time: float
    shortfall: float = Field(description="Demand over the lead time not covered by the position.")
    days_of_cover: float | None = Field(description="Position / daily demand.")
    demand_source: str


class SkusAtRisk(_Out):
    """SKUs whose stock and open orders will not cover demand over their supplier's lead time."""

    as_of: dt.date | None = Field(description="The last day of sales data.")
    locations: list[str]
    reviewed: int
    at_risk: int = Field(description="How many are at risk in all (the list may be cut short).")
    items: list[SkuRisk] = Field(description="Fewest days of cover first.")


class PlannedPurchaseOrder(_Out):
    proposal_id: str
    content_hash: str
    supplier_id: str
    location_id: str
    lines: int
    units: int
    value: float
    new: bool = Field(description="False: an identical open proposal already existed.")


class ReorderPlan(_Out):
    """What the reorder planner proposed: purchase-order proposals waiting for a planner."""

    as_of: str
    locations: list[str]
    skus_reviewed: int
    lines_proposed: int
    proposals_written: int
    proposals_unchanged: int
    proposals_superseded: int
    already_decided: int = Field(
        description="Planned orders a planner already approved: not proposed again."
    )
    total_value: float = Field(description="The value of the proposals waiting for a decision.")
    proposals: list[PlannedPurchaseOrder] = Field(description="Those waiting for a decision.")


class ProposalList(_Out):
    items: list[ProposalSummary]


class ProposalLine(_Out):
    sku: str
    product: str
    quantity: int
    cases: int
    case_pack: int
    moq: int
    unit_cost: float
    line_value: float
    forecast_source: str
    policy: dict[str, Any] = Field(description="The policy's numbers: demand, safety stock, ...")
    explanation: str
    proposed_quantity: int | None = Field(
        default=None, description="The planner's quantity, where a person edited it."
    )
    min_quantity: int = Field(
        description="The fewest units an edit may order, 0 aside: the supplier's minimum order."
    )
    max_quantity: int = Field(
        description="The most units an edit may order: 10 times the planner's quantity."
    )
    open_orders: list[OpenPurchaseOrder] = Field(
        description="The open purchase orders in Aisle for this SKU and location: what of the "
        "on-order stock they explain (the rest comes from the store's stock records)."
    )


class ProposalDetail(ProposalSummary):
    """One proposal as the planner's queue shows it: content, hash, lines with explanations."""

    content: dict[str, Any]
    model_versions: dict[str, Any]
    decided_at: dt.datetime | None
    lines: list[ProposalLine]


@tool(roles=["planner", "evaluator"])
def skus_at_risk(
    ctx: ToolContext,
    *,
    location_id: Annotated[
        str | None, Field(description="One store or channel id, e.g. S001; default: all.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Show at most this many.")] = 20,
) -> SkusAtRisk:
    """SKUs whose available stock plus open orders will not cover expected demand over their
    supplier's lead time, fewest days of cover first. Use it to see what may run out before
    an order placed today arrives."""
    with Session(ctx.engine) as session:
        kinds = ("store", "online")
        query = select(Location.id).where(Location.kind.in_(kinds)).order_by(Location.id)
        if location_id is not None:
            query = query.where(Location.id == location_id)
        locations = list(session.scalars(query))
        if not locations:
            raise not_found(f"There is no store or channel {location_id!r}.")
        rates, as_of = daily_demand(session, locations, champion_of(ctx))
        rows = session.execute(
            select(InventoryPosition, Product.name, Supplier.lead_time_mean_days)
            .join(Variant, Variant.id == InventoryPosition.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .join(
                SupplierItem,
                (SupplierItem.variant_id == InventoryPosition.variant_id)
                & SupplierItem.is_primary.is_(True),
            )
            .join(Supplier, Supplier.id == SupplierItem.supplier_id)
            .where(InventoryPosition.location_id.in_(locations))
        ).all()
    risks, reviewed = [], set()
    for inv, product, lead in rows:
        key = (inv.variant_id, inv.location_id)
        if key in reviewed:  # a SKU with two primary suppliers counts once
            continue
        reviewed.add(key)
        rate, source = rates.get(key, (0.0, "no sales"))
        position = max(inv.on_hand, 0) - max(inv.reserved, 0) + max(inv.on_order, 0)
        need = rate * float(lead)
        if rate <= 0 or position >= need:
            continue
        risks.append(
            SkuRisk(
                variant_id=inv.variant_id,
                product=product,
                location_id=inv.location_id,
                on_hand=inv.on_hand,
                reserved=inv.reserved,
                on_order=inv.on_order,
                position=position,
                daily_demand=round(rate, 3),
                lead_time_days=float(lead),
                demand_over_lead_time=round(need, 2),
                shortfall=round(need - position, 2),
                days_of_cover=round(max(position, 0) / rate, 1),
                demand_source=source,
            )
        )
    risks.sort(key=lambda r: (r.days_of_cover or 0.0, -r.shortfall, r.location_id, r.variant_id))
    return SkusAtRisk(
        as_of=as_of,
        locations=locations,
        reviewed=len(reviewed),
        at_risk=len(risks),
        items=risks[:limit],
    )


@tool(roles=["planner"], writes=True)
def propose_reorders(
    ctx: ToolContext,
    *,
    location_id: Annotated[
        str | None, Field(description="One store or channel id, e.g. S001; default: all.")
    ] = None,
    limit: Annotated[
        int | None, Field(ge=1, description="Review at most this many SKU-locations.")
    ] = None,
) -> ReorderPlan:
    """Run the reorder planner (demand forecast + inventory policy) and write purchase-order
    PROPOSALS for a planner to approve; it never places an order. Re-running on unchanged data
    writes nothing new, and an order a planner already approved is never proposed again."""
    from ml_core.inventory.planning import plan_replenishment

    plan = plan_replenishment(
        ctx.engine, artifacts=ctx.settings.var_dir / "artifacts", store_id=location_id, limit=limit
    )
    with Session(ctx.engine) as session, session.begin():
        recorded = record_plan(session, KIND, plan.planned, proposer=ctx.principal.id)
    waiting = [
        PlannedPurchaseOrder(
            proposal_id=r.id,
            content_hash=r.content_hash,
            supplier_id=p.supplier_id,
            location_id=p.location_id,
            lines=p.lines,
            units=p.units,
            value=p.value,
            new=r.new,
        )
        for p, r in zip(plan.planned, recorded.recorded, strict=True)
        if r.status == "proposed"
    ]
    return ReorderPlan(
        as_of=plan.as_of,
        locations=plan.locations,
        skus_reviewed=plan.skus_reviewed,
        lines_proposed=plan.lines_proposed,
        proposals_written=recorded.written,
        proposals_unchanged=recorded.unchanged,
        proposals_superseded=recorded.superseded,
        already_decided=recorded.already_decided,
        total_value=round(sum(p.value for p in waiting), 2),
        proposals=waiting,
    )


@tool(roles=["planner", "pricing_manager", "evaluator"])
def list_proposals(
    ctx: ToolContext,
    *,
    kind: Annotated[
        str | None, Field(description=f"One of {', '.join(PROPOSAL_KINDS)}; default: all.")
    ] = None,
    status: Annotated[
        ProposalStatus | None, Field(description="proposed, approved, ...; default: all.")
    ] = None,
    location_id: Annotated[str | None, Field(description="One store or channel id.")] = None,
) -> ProposalList:
    """Proposals waiting for (or past) a decision, newest first: their status, totals and
    content hash. Use it to show the approval queue."""
    if kind is not None and kind not in PROPOSAL_KINDS:
        raise invalid(f"Unknown proposal kind {kind!r}; use one of {', '.join(PROPOSAL_KINDS)}.")
    with Session(ctx.engine) as session:
        found, _ = queue(
            session,
            kinds=PROPOSAL_KINDS if kind is None else [kind],
            status=status,
            location_id=location_id,
        )
    return ProposalList(items=found)


def _line(line: dict[str, Any], open_orders: list[OpenPurchaseOrder]) -> ProposalLine:
    floor, ceiling = quantity_limits(line)
    given = {field: line.get(field) for field in ProposalLine.model_fields}
    return ProposalLine.model_validate(
        {**given, "min_quantity": floor, "max_quantity": ceiling, "open_orders": open_orders}
    )


@tool(roles=["planner", "evaluator"])
def proposal_detail(
    ctx: ToolContext,
    *,
    proposal_id: Annotated[str, Field(description="The proposal id, e.g. prop-3f2a...")],
) -> ProposalDetail:
    """One proposal in full: its content and content hash (a decision must quote the hash),
    and each line with its forecast source, the policy's numbers and explanation."""
    with Session(ctx.engine) as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None:
            raise not_found(f"There is no proposal {proposal_id!r}.")
        content_lines = proposal.content.get("lines", []) if proposal.kind == KIND else []
        orders = open_purchase_orders(
            session, proposal.location_id or "", [line["sku"] for line in content_lines]
        )
        lines = [_line(line, orders.get(line["sku"], [])) for line in content_lines]
        return ProposalDetail(
            **summary(proposal).model_dump(),
            content=dict(proposal.content),
            model_versions=dict(proposal.model_versions),
            decided_at=proposal.decided_at,
            lines=lines,
        )
