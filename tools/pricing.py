"""The pricing manager's tools: which SKUs need a markdown, how price-sensitive their demand is,
markdown proposals from the planner, and one proposal in full. Beside the tools, what the
approval path (`agents.operations`, never a model) uses for price-change proposals: the
guardrail check, the pricing manager's edit, and `apply_price_change`.

Prices are written only by `apply_price_change`, for a proposal a person approved. The store
keeps one price per SKU (chain-wide), so a proposal planned for one location changes the SKU's
price everywhere; execution refuses a plan made against a price that has changed since, or a SKU
that already has a price change scheduled by another proposal.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ml_core.pricing.guardrails import PRICE_TOLERANCE, ChangeHistory, Guardrails, check_plan
from ml_core.pricing.planning import (
    KIND,
    MODEL_VERSION,
    PricingData,
    load_pricing_data,
    plan_markdowns,
)
from retail.errors import AisleError
from retail.store.models import (
    DailySales,
    InventoryPosition,
    Location,
    PriceChange,
    Product,
    Proposal,
    Variant,
)
from tools.base import Role, ToolContext, invalid, not_found, tool

READERS: tuple[Role, ...] = ("pricing_manager", "evaluator")
HORIZON_WEEKS = 8
RECENT_WEEKS = 4
MARKDOWN = "markdown"
PLANNED_KINDS = ("store", "online")


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LocationArg = Annotated[
    str | None,
    Field(
        description="A store id such as 'S001', or 'ONLINE'; leave empty for every store and "
        "online."
    ),
]


class PricingError(AisleError):
    """A price change cannot be applied as asked."""


# --- markdown candidates -------------------------------------------------------------------


class MarkdownCandidate(_Output):
    sku: str
    product_id: str
    product: str
    location_id: str
    stock: int = Field(description="Units on hand and not reserved.")
    current_price: float
    unit_cost: float | None
    units_last_4_weeks: int
    season_outlook: float | None = Field(
        description="The category's sales in the coming weeks a year ago relative to the four "
        "weeks before them (below 1: the season is ending); none without a year of history."
    )
    weeks_of_cover: float | None = Field(
        description="Weeks the stock lasts at the recent rate times the season outlook; none "
        "when nothing sold."
    )
    excess_units: float = Field(description="Stock beyond what the horizon is expected to sell.")
    excess_cost: float | None = Field(description="The excess units at unit cost.")
    reason: str


class MarkdownCandidates(_Output):
    as_of: str | None = Field(description="The last day with recorded sales.")
    horizon_weeks: int
    reviewed: int = Field(description="SKU-locations with stock that were looked at.")
    candidates: list[MarkdownCandidate] = Field(description="Most money tied up in excess first.")


@tool(roles=READERS)
def markdown_candidates(
    ctx: ToolContext,
    *,
    location_id: LocationArg = None,
    limit: Annotated[int, Field(ge=1, le=200, description="How many candidates at most.")] = 20,
) -> MarkdownCandidates:
    """SKUs that will not sell through before the season ends: slow sellers and overstock with
    more weeks of cover than the markdown horizon. Use it to see what needs a markdown."""
    with Session(ctx.engine) as session:
        locations = _locations(session, location_id)
        as_of = session.scalar(
            select(func.max(DailySales.day)).where(DailySales.location_id.in_(locations))
        )
        if as_of is None:
            return MarkdownCandidates(
                as_of=None, horizon_weeks=HORIZON_WEEKS, reviewed=0, candidates=[]
            )
        stock = session.execute(
            select(
                InventoryPosition.variant_id,
                InventoryPosition.location_id,
                (InventoryPosition.on_hand - InventoryPosition.reserved).label("stock"),
                Variant.price,
                Variant.unit_cost,
                Product.id.label("product_id"),
                Product.name,
                Product.category_id,
            )
            .join(Variant, Variant.id == InventoryPosition.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                InventoryPosition.location_id.in_(locations),
                InventoryPosition.on_hand - InventoryPosition.reserved > 0,
            )
        ).all()
        first = as_of - dt.timedelta(weeks=RECENT_WEEKS) + dt.timedelta(days=1)
        recent = {
            (variant, location): int(units or 0)
            for variant, location, units in session.execute(
                select(DailySales.variant_id, DailySales.location_id, func.sum(DailySales.units))
                .where(DailySales.location_id.in_(locations), DailySales.day >= first)
                .group_by(DailySales.variant_id, DailySales.location_id)
            )
        }
        outlook = _season_outlook(session, locations, as_of)
    candidates = []
    for row in stock:
        sold = recent.get((row.variant_id, row.location_id), 0)
        season = outlook.get(row.category_id)
        weekly = sold / RECENT_WEEKS * (1.0 if season is None else season)
        excess = row.stock - weekly * HORIZON_WEEKS
        if excess <= 0:
            continue
        cover = row.stock / weekly if weekly > 0 else None
        candidates.append(
            MarkdownCandidate(
                sku=row.variant_id,
                product_id=row.product_id,
                product=row.name,
                location_id=row.location_id,
                stock=int(row.stock),
                current_price=float(row.price),
                unit_cost=None if row.unit_cost is None else float(row.unit_cost),
                units_last_4_weeks=sold,
                season_outlook=None if season is None else round(season, 3),
                weeks_of_cover=None if cover is None else round(cover, 1),
                excess_units=round(excess, 1),
                excess_cost=None if row.unit_cost is None else round(excess * row.unit_cost, 2),
                reason=_candidate_reason(row.stock, sold, cover, season),
            )
        )
    candidates.sort(key=lambda c: (-(c.excess_cost or 0.0), -c.excess_units, c.sku, c.location_id))
    return MarkdownCandidates(
        as_of=as_of.isoformat(),
        horizon_weeks=HORIZON_WEEKS,
        reviewed=len(stock),
        candidates=candidates[:limit],
    )


def _locations(session: Session, location_id: str | None) -> list[str]:
    """The priced locations asked for (every store and online when none is named)."""
    query = select(Location.id).where(Location.kind.in_(PLANNED_KINDS)).order_by(Location.id)
    if location_id is not None:
        query = query.where(Location.id == location_id)
    found = list(session.scalars(query))
    if location_id is not None and not found:
        raise not_found(f"There is no store {location_id!r}.")
    return found


def _season_outlook(session: Session, locations: list[str], as_of: dt.date) -> dict[str, float]:
    """Per category: weekly sales in the horizon's weeks a year before `as_of`, over the weekly
    sales of the four weeks before those (categories without that year of history are left out).

    A screen, on raw units: last year's promotions count as season here; the planner's
    baseline (`ml_core.pricing.baseline`) corrects for prices."""
    year_ago = as_of - dt.timedelta(weeks=52)
    start = year_ago - dt.timedelta(weeks=RECENT_WEEKS) + dt.timedelta(days=1)
    end = year_ago + dt.timedelta(weeks=HORIZON_WEEKS)
    ahead = case((DailySales.day > year_ago, True), else_=False).label("ahead")
    rows = session.execute(
        select(Product.category_id, ahead, func.sum(DailySales.units), func.min(DailySales.day))
        .join(Variant, Variant.id == DailySales.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            DailySales.location_id.in_(locations),
            DailySales.day >= start,
            DailySales.day <= end,
        )
        .group_by(Product.category_id, ahead)
    ).all()
    before = {cat: (units, day) for cat, is_ahead, units, day in rows if not is_ahead}
    out = {}
    for category, is_ahead, units, _ in rows:
        if not is_ahead or category not in before:
            continue
        base, since = before[category]
        if base and since <= start + dt.timedelta(days=6):
            out[category] = (float(units) / HORIZON_WEEKS) / (float(base) / RECENT_WEEKS)
    return out


def _candidate_reason(stock: int, sold: int, cover: float | None, season: float | None) -> str:
    pace = (
        "nothing sold in the last 4 weeks"
        if cover is None
        else f"{stock} in stock is {cover:.0f} weeks of cover at the last 4 weeks' pace"
    )
    trend = "" if season is None else f", season ahead at {season:.2f}x recent sales"
    return f"{sold} sold in 4 weeks; {pace}{trend} (horizon {HORIZON_WEEKS} weeks)."


# --- elasticity ----------------------------------------------------------------------------


class ItemElasticity(_Output):
    product_id: str
    product: str
    category_id: str | None
    elasticity: float = Field(description="% change in units for a 1% change in price.")
    se: float | None
    lower: float | None = Field(description="Lower end of the 95% interval.")
    upper: float | None = Field(description="Upper end of the 95% interval.")
    method: str = Field(
        description="ppml-fe-pooled: estimated from the product's own price changes, shrunk "
        "toward its category; category-prior / global-prior: too little price variation, the "
        "category's (or overall) mean."
    )
    n_periods: int = Field(description="Weeks of sales the estimate used.")
    model_version: str
    as_of: str = Field(description="The last day of sales the model saw.")


@tool(roles=READERS)
def item_elasticity(
    ctx: ToolContext,
    *,
    product_id: Annotated[str, Field(min_length=1, description="The product id, e.g. 'P00011'.")],
) -> ItemElasticity:
    """A product's own-price elasticity of demand with its 95% interval and how it was
    estimated. Use it to judge how much a markdown will lift sales."""
    with Session(ctx.engine) as session:
        product = session.get(Product, product_id)
    if product is None:
        raise not_found(f"There is no product {product_id!r}.")
    data = _pricing_data(ctx)
    items = data.elasticity
    if product_id not in items.index:
        raise not_found(f"Product {product_id} has too little sales history for an elasticity.")
    row = items.loc[product_id]
    return ItemElasticity(
        product_id=product_id,
        product=product.name,
        category_id=product.category_id,
        elasticity=round(float(row["elasticity"]), 3),
        se=_finite(row["se"]),
        lower=_finite(row["lower"]),
        upper=_finite(row["upper"]),
        method=str(row["method"]),
        n_periods=int(row["n_periods"]),
        model_version=MODEL_VERSION,
        as_of=data.last_day.date().isoformat(),
    )


def _pricing_data(ctx: ToolContext) -> PricingData:
    """The planner's sales panels and elasticities, read and fitted once per last day of sales
    in this process: the elasticity lookups and the markdown plan of a run share them (reading
    them is most of a plan's cost). A new day of sales reads them again; prices scheduled by
    approved markdowns start after it, so they do not change them."""
    with Session(ctx.engine) as session:
        last_day = session.scalar(select(func.max(DailySales.day)))
    if last_day is None:
        raise not_found("There are no sales yet to estimate elasticities from.")
    data: PricingData = ctx.services.cached(
        f"pricing.data:{last_day.isoformat()}",
        lambda: load_pricing_data(ctx.engine, show_progress=True),
    )
    return data


def _finite(value: Any) -> float | None:
    number = float(value)
    return round(number, 3) if math.isfinite(number) else None


# --- markdown proposals --------------------------------------------------------------------


class RejectedPlan(_Output):
    sku: str
    location_id: str
    reasons: list[str] = Field(description="Why the circuit breaker stopped the plan.")


class ProposalBrief(_Output):
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


class MarkdownProposals(_Output):
    as_of: str
    objective: str
    horizon_weeks: int
    locations: list[str]
    skus_reviewed: int
    proposals_written: int
    proposals_unchanged: int
    proposals_superseded: int
    deferred_by_daily_cap: int
    rejected: list[RejectedPlan] = Field(description="Plans the circuit breaker stopped.")
    proposals: list[ProposalBrief] = Field(description="Open proposals, largest gain first.")
    more_proposals: int = Field(description="Open proposals of this run beyond the limit.")


@tool(roles=("pricing_manager",), writes=True)
def propose_markdowns(
    ctx: ToolContext,
    *,
    location_id: LocationArg = None,
    limit: Annotated[
        int | None,
        Field(ge=1, le=500, description="How many proposals to list at most (all written)."),
    ] = None,
) -> MarkdownProposals:
    """Plan markdowns within the guardrails and write them as price-change proposals for the
    pricing manager to decide; no price changes. Plans the circuit breaker stops are listed
    with their reasons and never proposed."""
    summary = plan_markdowns(
        ctx.engine,
        store_id=location_id,
        horizon_weeks=HORIZON_WEEKS,
        proposer=ctx.principal.id,
        data=_pricing_data(ctx),
        show_progress=True,
    )
    ids = [p["id"] for p in summary.proposals]
    with Session(ctx.engine) as session:
        rows = {p.id: p for p in session.scalars(select(Proposal).where(Proposal.id.in_(ids)))}
    new = {p["id"]: bool(p["new"]) for p in summary.proposals}
    briefs = sorted(
        (proposal_brief(rows[i], new=new[i]) for i in ids if rows[i].status == "proposed"),
        key=lambda b: (-b.expected_gain, b.sku, b.location_id or ""),
    )
    shown = briefs if limit is None else briefs[:limit]
    return MarkdownProposals(
        as_of=summary.as_of,
        objective=summary.objective,
        horizon_weeks=summary.horizon_weeks,
        locations=summary.locations,
        skus_reviewed=summary.skus_reviewed,
        proposals_written=summary.proposals_written,
        proposals_unchanged=summary.proposals_unchanged,
        proposals_superseded=summary.proposals_superseded,
        deferred_by_daily_cap=summary.deferred_by_daily_cap,
        rejected=[
            RejectedPlan(sku=r["sku"], location_id=r["location"], reasons=r["reasons"])
            for r in summary.rejected
        ],
        proposals=shown,
        more_proposals=len(briefs) - len(shown),
    )


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


# --- one proposal --------------------------------------------------------------------------


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


class PriceWeek(_Output):
    week_starting: str
    price: float
    change: float = Field(description="Fraction changed from the week before (or today's price).")
    margin: float = Field(description="(price - unit cost) / price.")


class ElasticityEstimate(_Output):
    estimate: float
    lower: float
    upper: float
    method: str


class ExpectedOutcome(_Output):
    units: float = Field(description="Units the plan is expected to sell over the horizon.")
    value: float = Field(description="The objective's value of the plan over the horizon.")
    keep_units: float = Field(description="Units expected keeping today's price.")
    keep_value: float
    gain: float
    leftover: float = Field(description="Units expected left at the end.")


class GuardrailReport(_Output):
    passes: bool
    violations: list[str] = Field(description="Each guardrail the price path breaks.")
    binding: list[str] = Field(description="Guardrails that held the plan back.")
    settings: dict[str, Any]


class PricingProposalDetail(_Output):
    id: str
    status: str
    proposer: str
    location_id: str | None
    content_hash: str
    created_at: str
    expires_at: str | None
    decided_by: str | None
    reason: str | None
    executed_ref: str | None
    sku: str
    product_id: str | None
    product: str
    as_of: str | None
    objective: str | None
    current_price: float
    list_price: float
    unit_cost: float
    stock: float | None
    elasticity: ElasticityEstimate | None
    weeks: list[PriceWeek]
    expected: ExpectedOutcome | None
    guardrails: GuardrailReport
    explanation: str | None
    edited_weeks: list[str] = Field(
        description="Weeks whose price the pricing manager edited; the expected figures are "
        "those of the plan as proposed."
    )
    model_versions: dict[str, Any]


@tool(roles=READERS)
def pricing_proposal_detail(
    ctx: ToolContext,
    *,
    proposal_id: Annotated[str, Field(min_length=1, description="The proposal id ('prop-...').")],
) -> PricingProposalDetail:
    """One price-change proposal in full: its prices week by week with their margins, the
    elasticity behind it, expected units and value, and every guardrail check. Use it before
    deciding a proposal."""
    with Session(ctx.engine) as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None:
            raise not_found(f"There is no proposal {proposal_id!r}.")
        if proposal.kind != KIND:
            raise invalid(f"Proposal {proposal_id} is a {proposal.kind}, not a price change.")
        content = proposal.content
        plan = MarkdownContent.of(content, proposal.id)
        product_id = session.scalar(select(Variant.product_id).where(Variant.id == plan.sku))
    violations = price_path_violations(content, proposal.id)
    weeks, previous = [], plan.current_price
    for week in plan.path:
        weeks.append(
            PriceWeek(
                week_starting=week.week_starting.isoformat(),
                price=week.price,
                change=round(week.price / previous - 1.0, 4),
                margin=round((week.price - plan.unit_cost) / week.price, 4),
            )
        )
        previous = week.price
    elasticity = content.get("elasticity")
    expected = content.get("expected")
    return PricingProposalDetail(
        id=proposal.id,
        status=proposal.status,
        proposer=proposal.proposer,
        location_id=proposal.location_id,
        content_hash=proposal.content_hash,
        created_at=proposal.created_at.isoformat(),
        expires_at=None if proposal.expires_at is None else proposal.expires_at.isoformat(),
        decided_by=proposal.decided_by,
        reason=proposal.reason,
        executed_ref=proposal.executed_ref,
        sku=plan.sku,
        product_id=product_id,
        product=str(content.get("product", "")),
        as_of=content.get("as_of"),
        objective=content.get("objective"),
        current_price=plan.current_price,
        list_price=plan.list_price,
        unit_cost=plan.unit_cost,
        stock=content.get("stock"),
        elasticity=None if elasticity is None else ElasticityEstimate(**elasticity),
        weeks=weeks,
        expected=None if expected is None else ExpectedOutcome(**expected),
        guardrails=GuardrailReport(
            passes=not violations,
            violations=violations,
            binding=list(content.get("binding_guardrails", [])),
            settings=plan.guardrails.model_dump(mode="json"),
        ),
        explanation=content.get("explanation"),
        edited_weeks=list(content.get("edited_weeks", [])),
        model_versions=dict(proposal.model_versions or {}),
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


def edit_markdown(content: Mapping[str, Any], changes: Mapping[str, float]) -> dict[str, Any]:
    """The markdown proposal's content with a pricing manager's edit: `changes` maps a week of
    the path (its `week_starting` date) to the new price from that week. Only prices change,
    and the edited path must pass the guardrails, or the edit is refused (PricingError).

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
    for week, price in changes.items():
        if not (math.isfinite(price) and price > 0):
            raise PricingError(f"The price for the week of {week} must be positive, not {price}.")
    path = [
        {**week, "price": round(float(changes[week["week_starting"]]), 2)}
        if week["week_starting"] in changes
        else dict(week)
        for week in content["path"]
    ]
    edited = {**content, "path": path, "edited_weeks": sorted(changes)}
    violations = price_path_violations(edited, "being edited")
    if violations:
        raise PricingError(f"The edited plan breaks the guardrails: {violations[0]}.")
    return edited


# --- execution -----------------------------------------------------------------------------


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
    marks the proposal executed (`agents.operations.execute_proposal`).
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
