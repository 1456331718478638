"""Price-change (markdown) proposals: what their content must hold, which older proposal a
newer one replaces or conflicts with, how a pricing manager's edit changes it, and how an
approved one is applied: dated price-history rows, in the caller's transaction.

A proposal prices one product in one price zone (`retail.price_zones`): its path is quoted for
one size (`sku`), and each of its sizes (`variants`) takes the same fraction of its own list
price, so the sizes at one list price share one price. The rule for "the same product in the
same zone" lives here (`same_product_and_zone`): a newer plan supersedes the open proposal it
matches, and approving one is refused while an approved plan for the same product and zone is
still in force. Applying also refuses a plan made against a price that has changed since, a
size that already has a price change scheduled by another proposal, and a zone that does not
cover every store and online (the store keeps one price per SKU, chain-wide).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from approvals.bounds import BoundsError, check_money, check_price, price_ceiling
from ml_core.pricing.guardrails import (
    BROKEN,
    NOT_RECORDED,
    PRICE_TOLERANCE,
    ChangeHistory,
    GuardrailCheck,
    Guardrails,
    check_plan,
    guardrail_checks,
    ladder_price,
    money,
    rung_prices,
)
from ml_core.pricing.markdown import MarkdownItem, Objective, expected_figures, outcome
from retail import catalog_version
from retail.clock import today as clock_today
from retail.errors import AisleError
from retail.price_zones import CHAIN_NAME, price_zones, zone_in_words, zone_named
from retail.promotions import promotion_weeks
from retail.proposals import APPROVED_STATUSES, PRICE_CHANGE
from retail.store.models import LIST_CHANGE, MARKDOWN, PriceChange, Proposal, Variant

KIND = PRICE_CHANGE
# Statuses of a proposal whose prices a person decided to apply.
APPROVED = APPROVED_STATUSES


class PricingError(AisleError):
    """A price change cannot be applied as asked; `field`, for a refused edit, names the week
    (its start date) whose price caused it, so a form can show the sentence beside it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PathWeek(BaseModel):
    """One week of a markdown plan as the proposal's content records it."""

    model_config = ConfigDict(frozen=True)

    week_starting: dt.date
    price: float = Field(gt=0)


class Size(BaseModel):
    """One size (SKU) of the product a markdown prices."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1)
    list_price: float = Field(gt=0)
    current_price: float = Field(gt=0)


class ZoneRef(BaseModel):
    """The price zone a markdown prices, as its content records it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    name: str | None = None
    locations: list[str] = Field(default_factory=list)
    location_names: list[str] = Field(default_factory=list)

    def in_words(self) -> str:
        return zone_in_words(self.id, self.name or self.id, self.location_names)


class Demand(BaseModel):
    """The demand model a plan was valued with, as its content records it: the expected units
    of each week at today's price, the elasticity and its standard error, and what a unit left
    at the end fetches."""

    model_config = ConfigDict(frozen=True)

    baseline: list[float] = Field(min_length=1)
    elasticity: float
    elasticity_se: float = Field(ge=0)
    salvage: float


class MarkdownContent(BaseModel):
    """The parts of a markdown proposal's content that checking and applying it read. The
    prices are quoted for `sku`; a content without `variants` prices that SKU alone."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1)
    current_price: float = Field(gt=0)
    list_price: float = Field(gt=0)
    unit_cost: float = Field(ge=0)
    path: list[PathWeek] = Field(min_length=1)
    guardrails: Guardrails
    change_history: dict[str, float] = Field(default_factory=dict)
    variants: list[Size] = Field(default_factory=list)
    zone: ZoneRef | None = None
    objective: Objective = "margin"
    stock: float | None = Field(default=None, ge=0)
    demand: Demand | None = None

    @field_validator("guardrails", mode="before")
    @classmethod
    def _rule_it_was_made_under(cls, value: Any) -> Any:
        """A plan judged by the rule it was made under: one that does not record how its rungs
        were rounded was made before the rule was recorded (`Guardrails.rounding`)."""
        if isinstance(value, Mapping) and "rounding" not in value:
            return {**value, "rounding": NOT_RECORDED}
        return value

    def sizes(self) -> list[Size]:
        """Every SKU the plan prices."""
        return self.variants or [
            Size(sku=self.sku, list_price=self.list_price, current_price=self.current_price)
        ]

    def for_size(self, size: Size) -> MarkdownContent:
        """The plan as it prices one size: the same fraction of that size's list price each
        week (the quoted price itself for a size at the quoted list price)."""
        if abs(size.list_price - self.list_price) <= PRICE_TOLERANCE:
            return self.model_copy(
                update={"sku": size.sku, "current_price": size.current_price, "variants": []}
            )
        scale = size.list_price / self.list_price

        def priced(price: float) -> float:
            # A rung of the ladder is that rung of the size's own list price, rounded by the
            # rule the quoted rung was, so no size's cut is deeper than the quoted one's.
            for fraction in self.guardrails.ladder:
                for rung, nearest in rung_prices(
                    self.list_price, fraction, self.guardrails.rounding
                ):
                    if abs(price - rung) <= PRICE_TOLERANCE:
                        return ladder_price(size.list_price, fraction, nearest=nearest)
            return round(price * scale, 2)

        return self.model_copy(
            update={
                "sku": size.sku,
                "list_price": size.list_price,
                "current_price": size.current_price,
                "path": [
                    PathWeek(week_starting=w.week_starting, price=priced(w.price))
                    for w in self.path
                ],
                "variants": [],
            }
        )

    def history(self) -> ChangeHistory | None:
        """The past price changes the plan was checked against; None when it does not record
        how many there were (a plan made before they were kept)."""
        recorded = self.change_history
        if "n" not in recorded:
            return None
        return ChangeHistory(
            mean=recorded.get("mean_log", 0.0),
            sd=recorded.get("sd_log", 0.0),
            n=int(recorded["n"]),
        )

    def expected(self) -> dict[str, float] | None:
        """The plan's expected units and value against keeping today's price, its path valued
        as the planner valued the plan it proposed (`ml_core.pricing.markdown.outcome`) by the
        demand model it records; None for a plan that records none (made before it was kept)."""
        demand = self.demand
        if demand is None or self.stock is None or len(demand.baseline) != len(self.path):
            return None
        item = MarkdownItem(
            item_id=self.sku,
            list_price=self.list_price,
            current_price=self.current_price,
            unit_cost=self.unit_cost,
            stock=self.stock,
            baseline=tuple(demand.baseline),
            elasticity=demand.elasticity,
            salvage=demand.salvage,
            elasticity_se=demand.elasticity_se,
        )
        return expected_figures(
            item,
            self.objective,
            outcome(item, [w.price for w in self.path], self.objective),
            outcome(item, [self.current_price] * item.horizon, self.objective),
        )

    def ends_on(self) -> dt.date:
        """The last day of the plan's last week."""
        return self.path[-1].week_starting + dt.timedelta(days=6)

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
    prices_at: str = Field(description="Where its prices apply, in words.")
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
        # A plan made for one store before there were zones priced its SKU everywhere.
        prices_at=CHAIN_NAME if plan.zone is None else plan.zone.in_words(),
        content_hash=proposal.content_hash,
        current_price=plan.current_price,
        first_price=steps[0][1] if steps else plan.current_price,
        first_change_on=(steps[0][0] if steps else plan.path[0].week_starting).isoformat(),
        lowest_price=min(w.price for w in plan.path),
        expected_gain=float(proposal.content.get("expected", {}).get("gain", 0.0)),
        new=new,
    )


def price_path_violations(
    content: Mapping[str, Any],
    proposal_id: str,
    *,
    promo_weeks: Sequence[bool] = (),
    unit_cost: float | None = None,
) -> list[str]:
    """Every guardrail the proposal's weekly price path breaks, by the circuit breaker's own
    check against the guardrails recorded in the proposal; empty when it may be applied.
    `promo_weeks`: which of its weeks are on promotion (none known: no week); `unit_cost`: the
    cost its margins are on (default: the one recorded when it was planned).

    The distance from the history of price changes is checked when the content records how
    many changes that history holds (`change_history.n`)."""
    plan = MarkdownContent.of(content, proposal_id)
    return check_plan(
        [w.price for w in plan.path],
        current_price=plan.current_price,
        list_price=plan.list_price,
        unit_cost=plan.unit_cost if unit_cost is None else unit_cost,
        promo_weeks=promo_weeks,
        guardrails=plan.guardrails,
        history=plan.history(),
    )


def plan_promotions(session: Session, content: Mapping[str, Any]) -> list[bool] | None:
    """Which of the plan's weeks its product is on promotion, as the promotions stand now;
    None when the content names no product."""
    plan = MarkdownContent.of(content, "being checked")
    product_id = content.get("product_id") or session.scalar(
        select(Variant.product_id).where(Variant.id == plan.sku)
    )
    if not product_id:
        return None
    start, weeks = plan.path[0].week_starting, len(plan.path)
    return promotion_weeks(session, start, weeks).get(product_id, [False] * weeks)


def busiest_change_day(
    session: Session, proposal_id: str, content: Mapping[str, Any]
) -> tuple[str, int] | None:
    """Of the days this plan changes a price, the one on which the most plans change a price
    (this one and the approved ones of other products), with that count: what the cap on
    price changes a day is checked against; None when the plan changes no price."""
    plan = MarkdownContent.of(content, proposal_id)
    days = {day for day, _ in price_steps(plan, today=plan.path[0].week_starting)}
    if not days:
        return None
    per_day = dict.fromkeys(days, 1)
    approved = session.scalars(
        select(Proposal).where(
            Proposal.kind == KIND, Proposal.status.in_(APPROVED), Proposal.id != proposal_id
        )
    )
    for other in approved:
        try:
            theirs = MarkdownContent.of(other.content, other.id)
        except PricingError:
            continue
        for day, _ in price_steps(theirs, today=theirs.path[0].week_starting):
            if day in per_day:
                per_day[day] += 1
    day = max(sorted(per_day), key=lambda d: per_day[d])
    return day.isoformat(), per_day[day]


def unit_cost_now(session: Session, content: Mapping[str, Any]) -> float:
    """The cost the plan's margins are on, as the sizes' costs stand now, taken as the planner
    takes it: the highest cost share (cost over list price) among the sizes, at the quoted list
    price, so the margin floor holds for every size. The recorded cost when no size's cost is
    known, or when the two differ by no more than the cent the recorded list prices round."""
    plan = MarkdownContent.of(content, "being checked")
    sizes = plan.sizes()
    costs = dict(
        session.execute(
            select(Variant.id, Variant.unit_cost).where(Variant.id.in_([s.sku for s in sizes]))
        ).all()
    )
    shares = [float(cost) / s.list_price for s in sizes if (cost := costs.get(s.sku)) is not None]
    if not shares:
        return plan.unit_cost
    now = round(max(shares) * plan.list_price, 2)
    return plan.unit_cost if abs(now - plan.unit_cost) <= 0.01 + PRICE_TOLERANCE else now


def binding_guardrails(content: Mapping[str, Any]) -> dict[str, str]:
    """The guardrails that held the plan back, with what each prevented. Proposals made
    before the numbers were kept name the guardrail only, and those names were not reliable
    (a relaxed plan valued at the point estimate against this one's expected value): they
    are not shown as binding."""
    return {
        b["guardrail"]: b["held_back"]
        for b in content.get("binding_guardrails", [])
        if isinstance(b, dict)
    }


def guardrails_now(
    session: Session, proposal_id: str, content: Mapping[str, Any]
) -> tuple[list[GuardrailCheck], list[str]]:
    """Each guardrail against the plan as the store stands now (its lines, as the page shows
    them) and every guardrail it breaks (what approval refuses on), from the same figures: its
    path (edited or not), the promotions as they are now, the margin floor on the sizes' costs
    as they are now, and the cap on price changes a day counted with the plans approved since.

    The breaker's reasons name the week; a line broken without one (the lines also weigh the
    price the plan starts from) is a violation in its own words, so a plan is never shown
    broken and approved, nor refused with nothing shown broken."""
    plan = MarkdownContent.of(content, proposal_id)
    promos = plan_promotions(session, content)
    unit_cost = unit_cost_now(session, content)
    busiest = busiest_change_day(session, proposal_id, content)
    lines = guardrail_checks(
        [w.price for w in plan.path],
        current_price=plan.current_price,
        list_price=plan.list_price,
        unit_cost=unit_cost,
        guardrails=plan.guardrails,
        bindings=binding_guardrails(content),
        history=plan.history(),
        promo_weeks=promos,
        busiest=busiest,
        edited=bool(content.get("edited_weeks")),
    )
    reasons = price_path_violations(
        content, proposal_id, promo_weeks=promos or (), unit_cost=unit_cost
    )
    cap = plan.guardrails.max_changes_per_day
    if busiest is not None and busiest[1] > cap:
        reasons.append(
            f"on {busiest[0]} it would be one of {busiest[1]} price changes across products "
            f"(this plan and the approved ones), over the cap of {cap} a day"
        )
    if not reasons:
        reasons = [f"{c.guardrail}: {c.plan}" for c in lines if c.verdict == BROKEN]
    return lines, reasons


def violations_now(session: Session, proposal_id: str, content: Mapping[str, Any]) -> list[str]:
    """Every guardrail the plan breaks as the store stands now, not only as it stood when it
    was planned (`guardrails_now`): what a person reads before deciding and what approval
    refuses on."""
    return guardrails_now(session, proposal_id, content)[1]


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
    refused (PricingError or BoundsError naming the week, one sentence).

    `edited_weeks` in the result names the weeks changed. The expected units and value are
    the edited path's, valued by the demand model the plan records (`MarkdownContent.expected`)
    as the agent's plan was, with the agent's own kept as `proposed_expected`; a plan made
    before it recorded its demand model keeps the agent's figures, and its explanation says
    so."""
    plan = MarkdownContent.of(content, "being edited")
    weeks = {w.week_starting.isoformat() for w in plan.path}
    unknown = sorted(set(changes) - weeks)
    if unknown:
        raise PricingError(
            f"The plan has no week starting {unknown[0]}; its weeks start on "
            f"{', '.join(sorted(weeks))}.",
            field=unknown[0],
        )
    ceiling = price_ceiling(plan.current_price, plan.list_price)
    prices = {}
    for week, price in changes.items():
        try:
            prices[week] = check_price(f"the week of {week}", price, ceiling=ceiling)
        except BoundsError as exc:
            raise BoundsError(str(exc), field=week) from None
    path = [
        {**week, "price": round(prices[week["week_starting"]], 2)}
        if week["week_starting"] in prices
        else dict(week)
        for week in content["path"]
    ]
    edited = {**content, "path": path, "edited_weeks": sorted(changes)}
    violations = price_path_violations(edited, "being edited")
    if violations:
        raise PricingError(
            f"The edited plan breaks the guardrails: {violations[0]}.",
            field=_week_to_blame(edited, sorted(changes)),
        )
    agents = content.get("proposed_explanation", content.get("explanation", ""))
    plan = MarkdownContent.of(edited, "being edited")
    steps = price_steps(plan, today=plan.path[0].week_starting)
    now = "; ".join(f"{money(price)} from {day.isoformat()}" for day, price in steps)
    now = now or "today's price throughout"
    expected = plan.expected()
    if expected is None:
        note = (
            f"Edited by the pricing manager: the path is now {now}; "
            "the expected units, value and gain, and what follows, are of the agent's "
            "proposal, not of the edited path."
        )
        return {**edited, "proposed_explanation": agents, "explanation": f"{note} {agents}".strip()}
    note = (
        f"Edited by the pricing manager: the path is now {now}; the expected units, value and "
        "gain are the edited path's, by the demand model the agent planned with; what follows "
        "is the agent's reasoning for its own path."
    )
    return {
        **edited,
        "expected": expected,
        "proposed_expected": content.get("proposed_expected", content.get("expected")),
        "proposed_explanation": agents,
        "explanation": f"{note} {agents}".strip(),
    }


def _week_to_blame(edited: Mapping[str, Any], changed: Sequence[str]) -> str:
    """The edited week a refused edit is shown beside: the last one changed at or before the
    first week whose step breaks a guardrail (a step is from the week before)."""
    path = edited["path"]
    broken = next(
        (
            path[k - 1]["week_starting"]
            for k in range(1, len(path) + 1)
            if price_path_violations({**edited, "path": path[:k]}, "being edited")
        ),
        path[-1]["week_starting"],
    )
    before = [week for week in changed if week <= broken]
    return before[-1] if before else changed[0]


def _skus(content: Mapping[str, Any]) -> set[str]:
    """The SKUs a markdown content prices (its sizes, or its one SKU)."""
    named = [content.get("sku"), *(v.get("sku") for v in content.get("variants") or [])]
    return {sku for sku in named if isinstance(sku, str)}


def same_product_and_zone(
    older_at: str | None,
    older: Mapping[str, Any],
    newer_at: str | None,
    newer: Mapping[str, Any],
) -> bool:
    """Whether two markdown proposals (made for `older_at` and `newer_at`) price the same product
    in the same zone: they share a size (a plan lists every size of its product), and
    `same_zone`."""
    return bool(_skus(older) & _skus(newer)) and same_zone(older_at, older, newer_at, newer)


def same_zone(
    older_at: str | None,
    older: Mapping[str, Any],
    newer_at: str | None,
    newer: Mapping[str, Any],
) -> bool:
    """Whether the older proposal was made for the newer one's zone or one of its locations. A
    proposal made before there were zones (for one store, with no `zone` in its content) priced
    its SKU at every store and online: it shares every zone."""
    zone = newer.get("zone")
    if not (zone and older.get("zone")):
        return True
    return older_at in {newer_at, *zone.get("locations", [])}


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

    For each size of the plan, one `markdown` price-history row per step, with its effective
    date (none before today, by the application's clock) and the proposal id; a size's current
    price changes only for steps effective today or earlier (later ones wait in the history for
    their day). A proposal whose rows exist already gets its reference back and nothing is
    written. Refused (PricingError, one sentence) when the plan breaks a guardrail as the store
    stands now (`violations_now`: promotions, the cap on changes a day, costs), when an
    approved plan for the same product and zone is still in force, when the zone does not cover
    every store and online, when a size's price is no longer the one the plan started from, or
    when a size has a price change scheduled already. Runs in the caller's transaction, which
    also marks the proposal executed (`approvals.decisions`).
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
    violations = violations_now(session, proposal.id, proposal.content)
    if violations:
        raise PricingError(
            f"Proposal {proposal.id} breaks the guardrails ({violations[0]}); it was not applied."
        )
    today = today or clock_today(session)
    _refuse_conflicts(session, proposal, plan)
    _refuse_partial_zone(session, proposal, plan)
    for size in plan.sizes():
        _apply_size(session, proposal, plan.for_size(size), today)
    # Prices and the clearance flag moved: catalogue snapshots reload (the recommender's).
    catalog_version.bump(session)
    session.flush()
    return ref


def approved_in_force(
    session: Session,
    location_id: str | None,
    content: Mapping[str, Any],
    *,
    excluding: str | None = None,
) -> Proposal | None:
    """An approved markdown for the same product and zone as `content` (made for
    `location_id`) whose prices are still in force today by the application's clock, if any."""
    today = clock_today(session)
    approved = session.scalars(
        select(Proposal).where(
            Proposal.kind == KIND, Proposal.status.in_(APPROVED), Proposal.id != excluding
        )
    )
    products = _products(session, content)
    for other in approved:
        if (
            same_zone(other.location_id, other.content, location_id, content)
            and products & _products(session, other.content)
            and MarkdownContent.of(other.content, other.id).ends_on() >= today
        ):
            return other
    return None


def _products(session: Session, content: Mapping[str, Any]) -> set[str]:
    """The product a markdown content prices: named in it, or (a proposal made before there were
    zones named its SKU only) the product of its SKU."""
    if content.get("product_id"):
        return {str(content["product_id"])}
    return set(session.scalars(select(Variant.product_id).where(Variant.id.in_(_skus(content)))))


def _refuse_conflicts(session: Session, proposal: Proposal, plan: MarkdownContent) -> None:
    """PricingError when another approved plan for the same product and zone is in force."""
    other = approved_in_force(
        session, proposal.location_id, proposal.content, excluding=proposal.id
    )
    if other is not None:
        ends_on = MarkdownContent.of(other.content, other.id).ends_on()
        product = proposal.content.get("product") or plan.sku
        raise PricingError(
            f"Proposal {proposal.id} conflicts with proposal {other.id}, approved for "
            f"{product} in {proposal.location_id} with prices in force until "
            f"{ends_on.isoformat()}; it was not applied (plan again after that day)."
        )


def _refuse_partial_zone(session: Session, proposal: Proposal, plan: MarkdownContent) -> None:
    """PricingError when the plan's zone leaves out a store or online: the store keeps one price
    per SKU, so applying it would reprice the locations outside the zone too."""
    if plan.zone is None:
        return
    zones = price_zones(session)
    everywhere = {location for zone in zones for location in zone.location_ids}
    zone = zone_named(zones, plan.zone.id)
    if set(zone.location_ids) != everywhere:
        raise PricingError(
            f"Proposal {proposal.id} prices zone {zone.id} ({', '.join(zone.location_ids)}), "
            "but the store keeps one price per SKU for every store and online; it was not "
            "applied."
        )


def _apply_size(
    session: Session, proposal: Proposal, plan: MarkdownContent, today: dt.date
) -> None:
    """Write one size's dated prices (see `apply_price_change`)."""
    variant = session.get(Variant, plan.sku, with_for_update=True)
    if variant is None:
        raise PricingError(f"Proposal {proposal.id} names SKU {plan.sku}, which does not exist.")
    if abs(float(variant.price) - plan.current_price) > PRICE_TOLERANCE:
        raise PricingError(
            f"The price of {plan.sku} is {variant.price:.2f}, not the {plan.current_price:.2f} "
            f"proposal {proposal.id} was planned from; plan it again."
        )
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
    listed = session.scalar(
        select(func.count())
        .select_from(PriceChange)
        .where(PriceChange.variant_id == plan.sku, PriceChange.reason != MARKDOWN)
    )
    if not listed:
        # An imported SKU has no price history; "on sale" reads the list price from the row
        # before a markdown (`catalog_queries`), so the first markdown records what it is from.
        session.add(
            PriceChange(
                variant_id=plan.sku, effective_on=today, price=plan.list_price, reason=LIST_CHANGE
            )
        )
        session.flush()
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
