"""Reading the approval queue: what the HTTP routes (`api/routes/proposals.py`) and the command
line (through the `list_proposals` tool) both show, read the same way.

A proposal's summary carries its totals: lines, units and value for a purchase order; the SKU,
today's price, the plan's first new price and its date, its lowest price and the expected gain
for a price change. What executing a proposal wrote (its purchase order, its dated prices) is
read here too, for the answer to a decision or an execution.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from approvals.price_changes import KIND as PRICE_CHANGE
from approvals.price_changes import PricingError, proposal_brief
from retail.errors import NotFoundError
from retail.proposals import PROPOSAL_STATUSES, ProposalError
from retail.store.models import PriceChange, Proposal, PurchaseOrder

# What a price change's summary carries: what tells one markdown from another at a glance.
PRICE_CHANGE_TOTALS = {
    "sku",
    "product",
    "prices_at",
    "current_price",
    "first_price",
    "first_change_on",
    "lowest_price",
    "expected_gain",
}


class ProposalSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
    supplier: str | None = Field(
        default=None, description="Purchase orders: the supplier's name (its id if unnamed)."
    )
    location_name: str | None = Field(
        default=None, description="Purchase orders: the name of the location it delivers to."
    )


def totals(proposal: Proposal) -> dict[str, Any]:
    if proposal.kind != PRICE_CHANGE:
        return dict(proposal.content.get("totals") or {})
    try:
        brief = proposal_brief(proposal)
    except PricingError:  # not a markdown plan: listed all the same, its detail says what is wrong
        return {}
    return brief.model_dump(include=PRICE_CHANGE_TOTALS)


def _supplier(proposal: Proposal) -> str | None:
    supplier = proposal.content.get("supplier") or {}
    return supplier.get("name") or supplier.get("id")


def summary(proposal: Proposal) -> ProposalSummary:
    derived = {"totals", "supplier", "location_name"}
    fields = {
        name: getattr(proposal, name)
        for name in ProposalSummary.model_fields
        if name not in derived
    }
    return ProposalSummary(
        **fields,
        totals=totals(proposal),
        supplier=_supplier(proposal),
        location_name=(proposal.content.get("location") or {}).get("name"),
    )


def queue(
    session: Session,
    *,
    kinds: Collection[str],
    status: str | None = None,
    location_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[ProposalSummary], int]:
    """Proposals of `kinds` matching the filters, newest first: one page, and how many match."""
    if status is not None and status not in PROPOSAL_STATUSES:
        raise ProposalError(
            f"Unknown proposal status {status!r}; use one of {', '.join(PROPOSAL_STATUSES)}."
        )
    conditions: list[ColumnElement[bool]] = [Proposal.kind.in_(sorted(kinds))]
    if status is not None:
        conditions.append(Proposal.status == status)
    if location_id is not None:
        conditions.append(Proposal.location_id == location_id)
    total = session.scalar(select(func.count()).select_from(Proposal).where(*conditions)) or 0
    query = (
        select(Proposal)
        .where(*conditions)
        .order_by(Proposal.created_at.desc(), Proposal.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [summary(p) for p in session.scalars(query)], total


def proposal(session: Session, proposal_id: str) -> Proposal:
    """The proposal with this id; NotFoundError (one sentence: a 404, a CLI exit 2) when
    there is none."""
    found = session.get(Proposal, proposal_id)
    if found is None:
        raise NotFoundError(f"No proposal with id {proposal_id!r}.")
    return found


def purchase_order_of(session: Session, proposal_id: str) -> PurchaseOrder | None:
    """The purchase order executing the proposal created, with its lines, if any."""
    return session.scalars(
        select(PurchaseOrder)
        .options(selectinload(PurchaseOrder.lines))
        .where(PurchaseOrder.proposal_id == proposal_id)
    ).first()


def price_changes_of(session: Session, proposal_id: str) -> list[PriceChange]:
    """The dated prices executing the proposal wrote, earliest first."""
    return list(
        session.scalars(
            select(PriceChange)
            .where(PriceChange.proposal_id == proposal_id)
            .order_by(PriceChange.effective_on, PriceChange.variant_id)
        )
    )
