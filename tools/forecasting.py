"""Forecast tools: the stored demand forecast of a SKU at a location, and why a SKU is short.

They read what `aisle forecast run` stored (the latest run that covers the series, with its
quantiles and model version) and the store's stock, open purchase orders and suppliers. Where no
forecast covers a series, demand is the mean of its last 28 days of sales, and the tool says so.
`daily_demand` is the rate the replenishment tools screen stock against.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ml_core.forecasting.models import describe_run
from ml_core.forecasting.served import served_runs, serving_version
from retail.store.models import (
    DailySales,
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Location,
    Product,
    Proposal,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
    Variant,
)
from tools.base import ToolContext, invalid, not_found, tool

RECENT_DAYS = 28
DEMAND_DAYS = 28  # days of forecast averaged into a daily rate
SALES_SOURCE = f"mean of the last {RECENT_DAYS} days of sales (no stored forecast)"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastDay(_Out):
    day: dt.date
    mean: float
    p10: float
    p50: float
    p90: float


class SalesDay(_Out):
    day: dt.date
    units: int
    stockout: bool = Field(description="The SKU was out of stock: sales understate demand.")


class ForecastRange(_Out):
    """The forecast's total over the days shown: its mean and the 10/50/90% quantiles of the
    total itself (not sums of daily quantiles; see `ml_core.forecasting.horizon`)."""

    days: int
    mean: float
    p10: float
    p50: float
    p90: float
    backtest_coverage: float | None = Field(
        description="Share of the run's backtested horizon totals inside their P10-P90 "
        "(None for a run never backtested)."
    )


class SkuForecast(_Out):
    """The latest stored forecast of one SKU at one location, with its recent sales."""

    variant_id: str
    product: str
    location_id: str
    run_id: str | None = Field(description="The forecast run; None when none covers the SKU.")
    model: str | None
    model_version: str | None
    forecast: list[ForecastDay] = Field(description="Daily mean and 10/50/90% quantiles.")
    forecast_total: float = Field(description="Sum of the daily means over the days shown.")
    forecast_range: ForecastRange | None = Field(
        description="The total over the days shown with its P10/P50/P90; None without a forecast."
    )
    recent_sales: list[SalesDay] = Field(
        description=f"Every one of the last {RECENT_DAYS} days the product was on offer, oldest "
        "first; a day without a sales row sold nothing."
    )
    offered_since: dt.date | None = Field(
        description="The product's launch where it falls in those days: the days before it are "
        "left out of recent_sales, as no data (it could not sell)."
    )
    recent_daily_mean: float = Field(description="Mean units per day over recent_sales' days.")
    note: str | None = None


class OpenPurchaseOrder(_Out):
    id: str
    supplier_id: str
    quantity: int
    expected_on: dt.date | None
    proposal_id: str | None


def open_purchase_orders(
    session: Session, location_id: str, variant_ids: Iterable[str]
) -> dict[str, list[OpenPurchaseOrder]]:
    """Per SKU, the open purchase orders bringing it to the location, soonest expected first."""
    found: dict[str, list[OpenPurchaseOrder]] = {}
    for sku, po, quantity in session.execute(
        select(PurchaseOrderLine.variant_id, PurchaseOrder, PurchaseOrderLine.quantity)
        .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
        .where(
            PurchaseOrder.location_id == location_id,
            PurchaseOrder.status == "open",
            PurchaseOrderLine.variant_id.in_(list(variant_ids)),
        )
        .order_by(PurchaseOrder.expected_on, PurchaseOrder.id)
    ):
        found.setdefault(sku, []).append(
            OpenPurchaseOrder(
                id=po.id,
                supplier_id=po.supplier_id,
                quantity=quantity,
                expected_on=po.expected_on,
                proposal_id=po.proposal_id,
            )
        )
    return found


class ShortageExplanation(_Out):
    """Why a SKU is short at a location: stock, what is coming, the demand it must cover."""

    variant_id: str
    product_id: str
    product: str
    location_id: str
    location_name: str
    on_hand: int
    reserved: int
    available: int = Field(description="On hand less reserved, never below zero.")
    on_order: int = Field(description="Units ordered and not yet received.")
    open_purchase_orders: list[OpenPurchaseOrder]
    supplier_id: str | None
    lead_time_days: float | None = Field(description="The supplier's mean lead time.")
    daily_demand: float
    demand_over_lead_time: float | None = Field(description="Expected units sold meanwhile.")
    demand_source: str
    days_of_cover: float | None = Field(description="(available + on order) / daily demand.")
    safety_stock: float | None = Field(
        description="The inventory policy's safety stock from the latest reorder plan's line "
        "for this SKU (None when no plan has proposed an order for it)."
    )
    policy_explanation: str | None = Field(description="That plan line's explanation.")
    explanation: str = Field(description="One paragraph a person can read.")


def champion_of(ctx: ToolContext) -> str | None:
    """The serving forecaster's version: only its runs are read."""
    return serving_version(ctx.settings.var_dir / "artifacts")


def _last_sales_day(session: Session, location_ids: Iterable[str]) -> dt.date | None:
    return session.scalar(
        select(func.max(DailySales.day)).where(DailySales.location_id.in_(list(location_ids)))
    )


def daily_demand(
    session: Session, location_ids: list[str], champion: str | None
) -> tuple[dict[tuple[str, str], tuple[float, str]], dt.date | None]:
    """Units/day per (variant, location) at these locations, and the day the data ends.

    From the latest run of the `champion` forecaster that covers the series (its mean over the
    next 28 days), as `forecast_for_sku` reads it, else the mean of the last 28 days of sales;
    each rate comes with where it came from. A run made for some SKUs or locations only does
    not hide an earlier run's forecast of the others.
    """
    as_of = _last_sales_day(session, location_ids)
    if as_of is None:
        return {}, None
    rates: dict[tuple[str, str], tuple[float, str]] = {}
    first = as_of - dt.timedelta(days=RECENT_DAYS - 1)
    for variant_id, location_id, launched_on, units in session.execute(
        select(
            DailySales.variant_id,
            DailySales.location_id,
            Product.launched_on,
            func.sum(DailySales.units),
        )
        .join(Variant, Variant.id == DailySales.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            DailySales.location_id.in_(location_ids),
            DailySales.day >= first,
            or_(Product.launched_on.is_(None), DailySales.day >= Product.launched_on),
        )
        .group_by(DailySales.variant_id, DailySales.location_id, Product.launched_on)
    ):
        # A product launched inside the window sold over the days it was on offer only.
        offered = (as_of - max(first, launched_on or first)).days + 1
        rates[(variant_id, location_id)] = (float(units or 0) / max(offered, 1), SALES_SOURCE)
    forecast: set[tuple[str, str]] = set()
    for run in session.scalars(served_runs(champion)):
        if run.first_day + dt.timedelta(days=run.horizon) <= as_of:
            continue  # it ends before the days ahead: nothing of it can serve
        source = describe_run(run)
        for variant_id, location_id, mean in session.execute(
            select(
                ForecastValue.variant_id, ForecastValue.location_id, func.avg(ForecastValue.mean)
            )
            .where(
                ForecastValue.run_id == run.id,
                ForecastValue.location_id.in_(location_ids),
                ForecastValue.day > as_of,
                ForecastValue.day <= as_of + dt.timedelta(days=DEMAND_DAYS),
            )
            .group_by(ForecastValue.variant_id, ForecastValue.location_id)
        ):
            if (variant_id, location_id) in forecast:
                continue  # a newer run covers it
            forecast.add((variant_id, location_id))
            value = float(mean) if mean is not None and math.isfinite(mean) else 0.0
            rates[(variant_id, location_id)] = (max(value, 0.0), source)
    return rates, as_of


def _sku(
    ctx: ToolContext, session: Session, variant_id: str, location_id: str | None
) -> tuple[str, Location]:
    """The SKU's product name and the location asked for, else the associate's own store."""
    location_id = location_id or ctx.principal.store_id
    if location_id is None:
        raise invalid("Which location? Give a location_id such as S001.")
    product = session.scalar(
        select(Product.name)
        .join(Variant, Variant.product_id == Product.id)
        .where(Variant.id == variant_id)
    )
    if product is None:
        raise not_found(f"There is no SKU {variant_id!r}.")
    location = session.get(Location, location_id)
    if location is None:
        raise not_found(f"There is no location {location_id!r}.")
    return product, location


@tool(roles=["planner", "associate", "evaluator"])
def forecast_for_sku(
    ctx: ToolContext,
    *,
    variant_id: Annotated[str, Field(description="The SKU (variant id), e.g. V00012-M-BLK.")],
    location_id: Annotated[
        str | None,
        Field(description="The store or channel id, e.g. S001; default: the associate's store."),
    ] = None,
    days: Annotated[int, Field(ge=1, le=90, description="How many forecast days to show.")] = 28,
) -> SkuForecast:
    """The latest stored demand forecast (daily mean with 10/50/90% quantiles, the total over the
    days shown with its own 10/50/90% quantiles, and the model version) of one SKU at one
    location, with its last 28 days of sales. Use it to say how much of an item is expected to
    sell."""
    with Session(ctx.engine) as session:
        product, location = _sku(ctx, session, variant_id, location_id)
        as_of = _last_sales_day(session, [location.id])
        launched_on = session.scalar(
            select(Product.launched_on)
            .join(Variant, Variant.product_id == Product.id)
            .where(Variant.id == variant_id)
        )
        sales: list[SalesDay] = []
        offered_since = None
        if as_of is not None:
            first = as_of - dt.timedelta(days=RECENT_DAYS - 1)
            if launched_on is not None and launched_on > first:
                first = offered_since = launched_on
            recorded = {
                day: (units, bool(stockout))
                for day, units, stockout in session.execute(
                    select(DailySales.day, DailySales.units, DailySales.stockout).where(
                        DailySales.variant_id == variant_id,
                        DailySales.location_id == location.id,
                        DailySales.day >= first,
                    )
                )
            }
            # The store keeps a row only for a day that sold or was out of stock; a day before
            # the launch is no data, not a day that sold nothing.
            window = [first + dt.timedelta(days=n) for n in range((as_of - first).days + 1)]
            sales = [
                SalesDay(day=day, units=units, stockout=stockout)
                for day in window
                for units, stockout in [recorded.get(day, (0, False))]
            ]
        run = session.scalars(
            served_runs(champion_of(ctx)).where(
                select(ForecastValue.run_id)
                .where(
                    ForecastValue.run_id == ForecastRun.id,
                    ForecastValue.variant_id == variant_id,
                    ForecastValue.location_id == location.id,
                )
                .exists()
            )
        ).first()
        values: list[ForecastValue] = []
        if run is not None:
            query = select(ForecastValue).where(
                ForecastValue.run_id == run.id,
                ForecastValue.variant_id == variant_id,
                ForecastValue.location_id == location.id,
            )
            if as_of is not None:
                query = query.where(ForecastValue.day > as_of)
            values = list(session.scalars(query.order_by(ForecastValue.day).limit(days)))
    forecast = [
        ForecastDay(
            day=v.day,
            mean=round(v.mean, 3),
            p10=round(v.p10, 3),
            p50=round(v.p50, 3),
            p90=round(v.p90, 3),
        )
        for v in values
    ]
    forecast_range = None
    if forecast and run is not None:
        # Imported here: the horizon's distribution needs scipy.stats, which the approval
        # commands that import this module through the replenishment agent never call.
        from ml_core.forecasting.horizon import backtest_coverage_of, horizon_total, level_cv_of

        total = horizon_total(
            [[v.mean for v in values]],
            [[v.p10 for v in values]],
            [[v.p90 for v in values]],
            level_cv=level_cv_of(run.metrics),
        )
        forecast_range = ForecastRange(
            days=total.days,
            mean=round(float(total.mean[0]), 2),
            p10=round(float(total.p10[0]), 2),
            p50=round(float(total.p50[0]), 2),
            p90=round(float(total.p90[0]), 2),
            backtest_coverage=backtest_coverage_of(run.metrics),
        )
    note = None
    if not forecast:
        note = (
            f"No stored forecast covers {variant_id} at {location.id} after {as_of}; "
            "`aisle forecast run` makes one."
        )
    return SkuForecast(
        variant_id=variant_id,
        product=product,
        location_id=location.id,
        run_id=run.id if run is not None and forecast else None,
        model=run.model if run is not None and forecast else None,
        model_version=run.model_version if run is not None and forecast else None,
        forecast=forecast,
        forecast_total=round(sum(d.mean for d in forecast), 2),
        forecast_range=forecast_range,
        recent_sales=sales,
        offered_since=offered_since,
        recent_daily_mean=round(sum(s.units for s in sales) / len(sales), 3) if sales else 0.0,
        note=note,
    )


def _plan_line(session: Session, variant_id: str, location_id: str) -> dict[str, object] | None:
    """This SKU's line in the newest purchase-order proposal for the location, if any."""
    for content in session.scalars(
        select(Proposal.content)
        .where(Proposal.kind == "purchase_order", Proposal.location_id == location_id)
        .order_by(Proposal.created_at.desc(), Proposal.id)
    ):
        for line in content.get("lines", []):
            if line.get("sku") == variant_id:
                return dict(line)
    return None


@tool(roles=["associate", "planner"])
def why_short(
    ctx: ToolContext,
    *,
    variant_id: Annotated[str, Field(description="The SKU (variant id) that is short.")],
    location_id: Annotated[
        str | None,
        Field(description="The store or channel id, e.g. S001; default: the associate's store."),
    ] = None,
) -> ShortageExplanation:
    """Why a SKU is short at a location: on hand, reserved, on order (open purchase orders and
    when they are expected), expected demand over the supplier's lead time and the policy's
    safety stock. Use it when someone asks why an item is out of stock or low."""
    with Session(ctx.engine) as session:
        product, location = _sku(ctx, session, variant_id, location_id)
        product_id = session.execute(
            select(Variant.product_id).where(Variant.id == variant_id)
        ).scalar_one()
        position = session.get(InventoryPosition, (variant_id, location.id))
        if position is None:
            raise not_found(f"{variant_id} is not stocked at {location.id}.")
        orders = open_purchase_orders(session, location.id, [variant_id]).get(variant_id, [])
        supplier = session.execute(
            select(Supplier)
            .join(SupplierItem, SupplierItem.supplier_id == Supplier.id)
            .where(SupplierItem.variant_id == variant_id)
            .order_by(SupplierItem.is_primary.desc(), Supplier.id)
        ).scalar()
        rates, _ = daily_demand(session, [location.id], champion_of(ctx))
        line = _plan_line(session, variant_id, location.id)
    rate, source = rates.get((variant_id, location.id), (0.0, SALES_SOURCE))
    available = max(position.on_hand - position.reserved, 0)
    lead = None if supplier is None else float(supplier.lead_time_mean_days)
    over_lead = None if lead is None else round(rate * lead, 2)
    cover = round((available + position.on_order) / rate, 1) if rate > 0 else None
    policy = line.get("policy") if line else None
    safety = policy.get("safety_stock") if isinstance(policy, dict) else None
    parts = [
        f"{product} ({variant_id}) at {location.name}: {position.on_hand} on hand"
        + (f", {position.reserved} reserved" if position.reserved else "")
        + f", {position.on_order} on order"
    ]
    if orders:
        parts.append(
            "open purchase orders: "
            + ", ".join(
                f"{o.quantity} on {o.id} expected {o.expected_on or 'on an unknown date'}"
                for o in orders
            )
        )
    else:
        # "Is a PO coming?" gets its answer even when the on-order figure has no order on record.
        parts.append("no open purchase order brings it here")
    parts.append(f"demand is about {rate:.1f} units/day ({source})")
    if over_lead is not None and lead is not None:
        parts.append(f"{over_lead:g} units over the {lead:g}-day lead time")
    if cover is not None:
        parts.append(f"stock and orders cover {cover:g} days")
    if safety is not None:
        parts.append(f"the policy keeps a safety stock of {safety:g}")
    return ShortageExplanation(
        variant_id=variant_id,
        product_id=product_id,
        product=product,
        location_id=location.id,
        location_name=location.name,
        on_hand=position.on_hand,
        reserved=position.reserved,
        available=available,
        on_order=position.on_order,
        open_purchase_orders=orders,
        supplier_id=None if supplier is None else supplier.id,
        lead_time_days=lead,
        daily_demand=round(rate, 3),
        demand_over_lead_time=over_lead,
        demand_source=source,
        days_of_cover=cover,
        safety_stock=None if safety is None else float(safety),
        policy_explanation=None if line is None else str(line.get("explanation")),
        explanation="; ".join(parts) + ".",
    )
