"""Markdown planning on the store's own data: price-change *proposals*, never price changes.

The pricing model (`retail.price_zones`): a product has one price per price zone, shared by its
sizes and colours; a size listed at a premium keeps its premium (every size goes to the same
fraction of its own list price, and the proposal names that rule). So `plan_markdowns` (behind
`aisle pricing markdown`) plans each product once per zone, on the pooled data of the zone's
locations: the stock of every size at every location of the zone, and the product's weekly
demand at its current price there (the product's chain baseline from
`ml_core.pricing.baseline`, a smooth demand model with last year's chain calendar, brought to the
current price with its elasticity and shared out by the zone's share of the product's chain
sales over the last eight weeks). Elasticities come from the chain's daily sales
(`DMLElasticity`, its prior shifted by the brand's tier). The weekly price path is optimised
under the guardrails, with the margin floor held for the size whose cost is the largest fraction
of its list price. Plans start today by the application's clock (`retail.clock`), never on a
day that has passed. Plans that pass the circuit breaker and fit under the per-day cap become
one `price_change` proposal content per product and zone, with an explanation. It writes
nothing: the plan is returned, and `approvals.records` records it as proposals (reusing open
ones, superseding the older open one for the product in the zone, never re-proposing what was
approved).

The sales records are read once per plan (`load_pricing_data`); a caller that holds them already
(the pricing tools, which also answer elasticity questions from them) passes them in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ml_core.pricing.baseline import weekly_baseline
from ml_core.pricing.elasticity import ITEM, LOG_PRICE
from ml_core.pricing.guardrails import (
    PRICE_TOLERANCE,
    ChangeHistory,
    Guardrails,
    change_history,
    money,
    percent,
    units_text,
)
from ml_core.pricing.markdown import (
    Binding,
    MarkdownItem,
    MarkdownPlan,
    Objective,
    expected_figures,
    is_proposable,
    plan_many,
)
from ml_core.pricing.served import IN_PROCESS, fit_elasticities, served_elasticities
from ml_core.pricing.store_data import PROMO, load_sales_records
from retail.clock import today as clock_today
from retail.price_zones import PriceZone, price_zones, zone_named
from retail.promotions import promotion_weeks
from retail.settings import Settings, get_settings
from retail.store.models import (
    DailySales,
    InventoryPosition,
    PriceChange,
    Product,
    Variant,
)

PROPOSER = "aisle pricing markdown"
SHARE_DAYS = 56
HISTORY_DAYS = 365
# The places an elasticity is shown with, on the page and in the explanation alike.
ELASTICITY_DECIMALS = 2
SALVAGE_FRACTION = 0.3  # of unit cost: what a unit left at the end fetches (jobber, outlet)
# Sizes whose prices are within this of the same fraction of their list prices are in line:
# rounding to a shelf price (x.99) moves a price by up to a percent or so.
SIZE_FRACTION_TOLERANCE = 0.015


# How a product's sizes are priced (`retail.price_zones`), as its proposal names the rule.
ONE_PRICE = "one price for every size"
SIZE_PREMIUM = (
    "every size at the same fraction of its own list price (sizes listed at a premium keep it)"
)


@dataclass(slots=True)
class PlannedMarkdown:
    """One price-change proposal's content, as planned (not yet recorded); `location_id` is the
    price zone it prices."""

    content: dict[str, Any]
    location_id: str
    product_id: str
    gain: float
    model_versions: dict[str, Any]
    expires_at: dt.datetime


@dataclass(slots=True)
class MarkdownSummary:
    as_of: str
    starts_on: str
    objective: Objective
    horizon_weeks: int
    zones: list[str]
    # The zones planned and their locations: the plan replaces the open proposals made there.
    covers: list[str] = field(default_factory=list)
    products_reviewed: int = 0
    plans_with_changes: int = 0
    deferred_by_daily_cap: int = 0
    expected_gain: float = 0.0
    elasticity_methods: dict[str, int] = field(default_factory=dict)
    # The elasticity model's version the plans cite (a registry version, or the in-process fit).
    elasticity_version: str = IN_PROCESS
    rejected: list[dict[str, Any]] = field(default_factory=list)
    planned: list[PlannedMarkdown] = field(default_factory=list)


def plan_markdowns(
    engine: Engine,
    *,
    zone: str | None = None,
    horizon_weeks: int = 8,
    objective: Objective = "margin",
    guardrails: Guardrails | None = None,
    now: dt.datetime | None = None,
    data: PricingData | None = None,
    settings: Settings | None = None,
    show_progress: bool = False,
) -> MarkdownSummary:
    """Plan markdowns for one price zone (named by its id, or by one of its stores), or for
    every zone; writes nothing (`approvals.records.record_plan` records `summary.planned`).

    `data` is what `load_pricing_data` read, when the caller has it already. `now` is when the
    proposals are made (they expire a week later); the plan starts on today's date by the
    application's clock. With `show_progress`, a terminal on stderr shows the progress.
    """
    guardrails = guardrails or Guardrails()
    now = now or dt.datetime.now(dt.UTC)
    if data is None:
        artifacts = (settings or get_settings()).var_dir / "artifacts"
        data = load_pricing_data(engine, artifacts=artifacts, show_progress=show_progress)
    with _progress(show_progress) as progress:
        task = progress.add_task("forecasting the baselines", total=None)
        elasticity = data.elasticity
        as_of = data.last_day.date()
        with Session(engine) as session:
            zones = price_zones(session, settings)
            if zone is not None:
                zones = [zone_named(zones, zone)]
            # Nothing is proposed for a day that has passed: sales recorded up to a later day
            # than today's (a clock set back) still plan from the day after them.
            start = max(clock_today(session, settings), as_of + dt.timedelta(days=1))
            summary = MarkdownSummary(
                as_of=as_of.isoformat(),
                starts_on=start.isoformat(),
                objective=objective,
                horizon_weeks=horizon_weeks,
                zones=[z.id for z in zones],
                covers=[where for z in zones for where in (z.id, *z.location_ids)],
                elasticity_methods={
                    str(k): int(v) for k, v in elasticity["method"].value_counts().items()
                },
                elasticity_version=data.elasticity_version,
            )
            weekly = _chain_weekly_units(data, pd.Timestamp(start), horizon_weeks)
            history = _change_history(session, as_of)
            promos = promotion_weeks(session, start, horizon_weeks)
            list_prices = _list_prices(session, as_of)
            chain_units = _units_by_product(session, as_of, None)
            progress.update(task, total=len(zones), completed=0)
            for price_zone in zones:
                progress.update(task, description=f"planning zone {price_zone.id}")
                items, facts = _items(
                    session,
                    price_zone,
                    weekly,
                    chain_units,
                    elasticity,
                    promos,
                    list_prices,
                    as_of,
                    horizon_weeks,
                    summary,
                )
                summary.products_reviewed += len(items)
                plans = plan_many(items, guardrails, objective, start=start, history=history)
                for item, plan in zip(items, plans, strict=True):
                    _plan(
                        summary,
                        item,
                        plan,
                        facts[item.item_id],
                        price_zone,
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
    last day of sales, and the per-product elasticities (`DMLElasticity`'s items by product):
    the registry's champion, or fitted on the panel, cited by `elasticity_version`."""

    daily: pd.DataFrame
    last_day: pd.Timestamp
    elasticity: pd.DataFrame
    elasticity_version: str = IN_PROCESS


def load_pricing_data(
    engine: Engine, *, artifacts: Path | None = None, show_progress: bool = False
) -> PricingData:
    """The planner's data: the sales records read once (most of the cost) and the elasticities:
    the champion of the registry under `artifacts` when it has one (`ml_core.pricing.served`),
    else fitted on the daily rows (a weekly average blurs a promotion's start and end), with the
    brand tiers in the prior."""
    with _progress(show_progress) as progress:
        task = progress.add_task("reading the sales records", total=None)
        records = load_sales_records(engine)
        daily = records.daily_panel()
        served = None if artifacts is None else served_elasticities(artifacts)
        if served is not None:
            table, version = served
            return PricingData(daily, records.last_day, table, version)
        progress.update(task, description="fitting the elasticities")
        table = fit_elasticities(engine, daily)
    return PricingData(daily=daily, last_day=records.last_day, elasticity=table)


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


def _items(
    session: Session,
    zone: PriceZone,
    weekly: pd.DataFrame,
    chain_units: dict[str, float],
    elasticity: pd.DataFrame,
    promos: dict[str, list[bool]],
    list_prices: dict[str, float],
    as_of: dt.date,
    horizon: int,
    summary: MarkdownSummary,
) -> tuple[list[MarkdownItem], dict[str, dict[str, Any]]]:
    """One item per product with stock in the zone: its sizes pooled (see the module
    docstring); a product whose sizes sit at different fractions of their list prices is
    reported in `summary.rejected` instead, since one markdown cannot keep them in line."""
    stock: dict[str, float] = {}
    for variant_id, on_hand, reserved in session.execute(
        select(
            InventoryPosition.variant_id, InventoryPosition.on_hand, InventoryPosition.reserved
        ).where(InventoryPosition.location_id.in_(zone.location_ids))
    ):
        stock[variant_id] = stock.get(variant_id, 0.0) + max(on_hand - reserved, 0)
    stocked = {v for v, units in stock.items() if units > 0}
    rows = session.execute(
        select(Variant, Product)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.id.in_(select(Variant.product_id).where(Variant.id.in_(stocked))))
        .order_by(Product.id, Variant.id)
    ).all()
    by_product: dict[str, list[Variant]] = {}
    names: dict[str, str] = {}
    for variant, product in rows:
        by_product.setdefault(product.id, []).append(variant)
        names[product.id] = product.name
    zone_units = _units_by_product(session, as_of, zone.location_ids)
    items, facts = [], {}
    for product_id, variants in by_product.items():
        costed = [v for v in variants if v.unit_cost is not None]
        # A product with too little history for a baseline, or no cost, is not planned.
        if not costed or product_id not in weekly.index:
            continue
        listed = {v.id: float(list_prices.get(v.id, v.price)) for v in variants}
        # The size with the most stock is the one the path's prices are quoted for.
        reference = max(variants, key=lambda v: (stock.get(v.id, 0.0), v.id))
        fraction = float(reference.price) / listed[reference.id]
        out_of_line = sorted(
            {
                round(float(v.price) / listed[v.id], 2)
                for v in variants
                if abs(float(v.price) / listed[v.id] - fraction) > SIZE_FRACTION_TOLERANCE
            }
        )
        if out_of_line:
            summary.rejected.append(
                {
                    "product_id": product_id,
                    "zone": zone.id,
                    "reasons": [
                        "its sizes are at different fractions of their list prices "
                        f"({percent(fraction)} for {reference.id}, "
                        f"{', '.join(percent(f) for f in out_of_line)} for others); one "
                        "markdown cannot keep one price across them"
                    ],
                }
            )
            continue
        list_price = listed[reference.id]
        # The margin floor must hold for every size: the costliest relative to its list.
        cost_share = max(float(v.unit_cost or 0.0) / listed[v.id] for v in costed)
        unit_cost = round(list_price * cost_share, 2)
        chain = chain_units.get(product_id, 0.0)
        share = zone_units.get(product_id, 0.0) / chain if chain > 0 else 0.0
        est = elasticity.loc[product_id]
        items.append(
            MarkdownItem(
                item_id=product_id,
                list_price=list_price,
                current_price=float(reference.price),
                unit_cost=unit_cost,
                stock=float(sum(stock.get(v.id, 0.0) for v in variants)),
                baseline=tuple(float(u) for u in weekly.loc[product_id].to_numpy() * share),
                elasticity=float(est["elasticity"]),
                elasticity_se=float(est["se"]),
                salvage=SALVAGE_FRACTION * unit_cost,
                promo_weeks=tuple(promos.get(product_id, [False] * horizon)),
            )
        )
        lists = {listed[v.id] for v in variants}
        facts[product_id] = {
            "product": names[product_id],
            "reference_sku": reference.id,
            "size_rule": ONE_PRICE if len(lists) == 1 else SIZE_PREMIUM,
            "variants": [
                {
                    "sku": v.id,
                    "options": dict(v.options or {}),
                    "list_price": round(listed[v.id], 2),
                    "current_price": round(float(v.price), 2),
                    "stock": stock.get(v.id, 0.0),
                }
                for v in variants
            ],
            # Rounded once, to what the page and the explanation print: rounding a 3-place
            # figure again showed -2.39 beside an explanation's -2.38.
            "elasticity": {
                "estimate": round(float(est["elasticity"]), ELASTICITY_DECIMALS),
                "lower": round(float(est["lower"]), ELASTICITY_DECIMALS),
                "upper": round(float(est["upper"]), ELASTICITY_DECIMALS),
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


def _units_by_product(
    session: Session, as_of: dt.date, location_ids: tuple[str, ...] | None
) -> dict[str, float]:
    """Units each product sold over the last `SHARE_DAYS` days at these locations (or in the
    whole chain)."""
    first = as_of - dt.timedelta(days=SHARE_DAYS - 1)
    query = (
        select(Variant.product_id, func.sum(DailySales.units))
        .join(DailySales, DailySales.variant_id == Variant.id)
        .where(DailySales.day >= first)
        .group_by(Variant.product_id)
    )
    if location_ids is not None:
        query = query.where(DailySales.location_id.in_(location_ids))
    return {product_id: float(units or 0) for product_id, units in session.execute(query)}


def _path_text(current_price: float, prices: Sequence[float], start: dt.date) -> str:
    """A weekly price path from `current_price` as its changes: "$40.00 from 2026-11-16"."""
    steps = []
    previous = current_price
    for week, price in enumerate(prices):
        if abs(price - previous) > PRICE_TOLERANCE:
            steps.append(f"{money(price)} from {(start + dt.timedelta(weeks=week)).isoformat()}")
        previous = price
    return ", then ".join(steps) if steps else f"{money(current_price)} kept"


def held_back(binding: Binding, start: dt.date) -> str:
    """What a guardrail that bound a plan prevented, with its numbers. The step that breaks it
    starts from the other plan's own price, which the proposal may never charge (without
    markdown-only it may mark down deeper first, then go back up), so both paths are stated up
    to that week: a price quoted here is either the proposal's or said to be the other plan's."""
    day = (start + dt.timedelta(weeks=binding.week)).isoformat()
    relaxed = _path_text(binding.current_price, binding.relaxed, start)
    proposed = _path_text(binding.current_price, binding.proposed, start)
    return (
        f"without it the plan would price {relaxed} (this proposal, up to the week of {day}: "
        f"{proposed}); that plan's own step from {money(binding.previous)} to "
        f"{money(binding.price)} in the week of {day} breaks it ({binding.reason}), and it "
        f"would be worth {money(binding.gain)} more"
    )


def explain(
    item: MarkdownItem,
    plan: MarkdownPlan,
    start: dt.date,
    zone: PriceZone,
    elasticity: float,
    leftover_note: str | None,
) -> str:
    """One paragraph a pricing manager can check against the numbers; `elasticity` is the
    estimate as the proposal records it (rounded once), `leftover_note` what the units left add
    to the value (`expected_figures`)."""
    left = f"{units_text(plan.leftover)} of {item.stock:.0f} units left"
    if leftover_note:
        left += f"; the value {leftover_note}"
    steps = []
    for w in plan.changes:
        day = start + dt.timedelta(weeks=w)
        steps.append(f"{money(plan.prices[w])} from {day.isoformat()}")
    first = plan.prices[plan.changes[0]] if plan.changes else item.current_price
    binding = (
        "; ".join(f"{b.guardrail}: {held_back(b, start)}" for b in plan.binding)
        if plan.binding
        else "none"
    )
    return (
        f"Mark down from {money(item.current_price)} (list {money(item.list_price)}) to "
        f"{money(first)} ({percent(first / item.current_price - 1, signed=True)}) at "
        f"{zone.in_words()}; path: "
        f"{'; '.join(steps)}. "
        f"Over {item.horizon} weeks: expected {units_text(sum(plan.units))} units and value "
        f"{money(plan.value)} vs {units_text(plan.keep_units)} units and {money(plan.keep_value)} "
        f"keeping the price ({money(plan.gain, signed=True)}); {left}. "
        f"Elasticity {elasticity:.{ELASTICITY_DECIMALS}f}. "
        f"Guardrails that held the plan back: {binding}."
    )


def _plan(
    summary: MarkdownSummary,
    item: MarkdownItem,
    plan: MarkdownPlan,
    facts: dict[str, Any],
    zone: PriceZone,
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
            {"product_id": item.item_id, "zone": zone.id, "reasons": plan.rejected}
        )
        return
    if plan.deferred:
        summary.deferred_by_daily_cap += 1
        return
    if not is_proposable(plan):
        return
    expected = expected_figures(
        item,
        summary.objective,
        (plan.value, plan.units, plan.leftover),
        (plan.keep_value, [plan.keep_units], plan.keep_leftover),
    )
    content = {
        "type": "markdown",
        "product_id": item.item_id,
        "product": facts["product"],
        "zone": {
            "id": zone.id,
            "name": zone.name,
            "locations": list(zone.location_ids),
            "location_names": list(zone.location_names),
        },
        "sku": facts["reference_sku"],
        "size_rule": facts["size_rule"],
        "variants": facts["variants"],
        "as_of": summary.as_of,
        "starts_on": start.isoformat(),
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
        "expected": expected,
        # What the path was valued with, so an edited path is valued the same way
        # (`approvals.price_changes.MarkdownContent.expected`).
        "demand": {
            "baseline": list(item.baseline),
            "elasticity": item.elasticity,
            "elasticity_se": item.elasticity_se,
            "salvage": item.salvage,
        },
        "guardrails": guardrails.model_dump(mode="json"),
        "binding_guardrails": [
            {"guardrail": b.guardrail, "held_back": held_back(b, start)} for b in plan.binding
        ],
        "change_history": {
            "mean_log": round(history.mean, 4),
            "sd_log": round(history.sd, 4),
            "n": history.n,
        },
        "explanation": explain(
            item, plan, start, zone, facts["elasticity"]["estimate"], expected["leftover_note"]
        ),
    }
    summary.expected_gain = round(summary.expected_gain + plan.gain, 2)
    summary.planned.append(
        PlannedMarkdown(
            content=content,
            location_id=zone.id,
            product_id=item.item_id,
            gain=plan.gain,
            model_versions={"elasticity": summary.elasticity_version},
            expires_at=now + dt.timedelta(days=7),
        )
    )
