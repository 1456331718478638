"""Replenishment tools: SKUs at risk of running out, reorder proposals, and the proposal queue.

`propose_reorders` runs the reorder planner (forecast + order-up-to policy), which writes
purchase-order PROPOSALS only. Deciding a proposal and executing it are not tools: a person
decides, through the replenishment graph's interrupt or `aisle proposals ...`, and the graph (or
that command) then calls `create_purchase_order` here, in the transaction that marks the
proposal executed. `edit_purchase_order` is how a planner's edited quantities change a proposal.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from retail.errors import AisleError
from retail.proposals import PROPOSAL_KINDS, ProposalStatus
from retail.proposals import list_proposals as query_proposals
from retail.store.models import (
    InventoryPosition,
    Location,
    Product,
    Proposal,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
    Variant,
)
from tools.base import ToolContext, invalid, not_found, tool
from tools.forecasting import daily_demand

PO_SOURCE = "proposal"  # purchase orders created by executing an approved proposal


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
    total_value: float
    proposals: list[PlannedPurchaseOrder]


class ProposalSummary(_Out):
    id: str
    kind: str
    status: str
    location_id: str | None
    proposer: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    content_hash: str
    decided_by: str | None
    reason: str | None
    executed_ref: str | None = Field(description="What executing it created (a PO id).")
    totals: dict[str, Any] = Field(
        description="Lines, units and value (purchase orders); SKU, product, today's price, the "
        "plan's first new price and its date, its lowest price and the expected gain (price "
        "changes)."
    )


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


class ProposalDetail(ProposalSummary):
    """One proposal as the planner's queue shows it: content, hash, lines with explanations."""

    content: dict[str, Any]
    model_versions: dict[str, Any]
    decided_at: dt.datetime | None
    lines: list[ProposalLine]


class PurchaseOrderEditError(AisleError):
    """A planner's edit of a purchase-order proposal cannot be applied."""


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
        rates, as_of = daily_demand(session, locations)
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
    writes nothing new."""
    from ml_core.inventory.planning import plan_replenishment

    summary = plan_replenishment(
        ctx.engine, store_id=location_id, limit=limit, proposer=ctx.principal.id
    )
    ids = [p.id for p in summary.proposals]
    with Session(ctx.engine) as session:
        hashes = dict(
            session.execute(
                select(Proposal.id, Proposal.content_hash).where(Proposal.id.in_(ids))
            ).all()
        )
    return ReorderPlan(
        as_of=summary.as_of,
        locations=summary.locations,
        skus_reviewed=summary.skus_reviewed,
        lines_proposed=summary.lines_proposed,
        proposals_written=summary.proposals_written,
        proposals_unchanged=summary.proposals_unchanged,
        proposals_superseded=summary.proposals_superseded,
        total_value=summary.total_value,
        proposals=[
            PlannedPurchaseOrder(
                proposal_id=p.id,
                content_hash=hashes[p.id],
                supplier_id=p.supplier_id,
                location_id=p.location_id,
                lines=p.lines,
                units=p.units,
                value=p.value,
                new=p.new,
            )
            for p in summary.proposals
        ],
    )


def _summary_fields(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "status": p.status,
        "location_id": p.location_id,
        "proposer": p.proposer,
        "created_at": p.created_at,
        "expires_at": p.expires_at,
        "content_hash": p.content_hash,
        "decided_by": p.decided_by,
        "reason": p.reason,
        "executed_ref": p.executed_ref,
        "totals": dict(p.content.get("totals") or {}),
    }


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
        found = query_proposals(session, kind=kind, status=status, location_id=location_id)
        return ProposalList(items=[ProposalSummary(**_summary_fields(p)) for p in found])


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
        lines = [
            ProposalLine.model_validate(
                {field: line.get(field) for field in ProposalLine.model_fields}
            )
            for line in proposal.content.get("lines", [])
            if proposal.kind == "purchase_order"
        ]
        return ProposalDetail(
            **_summary_fields(proposal),
            content=dict(proposal.content),
            model_versions=dict(proposal.model_versions),
            decided_at=proposal.decided_at,
            lines=lines,
        )


def edit_purchase_order(content: Mapping[str, Any], changes: Mapping[str, float]) -> dict[str, Any]:
    """The proposal's content with the planner's quantities (SKU -> units; 0 drops the line).

    Quantities are whole cases of the line's case pack; the SKUs must be on the proposal; an
    edit that drops every line is a rejection, not an edit. Each changed line keeps the
    planner's quantity as `proposed_quantity`.
    """
    lines = {line["sku"]: line for line in content.get("lines", [])}
    unknown = sorted(set(changes) - set(lines))
    if unknown:
        raise PurchaseOrderEditError(
            f"SKU {unknown[0]} is not on this purchase order; its SKUs are "
            f"{', '.join(sorted(lines))}."
        )
    edited = []
    for sku, line in lines.items():
        quantity = changes.get(sku, line["quantity"])
        pack = max(int(line.get("case_pack") or 1), 1)
        if quantity < 0 or not float(quantity).is_integer():
            raise PurchaseOrderEditError(
                f"The quantity for {sku} must be a whole number of units, 0 or more."
            )
        units = int(quantity)
        if units % pack:
            raise PurchaseOrderEditError(
                f"{units} units of {sku} is not a whole number of cases of {pack}."
            )
        if units == 0:
            continue
        new = {**line, "quantity": units, "cases": units // pack}
        new["line_value"] = round(units * float(line["unit_cost"]), 2)
        if units != line["quantity"]:
            new["proposed_quantity"] = line.get("proposed_quantity", line["quantity"])
        edited.append(new)
    if not edited:
        raise PurchaseOrderEditError(
            "An edit cannot remove every line; reject the proposal instead."
        )
    totals = {
        "lines": len(edited),
        "units": sum(line["quantity"] for line in edited),
        "value": round(sum(line["line_value"] for line in edited), 2),
    }
    return {**content, "lines": edited, "totals": totals}


def create_purchase_order(session: Session, proposal: Proposal) -> str:
    """The purchase order of an approved proposal, in the caller's transaction: its lines, and
    each line's units added to the location's on-order stock. Returns the PO id; if this
    proposal already has a PO, returns that one and writes nothing (the unique proposal id on
    purchase orders stops a concurrent twin)."""
    existing = session.scalars(
        select(PurchaseOrder.id).where(PurchaseOrder.proposal_id == proposal.id)
    ).first()
    if existing is not None:
        return existing
    content = proposal.content
    supplier = content["supplier"]
    location_id = content["location"]["id"]
    now = dt.datetime.now(dt.UTC)
    order = PurchaseOrder(
        id=f"po-{uuid.uuid4().hex[:20]}",
        supplier_id=supplier["id"],
        location_id=location_id,
        status="open",
        created_at=now,
        expected_on=now.date()
        + dt.timedelta(days=math.ceil(float(supplier["lead_time_mean_days"]))),
        proposal_id=proposal.id,
        source=PO_SOURCE,
    )
    session.add(order)
    session.flush()
    for line in content["lines"]:
        quantity = int(line["quantity"])
        session.add(
            PurchaseOrderLine(
                purchase_order_id=order.id,
                variant_id=line["sku"],
                quantity=quantity,
                unit_cost=float(line["unit_cost"]),
            )
        )
        changed = session.execute(
            update(InventoryPosition)
            .where(
                InventoryPosition.variant_id == line["sku"],
                InventoryPosition.location_id == location_id,
            )
            .values(on_order=InventoryPosition.on_order + quantity, updated_at=now)
        )
        if getattr(changed, "rowcount", 0) == 0:
            session.add(
                InventoryPosition(
                    variant_id=line["sku"],
                    location_id=location_id,
                    on_hand=0,
                    on_order=quantity,
                    reserved=0,
                    updated_at=now,
                )
            )
    session.flush()
    return order.id
