"""Purchase-order proposals: what their content must hold, how a planner's edit changes it, and
how an approved one becomes a purchase order (in the caller's transaction)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from approvals.bounds import check_money, check_quantity, quantity_ceiling, quantity_floor
from ml_core.inventory.cover import days_of_cover
from retail.clock import today as clock_today
from retail.errors import AisleError
from retail.proposals import PURCHASE_ORDER
from retail.store.models import InventoryPosition, Proposal, PurchaseOrder, PurchaseOrderLine

KIND = PURCHASE_ORDER
PO_SOURCE = "proposal"  # purchase orders created by executing an approved proposal


class PurchaseOrderEditError(AisleError):
    """A planner's edit of a purchase-order proposal cannot be applied."""


def check_purchase_order(content: Mapping[str, Any]) -> None:
    """Raise BoundsError unless every line orders whole cases at a sane unit cost (what a
    planner may propose: no ceiling beyond the case pack, which the policy already applied)."""
    for line in content.get("lines", []):
        pack = int(line.get("case_pack") or 1)
        if check_quantity(line["sku"], line["quantity"], case_pack=pack, ceiling=None) == 0:
            raise PurchaseOrderEditError(f"The proposed line for {line['sku']} orders nothing.")
        check_money(f"unit cost of {line['sku']}", line["unit_cost"])


def quantity_limits(line: Mapping[str, Any]) -> tuple[int, int]:
    """The fewest and most units a person may edit the line to (0 aside, which drops it): the
    supplier's minimum order and `MAX_EDIT_FACTOR` times the planner's quantity, in whole
    cases of the line's case pack."""
    pack = max(int(line.get("case_pack") or 1), 1)
    proposed = int(line.get("proposed_quantity") or line["quantity"])
    return quantity_floor(int(line.get("moq") or 0), pack), quantity_ceiling(proposed, pack)


def edit_purchase_order(content: Mapping[str, Any], changes: Mapping[str, float]) -> dict[str, Any]:
    """The proposal's content with the planner's quantities (SKU -> units; 0 drops the line).

    Each quantity must pass `approvals.bounds` (whole cases of the line's case pack, within
    `quantity_limits`: at least the supplier's minimum order, at most `MAX_EDIT_FACTOR` times
    the planner's quantity); the SKUs must be on the proposal; an edit
    that drops every line is a rejection, not an edit. Each changed line keeps the planner's
    quantity as `proposed_quantity`.
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
        pack = max(int(line.get("case_pack") or 1), 1)
        proposed = int(line.get("proposed_quantity") or line["quantity"])
        floor, ceiling = quantity_limits(line)
        units = check_quantity(
            sku, changes.get(sku, line["quantity"]), case_pack=pack, ceiling=ceiling, floor=floor
        )
        if units == 0:
            continue
        new = {**line, "quantity": units, "cases": units // pack}
        new["line_value"] = round(units * float(line["unit_cost"]), 2)
        # The agent's explanation is kept as it wrote it, so a second edit restates the note.
        agents = line.get("proposed_explanation", line.get("explanation", ""))
        if units != proposed:
            new["proposed_quantity"] = proposed
            new["proposed_explanation"] = agents
            new["explanation"] = _edit_note(line, units, proposed, pack, agents)
        else:
            new["explanation"] = agents
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


def _edit_note(line: Mapping[str, Any], units: int, proposed: int, pack: int, agents: str) -> str:
    """What an edited line orders, said beside the agent's explanation, which stays that of
    its own quantity: the days of cover are recomputed for the edited quantity (the demand
    rate is the line's own), the fill rate would need the forecast again and is not."""
    policy = line.get("policy") or {}
    cases = f"{units // pack} case{'' if units // pack == 1 else 's'} of {pack}"
    note = f"Edited to {units} units ({cases})."
    if "inventory_position" in policy and "daily_demand" in policy:
        cover = float(
            days_of_cover(int(policy["inventory_position"]) + units, policy["daily_demand"])
        )
        if math.isfinite(cover):
            note += f" {units} units give {cover:.0f} days of cover after the order."
    if agents:
        note += f" What follows explains the agent's {proposed}: {agents}"
    return note


def same_order(
    older_at: str | None,
    older: Mapping[str, Any],
    newer_at: str | None,
    newer: Mapping[str, Any],
) -> bool:
    """A newer plan replaces an older open one for the same supplier at the same location."""
    same_supplier = (older.get("supplier") or {}).get("id") == (newer.get("supplier") or {}).get(
        "id"
    )
    return older_at == newer_at and same_supplier


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
    # Created now (an event); expected a lead time after today by the application's clock.
    order = PurchaseOrder(
        id=f"po-{uuid.uuid4().hex[:20]}",
        supplier_id=supplier["id"],
        location_id=location_id,
        status="open",
        created_at=now,
        expected_on=clock_today(session)
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
