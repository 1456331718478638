"""Replenishment planning: purchase-order proposals from the forecast and the inventory policy.

`plan_replenishment` (behind `aisle replenish plan`) reviews every SKU stocked at the chosen store
(or at every store and the online channel): demand from the latest stored forecast run, or, where
a series has none, from a transparent fallback computed in place (the mean of the last eight
weeks of sales by day of week, stock-out days left out because their sales are censored, with a
negative-binomial spread); the supplier's lead time, case pack, MOQ and cost; the ABC class from
the last 90 days' revenue at that location. The order-up-to policy decides each SKU, and one
`purchase_order` proposal content per supplier and location gathers the SKUs that need an
order, each line with the policy's numbers and explanation. It writes nothing: the plan is
returned, and `approvals.records` records it as proposals (reusing open ones, superseding older
ones, never re-proposing what was approved); purchase orders come from approved proposals.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ml_core.forecasting.models import describe_run
from ml_core.forecasting.served import served_runs, serving_version
from retail.clock import today as clock_today
from retail.errors import NotFoundError
from retail.store.models import (
    DailySales,
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Location,
    Product,
    Supplier,
    SupplierItem,
    Variant,
)

if TYPE_CHECKING:
    import pandas as pd

    from ml_core.inventory.policy import AbcClass, PolicyDecision, PolicyInput


PROPOSER = "aisle replenish plan"
PLANNED_KINDS = ("store", "online")
FALLBACK_DAYS = 56  # eight weeks of sales
FALLBACK_HORIZON = 42  # days forecast; the policy extends a shorter one at its own rate
ABC_DAYS = 90
HOLDING_RATE = 0.25
FALLBACK_MODEL = "fallback-dow-mean-8w"
FALLBACK_SOURCE = (
    "fallback: mean of the last 8 weeks of sales by day of week (stock-out days left out), "
    "negative-binomial spread"
)


class UnknownStoreError(NotFoundError):
    """The store asked for does not exist (or is not a store)."""


@dataclass(slots=True)
class PlannedOrder:
    """One purchase-order proposal's content, as planned (not yet recorded)."""

    content: dict[str, Any]
    location_id: str
    supplier_id: str
    lines: int
    units: int
    value: float
    model_versions: dict[str, Any]
    expires_at: dt.datetime


@dataclass(slots=True)
class PlanSummary:
    as_of: str
    planned_on: str  # today by the application's clock (`retail.clock`)
    locations: list[str]
    skus_reviewed: int = 0
    skus_without_supplier: int = 0
    lines_proposed: int = 0
    total_value: float = 0.0
    forecast_sources: dict[str, int] = field(default_factory=dict)
    planned: list[PlannedOrder] = field(default_factory=list)


@dataclass(slots=True)
class _Series:
    """One SKU at one location with what the policy needs from the store."""

    variant_id: str
    product_name: str
    location_id: str
    location_name: str
    on_hand: int
    on_order: int
    reserved: int
    shelf_capacity: int | None
    price: float | None
    supplier: Supplier
    item: SupplierItem


@dataclass(slots=True)
class _Forecast:
    mean: list[float]
    p10: list[float] | None = None
    p50: list[float] | None = None
    p90: list[float] | None = None
    p95: list[float] | None = None
    sd: list[float] | None = None
    level_sd: float = 0.0
    source: str = FALLBACK_SOURCE


def plan_replenishment(
    engine: Engine,
    *,
    artifacts: Path,
    store_id: str | None = None,
    limit: int | None = None,
    review_days: int = 7,
    now: dt.datetime | None = None,
) -> PlanSummary:
    """Review the SKUs of one store (or all) and plan purchase-order proposals; writes nothing
    (`approvals.records.record_plan` records `summary.planned`). The forecasts are the served
    ones: the champion forecaster's in the registry at `artifacts`."""
    # Imported here, not at the top: every `aisle` command loads this module, few need SciPy.
    from ml_core.inventory.policy import POLICY_VERSION, decide_many

    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        locations = _locations(session, store_id)
        location_ids = [loc.id for loc in locations]
        last_day = session.scalar(
            select(func.max(DailySales.day)).where(DailySales.location_id.in_(location_ids))
        )
        today = clock_today(session)
        as_of = last_day or today - dt.timedelta(days=1)
        series, without_supplier = _series(session, locations, limit)
        summary = PlanSummary(
            as_of=as_of.isoformat(), planned_on=today.isoformat(), locations=location_ids
        )
        summary.skus_reviewed = len(series) + without_supplier
        summary.skus_without_supplier = without_supplier
        if not series:
            return summary
        sales = _recent_sales(session, location_ids, as_of)
        classes = _abc(series, sales, as_of)
        forecasts, run = _stored_forecasts(session, series, as_of, serving_version(artifacts))
        fallback = _fallback_forecasts(
            [s for s in series if (s.variant_id, s.location_id) not in forecasts], sales, as_of
        )
        forecasts.update(fallback)
        inputs = [
            _policy_input(s, forecasts[(s.variant_id, s.location_id)], classes[k], review_days)
            for k, s in enumerate(series)
        ]
        decisions = decide_many(inputs)
        sources: dict[str, int] = defaultdict(int)
        for s in series:
            sources[forecasts[(s.variant_id, s.location_id)].source] += 1
        summary.forecast_sources = dict(sources)
        model_versions: dict[str, Any] = {"policy": POLICY_VERSION}
        if run is not None:
            model_versions["forecast"] = f"{run.model}:{run.model_version}"
            model_versions["forecast_run"] = run.id
        if fallback:
            model_versions["fallback_forecast"] = FALLBACK_MODEL
        _plan_orders(
            summary,
            series,
            decisions,
            forecasts,
            as_of=as_of,
            planned_on=today,
            review_days=review_days,
            model_versions=model_versions,
            expires_at=now + dt.timedelta(days=review_days),
        )
    return summary


def _locations(session: Session, store_id: str | None) -> list[Location]:
    planned = list(
        session.scalars(
            select(Location).where(Location.kind.in_(PLANNED_KINDS)).order_by(Location.id)
        )
    )
    if store_id is None:
        return planned
    chosen = [loc for loc in planned if loc.id == store_id]
    if not chosen:
        known = ", ".join(loc.id for loc in planned) or "none yet"
        raise UnknownStoreError(f"There is no store {store_id!r}; the stores are: {known}.")
    return chosen


def _series(
    session: Session, locations: list[Location], limit: int | None
) -> tuple[list[_Series], int]:
    """Stocked SKUs at these locations with their primary supplier; and how many have none."""
    names = {loc.id: loc.name for loc in locations}
    rows = session.execute(
        select(InventoryPosition, Variant.price, Product.name)
        .join(Variant, Variant.id == InventoryPosition.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(InventoryPosition.location_id.in_(list(names)))
        .order_by(InventoryPosition.location_id, InventoryPosition.variant_id)
        .limit(limit)
    ).all()
    variant_ids = sorted({inv.variant_id for inv, _, _ in rows})
    supply: dict[str, tuple[SupplierItem, Supplier]] = {}
    for item, supplier in session.execute(
        select(SupplierItem, Supplier)
        .join(Supplier, Supplier.id == SupplierItem.supplier_id)
        .where(SupplierItem.variant_id.in_(variant_ids), SupplierItem.is_primary.is_(True))
        .order_by(SupplierItem.variant_id, SupplierItem.supplier_id)
    ).all():
        supply.setdefault(item.variant_id, (item, supplier))
    series, without = [], 0
    for inv, price, product_name in rows:
        if inv.variant_id not in supply:
            without += 1
            continue
        item, supplier = supply[inv.variant_id]
        series.append(
            _Series(
                variant_id=inv.variant_id,
                product_name=product_name,
                location_id=inv.location_id,
                location_name=names[inv.location_id],
                on_hand=max(inv.on_hand, 0),
                on_order=max(inv.on_order, 0),
                reserved=max(inv.reserved, 0),
                shelf_capacity=inv.shelf_capacity,
                price=price,
                supplier=supplier,
                item=item,
            )
        )
    return series, without


def _recent_sales(session: Session, location_ids: list[str], as_of: dt.date) -> pd.DataFrame:
    import pandas as pd

    first = as_of - dt.timedelta(days=max(ABC_DAYS, FALLBACK_DAYS) - 1)
    query = select(
        DailySales.variant_id,
        DailySales.location_id,
        DailySales.day,
        DailySales.units,
        DailySales.revenue,
        DailySales.stockout,
    ).where(DailySales.location_id.in_(location_ids), DailySales.day >= first)
    frame = pd.read_sql(query, session.connection())
    frame["age"] = (pd.Timestamp(as_of) - pd.to_datetime(frame["day"])).dt.days
    return frame


def _abc(series: list[_Series], sales: pd.DataFrame, as_of: dt.date) -> list[str]:
    """ABC class per series from its revenue share at its location over the last 90 days."""
    from ml_core.inventory.policy import abc_classes

    recent = sales[sales["age"] < ABC_DAYS]
    revenue = recent.groupby(["variant_id", "location_id"])["revenue"].sum().to_dict()
    classes = [""] * len(series)
    by_location: dict[str, list[int]] = defaultdict(list)
    for k, s in enumerate(series):
        by_location[s.location_id].append(k)
    for indices in by_location.values():
        values = [
            float(revenue.get((series[k].variant_id, series[k].location_id), 0.0)) for k in indices
        ]
        for k, label in zip(indices, abc_classes(values), strict=True):
            classes[k] = str(label)
    return classes


def _stored_forecasts(
    session: Session, series: list[_Series], as_of: dt.date, champion: str | None
) -> tuple[dict[tuple[str, str], _Forecast], ForecastRun | None]:
    """Forecasts of the latest served forecast run for days after `as_of`, per series that has
    them."""
    run = session.scalars(served_runs(champion)).first()
    if run is None:
        return {}, None
    wanted = {(s.variant_id, s.location_id) for s in series}
    query = (
        select(ForecastValue)
        .where(
            ForecastValue.run_id == run.id,
            ForecastValue.location_id.in_(sorted({s.location_id for s in series})),
            ForecastValue.day > as_of,
        )
        .order_by(ForecastValue.variant_id, ForecastValue.location_id, ForecastValue.day)
    )
    grouped: dict[tuple[str, str], list[ForecastValue]] = defaultdict(list)
    for value in session.scalars(query):
        key = (value.variant_id, value.location_id)
        if key in wanted:
            grouped[key].append(value)
    source = describe_run(run)

    from ml_core.forecasting.horizon import level_cv_of  # SciPy: imported on use, as above

    level_cv = level_cv_of(run.metrics)

    def clean(values: list[float]) -> list[float]:
        return [max(float(v), 0.0) if math.isfinite(v) else 0.0 for v in values]

    def forecast(values: list[ForecastValue]) -> _Forecast:
        mean = clean([v.mean for v in values])
        return _Forecast(
            mean=mean,
            p10=clean([v.p10 for v in values]),
            p50=clean([v.p50 for v in values]),
            p90=clean([v.p90 for v in values]),
            p95=clean([v.p95 for v in values]),
            # The run's backtested error of the level its days share, in units/day.
            level_sd=level_cv * sum(mean) / max(len(mean), 1),
            source=source,
        )

    return {key: forecast(values) for key, values in grouped.items()}, run


def _fallback_forecasts(
    series: list[_Series], sales: pd.DataFrame, as_of: dt.date
) -> dict[tuple[str, str], _Forecast]:
    """Day-of-week means of the last 8 weeks, with a negative-binomial spread.

    Days without a row sold nothing; stock-out days are left out, as their sales understate
    demand (a series stocked out every day keeps its censored mean: better than nothing).
    """
    import numpy as np

    if not series:
        return {}
    index = {(s.variant_id, s.location_id): k for k, s in enumerate(series)}
    units = np.zeros((len(series), FALLBACK_DAYS))
    censored = np.zeros_like(units, dtype=bool)
    recent = sales[sales["age"] < FALLBACK_DAYS]
    keys = list(zip(recent["variant_id"], recent["location_id"], strict=True))
    rows = np.array([index.get(key, -1) for key in keys], dtype=np.int64)
    known = rows >= 0
    # Column 0 is the oldest day, column 55 is `as_of`.
    cols = FALLBACK_DAYS - 1 - recent["age"].to_numpy()[known]
    units[rows[known], cols] = recent["units"].to_numpy(dtype=float)[known]
    censored[rows[known], cols] = recent["stockout"].to_numpy(dtype=bool)[known]

    days = [as_of - dt.timedelta(days=FALLBACK_DAYS - 1 - c) for c in range(FALLBACK_DAYS)]
    weekday = np.array([d.weekday() for d in days])
    clean = ~censored
    clean_days = clean.sum(axis=1)
    overall = np.where(
        clean_days > 0,
        (units * clean).sum(axis=1) / np.maximum(clean_days, 1),
        units.mean(axis=1),
    )
    by_weekday = np.empty((len(series), 7))
    for w in range(7):
        on_day = clean & (weekday == w)[None, :]
        count = on_day.sum(axis=1)
        by_weekday[:, w] = np.where(
            count > 0, (units * on_day).sum(axis=1) / np.maximum(count, 1), overall
        )
    # Over-dispersion from the clean days: variance / mean, at least Poisson's 1.
    deviation = np.where(clean, units - overall[:, None], 0.0)
    variance = (deviation**2).sum(axis=1) / np.maximum(clean_days - 1, 1)
    dispersion = np.where(
        overall > 0, np.maximum(variance / np.where(overall > 0, overall, 1), 1), 1
    )
    horizon_weekdays = [
        (as_of + dt.timedelta(days=h)).weekday() for h in range(1, FALLBACK_HORIZON + 1)
    ]
    mean = by_weekday[:, horizon_weekdays]
    sd = np.sqrt(mean * dispersion[:, None])
    # Eight weeks estimate the level only so well; that error persists over the whole period.
    level_sd = np.sqrt(overall * dispersion / np.maximum(clean_days, 1))
    return {
        key: _Forecast(
            mean=mean[k].tolist(),
            sd=sd[k].tolist(),
            level_sd=float(level_sd[k]),
            source=FALLBACK_SOURCE,
        )
        for key, k in index.items()
    }


def _policy_input(s: _Series, f: _Forecast, abc_class: str, review_days: int) -> PolicyInput:
    from ml_core.inventory.policy import PolicyInput

    margin = None if s.price is None else max(float(s.price) - float(s.item.unit_cost), 0.0)
    return PolicyInput(
        sku=s.variant_id,
        location_id=s.location_id,
        forecast_mean=tuple(f.mean) or (0.0,),
        forecast_p10=None if f.p10 is None else tuple(f.p10),
        forecast_p50=None if f.p50 is None else tuple(f.p50),
        forecast_p90=None if f.p90 is None else tuple(f.p90),
        forecast_p95=None if f.p95 is None else tuple(f.p95),
        forecast_sd=None if f.sd is None else tuple(f.sd),
        forecast_level_sd=f.level_sd,
        on_hand=s.on_hand,
        on_order=s.on_order,
        reserved=s.reserved,
        lead_time_mean_days=max(float(s.supplier.lead_time_mean_days), 0.1),
        lead_time_sd_days=max(float(s.supplier.lead_time_sd_days), 0.0),
        review_period_days=review_days,
        case_pack=max(int(s.item.case_pack), 1),
        moq=max(int(s.item.moq), 0),
        shelf_capacity=None if s.shelf_capacity is None else max(int(s.shelf_capacity), 0),
        unit_cost=float(s.item.unit_cost),
        holding_rate=HOLDING_RATE,
        shortage_cost=margin,
        abc_class=cast("AbcClass", abc_class),
    )


def _line(s: _Series, d: PolicyDecision, source: str) -> dict[str, Any]:
    from ml_core.inventory.policy import stated_safety_stock

    unit_cost = round(float(s.item.unit_cost), 2)
    return {
        "sku": s.variant_id,
        "product": s.product_name,
        "quantity": d.order_quantity,
        "cases": d.cases,
        "case_pack": d.case_pack,
        "moq": int(s.item.moq),
        "unit_cost": unit_cost,
        "line_value": round(d.order_quantity * unit_cost, 2),
        "forecast_source": source,
        "policy": {
            "abc_class": d.abc_class,
            "target_service_level": round(d.target_service_level, 4),
            "service_level": round(d.service_level, 4),
            "expected_demand": round(d.expected_demand, 2),
            "demand_sd": round(d.demand_sd, 2),
            "protection_days": round(d.protection_days, 2),
            "daily_demand": round(d.daily_demand, 3),
            "target_level": d.target_level,
            "safety_stock": stated_safety_stock(d),
            "on_hand": s.on_hand,
            "on_order": s.on_order,
            "reserved": s.reserved,
            "shelf_capacity": s.shelf_capacity,
            "inventory_position": d.inventory_position,
            "expected_fill_rate": round(d.expected_fill_rate, 4),
            "days_of_cover": None if d.days_of_cover is None else round(d.days_of_cover, 1),
            "binding": d.binding,
        },
        "explanation": d.explanation,
    }


def _plan_orders(
    summary: PlanSummary,
    series: list[_Series],
    decisions: list[PolicyDecision],
    forecasts: dict[tuple[str, str], _Forecast],
    *,
    as_of: dt.date,
    planned_on: dt.date,
    review_days: int,
    model_versions: dict[str, Any],
    expires_at: dt.datetime,
) -> None:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, (s, d) in enumerate(zip(series, decisions, strict=True)):
        if d.order_quantity > 0:
            groups[(s.supplier.id, s.location_id)].append(k)
    for (supplier_id, location_id), indices in sorted(groups.items()):
        first = series[indices[0]]
        lines = [
            _line(series[k], decisions[k], forecasts[(series[k].variant_id, location_id)].source)
            for k in sorted(indices, key=lambda k: series[k].variant_id)
        ]
        units = sum(line["quantity"] for line in lines)
        value = round(sum(line["line_value"] for line in lines), 2)
        content = {
            "supplier": {
                "id": supplier_id,
                "name": first.supplier.name,
                "lead_time_mean_days": first.supplier.lead_time_mean_days,
                "lead_time_sd_days": first.supplier.lead_time_sd_days,
            },
            "location": {"id": location_id, "name": first.location_name},
            "as_of": as_of.isoformat(),
            "planned_on": planned_on.isoformat(),
            "review_period_days": review_days,
            "policy_version": model_versions["policy"],
            "forecast_sources": sorted({line["forecast_source"] for line in lines}),
            "lines": lines,
            "totals": {"lines": len(lines), "units": units, "value": value},
        }
        summary.lines_proposed += len(lines)
        summary.total_value = round(summary.total_value + value, 2)
        summary.planned.append(
            PlannedOrder(
                content=content,
                location_id=location_id,
                supplier_id=supplier_id,
                lines=len(lines),
                units=units,
                value=value,
                model_versions=model_versions,
                expires_at=expires_at,
            )
        )
