"""Markdown planning on the store's own data: price-change *proposals*, never price changes.

`plan_markdowns` (behind `aisle pricing markdown`) estimates elasticities from the chain's daily
sales (`DMLElasticity`, its prior shifted by the brand's tier), takes each stocked SKU at the
chosen store(s) with its current and list price, unit cost and stock, forecasts its weekly demand
at the current price (the product's chain baseline from `ml_core.pricing.baseline`, a smooth
demand model with last year's chain calendar, brought to the current price with its elasticity
and shared out by the SKU's share of the product's chain sales over the last eight weeks), and
optimises a weekly price path under the guardrails. Plans that pass the circuit breaker and fit
under the per-day cap become one `price_change` proposal content per SKU and location, with an
explanation. It writes nothing: the plan is returned, and `approvals.records` records it as
proposals (reusing open ones, superseding older ones for the same SKU and location, never
re-proposing what was approved).

The sales records are read once per plan (`load_pricing_data`); a caller that holds them already
(the pricing tools, which also answer elasticity questions from them) passes them in.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ml_core.pricing.baseline import weekly_baseline
from ml_core.pricing.elasticity import ITEM, LOG_PRICE, DMLElasticity
from ml_core.pricing.guardrails import ChangeHistory, Guardrails, change_history
from ml_core.pricing.markdown import (
    MarkdownItem,
    MarkdownPlan,
    Objective,
    is_proposable,
    plan_many,
)
from ml_core.pricing.store_data import CONTROLS, PROMO, item_features, load_sales_records
from retail.errors import NotFoundError
from retail.store.models import (
    DailySales,
    InventoryPosition,
    Location,
    PriceChange,
    Product,
    Promotion,
    PromotionItem,
    Variant,
)

PROPOSER = "aisle pricing markdown"
KIND = "price_change"
MODEL_VERSION = "ppml-fe-pooled-1"
SHARE_DAYS = 56
HISTORY_DAYS = 365
SALVAGE_FRACTION = 0.3  # of unit cost: what a unit left at the end fetches (jobber, outlet)


@dataclass(slots=True)
class PlannedMarkdown:
    """One price-change proposal's content, as planned (not yet recorded)."""

    content: dict[str, Any]
    location_id: str
    sku: str
    gain: float
    model_versions: dict[str, Any]
    expires_at: dt.datetime


@dataclass(slots=True)
class MarkdownSummary:
    as_of: str
    objective: str
    horizon_weeks: int
    locations: list[str]
    skus_reviewed: int = 0
    plans_with_changes: int = 0
    deferred_by_daily_cap: int = 0
    expected_gain: float = 0.0
    elasticity_methods: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    planned: list[PlannedMarkdown] = field(default_factory=list)


def plan_markdowns(
    engine: Engine,
    *,
    store_id: str | None = None,
    horizon_weeks: int = 8,
    objective: Objective = "margin",
    guardrails: Guardrails | None = None,
    now: dt.datetime | None = None,
    data: PricingData | None = None,
    show_progress: bool = False,
) -> MarkdownSummary:
    """Plan markdowns for one store (or every store and online); writes nothing
    (`approvals.records.record_plan` records `summary.planned`).

    `data` is what `load_pricing_data` read, when the caller has it already. With
    `show_progress`, a terminal on stderr shows the progress.
    """
    guardrails = guardrails or Guardrails()
    now = now or dt.datetime.now(dt.UTC)
    if data is None:
        data = load_pricing_data(engine, show_progress=show_progress)
    with _progress(show_progress) as progress:
        task = progress.add_task("forecasting the baselines", total=None)
        elasticity = data.elasticity
        as_of = data.last_day.date()
        start = as_of + dt.timedelta(days=1)
        summary = MarkdownSummary(
            as_of=as_of.isoformat(),
            objective=objective,
            horizon_weeks=horizon_weeks,
            locations=[],
            elasticity_methods={
                str(k): int(v) for k, v in elasticity["method"].value_counts().items()
            },
        )
        weekly = _chain_weekly_units(data, pd.Timestamp(start), horizon_weeks)
        with Session(engine) as session:
            locations = _locations(session, store_id)
            summary.locations = [loc.id for loc in locations]
            history = _change_history(session, as_of)
            promos = _promotion_weeks(session, start, horizon_weeks)
            list_prices = _list_prices(session, as_of)
            chain_units = _chain_units(session, as_of)
            progress.update(task, total=len(locations), completed=0)
            for location in locations:
                progress.update(task, description=f"planning {location.id}")
                items, facts = _items(
                    session,
                    location.id,
                    weekly,
                    chain_units,
                    elasticity,
                    promos,
                    list_prices,
                    as_of,
                    horizon_weeks,
                )
                summary.skus_reviewed += len(items)
                plans = plan_many(items, guardrails, objective, start=start, history=history)
                for item, plan in zip(items, plans, strict=True):
                    _plan(
                        summary,
                        item,
                        plan,
                        facts[item.item_id],
                        location,
                        start,
                        guardrails,
                        history,
                        now,
                    )
                progress.advance(task)
        return summary


@dataclass(frozen=True, slots=True)
class PricingData:
    """What the planner reads from the sales records, read once: the chain's daily panel and its
    last day of sales, and the per-product elasticities fitted on it (`DMLElasticity`'s items by
    product)."""

    daily: pd.DataFrame
    last_day: pd.Timestamp
    elasticity: pd.DataFrame


def load_pricing_data(engine: Engine, *, show_progress: bool = False) -> PricingData:
    """The planner's data: the sales records read once (most of the cost), the elasticities
    fitted on their daily rows (a weekly average blurs a promotion's start and end), with the
    brand tiers in the prior."""
    with _progress(show_progress) as progress:
        task = progress.add_task("reading the sales records", total=None)
        records = load_sales_records(engine)
        progress.update(task, description="fitting the elasticities")
        daily = records.daily_panel()
        model = DMLElasticity().fit(daily, controls=CONTROLS, item_features=item_features(engine))
    return PricingData(
        daily=daily, last_day=records.last_day, elasticity=model.items_.set_index(ITEM)
    )


def _chain_weekly_units(data: PricingData, start: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """(products x weeks) the chain's expected units at each product's regular price now (its
    last price off promotion): the baseline at the reference price, times the price effect."""
    baseline = weekly_baseline(
        data.daily, data.elasticity["elasticity"], start=start, weeks=weeks, promo_col=PROMO
    )
    regular = data.daily[data.daily[PROMO] == 0].groupby(ITEM)[LOG_PRICE].last()
    theta = data.elasticity["elasticity"].reindex(baseline.index)
    price_effect = np.exp(theta * regular.reindex(baseline.index).fillna(0.0))
    return baseline.mul(price_effect, axis=0)


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


class UnknownLocationError(NotFoundError):
    """The store asked for does not exist."""


def _locations(session: Session, store_id: str | None) -> list[Location]:
    planned = list(
        session.scalars(
            select(Location).where(Location.kind.in_(("store", "online"))).order_by(Location.id)
        )
    )
    if store_id is None:
        return planned
    chosen = [loc for loc in planned if loc.id == store_id]
    if not chosen:
        known = ", ".join(loc.id for loc in planned) or "none yet"
        raise UnknownLocationError(f"There is no store {store_id!r}; the stores are: {known}.")
    return chosen


def _change_history(session: Session, as_of: dt.date) -> ChangeHistory:
    """Log ratios of the list-price changes (launches excluded) in the year before `as_of`."""
    rows = session.execute(
        select(PriceChange.variant_id, PriceChange.effective_on, PriceChange.price).order_by(
            PriceChange.variant_id, PriceChange.effective_on, PriceChange.id
        )
    ).all()
    changes: list[float] = []
    previous: dict[str, float] = {}
    first = as_of - dt.timedelta(days=HISTORY_DAYS)
    for variant_id, day, price in rows:
        before = previous.get(variant_id)
        if before and price and first <= day <= as_of and before > 0 and price > 0:
            changes.append(math.log(price / before))
        previous[variant_id] = price
    return change_history(changes)


def _promotion_weeks(session: Session, start: dt.date, weeks: int) -> dict[str, list[bool]]:
    end = start + dt.timedelta(weeks=weeks)
    out: dict[str, list[bool]] = {}
    for product_id, starts, ends in session.execute(
        select(PromotionItem.product_id, Promotion.starts_on, Promotion.ends_on)
        .join(Promotion, Promotion.id == PromotionItem.promotion_id)
        .where(Promotion.ends_on >= start, Promotion.starts_on < end)
    ):
        flags = out.setdefault(product_id, [False] * weeks)
        for w in range(weeks):
            week_start = start + dt.timedelta(weeks=w)
            if starts < week_start + dt.timedelta(days=7) and ends >= week_start:
                flags[w] = True
    return out


def _items(
    session: Session,
    location_id: str,
    weekly: pd.DataFrame,
    chain_units: dict[str, float],
    elasticity: pd.DataFrame,
    promos: dict[str, list[bool]],
    list_prices: dict[str, float],
    as_of: dt.date,
    horizon: int,
) -> tuple[list[MarkdownItem], dict[str, dict[str, Any]]]:
    rows = session.execute(
        select(InventoryPosition, Variant, Product)
        .join(Variant, Variant.id == InventoryPosition.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(InventoryPosition.location_id == location_id)
        .order_by(InventoryPosition.variant_id)
    ).all()
    sold = _variant_units(session, location_id, as_of)
    items, facts = [], {}
    for inv, variant, product in rows:
        stock = max(inv.on_hand - inv.reserved, 0)
        # A product with too little history for a baseline is not planned.
        if stock <= 0 or variant.unit_cost is None or product.id not in weekly.index:
            continue
        est = elasticity.loc[product.id]
        # The SKU at this location sells this share of its product's chain units.
        chain = chain_units.get(product.id, 0.0)
        share = sold.get(variant.id, 0.0) / chain if chain > 0 else 0.0
        forecast = weekly.loc[product.id].to_numpy() * share
        items.append(
            MarkdownItem(
                item_id=variant.id,
                list_price=float(list_prices.get(variant.id, variant.price)),
                current_price=float(variant.price),
                unit_cost=float(variant.unit_cost),
                stock=float(stock),
                baseline=tuple(float(units) for units in forecast),
                elasticity=float(est["elasticity"]),
                elasticity_se=float(est["se"]),
                salvage=SALVAGE_FRACTION * float(variant.unit_cost),
                promo_weeks=tuple(promos.get(product.id, [False] * horizon)),
            )
        )
        facts[variant.id] = {
            "product": product.name,
            "elasticity": {
                "estimate": round(float(est["elasticity"]), 3),
                "lower": round(float(est["lower"]), 3),
                "upper": round(float(est["upper"]), 3),
                "method": str(est["method"]),
            },
        }
    return items, facts


def _list_prices(session: Session, as_of: dt.date) -> dict[str, float]:
    """Each SKU's latest price that is not a markdown: what the ladder is a fraction of."""
    out: dict[str, float] = {}
    for variant_id, price in session.execute(
        select(PriceChange.variant_id, PriceChange.price)
        .where(PriceChange.reason != "markdown", PriceChange.effective_on <= as_of)
        .order_by(PriceChange.variant_id, PriceChange.effective_on, PriceChange.id)
    ):
        out[variant_id] = float(price)
    return out


def _variant_units(session: Session, location_id: str, as_of: dt.date) -> dict[str, float]:
    """Units each SKU sold at the location over the last `SHARE_DAYS` days."""
    first = as_of - dt.timedelta(days=SHARE_DAYS - 1)
    rows = session.execute(
        select(DailySales.variant_id, func.sum(DailySales.units))
        .where(DailySales.location_id == location_id, DailySales.day >= first)
        .group_by(DailySales.variant_id)
    ).all()
    return {variant_id: float(units or 0) for variant_id, units in rows}


def _chain_units(session: Session, as_of: dt.date) -> dict[str, float]:
    """Units each product sold in the whole chain over the last `SHARE_DAYS` days."""
    first = as_of - dt.timedelta(days=SHARE_DAYS - 1)
    rows = session.execute(
        select(Variant.product_id, func.sum(DailySales.units))
        .join(DailySales, DailySales.variant_id == Variant.id)
        .where(DailySales.day >= first)
        .group_by(Variant.product_id)
    ).all()
    return {product_id: float(units or 0) for product_id, units in rows}


def explain(item: MarkdownItem, plan: MarkdownPlan, start: dt.date) -> str:
    """One paragraph a pricing manager can check against the numbers."""
    steps = []
    for w in plan.changes:
        day = start + dt.timedelta(weeks=w)
        steps.append(f"{plan.prices[w]:.2f} from {day.isoformat()}")
    first = plan.prices[plan.changes[0]] if plan.changes else item.current_price
    binding = ", ".join(plan.binding) if plan.binding else "none"
    return (
        f"Mark down from {item.current_price:.2f} (list {item.list_price:.2f}) to "
        f"{first:.2f} ({first / item.current_price - 1:+.0%}); path: {'; '.join(steps)}. "
        f"Over {item.horizon} weeks: expected {sum(plan.units):.1f} units and value "
        f"{plan.value:,.2f} vs {plan.keep_units:.1f} units and {plan.keep_value:,.2f} keeping "
        f"the price ({plan.gain:+,.2f}); {plan.leftover:.1f} of {item.stock:.0f} units left. "
        f"Elasticity {item.elasticity:.2f}. Binding guardrails: {binding}."
    )


def _plan(
    summary: MarkdownSummary,
    item: MarkdownItem,
    plan: MarkdownPlan,
    facts: dict[str, Any],
    location: Location,
    start: dt.date,
    guardrails: Guardrails,
    history: ChangeHistory,
    now: dt.datetime,
) -> None:
    """Count the plan into the summary and, if it is proposable, add its proposal content."""
    if plan.changes:
        summary.plans_with_changes += 1
    if plan.rejected:
        summary.rejected.append(
            {"sku": item.item_id, "location": location.id, "reasons": plan.rejected}
        )
        return
    if plan.deferred:
        summary.deferred_by_daily_cap += 1
        return
    if not is_proposable(plan):
        return
    content = {
        "type": "markdown",
        "sku": item.item_id,
        "product": facts["product"],
        "location": {"id": location.id, "name": location.name},
        "as_of": summary.as_of,
        "objective": summary.objective,
        "horizon_weeks": item.horizon,
        "current_price": round(item.current_price, 2),
        "list_price": round(item.list_price, 2),
        "unit_cost": round(item.unit_cost, 2),
        "stock": item.stock,
        "elasticity": facts["elasticity"],
        "path": [
            {"week_starting": (start + dt.timedelta(weeks=w)).isoformat(), "price": p}
            for w, p in enumerate(plan.prices)
        ],
        "expected": {
            "units": round(sum(plan.units), 2),
            "value": round(plan.value, 2),
            "keep_units": round(plan.keep_units, 2),
            "keep_value": round(plan.keep_value, 2),
            "gain": round(plan.gain, 2),
            "leftover": round(plan.leftover, 2),
        },
        "guardrails": guardrails.model_dump(mode="json"),
        "binding_guardrails": plan.binding,
        "change_history": {
            "mean_log": round(history.mean, 4),
            "sd_log": round(history.sd, 4),
            "n": history.n,
        },
        "explanation": explain(item, plan, start),
    }
    summary.expected_gain = round(summary.expected_gain + plan.gain, 2)
    summary.planned.append(
        PlannedMarkdown(
            content=content,
            location_id=location.id,
            sku=item.item_id,
            gain=plan.gain,
            model_versions={"elasticity": MODEL_VERSION},
            expires_at=now + dt.timedelta(days=7),
        )
    )
