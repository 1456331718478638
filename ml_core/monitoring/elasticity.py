"""Elasticity error from approved price changes: what a markdown sold against what its model said.

A markdown proposal records the demand model it was valued with (`content.demand`: the expected
units of each week at the price before it, the elasticity and its standard error). Once an
approved one (approved, edited or executed) has had a changed price in force for `MIN_DAYS` days,
its zone's sales of the product's sizes on those days are set against the model's prediction for
the new prices, baseline x (price / price before) ^ elasticity, spread evenly over each week.

The error is read as an elasticity: the sales imply

    e_sales = e + ln(sold / predicted) / ln(r),

with ln(r) the prediction-weighted mean log price ratio. It is outside the model's own interval
when |e_sales - e| exceeds `Z` standard errors, the elasticity's own combined with the sales'
sampling noise (the variance of the daily totals, at least Poisson's, through the delta method;
weekday swings only widen it). The baseline's own error is not recorded with a proposal, so it
is not allowed for: an alert says the units are off by more than the price response explains.
A size out of stock at a store sold what was on the shelf, not what was wanted: its series is
left out of both sides while it is off the shelf (from a stock-out until its next sale; an
empty shelf on a day nobody asked leaves no row), the prediction scaled down by that series'
share of the plan's volume, and a day with half the volume off the shelf is left out. Without
that carry-over, the generated world's clearances (run down to empty shelves) read as a wrong
elasticity; with it, on `tests/ml_core/test_elasticity_monitor.py`'s world the true elasticities
stay within |z| < 1.5 and 20 of 26 records off by a whole unit are flagged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, select

from retail.proposals import APPROVED_STATUSES, PRICE_CHANGE
from retail.store.models import DailySales, Proposal

MIN_DAYS = 14  # days of a changed price, stock-outs left out, before it is judged
Z = NormalDist().inv_cdf(0.975)  # the model's 95% interval
# A day on which at least this share of the plan's volume was out of stock is left out.
MAX_LOST_SHARE = 0.5
# Below this |ln r| (a 2% change) a price change says nothing about the elasticity.
MIN_LOG_RATIO = 0.02


class _Week(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    week_starting: dt.date
    price: float = Field(gt=0)


class _Demand(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    baseline: list[float]
    elasticity: float
    elasticity_se: float = Field(ge=0)


class _Size(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: str


class _Zone(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    name: str = ""
    locations: list[str]


class RecordedPlan(BaseModel):
    """What of a markdown proposal's content this check reads (the record's own schema is
    `approvals.price_changes.MarkdownContent`, a layer above)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: str
    product: str = ""
    product_id: str = ""
    current_price: float = Field(gt=0)
    path: list[_Week] = Field(min_length=1)
    variants: list[_Size] = []
    zone: _Zone
    demand: _Demand

    def skus(self) -> list[str]:
        return [v.sku for v in self.variants] or [self.sku]


@dataclass(frozen=True, slots=True)
class ElasticityFinding:
    """A price change whose sales lie outside the elasticity model's interval."""

    proposal_id: str
    product_id: str
    zone: str
    as_of: dt.date
    since: dt.date  # the first day of the changed price
    days: int  # days judged
    days_out_of_stock: int  # days in force left out
    sold: float
    predicted: float
    predicted_low: float  # the prediction at the ends of the elasticity's interval
    predicted_high: float
    elasticity: float
    elasticity_se: float
    implied: float  # the elasticity the sales imply
    implied_se: float  # its sampling error
    log_ratio: float
    z: float
    p_value: float
    message: str

    @property
    def effect(self) -> float:
        return self.implied - self.elasticity


def daily_prediction(plan: RecordedPlan) -> pd.DataFrame:
    """The plan's prediction per day of a changed price: columns day, predicted, log_ratio."""
    demand = plan.demand
    rows = []
    for w, week in enumerate(plan.path[: len(demand.baseline)]):
        log_ratio = math.log(week.price / plan.current_price)
        if abs(log_ratio) < MIN_LOG_RATIO:
            continue
        per_day = demand.baseline[w] / 7 * math.exp(demand.elasticity * log_ratio)
        for d in range(7):
            rows.append((week.week_starting + dt.timedelta(days=d), per_day, log_ratio))
    return pd.DataFrame(rows, columns=["day", "predicted", "log_ratio"])


def judge(
    proposal_id: str, plan: RecordedPlan, sales: pd.DataFrame, as_of: dt.date
) -> ElasticityFinding | None:
    """The finding for one plan whose sizes' zone sales (`sales`: day, units, stockout per
    series-day) are known up to `as_of`; None while too few days are in force, or when the sales
    lie inside the model's interval."""
    days = daily_prediction(plan)
    days = days[days["day"] <= as_of].set_index("day")
    if days.empty:
        return None
    sales = sales[sales["day"].isin(days.index)]
    lost, sold_on_shelf = _censoring(sales, days.index)
    days["units"] = sold_on_shelf.reindex(days.index).fillna(0.0)
    days["lost"] = lost.reindex(days.index).fillna(0.0)
    # What the model predicted for the sizes and stores that were on the shelf; a day on which
    # most of the volume was out of stock says little and is left out.
    days["predicted"] *= 1 - days["lost"]
    kept = days[days["lost"] < MAX_LOST_SHARE]
    if len(kept) < MIN_DAYS:
        return None
    predicted = float(kept["predicted"].sum())
    sold = max(float(kept["units"].sum()), 0.5)
    # The prediction-weighted mean log price ratio: how far the kept days moved the price.
    log_ratio = float((kept["predicted"] * kept["log_ratio"]).sum() / predicted)
    e, se = plan.demand.elasticity, plan.demand.elasticity_se
    # Quasi-Poisson: the daily units' dispersion around the prediction brought to the level they
    # sold at (never below Poisson's), so the total's log has variance dispersion / sold.
    fitted = kept["predicted"] * sold / predicted
    dispersion = max(1.0, float(((kept["units"] - fitted) ** 2 / fitted).sum()) / (len(kept) - 1))
    implied = e + math.log(sold / predicted) / log_ratio
    implied_se = math.sqrt(dispersion / sold) / abs(log_ratio)
    z = (implied - e) / math.sqrt(se**2 + implied_se**2)
    if abs(z) <= Z:
        return None
    short = days["lost"] > 0
    at = {s: predicted * math.exp(s * log_ratio) for s in (-Z * se, Z * se)}
    low, high = min(at.values()), max(at.values())
    first = min(kept.index)
    change = math.expm1(log_ratio)
    name = plan.product or plan.product_id or plan.sku
    where = plan.zone.name or plan.zone.id
    left_out = f" (stock-outs on {int(short.sum())} of them allowed for)" if short.any() else ""
    message = (
        f"{name} in {where}: {len(kept)} days at {abs(change):.0%} "
        f"{'off' if change < 0 else 'up'}{left_out} sold {sold:.0f} units where the elasticity "
        f"model ({e:.2f} ± {Z * se:.2f}) predicted {predicted:.0f} ({low:.0f} to {high:.0f}); "
        f"the sales imply an elasticity of {implied:.2f} ± {Z * implied_se:.2f}, outside the "
        "model's 95% interval."
    )
    return ElasticityFinding(
        proposal_id=proposal_id,
        product_id=plan.product_id,
        zone=plan.zone.id,
        as_of=as_of,
        since=first,
        days=len(kept),
        days_out_of_stock=int(short.sum()),
        sold=sold,
        predicted=predicted,
        predicted_low=low,
        predicted_high=high,
        elasticity=e,
        elasticity_se=se,
        implied=implied,
        implied_se=implied_se,
        log_ratio=log_ratio,
        z=z,
        p_value=2 * (1 - NormalDist().cdf(abs(z))),
        message=message,
    )


def _censoring(sales: pd.DataFrame, days: pd.Index) -> tuple[pd.Series, pd.Series]:
    """Per day of `days`, the share of the plan's volume that was off the shelf, and the units
    the series on the shelf sold. `sales`: variant_id, location_id, day, units, stockout.

    A day with neither a sale nor a stock-out has no row, so an empty shelf that nobody asked
    for that day leaves no trace: a series is taken to stay off the shelf from a stock-out
    until its next sale. Each series weighs its mean daily sales on its days on the shelf."""
    if sales.empty:
        return pd.Series(0.0, index=days), pd.Series(0.0, index=days)
    grid = sales.pivot_table(
        index="day", columns=["variant_id", "location_id"], values="units", aggfunc="sum"
    ).reindex(days)
    flags = sales.pivot_table(
        index="day", columns=["variant_id", "location_id"], values="stockout", aggfunc="max"
    ).reindex(index=days, columns=grid.columns)
    # 1 from a stock-out, 0 from a sale on the shelf, carried over the days with no row.
    state = flags.astype(float).where(flags.astype(float).eq(1), 0.0).where(grid.notna())
    off = state.ffill().fillna(0.0).astype(bool)
    units = grid.fillna(0.0)
    on_shelf = ~off
    rate = (units * on_shelf).sum() / on_shelf.sum().clip(lower=1)
    share = rate / rate.sum() if rate.sum() > 0 else rate
    lost = (off * share).sum(axis=1)
    return lost, (units * on_shelf).sum(axis=1)


def recorded_plans(engine: Engine) -> list[tuple[str, RecordedPlan]]:
    """Every approved markdown that records its demand model (older ones did not)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Proposal.id, Proposal.content).where(
                Proposal.kind == PRICE_CHANGE, Proposal.status.in_(APPROVED_STATUSES)
            )
        ).all()
    plans = []
    for proposal_id, content in rows:
        try:
            plans.append((proposal_id, RecordedPlan.model_validate(content)))
        except ValidationError:
            continue  # a plan made before its demand model was recorded
    return plans


def elasticity_findings(
    engine: Engine, as_of: dt.date, plans: Sequence[tuple[str, RecordedPlan]] | None = None
) -> list[ElasticityFinding]:
    """The approved price changes in force on `as_of` whose sales since lie outside their
    elasticity model's interval."""
    found = []
    for proposal_id, plan in recorded_plans(engine) if plans is None else plans:
        days = daily_prediction(plan)
        if days.empty or not days["day"].min() <= as_of <= days["day"].max():
            continue
        with engine.connect() as conn:
            sales = pd.DataFrame(
                conn.execute(
                    select(
                        DailySales.variant_id,
                        DailySales.location_id,
                        DailySales.day,
                        DailySales.units,
                        DailySales.stockout,
                    ).where(
                        DailySales.variant_id.in_(plan.skus()),
                        DailySales.location_id.in_(plan.zone.locations),
                        DailySales.day >= days["day"].min(),
                        DailySales.day <= as_of,
                    )
                ).all(),
                columns=["variant_id", "location_id", "day", "units", "stockout"],
            )
        # SQLite hands dates back as text.
        sales["day"] = [dt.date.fromisoformat(str(d)) for d in sales["day"]]
        finding = judge(proposal_id, plan, sales, as_of)
        if finding is not None:
            found.append(finding)
    return found
