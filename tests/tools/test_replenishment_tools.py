"""The forecast and replenishment tools on both databases, on a hand-built store whose demand,
stock and lead times are known, so every figure the tools report can be checked exactly.

The store (`seed_catalogue` plus a supplier and eight weeks of sales ending on `LAST_DAY`):
- Alpine Rain Jacket S at Downtown: 5 on hand, 1 reserved; sells 2 a day; 10-day lead time.
- Breeze Windbreaker at Downtown: 2 on hand, 2 reserved; sells 1 a day.
- Evergreen Parka at Uptown: 4 on hand; sells one every ten days (0.1 a day).
- Alpine Rain Jacket M at Uptown: none on hand, no sales.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from scipy import stats
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from approvals.purchase_orders import (
    create_purchase_order,
    edit_purchase_order,
)
from retail.errors import AisleError
from retail.proposals import SelfApprovalError, decide, transition
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import (
    DailySales,
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Product,
    Proposal,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
)
from tests.factories import Catalogue, seed_catalogue
from tools.base import Principal, Services, ToolContext, invoke

LAST_DAY = dt.date(2025, 6, 30)
LEAD_DAYS = 10.0
C = Catalogue()
ALPINE_S, ALPINE_M = f"{C.alpine}-v1", f"{C.alpine}-v2"
BREEZE, EVERGREEN = f"{C.breeze}-v1", f"{C.evergreen}-v1"


def _store(engine: Engine) -> None:
    seed_catalogue(engine)
    with transaction(engine) as session:
        session.add(
            Supplier(
                id="SUP1",
                name="Northwind Outfitters",
                lead_time_mean_days=LEAD_DAYS,
                lead_time_sd_days=2.0,
                source="generated",
            )
        )
        for variant in (ALPINE_S, ALPINE_M, BREEZE, EVERGREEN):
            session.add(
                SupplierItem(
                    supplier_id="SUP1", variant_id=variant, unit_cost=20.0, case_pack=2, moq=2
                )
            )
        for ago in range(56):
            day = LAST_DAY - dt.timedelta(days=ago)
            sold = [(ALPINE_S, C.downtown, 2), (BREEZE, C.downtown, 1)]
            if ago % 10 == 0:
                sold.append((EVERGREEN, C.uptown, 1))
            for variant, location, units in sold:
                session.add(
                    DailySales(
                        variant_id=variant,
                        location_id=location,
                        day=day,
                        units=units,
                        revenue=units * 100.0,
                        price=100.0,
                        stockout=False,
                    )
                )


def _forecast(engine: Engine, variant: str, location: str, mean: float, days: int = 30) -> str:
    """Store a forecast run of `mean` units a day for `days` days after LAST_DAY."""
    with transaction(engine) as session:
        run = ForecastRun(
            id=f"run-{variant}",
            model="seasonal_naive",
            model_version="v7",
            created_at=dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
            first_day=LAST_DAY + dt.timedelta(days=1),
            horizon=days,
        )
        session.add(run)
        session.flush()
        for h in range(1, days + 1):
            session.add(
                ForecastValue(
                    run_id=run.id,
                    variant_id=variant,
                    location_id=location,
                    day=LAST_DAY + dt.timedelta(days=h),
                    mean=mean,
                    p10=mean - 1,
                    p50=mean,
                    p90=mean + 2,
                    p95=mean + 3,
                )
            )
        return run.id


@pytest.fixture
def planner(engine: Engine, tmp_path: Any) -> ToolContext:
    _store(engine)
    services = Services(engine, Settings(var_dir=tmp_path, environment="test"))
    return ToolContext(principal=Principal.parse("planner:ana"), services=services)


def _call(ctx: ToolContext, name: str, **arguments: Any) -> dict[str, Any]:
    outcome = invoke(ctx, name, arguments)
    assert outcome.ok, outcome.error
    assert outcome.output is not None
    return outcome.output


def _as(ctx: ToolContext, spec: str) -> ToolContext:
    return ToolContext(principal=Principal.parse(spec), services=ctx.services)


def test_skus_at_risk_are_those_whose_position_misses_demand_over_the_lead_time(
    planner: ToolContext,
) -> None:
    risk = _call(planner, "skus_at_risk")
    assert risk["as_of"] == LAST_DAY.isoformat() and risk["reviewed"] == 4
    # Breeze: 2 on hand, 2 reserved, 0 cover; Alpine S: 5 - 1 = 4 for 2 a day, 2 days of cover.
    # The parka's 4 cover its 1 unit over the lead time; the M jacket sells nothing.
    assert [(r["variant_id"], r["days_of_cover"]) for r in risk["items"]] == [
        (BREEZE, 0.0),
        (ALPINE_S, 2.0),
    ]
    alpine = risk["items"][1]
    assert alpine["position"] == 4 and alpine["daily_demand"] == 2.0
    assert alpine["demand_over_lead_time"] == 20.0 and alpine["shortfall"] == 16.0
    assert "last 28 days of sales" in alpine["demand_source"]

    uptown = _call(planner, "skus_at_risk", location_id=C.uptown)
    assert uptown["locations"] == [C.uptown] and uptown["items"] == []
    assert _call(planner, "skus_at_risk", limit=1)["items"][0]["variant_id"] == BREEZE

    # A stored forecast replaces the sales rate where it covers the SKU: at 0.3 a day, the
    # jacket's 4 cover the 3 units expected over the lead time.
    _forecast(planner.engine, ALPINE_S, C.downtown, mean=0.3)
    after = _call(planner, "skus_at_risk")
    assert [r["variant_id"] for r in after["items"]] == [BREEZE]
    assert after["at_risk"] == 1

    unknown = invoke(planner, "skus_at_risk", {"location_id": "store-nowhere"})
    assert unknown.status == "not_found"
    assert invoke(_as(planner, "associate:al"), "skus_at_risk", {}).status == "forbidden"


def test_a_new_products_history_starts_at_its_launch(planner: ToolContext) -> None:
    launched = LAST_DAY - dt.timedelta(days=4)
    with transaction(planner.engine) as session:
        session.get(Product, C.breeze).launched_on = launched
    shown = _call(planner, "forecast_for_sku", variant_id=BREEZE, location_id=C.downtown)
    # Five days on offer, one unit a day: no zero-sale days before it existed dilute the mean.
    assert [d["day"] for d in shown["recent_sales"]] == [
        (launched + dt.timedelta(days=n)).isoformat() for n in range(5)
    ]
    assert shown["offered_since"] == launched.isoformat() and shown["recent_daily_mean"] == 1.0
    older = _call(planner, "forecast_for_sku", variant_id=ALPINE_S, location_id=C.downtown)
    assert len(older["recent_sales"]) == 28 and older["offered_since"] is None
    # The demand the reorder check plans with is over the same days.
    risk = {r["variant_id"]: r for r in _call(planner, "skus_at_risk")["items"]}
    assert risk[BREEZE]["daily_demand"] == 1.0 and risk[ALPINE_S]["daily_demand"] == 2.0


def test_forecast_for_sku_shows_the_stored_quantiles_and_model_version(
    planner: ToolContext,
) -> None:
    none = _call(planner, "forecast_for_sku", variant_id=ALPINE_S, location_id=C.downtown)
    assert none["forecast"] == [] and none["model_version"] is None
    assert "aisle forecast run" in none["note"]
    assert len(none["recent_sales"]) == 28 and none["recent_daily_mean"] == 2.0

    run_id = _forecast(planner.engine, ALPINE_S, C.downtown, mean=3.0)
    shown = _call(
        _as(planner, "associate:al"),
        "forecast_for_sku",
        variant_id=ALPINE_S,
        location_id=C.downtown,
        days=7,
    )
    assert (shown["run_id"], shown["model"], shown["model_version"]) == (
        run_id,
        "seasonal_naive",
        "v7",
    )
    assert len(shown["forecast"]) == 7 and shown["forecast_total"] == 21.0
    first = shown["forecast"][0]
    assert first["day"] == (LAST_DAY + dt.timedelta(days=1)).isoformat()
    assert (first["p10"], first["p50"], first["p90"]) == (2.0, 3.0, 5.0)
    # The week's total has its own quantiles: days whose spread is below Poisson's add up to a
    # Poisson(21) (the run was never backtested, so the days count as independent), not to the
    # sums of the daily quantiles (14 and 35).
    assert shown["forecast_range"] == {
        "days": 7,
        "mean": 21.0,
        "p10": stats.poisson.ppf(0.1, 21),
        "p50": stats.poisson.ppf(0.5, 21),
        "p90": stats.poisson.ppf(0.9, 21),
        "backtest_coverage": None,
    }

    assert (
        invoke(planner, "forecast_for_sku", {"variant_id": "nope", "location_id": C.downtown})
    ).status == "not_found"
    assert (
        invoke(
            _as(planner, "shopper:cus-1"),
            "forecast_for_sku",
            {"variant_id": ALPINE_S, "location_id": C.downtown},
        ).status
        == "forbidden"
    )


def test_demand_is_the_newest_forecast_that_covers_each_sku(planner: ToolContext) -> None:
    # Two runs, each of one SKU: the newer does not hide the older's forecast of the other.
    runs = {
        ALPINE_S: _forecast(planner.engine, ALPINE_S, C.downtown, mean=3.0),
        BREEZE: _forecast(planner.engine, BREEZE, C.downtown, mean=0.5),
    }
    associate = _as(planner, f"associate:al@{C.downtown}")
    for sku, run_id in runs.items():
        with Session(planner.engine) as session:
            expected = session.scalar(
                select(func.avg(ForecastValue.mean)).where(
                    ForecastValue.run_id == run_id,
                    ForecastValue.variant_id == sku,
                    ForecastValue.location_id == C.downtown,
                    ForecastValue.day > LAST_DAY,
                    ForecastValue.day <= LAST_DAY + dt.timedelta(days=28),
                )
            )
        why = _call(associate, "why_short", variant_id=sku)
        assert why["daily_demand"] == pytest.approx(expected)
        assert run_id in why["demand_source"] and "no stored forecast" not in why["explanation"]
        shown = _call(associate, "forecast_for_sku", variant_id=sku)
        assert shown["run_id"] == run_id


def test_propose_reorders_writes_proposals_only_and_nothing_new_on_unchanged_data(
    planner: ToolContext,
) -> None:
    plan = _call(planner, "propose_reorders", location_id=C.downtown)
    assert plan["proposals_written"] == 1 and len(plan["proposals"]) == 1
    proposal = plan["proposals"][0]
    assert proposal["supplier_id"] == "SUP1" and proposal["new"]
    with Session(planner.engine) as session:
        assert session.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
        stored = session.get(Proposal, proposal["proposal_id"])
        assert stored is not None and stored.status == "proposed"
        assert stored.content_hash == proposal["content_hash"]

    again = _call(planner, "propose_reorders", location_id=C.downtown)
    assert again["proposals_written"] == 0 and again["proposals_unchanged"] == 1
    assert again["proposals"][0]["proposal_id"] == proposal["proposal_id"]

    detail = _call(planner, "proposal_detail", proposal_id=proposal["proposal_id"])
    assert detail["content_hash"] == proposal["content_hash"]
    skus = {line["sku"] for line in detail["lines"]}
    assert skus == {ALPINE_S, BREEZE}
    for line in detail["lines"]:
        assert line["quantity"] > 0 and line["quantity"] % line["case_pack"] == 0
        assert line["explanation"].startswith(f"Order {line['quantity']} units")
        # The line's safety stock (the page's table and facts) is the one its explanation states.
        safety = line["policy"]["safety_stock"]
        assert f"a safety stock of {safety:,.1f}" in line["explanation"], line
    assert detail["model_versions"]["policy"]

    queue = _call(planner, "list_proposals", kind="purchase_order", status="proposed")
    assert [p["id"] for p in queue["items"]] == [proposal["proposal_id"]]
    assert _call(planner, "list_proposals", status="executed")["items"] == []
    evaluator = _as(planner, "evaluator:eve")
    assert invoke(evaluator, "list_proposals", {}).ok
    assert invoke(evaluator, "propose_reorders", {}).status == "forbidden"
    assert invoke(planner, "list_proposals", {"kind": "refund"}).status == "invalid"
    assert invoke(planner, "proposal_detail", {"proposal_id": "prop-x"}).status == "not_found"


def test_an_approved_proposal_becomes_one_purchase_order_that_why_short_shows(
    planner: ToolContext,
) -> None:
    plan = _call(planner, "propose_reorders", location_id=C.downtown)
    pid = plan["proposals"][0]["proposal_id"]
    with transaction(planner.engine) as session:
        with pytest.raises(SelfApprovalError):  # ana proposed it: another planner decides
            decide(
                session,
                pid,
                decider="ana",
                decision="approve",
                expected_hash=plan["proposals"][0]["content_hash"],
            )
        proposal = decide(
            session,
            pid,
            decider="bo",
            decision="approve",
            expected_hash=plan["proposals"][0]["content_hash"],
        )
        po_id = create_purchase_order(session, proposal)
        # Asked again in the same transaction, it finds the order it made.
        assert create_purchase_order(session, proposal) == po_id
        transition(proposal, "executed", actor="bo", expected_hash=proposal.content_hash)
        proposal.executed_ref = po_id
        lines = {line["sku"]: line["quantity"] for line in proposal.content["lines"]}
    with Session(planner.engine) as session:
        po = session.get(PurchaseOrder, po_id)
        assert po is not None and po.proposal_id == pid and po.status == "open"
        assert po.expected_on is not None
        stored = dict(
            session.execute(
                select(PurchaseOrderLine.variant_id, PurchaseOrderLine.quantity).where(
                    PurchaseOrderLine.purchase_order_id == po_id
                )
            ).all()
        )
        assert stored == lines
        position = session.get(InventoryPosition, (ALPINE_S, C.downtown))
        assert position is not None and position.on_order == lines[ALPINE_S]

    why = _call(
        _as(planner, "associate:al"), "why_short", variant_id=ALPINE_S, location_id=C.downtown
    )
    assert (why["on_hand"], why["reserved"], why["available"]) == (5, 1, 4)
    assert why["on_order"] == lines[ALPINE_S]
    assert [(o["id"], o["quantity"]) for o in why["open_purchase_orders"]] == [
        (po_id, lines[ALPINE_S])
    ]
    assert why["open_purchase_orders"][0]["expected_on"] == po.expected_on.isoformat()
    assert why["lead_time_days"] == LEAD_DAYS and why["daily_demand"] == 2.0
    assert why["demand_over_lead_time"] == 20.0
    assert why["days_of_cover"] == round((4 + lines[ALPINE_S]) / 2.0, 1)
    assert why["safety_stock"] is not None and why["safety_stock"] > 0
    assert why["policy_explanation"].startswith("Order")
    assert "5 on hand, 1 reserved" in why["explanation"]
    assert why["product_id"] == C.alpine
    assert f"{lines[ALPINE_S]} on {po_id} expected {po.expected_on}" in why["explanation"]

    # An associate who names no location asks about their own store; a planner has none.
    at_home = _call(_as(planner, f"associate:al@{C.downtown}"), "why_short", variant_id=ALPINE_S)
    assert (at_home["location_id"], at_home["on_order"]) == (C.downtown, lines[ALPINE_S])
    nowhere = invoke(planner, "why_short", {"variant_id": ALPINE_S})
    assert nowhere.status == "invalid" and nowhere.error is not None
    assert "Which location" in nowhere.error.message

    not_stocked = invoke(planner, "why_short", {"variant_id": BREEZE, "location_id": C.uptown})
    assert not_stocked.status == "not_found"


def test_a_proposals_lines_name_the_open_purchase_orders_behind_their_on_order(
    planner: ToolContext,
) -> None:
    """The page says where on-order stock comes from: the open purchase orders in Aisle for the
    line's SKU and location (none for a SKU whose on-order is only in the stock records)."""
    plan = _call(planner, "propose_reorders", location_id=C.downtown)
    pid = plan["proposals"][0]["proposal_id"]
    expected = LAST_DAY + dt.timedelta(days=10)
    with transaction(planner.engine) as session:
        for po_id, location in (("po-open", C.downtown), ("po-uptown", C.uptown)):
            session.add(
                PurchaseOrder(
                    id=po_id,
                    supplier_id="SUP1",
                    location_id=location,
                    status="open",
                    created_at=dt.datetime.now(dt.UTC),
                    expected_on=expected,
                    source="import",
                )
            )
            session.flush()
            session.add(
                PurchaseOrderLine(
                    purchase_order_id=po_id, variant_id=ALPINE_S, quantity=4, unit_cost=20.0
                )
            )
    detail = _call(planner, "proposal_detail", proposal_id=pid)
    orders = {line["sku"]: line["open_orders"] for line in detail["lines"]}
    assert orders[ALPINE_S] == [
        {
            "id": "po-open",
            "supplier_id": "SUP1",
            "quantity": 4,
            "expected_on": expected.isoformat(),
            "proposal_id": None,
        }
    ]
    assert orders[BREEZE] == []


CONTENT = {
    "supplier": {"id": "SUP1"},
    "lines": [
        {
            "sku": "A",
            "quantity": 12,
            "cases": 2,
            "case_pack": 6,
            "unit_cost": 2.5,
            "line_value": 30.0,
        },
        {
            "sku": "B",
            "quantity": 4,
            "cases": 4,
            "case_pack": 1,
            "unit_cost": 10.0,
            "line_value": 40.0,
        },
    ],
    "totals": {"lines": 2, "units": 16, "value": 70.0},
}


def test_an_edit_changes_quantities_in_whole_cases_and_keeps_the_planners_figure() -> None:
    edited = edit_purchase_order(CONTENT, {"A": 18, "B": 0})
    assert edited["lines"] == [
        {
            "sku": "A",
            "quantity": 18,
            "cases": 3,
            "case_pack": 6,
            "unit_cost": 2.5,
            "line_value": 45.0,
            "proposed_quantity": 12,
            "proposed_explanation": "",
            # The line had no explanation of its own: only what the edit orders is said.
            "explanation": "Edited to 18 units (3 cases of 6).",
        }
    ]
    assert edited["totals"] == {"lines": 1, "units": 18, "value": 45.0}
    assert edited["supplier"] == CONTENT["supplier"]
    for changes, message in (
        ({"A": 7}, "not a whole number of cases of 6"),
        ({"C": 6}, "SKU C is not on this purchase order"),
        ({"B": 2.5}, "whole number of units"),
        ({"A": 0, "B": 0}, "reject the proposal instead"),
    ):
        with pytest.raises(AisleError, match=message):
            edit_purchase_order(CONTENT, changes)
