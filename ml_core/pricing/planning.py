"""Markdown planning on the store's own data: price-change *proposals*, never price changes.

`plan_markdowns` (behind `aisle pricing markdown`) estimates elasticities from the chain's weekly
sales (`DMLElasticity`), takes each stocked SKU at the chosen store(s) with its current and list
price, unit cost and stock, forecasts its weekly demand at the current price (the last four
promotion-free weeks of the product's sales at that location, brought to the current price with
its elasticity, times the category's seasonal index for the same weeks a year earlier, shared
among the product's SKUs by their recent sales), and optimises a weekly price path under the
guardrails. Plans that pass the circuit breaker and fit under the per-day cap become one
`price_change` proposal per SKU and location, with an explanation; re-running on unchanged data
writes nothing new, and a newer plan expires the older open one for the same SKU and location.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ml_core.pricing.elasticity import ITEM, LOG_PRICE, PERIOD, QTY, DMLElasticity
from ml_core.pricing.guardrails import ChangeHistory, Guardrails, change_history
from ml_core.pricing.markdown import (
    MarkdownItem,
    MarkdownPlan,
    Objective,
    is_proposable,
    plan_many,
)
from ml_core.pricing.store_data import CONTROLS, PROMO, pricing_panel
from retail.errors import NotFoundError
from retail.proposals import content_hash, create_proposal, find_open_proposal, list_proposals
from retail.proposals import transition as transition_proposal
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
RECENT_WEEKS = 4
SHARE_DAYS = 56
HISTORY_DAYS = 365
SALVAGE_FRACTION = 0.3  # of unit cost: what a unit left at the end fetches (jobber, outlet)


@dataclass(slots=True)
class MarkdownSummary:
    as_of: str
    objective: str
    horizon_weeks: int
    locations: list[str]
    skus_reviewed: int = 0
    plans_with_changes: int = 0
    proposals_written: int = 0
    proposals_unchanged: int = 0
    proposals_superseded: int = 0
    deferred_by_daily_cap: int = 0
    expected_gain: float = 0.0
    elasticity_methods: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)


def plan_markdowns(
    engine: Engine,
    *,
    store_id: str | None = None,
    horizon_weeks: int = 8,
    objective: Objective = "margin",
    guardrails: Guardrails | None = None,
    now: dt.datetime | None = None,
    proposer: str = PROPOSER,
) -> MarkdownSummary:
    """Plan markdowns for one store (or every store and online) and write the proposals.

    `proposer` is who the proposals are recorded as (the pricing agent's principal when it
    plans): that principal can never approve them.
    """
    guardrails = guardrails or Guardrails()
    now = now or dt.datetime.now(dt.UTC)
    chain, last_day = pricing_panel(engine)
    model = DMLElasticity().fit(chain, controls=CONTROLS)
    elasticity = model.items_.set_index(ITEM)
    as_of = last_day.date()
    start = as_of + dt.timedelta(days=1)
    summary = MarkdownSummary(
        as_of=as_of.isoformat(),
        objective=objective,
        horizon_weeks=horizon_weeks,
        locations=[],
        elasticity_methods={str(k): int(v) for k, v in elasticity["method"].value_counts().items()},
    )
    season = seasonal_index(chain, elasticity["elasticity"], last_day, horizon_weeks)
    with Session(engine) as session, session.begin():
        locations = _locations(session, store_id)
        summary.locations = [loc.id for loc in locations]
        history = _change_history(session, as_of)
        promos = _promotion_weeks(session, start, horizon_weeks)
        for location in locations:
            local, _ = pricing_panel(engine, location_id=location.id)
            items, facts = _items(
                session, location.id, local, elasticity, season, promos, as_of, horizon_weeks
            )
            summary.skus_reviewed += len(items)
            plans = plan_many(items, guardrails, objective, start=start, history=history)
            for item, plan in zip(items, plans, strict=True):
                _record(
                    session,
                    summary,
                    item,
                    plan,
                    facts[item.item_id],
                    location,
                    start,
                    guardrails,
                    history,
                    now,
                    proposer,
                )
    return summary


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


def seasonal_index(
    panel: pd.DataFrame, elasticity: pd.Series, last_day: pd.Timestamp, horizon_weeks: int
) -> dict[str, list[float]]:
    """Per group: demand in each horizon week a year earlier relative to the four weeks before.

    Sales are first brought to a common price with each item's elasticity, so last year's
    markdowns and promotions do not pass for seasonality. 1.0 where a year of history is missing.
    """
    theta = panel[ITEM].map(elasticity).fillna(elasticity.mean()).to_numpy()
    depriced = panel[QTY].to_numpy() * np.exp(-theta * panel[LOG_PRICE].to_numpy())
    weekly = (
        panel.assign(depriced=depriced)
        .groupby(["group", PERIOD])["depriced"]
        .mean()
        .unstack("group")
    )
    this_week = last_day - pd.Timedelta(days=last_day.weekday())
    year_ago = this_week - pd.Timedelta(weeks=52)
    before = [year_ago - pd.Timedelta(weeks=k) for k in range(RECENT_WEEKS)]
    ahead = [year_ago + pd.Timedelta(weeks=h + 1) for h in range(horizon_weeks)]
    out: dict[str, list[float]] = {}
    for group in weekly.columns:
        series = weekly[group]
        level = series.reindex(before).mean()
        future = series.reindex(ahead)
        if not np.isfinite(level) or level <= 0 or future.isna().any():
            out[str(group)] = [1.0] * horizon_weeks
        else:
            out[str(group)] = (future / level).clip(0.2, 5.0).tolist()
    return out


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
    local: pd.DataFrame,
    elasticity: pd.DataFrame,
    season: dict[str, list[float]],
    promos: dict[str, list[bool]],
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
    list_prices = _list_prices(session, as_of)
    shares = _variant_shares(session, location_id, as_of)
    base = _product_baselines(local, elasticity["elasticity"])
    items, facts = [], {}
    for inv, variant, product in rows:
        stock = max(inv.on_hand - inv.reserved, 0)
        if stock <= 0 or variant.unit_cost is None or product.id not in elasticity.index:
            continue
        est = elasticity.loc[product.id]
        weekly = base.get(product.id, 0.0) * shares.get(variant.id, 0.0)
        index = season.get(str(product.category_id), [1.0] * horizon)
        items.append(
            MarkdownItem(
                item_id=variant.id,
                list_price=float(list_prices.get(variant.id, variant.price)),
                current_price=float(variant.price),
                unit_cost=float(variant.unit_cost),
                stock=float(stock),
                baseline=tuple(weekly * f for f in index),
                elasticity=float(est["elasticity"]),
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


def _variant_shares(session: Session, location_id: str, as_of: dt.date) -> dict[str, float]:
    first = as_of - dt.timedelta(days=SHARE_DAYS - 1)
    rows = session.execute(
        select(Variant.id, Variant.product_id, func.sum(DailySales.units))
        .join(DailySales, DailySales.variant_id == Variant.id)
        .where(DailySales.location_id == location_id, DailySales.day >= first)
        .group_by(Variant.id, Variant.product_id)
    ).all()
    totals: dict[str, float] = {}
    for _, product_id, units in rows:
        totals[product_id] = totals.get(product_id, 0.0) + float(units or 0)
    return {
        variant_id: float(units or 0) / totals[product_id]
        for variant_id, product_id, units in rows
        if totals[product_id] > 0
    }


def _product_baselines(local: pd.DataFrame, elasticity: pd.Series) -> dict[str, float]:
    """Weekly units at the latest week's price: the mean of the last promotion-free weeks."""
    out: dict[str, float] = {}
    for item, rows in local.groupby(ITEM):
        clean = rows[rows[PROMO] == 0].tail(RECENT_WEEKS)
        if clean.empty:
            continue
        theta = float(elasticity.get(item, elasticity.mean()))
        current = float(rows[LOG_PRICE].iloc[-1])
        units = clean[QTY] * np.exp(-theta * (clean[LOG_PRICE] - current))
        out[str(item)] = float(units.mean())
    return out


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


def _record(
    session: Session,
    summary: MarkdownSummary,
    item: MarkdownItem,
    plan: MarkdownPlan,
    facts: dict[str, Any],
    location: Location,
    start: dt.date,
    guardrails: Guardrails,
    history: ChangeHistory,
    now: dt.datetime,
    proposer: str,
) -> None:
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
    existing = find_open_proposal(
        session, kind=KIND, location_id=location.id, content_hash=content_hash(content)
    )
    if existing is not None:
        summary.proposals_unchanged += 1
        summary.proposals.append({"id": existing.id, "sku": item.item_id, "new": False})
        return
    proposal = create_proposal(
        session,
        kind=KIND,
        content=content,
        proposer=proposer,
        location_id=location.id,
        model_versions={"elasticity": MODEL_VERSION},
        expires_at=now + dt.timedelta(days=7),
    )
    summary.proposals_written += 1
    summary.expected_gain = round(summary.expected_gain + plan.gain, 2)
    summary.proposals.append({"id": proposal.id, "sku": item.item_id, "new": True})
    for older in list_proposals(session, kind=KIND, status="proposed", location_id=location.id):
        same_sku = older.content.get("sku") == item.item_id
        if older.id != proposal.id and older.proposer == proposer and same_sku:
            transition_proposal(
                older,
                "expired",
                actor=proposer,
                expected_hash=older.content_hash,
                reason=f"superseded by {proposal.id}",
            )
            summary.proposals_superseded += 1
