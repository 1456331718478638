"""The pricing manager's tools: which SKUs need a markdown, how price-sensitive their demand is,
markdown proposals from the planner, and one proposal in full.

Prices are written only by `approvals.price_changes.apply_price_change`, for a proposal a person
approved (`approvals.decisions`); the planner's proposals are recorded by `approvals.records`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from approvals.bounds import BoundsError, price_ceiling
from approvals.price_changes import (
    KIND,
    MarkdownContent,
    PricingError,
    ProposalBrief,
    Size,
    edit_markdown,
    guardrails_now,
    price_steps,
    proposal_brief,
    unit_cost_now,
)
from approvals.records import record_plan
from ml_core.pricing.elasticity import describe_method
from ml_core.pricing.guardrails import (
    PRICE_TOLERANCE,
    GuardrailCheck,
    guardrail_summary,
    money,
    percent,
    rung_prices,
    units_text,
)
from ml_core.pricing.planning import PricingData, load_pricing_data, plan_markdowns
from ml_core.pricing.served import elasticity_champion
from retail.price_zones import location_names, zone_in_words
from retail.store.models import (
    DailySales,
    InventoryPosition,
    Location,
    Product,
    Proposal,
    Variant,
)
from tools.base import Role, ToolContext, invalid, not_found, tool

READERS: tuple[Role, ...] = ("pricing_manager", "evaluator")
HORIZON_WEEKS = 8
RECENT_WEEKS = 4
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
    method: str = Field(description="How the estimate was made, in plain words.")
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
        method=describe_method(str(row["method"])),
        n_periods=int(row["n_periods"]),
        model_version=data.elasticity_version,
        as_of=data.last_day.date().isoformat(),
    )


def _pricing_data(ctx: ToolContext) -> PricingData:
    """The planner's sales panels and elasticities, read (and fitted, without a champion in the
    registry) once per last day of sales and elasticity champion in this process: the elasticity
    lookups and the markdown plan of a run share them (reading them is most of a plan's cost). A
    new day of sales or a new champion reads them again; prices scheduled by approved markdowns
    start after it, so they do not change them."""
    with Session(ctx.engine) as session:
        last_day = session.scalar(select(func.max(DailySales.day)))
    if last_day is None:
        raise not_found("There are no sales yet to estimate elasticities from.")
    artifacts = ctx.settings.var_dir / "artifacts"
    # A promotion or rollback of the elasticity model is read at once: its version is the key.
    version = elasticity_champion(artifacts) or "in-process"
    data: PricingData = ctx.services.cached(
        f"pricing.data:{last_day.isoformat()}:{version}",
        lambda: load_pricing_data(ctx.engine, artifacts=artifacts, show_progress=True),
    )
    return data


def _finite(value: Any) -> float | None:
    number = float(value)
    return round(number, 3) if math.isfinite(number) else None


# --- markdown proposals --------------------------------------------------------------------


class RejectedPlan(_Output):
    product_id: str
    zone: str = Field(description="The price zone the plan was for.")
    reasons: list[str] = Field(description="Why the plan was stopped.")


class MarkdownProposals(_Output):
    as_of: str = Field(description="The last day of sales the plan saw.")
    starts_on: str = Field(description="The plan's first day: today by the application's clock.")
    objective: str
    horizon_weeks: int
    zones: list[str] = Field(description="The price zones planned.")
    products_reviewed: int
    proposals_written: int
    proposals_unchanged: int
    proposals_superseded: int
    proposals_withdrawn: int = Field(
        description="Open proposals in the zones planned that the new plan does not carry."
    )
    already_decided: int = Field(
        description="Plans a pricing manager already approved: not proposed again."
    )
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
    """Plan markdowns within the guardrails, one per product and price zone (a store names its
    zone), and write them as price-change proposals for the pricing manager to decide; no price
    changes. Plans the circuit breaker stops are listed with their reasons and never proposed."""
    summary = plan_markdowns(
        ctx.engine,
        zone=location_id,
        horizon_weeks=HORIZON_WEEKS,
        data=_pricing_data(ctx),
        settings=ctx.services.settings,
        show_progress=True,
    )
    with Session(ctx.engine) as session, session.begin():
        recorded = record_plan(
            session, KIND, summary.planned, proposer=ctx.principal.id, covers=summary.covers
        )
        waiting = {r.id: r.new for r in recorded.recorded if r.status == "proposed"}
        rows = session.scalars(select(Proposal).where(Proposal.id.in_(waiting)))
        briefs = sorted(
            (proposal_brief(row, new=waiting[row.id]) for row in rows),
            key=lambda b: (-b.expected_gain, b.sku, b.location_id or ""),
        )
    shown = briefs if limit is None else briefs[:limit]
    return MarkdownProposals(
        as_of=summary.as_of,
        starts_on=summary.starts_on,
        objective=summary.objective,
        horizon_weeks=summary.horizon_weeks,
        zones=summary.zones,
        products_reviewed=summary.products_reviewed,
        proposals_written=recorded.written,
        proposals_unchanged=recorded.unchanged,
        proposals_superseded=recorded.superseded,
        proposals_withdrawn=recorded.withdrawn,
        already_decided=recorded.already_decided,
        deferred_by_daily_cap=summary.deferred_by_daily_cap,
        rejected=[RejectedPlan(**r) for r in summary.rejected],
        proposals=shown,
        more_proposals=len(briefs) - len(shown),
    )


# --- one proposal --------------------------------------------------------------------------


class PriceWeek(_Output):
    week_starting: str
    price: float
    change: float = Field(description="Fraction changed from the week before (or today's price).")
    margin: float = Field(description="(price - unit cost) / price.")


class ElasticityEstimate(_Output):
    estimate: float
    lower: float
    upper: float
    method: str = Field(description="How the estimate was made, in plain words.")


class SizePrice(_Output):
    sku: str
    options: dict[str, Any] = Field(description="The size, colour, ... that make this SKU.")
    list_price: float
    current_price: float
    first_price: float = Field(description="Its price from the plan's first change.")
    unit_cost: float | None = Field(description="This SKU's own cost (none when not known).")


class PriceZoneView(_Output):
    id: str
    name: str
    locations: list[str] = Field(description="The stores and online the prices apply at.")
    in_words: str = Field(description="Where the prices apply, by the locations' names.")


class ExpectedOutcome(_Output):
    units: float = Field(description="Units the plan is expected to sell over the horizon.")
    value: float = Field(description="The objective's value of the plan over the horizon.")
    keep_units: float = Field(description="Units expected keeping today's price.")
    keep_value: float
    gain: float
    leftover: float = Field(description="Units expected left at the end.")
    # None on proposals made before their leftovers' worth was recorded.
    keep_leftover: float | None = Field(None, description="Units left keeping today's price.")
    leftover_value: float | None = Field(
        None, description="What the units left add to the value (negative: salvage under cost)."
    )
    keep_leftover_value: float | None = None
    leftover_note: str | None = Field(
        None, description="The units left and their worth in words, when they move the value."
    )

    # The unit figures as the proposal's sentences say them (`units_text`): the page shows
    # these, so it never rounds a recorded 103.25 one way while the text rounds it the other.
    # Always made from the figures (`_said`), so a text can never disagree with its number.
    units_text: str = Field(description="`units` as every text says it, to one decimal.")
    keep_units_text: str = Field(description="`keep_units` as every text says it.")
    leftover_text: str = Field(description="`leftover` as every text says it.")

    @model_validator(mode="before")
    @classmethod
    def _said(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        figures = ("units", "keep_units", "leftover")
        return {**data, **{f"{k}_text": units_text(data[k]) for k in figures if k in data}}


class GuardrailCheckView(_Output):
    guardrail: str
    setting: str = Field(description="What the guardrail allows.")
    plan: str = Field(description="The plan's own figure against it.")
    verdict: str = Field(description="passed, passed close to the limit, broken or not checked.")
    bound: bool = Field(description="It held the plan back: the plan would be worth more without.")
    held_back: str | None = Field(
        description="When bound: the step the plan would take without it, and its worth (of "
        "the agent's plan before the edit, when the pricing manager edited it)."
    )
    text: str = Field(description="The line as a person reads it, the same shape for each.")


class GuardrailReport(_Output):
    passes: bool
    summary: str = Field(description="One sentence that says what the lines say.")
    violations: list[str] = Field(
        description="Each guardrail the plan breaks as the store stands now (what approval "
        "refuses on)."
    )
    checks: list[GuardrailCheckView] = Field(
        description="Each guardrail with the plan's numbers against it."
    )
    settings: dict[str, Any]


class PricingProposalDetail(_Output):
    id: str
    status: str
    proposer: str
    location_id: str | None = Field(description="The price zone (or store) it was made for.")
    zone: PriceZoneView | None
    content_hash: str
    created_at: str
    expires_at: str | None
    decided_by: str | None
    reason: str | None
    executed_ref: str | None
    sku: str
    product_id: str | None
    product: str
    as_of: str | None = Field(description="The last day of sales the plan saw.")
    starts_on: str | None = Field(description="The plan's first day.")
    first_change_on: str | None = Field(
        description="The day of the plan's first new price (weeks after it starts where the "
        "first weeks keep today's price); none when it changes no price."
    )
    first_price: float = Field(description="The plan's first new price (today's when none).")
    objective: str | None
    size_rule: str | None = Field(description="How the product's sizes are priced.")
    sizes: list[SizePrice]
    current_price: float
    list_price: float
    unit_cost: float = Field(
        description="The cost every margin of the plan is on: `cost_basis` says what it is when "
        "it is not the quoted SKU's own cost."
    )
    cost_basis: str | None = Field(
        description="When the cost is not the quoted SKU's own: what it is, and the SKU's own."
    )
    stock: float | None
    elasticity: ElasticityEstimate | None
    weeks: list[PriceWeek]
    ladder_prices: list[float] = Field(
        description="The prices a week may be edited to, highest first: today's price and the "
        "ladder's rungs of the list price, by the rounding the plan was made under."
    )
    expected: ExpectedOutcome | None
    expected_of: str = Field(
        description="Whose path the expected figures are: 'plan' (not edited), 'edited path' "
        "(valued by the demand model the agent planned with) or 'agent's plan' (an edited plan "
        "that does not record its demand model keeps the agent's figures)."
    )
    proposed_expected: ExpectedOutcome | None = Field(
        description="After an edit: the agent's expected figures for its own plan."
    )
    guardrails: GuardrailReport
    explanation: str | None
    edited_weeks: list[str] = Field(
        description="Weeks whose price the pricing manager edited (or, with `changes`, would)."
    )
    model_versions: dict[str, Any]


@tool(roles=READERS)
def pricing_proposal_detail(
    ctx: ToolContext,
    *,
    proposal_id: Annotated[str, Field(min_length=1, description="The proposal id ('prop-...').")],
    changes: Annotated[
        dict[str, float] | None,
        Field(
            description="Optional: week start date -> price, to read the proposal as it would be "
            "with those weeks' prices edited (nothing is saved); refused as an edit would be."
        ),
    ] = None,
) -> PricingProposalDetail:
    """One price-change proposal in full: the zone it prices, its prices week by week with
    their margins, each size's new price, the elasticity behind it, expected units and value,
    and every guardrail with the plan's numbers against it. Use it before deciding a
    proposal; with `changes`, to see what an edit would do before making it."""
    with Session(ctx.engine) as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None:
            raise not_found(f"There is no proposal {proposal_id!r}.")
        if proposal.kind != KIND:
            raise invalid(f"Proposal {proposal_id} is a {proposal.kind}, not a price change.")
        content = proposal.content
        if changes:
            try:
                content = edit_markdown(content, changes)
            except (PricingError, BoundsError) as exc:
                raise invalid(str(exc)) from None
        plan = MarkdownContent.of(content, proposal.id)
        product_id = content.get("product_id") or session.scalar(
            select(Variant.product_id).where(Variant.id == plan.sku)
        )
        zone = content.get("zone")
        zone_view = (
            None
            if zone is None
            else PriceZoneView(
                id=zone["id"],
                name=zone["name"],
                locations=zone["locations"],
                in_words=zone_in_words(
                    zone["id"], zone["name"], location_names(session, zone["locations"])
                ),
            )
        )
        costs = {
            sku: float(cost)
            for sku, cost in session.execute(
                select(Variant.id, Variant.unit_cost).where(
                    Variant.id.in_([size.sku for size in plan.sizes()])
                )
            )
            if cost is not None
        }
        lines, violations = guardrails_now(session, proposal.id, content)
        # Margins on the sizes' costs as they are now, as approval checks them.
        plan = plan.model_copy(update={"unit_cost": unit_cost_now(session, content)})
    steps = price_steps(plan, today=plan.path[0].week_starting)
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
    proposed = content.get("proposed_expected")
    edited = list(content.get("edited_weeks", []))
    ceiling = price_ceiling(plan.current_price, plan.list_price)
    rungs = {
        price
        for fraction in plan.guardrails.ladder
        for price, _ in rung_prices(plan.list_price, fraction, plan.guardrails.rounding)
    }
    options = {v.get("sku"): v.get("options", {}) for v in content.get("variants", [])}
    sizes = [
        _size_price(plan, size, options.get(size.sku, {}), costs.get(size.sku))
        for size in plan.sizes()
    ]
    return PricingProposalDetail(
        id=proposal.id,
        status=proposal.status,
        proposer=proposal.proposer,
        location_id=proposal.location_id,
        zone=zone_view,
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
        starts_on=content.get("starts_on", plan.path[0].week_starting.isoformat()),
        first_change_on=steps[0][0].isoformat() if steps else None,
        first_price=steps[0][1] if steps else plan.current_price,
        objective=content.get("objective"),
        size_rule=content.get("size_rule"),
        sizes=sizes,
        current_price=plan.current_price,
        list_price=plan.list_price,
        unit_cost=plan.unit_cost,
        cost_basis=_cost_basis(plan, sizes),
        stock=content.get("stock"),
        elasticity=None
        if elasticity is None
        else ElasticityEstimate(**{**elasticity, "method": describe_method(elasticity["method"])}),
        weeks=weeks,
        ladder_prices=sorted(
            {round(plan.current_price, 2), *(r for r in rungs if r <= ceiling + PRICE_TOLERANCE)},
            reverse=True,
        ),
        expected=None if expected is None else ExpectedOutcome(**expected),
        expected_of="plan" if not edited else "edited path" if proposed else "agent's plan",
        proposed_expected=None if proposed is None else ExpectedOutcome(**proposed),
        guardrails=_guardrail_report(plan, lines, violations),
        explanation=content.get("explanation"),
        edited_weeks=edited,
        model_versions=dict(proposal.model_versions or {}),
    )


def _size_price(
    plan: MarkdownContent, size: Size, options: dict[str, Any], unit_cost: float | None
) -> SizePrice:
    priced = plan.for_size(size)
    steps = price_steps(priced, today=priced.path[0].week_starting)
    return SizePrice(
        sku=size.sku,
        options=options,
        list_price=size.list_price,
        current_price=size.current_price,
        first_price=steps[0][1] if steps else size.current_price,
        unit_cost=unit_cost,
    )


def _guardrail_report(
    plan: MarkdownContent, checks: list[GuardrailCheck], violations: list[str]
) -> GuardrailReport:
    """Each guardrail against the plan's path as it is now (edited or not), the sentence that
    sums them up, and whether it passes: by the violations approval refuses on, which count
    every broken line (`approvals.price_changes.guardrails_now`)."""
    return GuardrailReport(
        passes=not violations,
        summary=guardrail_summary(checks, violations),
        violations=violations,
        checks=[
            GuardrailCheckView(
                guardrail=c.guardrail,
                setting=c.setting,
                plan=c.plan,
                verdict=c.verdict,
                bound=c.bound,
                held_back=c.held_back,
                text=c.text,
            )
            for c in checks
        ],
        settings=plan.guardrails.model_dump(mode="json"),
    )


def _cost_basis(plan: MarkdownContent, sizes: list[SizePrice]) -> str | None:
    """What the plan's cost is when it is not the quoted SKU's own: the planner takes the
    highest cost share (cost over list price) among the sizes at the quoted list price, so the
    margin floor holds for every size (`ml_core.pricing.planning`). Its margins are then those
    of the size with the least margin, which the page must say."""
    own = next((s.unit_cost for s in sizes if s.sku == plan.sku), None)
    costed = [s for s in sizes if s.unit_cost is not None]
    if own is None or abs(own - plan.unit_cost) <= PRICE_TOLERANCE:
        return None
    costliest = max(costed, key=lambda s: (s.unit_cost or 0.0) / s.list_price)
    size = " ".join(str(v) for v in costliest.options.values()) or costliest.sku
    return (
        f"the highest cost among the sizes for their list price ({size}, {costliest.sku}: "
        f"{money(costliest.unit_cost or 0.0)} on a list price of "
        f"{money(costliest.list_price)}, cost is "
        f"{percent((costliest.unit_cost or 0.0) / costliest.list_price)} of list) taken at "
        f"{plan.sku}'s list price, so every size keeps the margin floor; every margin here is "
        f"on it, the lowest margin of any size. {plan.sku} itself costs {money(own)}."
    )
