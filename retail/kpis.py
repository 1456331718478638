"""The retail KPIs week by week, for the /ops page: forecast error, fill rate, stock-outs,
inventory turns, margin, conversion and average order value.

Each KPI's definition is stated once, here (`DEFINITIONS`), and the page prints it beside the
plot, so what the page says is what was computed. The SQL sums by day (or by session and order),
which every dialect does alike; days are then bucketed into Monday-to-Sunday weeks here, which
keeps the date arithmetic out of dialect-specific SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from sqlalchemy import Engine, and_, case, func, select

from retail.store.models import (
    DailySales,
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Order,
    OrderItem,
    ShopperEvent,
    Variant,
)

Unit = Literal["ratio", "count", "turns", "money"]
MAX_WEEKS = 104
WEEKS_PER_YEAR = 52


@dataclass(frozen=True, slots=True)
class KpiDefinition:
    key: str
    label: str
    unit: Unit
    definition: str


DEFINITIONS = (
    KpiDefinition(
        "forecast_error",
        "Forecast error (WAPE)",
        "ratio",
        "The sum of |forecast − units sold| over the sum of units sold, over every SKU-location-day"
        " of the week that a stored forecast covers and whose sales have arrived (a day with no"
        " sales row sold nothing); where several runs cover a day, the latest run counts.",
    ),
    KpiDefinition(
        "fill_rate",
        "Fill rate",
        "ratio",
        "Of the SKU-location-days of the week (stores and online) with a sale or a stock-out,"
        " the share that were not out of stock (sales on a stock-out day are censored, so lost"
        " units are not known).",
    ),
    KpiDefinition(
        "stockouts",
        "Stock-outs",
        "count",
        "The number of SKU-location-days of the week (stores and online) that ended out of stock.",
    ),
    KpiDefinition(
        "inventory_turns",
        "Inventory turns",
        "turns",
        "The week's cost of goods sold (units sold × unit cost) × 52, over the value at unit cost"
        " of the stock on hand now at every location (stores, online and the DC; the data hold"
        " one stock snapshot, not its history).",
    ),
    KpiDefinition(
        "margin",
        "Gross margin",
        "ratio",
        "(Revenue − units sold × unit cost) over revenue, over the week's sales of SKUs with a"
        " known unit cost.",
    ),
    KpiDefinition(
        "conversion",
        "Conversion",
        "ratio",
        "Of the shopping sessions whose first event fell in the week, the share with a purchase.",
    ),
    KpiDefinition(
        "aov",
        "Average order value",
        "money",
        "The item total (price × quantity) of the orders placed in the week, cancelled ones"
        " excluded, over their number.",
    ),
)


def week_range(today: dt.date, weeks: int) -> tuple[dt.date, dt.date]:
    """The first and last day of the `weeks` complete Monday-to-Sunday weeks before `today`."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be between 1 and {MAX_WEEKS}.")
    last = today - dt.timedelta(days=today.isoweekday())  # the Sunday before today
    return last - dt.timedelta(days=7 * weeks - 1), last


def _day(value: dt.date | dt.datetime | str) -> dt.date:
    # SQLite hands back aggregated timestamps as text and aware ones nowhere; PostgreSQL as aware.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    return value


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def weekly_kpis(engine: Engine, today: dt.date, weeks: int) -> dict[str, Any]:
    """Every KPI for each of the `weeks` complete weeks before `today`, oldest first; a KPI is
    None in a week with nothing to compute it from."""
    first, last = week_range(today, weeks)
    starts = [first + dt.timedelta(days=7 * i) for i in range(weeks)]
    sums: dict[dt.date, defaultdict[str, float]] = {s: defaultdict(float) for s in starts}

    def add(day: dt.date, **values: float) -> None:
        bucket = sums[first + dt.timedelta(days=7 * ((day - first).days // 7))]
        for name, value in values.items():
            bucket[name] += value

    start_at = dt.datetime.combine(first, dt.time(), dt.UTC)
    end_at = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    cost = DailySales.units * Variant.unit_cost
    costed = Variant.unit_cost.is_not(None)
    with engine.connect() as conn:
        sales = conn.execute(
            select(
                DailySales.day,
                func.count(),
                func.sum(case((DailySales.stockout, 1), else_=0)),
                func.sum(case((costed, DailySales.revenue), else_=0)),
                func.sum(case((costed, cost), else_=0)),
            )
            .join(Variant, Variant.id == DailySales.variant_id)
            .where(DailySales.day.between(first, last))
            .group_by(DailySales.day)
        )
        for day, rows, stockouts, revenue, cogs in sales:
            add(_day(day), rows=rows, stockouts=stockouts, revenue=revenue or 0, cogs=cogs or 0)

        stock_value = conn.execute(
            select(func.sum(InventoryPosition.on_hand * Variant.unit_cost))
            .join(Variant, Variant.id == InventoryPosition.variant_id)
            .where(costed)
        ).scalar_one()
        last_sale = conn.execute(select(func.max(DailySales.day))).scalar_one()

        if last_sale is not None:
            forecasts = conn.execute(
                select(
                    ForecastValue.variant_id,
                    ForecastValue.location_id,
                    ForecastValue.day,
                    ForecastValue.mean,
                    func.coalesce(DailySales.units, 0),
                )
                .join(ForecastRun, ForecastRun.id == ForecastValue.run_id)
                .outerjoin(
                    DailySales,
                    and_(
                        DailySales.variant_id == ForecastValue.variant_id,
                        DailySales.location_id == ForecastValue.location_id,
                        DailySales.day == ForecastValue.day,
                    ),
                )
                .where(ForecastValue.day.between(first, min(last, _day(last_sale))))
                .order_by(ForecastRun.created_at, ForecastRun.id)
            )
            # Ordered by run, so a later run's forecast of the same day replaces an earlier one.
            latest = {(v, loc, _day(day)): (mean, units) for v, loc, day, mean, units in forecasts}
            for (_, _, day), (mean, units) in latest.items():
                add(day, abs_error=abs(mean - units), actual=units)

        started = func.min(ShopperEvent.occurred_at)
        sessions = conn.execute(
            select(started, func.max(case((ShopperEvent.event_type == "purchase", 1), else_=0)))
            .group_by(ShopperEvent.session_id)
            .having(and_(started >= start_at, started < end_at))
        )
        for at, purchased in sessions:
            add(_day(at), sessions=1, converted=purchased)

        orders = conn.execute(
            select(Order.created_at, func.sum(OrderItem.price * OrderItem.quantity))
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.created_at >= start_at, Order.created_at < end_at)
            .where(Order.status != "cancelled")
            .group_by(Order.id, Order.created_at)
        )
        for at, total in orders:
            # created_at is nullable in the schema, but the window's bounds above exclude NULL.
            add(_day(cast(dt.datetime, at)), orders=1, order_total=total)

    points = []
    for start, s in sums.items():
        points.append(
            {
                "week_start": start,
                "week_end": start + dt.timedelta(days=6),
                "forecast_error": _ratio(s["abs_error"], s["actual"]),
                "fill_rate": _ratio(s["rows"] - s["stockouts"], s["rows"]),
                "stockouts": int(s["stockouts"]) if s["rows"] else None,
                "inventory_turns": (
                    _ratio(s["cogs"] * WEEKS_PER_YEAR, stock_value or 0) if s["rows"] else None
                ),
                "margin": _ratio(s["revenue"] - s["cogs"], s["revenue"]),
                "conversion": _ratio(s["converted"], s["sessions"]),
                "aov": _ratio(s["order_total"], s["orders"]),
            }
        )
    return {
        "first_day": first,
        "last_day": last,
        "definitions": [asdict(d) for d in DEFINITIONS],
        "points": points,
    }
