"""Price-change (markdown) proposals: what their content must hold, how a pricing manager's edit
changes it, and how an approved one is applied: dated price-history rows, in the caller's
transaction.

The store keeps one price per SKU (chain-wide), so a proposal planned for one location changes
the SKU's price everywhere; applying refuses a plan made against a price that has changed
since, or a SKU that already has a price change scheduled by another proposal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from approvals.bounds import check_money, check_price, price_ceiling
from ml_core.pricing.guardrails import PRICE_TOLERANCE, ChangeHistory, Guardrails, check_plan
from ml_core.pricing.planning import KIND
from retail.errors import AisleError
from retail.store.models import PriceChange, Proposal, Variant

MARKDOWN = "markdown"


class PricingError(AisleError):
    """A price change cannot be applied as asked."""


class PathWeek(BaseModel):
    """One week of a markdown plan as the proposal's content records it."""

    model_config = ConfigDict(frozen=True)

    week_starting: dt.date
    price: float = Field(gt=0)


class MarkdownContent(BaseModel):
    """The parts of a markdown proposal's content that checking and applying it read."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1)
    current_price: float = Field(gt=0)
    list_price: float = Field(gt=0)
    unit_cost: float = Field(ge=0)
    path: list[PathWeek] = Field(min_length=1)
    guardrails: Guardrails
    change_history: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def of(cls, content: Mapping[str, Any], proposal_id: str) -> MarkdownContent:
        try:
            return cls.model_validate(dict(content))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "content"
            raise PricingError(
                f"Proposal {proposal_id} is not a markdown plan ({where}: {problem['msg']})."
            ) from None


class ProposalBrief(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    sku: str
    product: str
    location_id: str | None
    content_hash: str
    current_price: float
    first_price: float = Field(description="The first new price of the plan.")
    first_change_on: str
    lowest_price: float
    expected_gain: float = Field(description="Value over the horizon minus keeping the price.")
    new: bool = Field(description="False when the same proposal was already open.")


def proposal_brief(proposal: Proposal, *, new: bool = False) -> ProposalBrief:
    """A price-change proposal's figures in brief: today's price, the plan's first new price and
    its date, its lowest price and the expected gain. PricingError if it is not a markdown plan."""
    plan = MarkdownContent.of(proposal.content, proposal.id)
    steps = price_steps(plan, today=plan.path[0].week_starting)
    return ProposalBrief(
        id=proposal.id,
        sku=plan.sku,
        product=str(proposal.content.get("product", "")),
        location_id=proposal.location_id,
        content_hash=proposal.content_hash,
        current_price=plan.current_price,
        first_price=steps[0][1] if steps else plan.current_price,
        first_change_on=(steps[0][0] if steps else plan.path[0].week_starting).isoformat(),
        lowest_price=min(w.price for w in plan.path),
        expected_gain=float(proposal.content.get("expected", {}).get("gain", 0.0)),
        new=new,
    )


def price_path_violations(content: Mapping[str, Any], proposal_id: str) -> list[str]:
    """Every guardrail the proposal's weekly price path breaks, by the circuit breaker's own
    check against the guardrails recorded in the proposal; empty when it may be applied.

    The distance from the history of price changes is checked when the content records how
    many changes that history holds (`change_history.n`)."""
    plan = MarkdownContent.of(content, proposal_id)
    history = plan.change_history
    return check_plan(
        [w.price for w in plan.path],
        current_price=plan.current_price,
        list_price=plan.list_price,
        unit_cost=plan.unit_cost,
        promo_weeks=(),
        guardrails=plan.guardrails,
        history=ChangeHistory(
            mean=history.get("mean_log", 0.0),
            sd=history.get("sd_log", 0.0),
            n=int(history["n"]),
        )
        if "n" in history
        else None,
    )


def check_price_change(content: Mapping[str, Any]) -> None:
    """Raise unless the content is a markdown plan whose every price passes `approvals.bounds`
    (positive, finite, at most its list or current price) at a sane unit cost."""
    plan = MarkdownContent.of(content, "being proposed")
    ceiling = price_ceiling(plan.current_price, plan.list_price)
    check_money(f"unit cost of {plan.sku}", plan.unit_cost)
    for week in plan.path:
        check_price(f"the week of {week.week_starting}", week.price, ceiling=ceiling)


def edit_markdown(content: Mapping[str, Any], changes: Mapping[str, float]) -> dict[str, Any]:
    """The markdown proposal's content with a pricing manager's edit: `changes` maps a week of
    the path (its `week_starting` date) to the new price from that week. Only prices change;
    each must pass `approvals.bounds` and the edited path the guardrails, or the edit is
    refused.

    `edited_weeks` in the result names the weeks changed: the expected units and value stay
    those of the plan as proposed."""
    plan = MarkdownContent.of(content, "being edited")
    weeks = {w.week_starting.isoformat() for w in plan.path}
    unknown = sorted(set(changes) - weeks)
    if unknown:
        raise PricingError(
            f"The plan has no week starting {unknown[0]}; its weeks start on "
            f"{', '.join(sorted(weeks))}."
        )
    ceiling = price_ceiling(plan.current_price, plan.list_price)
    prices = {
        week: check_price(f"the week of {week}", price, ceiling=ceiling)
        for week, price in changes.items()
    }
    path = [
        {**week, "price": round(prices[week["week_starting"]], 2)}
        if week["week_starting"] in prices
        else dict(week)
        for week in content["path"]
    ]
    edited = {**content, "path": path, "edited_weeks": sorted(changes)}
    violations = price_path_violations(edited, "being edited")
    if violations:
        raise PricingError(f"The edited plan breaks the guardrails: {violations[0]}.")
    return edited


def same_sku(older: Mapping[str, Any], newer: Mapping[str, Any]) -> bool:
    """A newer markdown plan replaces an older open one for the same SKU (at the location)."""
    return older.get("sku") == newer.get("sku")


def price_steps(plan: MarkdownContent, *, today: dt.date) -> list[tuple[dt.date, float]]:
    """The plan's price changes as (effective date, price), none dated before `today`.

    A week that started before today takes effect today (a price cannot change in the past:
    the sales already recorded were made at the old price), and of several changes falling on
    one day the last is the one in force."""
    steps: list[tuple[dt.date, float]] = []
    in_force = plan.current_price
    for week in plan.path:
        if abs(week.price - in_force) <= PRICE_TOLERANCE:
            continue
        day = max(week.week_starting, today)
        if steps and steps[-1][0] == day:
            steps.pop()
        in_force = week.price
        before = steps[-1][1] if steps else plan.current_price
        if abs(week.price - before) > PRICE_TOLERANCE:
            steps.append((day, week.price))
    return steps


def apply_price_change(
    session: Session, proposal: Proposal, *, today: dt.date | None = None
) -> str:
    """Write the prices of an approved (or edited) price-change proposal; returns the reference
    of what it wrote (the proposal's price-history rows), for `executed_ref`.

    One `markdown` price-history row per step of the plan, with its effective date and the
    proposal id; the SKU's current price changes only for steps effective today or earlier
    (later ones wait in the history for their day). A proposal whose rows exist already gets
    its reference back and nothing is written. Refused (PricingError) when the path breaks the
    guardrails, when the SKU's price is no longer the one the plan started from, or when the
    SKU has a price change scheduled already. Runs in the caller's transaction, which also
    marks the proposal executed (`approvals.decisions`).
    """
    if proposal.kind != KIND:
        raise PricingError(f"Proposal {proposal.id} is a {proposal.kind}, not a price change.")
    ref = f"price_history/{proposal.id}"
    written = session.scalar(
        select(func.count()).select_from(PriceChange).where(PriceChange.proposal_id == proposal.id)
    )
    if written:
        return ref
    plan = MarkdownContent.of(proposal.content, proposal.id)
    violations = price_path_violations(proposal.content, proposal.id)
    if violations:
        raise PricingError(
            f"Proposal {proposal.id} breaks the guardrails ({violations[0]}); it was not applied."
        )
    variant = session.get(Variant, plan.sku, with_for_update=True)
    if variant is None:
        raise PricingError(f"Proposal {proposal.id} names SKU {plan.sku}, which does not exist.")
    if abs(float(variant.price) - plan.current_price) > PRICE_TOLERANCE:
        raise PricingError(
            f"The price of {plan.sku} is {variant.price:.2f}, not the {plan.current_price:.2f} "
            f"proposal {proposal.id} was planned from; plan it again."
        )
    today = today or dt.datetime.now(dt.UTC).date()
    scheduled = session.execute(
        select(PriceChange.effective_on, PriceChange.proposal_id)
        .where(PriceChange.variant_id == plan.sku, PriceChange.effective_on > today)
        .order_by(PriceChange.effective_on)
    ).first()
    if scheduled is not None:
        raise PricingError(
            f"{plan.sku} already has a price change scheduled for {scheduled.effective_on} "
            f"(proposal {scheduled.proposal_id or 'none'}); proposal {proposal.id} was not "
            "applied."
        )
    steps = price_steps(plan, today=today)
    session.add_all(
        PriceChange(
            variant_id=plan.sku,
            effective_on=day,
            price=price,
            reason=MARKDOWN,
            proposal_id=proposal.id,
        )
        for day, price in steps
    )
    due = [price for day, price in steps if day <= today]
    if due:
        variant.price = due[-1]
    session.flush()
    return ref
