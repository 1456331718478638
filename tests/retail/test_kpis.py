"""The weekly KPIs (`retail.kpis`) on a tiny world written by hand: every KPI of every week equals
what plain SQL over the same tables says (a query path of its own: one statement per KPI and
week, dates compared in SQL), and the forecast error, which rests on the latest-run rule, also
equals the figure worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text

from retail.kpis import DEFINITIONS, week_range, weekly_kpis
from retail.store.db import transaction
from retail.store.models import (
    Customer,
    DailySales,
    ForecastRun,
    ForecastValue,
    Order,
    OrderItem,
    ShopperEvent,
)
from tests.factories import make_inventory, make_location, make_product

TODAY = dt.date(2026, 1, 19)  # a Monday: the two weeks before it are Jan 5-11 and Jan 12-18
UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def seed(engine: Engine) -> None:
    with transaction(engine) as s:
        make_location(s, "S1", "Store one")
        make_product(s, "P", "Tent", variants=[{"price": 10, "unit_cost": 4}, {"price": 20}])
        make_inventory(s, "P-v1", "S1", on_hand=10)
        make_inventory(s, "P-v2", "S1", on_hand=7)  # no unit cost: not valued
        for variant, day, units, stockout in [
            ("P-v1", 4, 9, True),  # the Sunday before the first week
            ("P-v1", 5, 3, False),
            ("P-v1", 6, 1, True),
            ("P-v2", 7, 2, False),
            ("P-v1", 12, 5, False),
            ("P-v2", 13, 1, True),
        ]:
            price = 10 if variant == "P-v1" else 20
            s.add(DailySales(
                variant_id=variant, location_id="S1", day=dt.date(2026, 1, day), units=units,
                revenue=units * price, price=price, on_promo=False, stockout=stockout,
            ))  # fmt: skip
        # Run A forecasts Jan 5-7 at 2 a day; the later run B Jan 6-14 at 4 a day.
        for run, created, days, mean in [("A", 1, range(5, 8), 2.0), ("B", 6, range(6, 15), 4.0)]:
            s.add(ForecastRun(
                id=run, model="tsb", model_version="v", created_at=at(created, 6),
                first_day=dt.date(2026, 1, days[0]), horizon=len(days),
            ))  # fmt: skip
            s.flush()
            for day in days:
                s.add(ForecastValue(
                    run_id=run, variant_id="P-v1", location_id="S1", day=dt.date(2026, 1, day),
                    mean=mean, p10=0, p50=mean, p90=mean, p95=mean,
                ))  # fmt: skip
        for session_id, events in {
            "a": [(at(5, 10), "view"), (at(5, 10, 5), "purchase")],
            "b": [(at(11, 23, 50), "view"), (at(12, 0, 10), "purchase")],
            "c": [(at(12, 9), "view")],
            "d": [(at(4, 23), "view"), (at(5, 1), "purchase")],  # began before the weeks
        }.items():
            for when, kind in events:
                s.add(ShopperEvent(session_id=session_id, occurred_at=when, event_type=kind))
        s.add(Customer(id="C1", first_name="Ann", last_name="Lee", source="generated"))
        s.flush()
        for order_id, created, status, lines in [
            ("o1", at(6, 12), "delivered", [("P-v1", 10, 2), ("P-v2", 20, 1)]),
            ("o2", at(8, 12), "cancelled", [("P-v2", 20, 5)]),
            ("o3", at(9, 12), "pending", [("P-v1", 10, 1)]),
            ("o4", at(18, 23, 59), "delivered", [("P-v2", 20, 3)]),
            ("o5", at(19, 0, 1), "delivered", [("P-v2", 20, 9)]),  # today: no complete week
        ]:
            s.add(Order(
                id=order_id, customer_id="C1", status=status, created_at=created, source="generated"
            ))  # fmt: skip
            s.flush()
            for n, (variant, price, quantity) in enumerate(lines):
                s.add(OrderItem(
                    id=f"{order_id}:{n}", order_id=order_id, position=n, variant_id=variant,
                    product_id="P", name="Tent", price=price, quantity=quantity,
                ))  # fmt: skip


def by_sql(engine: Engine, first: dt.date, last: dt.date) -> dict[str, float | None]:
    """One week's KPIs in plain SQL."""
    days = {"a": first, "b": last}
    instants = {
        "a": dt.datetime.combine(first, dt.time(), UTC),
        "b": dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC),
    }
    with engine.connect() as c:
        rows, stockouts, revenue, cogs = c.execute(text("""
            SELECT COUNT(*), SUM(CASE WHEN s.stockout THEN 1 ELSE 0 END),
                   SUM(CASE WHEN v.unit_cost IS NOT NULL THEN s.revenue ELSE 0 END),
                   SUM(CASE WHEN v.unit_cost IS NOT NULL THEN s.units * v.unit_cost ELSE 0 END)
            FROM daily_sales s JOIN variants v ON v.id = s.variant_id
            WHERE s.day BETWEEN :a AND :b"""), days).one()  # fmt: skip
        stock_value = c.execute(
            text("""
            SELECT SUM(i.on_hand * v.unit_cost) FROM inventory i
            JOIN variants v ON v.id = i.variant_id WHERE v.unit_cost IS NOT NULL""")
        ).scalar()
        error, actual = c.execute(
            text("""
            SELECT SUM(ABS(f.mean - COALESCE(s.units, 0))), SUM(COALESCE(s.units, 0))
            FROM forecasts f JOIN forecast_runs r ON r.id = f.run_id
            LEFT JOIN daily_sales s ON s.variant_id = f.variant_id
                 AND s.location_id = f.location_id AND s.day = f.day
            WHERE f.day BETWEEN :a AND :b AND f.day <= (SELECT MAX(day) FROM daily_sales)
              AND NOT EXISTS (
                SELECT 1 FROM forecasts g JOIN forecast_runs q ON q.id = g.run_id
                WHERE g.variant_id = f.variant_id AND g.location_id = f.location_id
                  AND g.day = f.day AND q.created_at > r.created_at)"""),
            days,
        ).one()
        sessions, converted = c.execute(text("""
            SELECT COUNT(*), SUM(bought) FROM (
              SELECT MIN(occurred_at) AS began,
                     MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS bought
              FROM shopper_events GROUP BY session_id) t
            WHERE began >= :a AND began < :b"""), instants).one()  # fmt: skip
        total, orders = c.execute(text("""
            SELECT SUM(i.price * i.quantity), COUNT(DISTINCT o.id)
            FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE o.status <> 'cancelled' AND o.created_at >= :a AND o.created_at < :b"""),
            instants).one()  # fmt: skip
    cogs, revenue, stock_value = float(cogs or 0), float(revenue or 0), float(stock_value)
    return {
        "forecast_error": float(error) / float(actual) if actual else None,
        "fill_rate": (rows - stockouts) / rows if rows else None,
        "stockouts": stockouts if rows else None,
        "inventory_turns": cogs * 52 / stock_value if rows else None,
        "margin": (revenue - cogs) / revenue if revenue else None,
        "conversion": converted / sessions if sessions else None,
        "aov": float(total) / orders if orders else None,
    }


def test_each_weeks_kpis_match_plain_sql_and_the_hand_worked_figures(engine: Engine) -> None:
    seed(engine)
    kpis = weekly_kpis(engine, TODAY, 2)
    assert (kpis["first_day"], kpis["last_day"]) == (dt.date(2026, 1, 5), dt.date(2026, 1, 18))
    assert [d["key"] for d in kpis["definitions"]] == [d.key for d in DEFINITIONS]
    keys = [d.key for d in DEFINITIONS]
    for point in kpis["points"]:
        expected = by_sql(engine, point["week_start"], point["week_end"])
        assert {k: point[k] for k in keys} == pytest.approx(expected), point["week_start"]
    first, second = kpis["points"]
    # By hand. Week 1: run A covers Jan 5 (|2-3|), run B the later days (|4-1|, then five
    # days of 4 with no sale); week 2 counts Jan 12-13 only, the last day with sales.
    assert first["forecast_error"] == pytest.approx((1 + 3 + 5 * 4) / 4)
    assert second["forecast_error"] == pytest.approx((1 + 4) / 5)
    assert first["fill_rate"] == pytest.approx(2 / 3) and first["stockouts"] == 1
    assert first["margin"] == pytest.approx((40 - 16) / 40)
    assert first["inventory_turns"] == pytest.approx(16 * 52 / 40)
    assert (first["conversion"], second["conversion"]) == (1.0, 0.0)
    assert (first["aov"], second["aov"]) == (pytest.approx((40 + 10) / 2), pytest.approx(60))


def test_a_week_with_no_data_has_no_values(engine: Engine) -> None:
    seed(engine)
    [point] = weekly_kpis(engine, dt.date(2025, 6, 2), 1)["points"]
    assert {k: v for k, v in point.items() if not k.startswith("week_")} == dict.fromkeys(
        [d.key for d in DEFINITIONS]
    )


@pytest.mark.parametrize("weeks", [0, -1, 105])
def test_weeks_out_of_range_are_refused(weeks: int) -> None:
    with pytest.raises(ValueError, match="weeks must be between 1 and 104"):
        week_range(TODAY, weeks)
