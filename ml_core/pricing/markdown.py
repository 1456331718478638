"""Markdown optimisation: the best weekly price path for an item with stock to sell.

Demand in week w at price p is `baseline[w] * (p / current_price) ** elasticity`, where the
baseline is the expected demand at the current price (from a forecast or recent sales) and the
elasticity comes from `ml_core.pricing.elasticity`. Sales are the expected demand, capped by
the stock left. Objectives:
- `margin`: (price - cost) on units sold, plus (salvage - cost) on units left at the end;
- `revenue`: price on units sold; leftovers are worth nothing;
- `clearance`: margin on units sold, and every unit left at the end costs its list price, so
  the plan sells out by the end of the horizon whenever the guardrails allow.

The optimiser is dynamic programming over (week, price in force, stock left): stock is kept on a
grid of at most `STOCK_GRID` steps and each week's sales are rounded to that grid, so the search
is exact for that model (the tests compare it with enumerating every path). Only transitions the
guardrails allow are searched, and `plan_many` re-checks every plan with the circuit breaker and
applies the cap on price changes per day across items, keeping the most valuable changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ml_core.pricing.guardrails import (
    PRICE_TOLERANCE,
    ChangeHistory,
    Guardrails,
    check_plan,
    step_violations,
)

Objective = Literal["margin", "revenue", "clearance"]
OBJECTIVES: tuple[Objective, ...] = ("margin", "revenue", "clearance")
STOCK_GRID = 2000
MIN_STEP = 1e-3
# The guardrails whose relaxation is tried to say which ones bind a plan.
RELAXATIONS: dict[str, dict[str, object]] = {
    "margin floor": {"min_margin": -1.0},
    "minimum price": {"min_price_fraction": 0.0},
    "maximum step": {"max_step": 10.0},
    "markdown-only": {"monotone": False},
}


@dataclass(frozen=True, slots=True)
class MarkdownItem:
    """One item to plan: its prices, cost, stock and demand model over the horizon."""

    item_id: str
    list_price: float
    current_price: float
    unit_cost: float
    stock: float
    baseline: tuple[float, ...]  # expected units per week at the current price
    elasticity: float
    salvage: float = 0.0  # what a unit left at the end is worth
    promo_weeks: tuple[bool, ...] = ()

    @property
    def horizon(self) -> int:
        return len(self.baseline)

    def promo(self, week: int) -> bool:
        return week < len(self.promo_weeks) and self.promo_weeks[week]


@dataclass(slots=True)
class MarkdownPlan:
    item_id: str
    current_price: float
    prices: list[float]
    units: list[float]
    value: float
    keep_value: float  # value of keeping the current price all horizon
    keep_units: float
    leftover: float
    binding: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    deferred: str | None = None

    @property
    def changes(self) -> list[int]:
        """Weeks (0-based) whose price differs from the week before (or the current price)."""
        return [
            w
            for w, p in enumerate(self.prices)
            if abs(p - (self.prices[w - 1] if w else self.current_price)) > PRICE_TOLERANCE
        ]

    @property
    def gain(self) -> float:
        return self.value - self.keep_value


def candidate_prices(item: MarkdownItem, guardrails: Guardrails) -> np.ndarray:
    """The current price and the ladder's prices, highest first."""
    ladder = {round(item.list_price * f, 2) for f in guardrails.ladder}
    return np.array(sorted(ladder | {round(item.current_price, 2)}, reverse=True))


def _rewards(item: MarkdownItem, objective: Objective) -> tuple[float, float]:
    """(what a unit sold costs, what a unit left at the end is worth) under the objective."""
    if objective == "revenue":
        return 0.0, 0.0
    if objective == "margin":
        return item.unit_cost, item.salvage - item.unit_cost
    return item.unit_cost, -item.list_price


def solve(item: MarkdownItem, guardrails: Guardrails, objective: Objective) -> MarkdownPlan:
    """The best price path by dynamic programming over (week, price in force, stock left)."""
    prices = candidate_prices(item, guardrails)
    n_prices, horizon = len(prices), item.horizon
    cost_per_unit, leftover_value = _rewards(item, objective)
    step = stock_step(item)
    n_grid = int(round(item.stock / step)) + 1
    grid = np.arange(n_grid)
    start = int(np.flatnonzero(np.isclose(prices, round(item.current_price, 2)))[0])
    # Which step is allowed depends on the week only through whether it is a promotion week,
    # so the guardrails are checked once per kind of week, not once per week.
    by_promo = {
        promo: np.array(
            [
                [
                    not step_violations(
                        previous=float(prev),
                        price=float(p),
                        list_price=item.list_price,
                        unit_cost=item.unit_cost,
                        promo_week=promo,
                        guardrails=guardrails,
                    )
                    for p in prices
                ]
                for prev in prices
            ],
            dtype=bool,
        )
        for promo in {item.promo(w) for w in range(horizon)}
    }
    allowed = np.stack([by_promo[item.promo(w)] for w in range(horizon)])
    demand = _demand_steps(item, prices, step, n_grid)  # (horizon, n_prices) grid steps
    value = np.broadcast_to(grid * step * leftover_value, (n_prices, n_grid)).copy()
    choice = np.zeros((horizon, n_prices, n_grid), dtype=np.int64)
    for w in range(horizon - 1, -1, -1):
        # q[j, g]: choosing price j in week w with g grid steps of stock left.
        sold = np.minimum(demand[w][:, None], grid[None, :])
        unit_margin = prices - cost_per_unit
        q = unit_margin[:, None] * sold * step + np.take_along_axis(value, grid - sold, axis=1)
        masked = np.where(allowed[w][:, :, None], q[None, :, :], -np.inf)
        choice[w] = masked.argmax(axis=1)
        value = masked.max(axis=1)
    path, units = [], []
    k, g = start, n_grid - 1
    for w in range(horizon):
        j = int(choice[w, k, g])
        sold = int(min(demand[w, j], g))
        path.append(float(prices[j]))
        units.append(sold * step)
        k, g = j, g - sold
    keep = evaluate(item, [item.current_price] * horizon, objective, step=step)
    return MarkdownPlan(
        item_id=item.item_id,
        current_price=item.current_price,
        prices=path,
        units=units,
        value=float(value[start, n_grid - 1]),
        keep_value=keep[0],
        keep_units=float(sum(keep[1])),
        leftover=g * step,
    )


def stock_step(item: MarkdownItem) -> float:
    """The stock grid's step: the stock in `STOCK_GRID` equal steps, never below a thousandth
    of a unit (a smaller stock is none)."""
    return max(item.stock / STOCK_GRID, MIN_STEP)


def _demand_steps(item: MarkdownItem, prices: np.ndarray, step: float, n_grid: int) -> np.ndarray:
    ratio = prices / item.current_price
    units = np.asarray(item.baseline)[:, None] * ratio[None, :] ** item.elasticity
    # Capped at the whole stock: more cannot be sold, and the cast stays in range.
    return np.rint(np.minimum(units / step, n_grid)).astype(np.int64)


def evaluate(
    item: MarkdownItem,
    prices: Sequence[float],
    objective: Objective,
    *,
    step: float | None = None,
    baseline: Sequence[float] | None = None,
    elasticity: float | None = None,
) -> tuple[float, list[float], float]:
    """(objective value, units sold per week, units left) of a price path.

    With `step`, sales are rounded to the optimiser's stock grid (the model `solve` optimises);
    without, they are continuous (how the simulator scores plans against the true demand).
    `baseline` and `elasticity` override the item's demand model (the truth, in a simulator).
    """
    cost_per_unit, leftover_value = _rewards(item, objective)
    base = item.baseline if baseline is None else baseline
    e = item.elasticity if elasticity is None else elasticity
    stock, total, units = item.stock, 0.0, []
    for w, p in enumerate(prices):
        demand = base[w] * (p / item.current_price) ** e
        if step is not None:
            demand = float(np.rint(min(demand / step, item.stock / step + 1))) * step
        sold = min(demand, stock)
        stock -= sold
        total += (p - cost_per_unit) * sold
        units.append(sold)
    return total + stock * leftover_value, units, stock


def with_binding(item: MarkdownItem, guardrails: Guardrails, objective: Objective) -> MarkdownPlan:
    """`solve`, noting each guardrail whose relaxation alone would raise the plan's value."""
    plan = solve(item, guardrails, objective)
    for name, relaxed in RELAXATIONS.items():
        loose = guardrails.model_copy(update=relaxed)
        if solve(item, loose, objective).value > plan.value + 1e-6 * max(abs(plan.value), 1.0):
            plan.binding.append(name)
    return plan


def plan_many(
    items: Sequence[MarkdownItem],
    guardrails: Guardrails,
    objective: Objective,
    *,
    start: dt.date,
    history: ChangeHistory | None = None,
) -> list[MarkdownPlan]:
    """Plans for many items: each checked by the circuit breaker, then the per-day cap.

    A plan the breaker rejects keeps the current price and carries its reasons. When more
    prices would change on one day than the cap allows, the plans with the largest gain over
    keeping the price go first; the others keep the current price ("deferred").
    """
    plans = []
    for item in items:
        plan = with_binding(item, guardrails, objective)
        plan.rejected = check_plan(
            plan.prices,
            current_price=item.current_price,
            list_price=item.list_price,
            unit_cost=item.unit_cost,
            promo_weeks=item.promo_weeks,
            guardrails=guardrails,
            history=history,
        )
        plans.append(plan)
    per_day: dict[dt.date, int] = {}
    order = sorted(range(len(plans)), key=lambda i: (-plans[i].gain, items[i].item_id))
    for i in order:
        plan = plans[i]
        if plan.rejected or not plan.changes:
            continue
        days = [start + dt.timedelta(weeks=w) for w in plan.changes]
        if any(per_day.get(day, 0) >= guardrails.max_changes_per_day for day in days):
            plan.deferred = (
                f"the cap of {guardrails.max_changes_per_day} price changes per day is "
                "taken by plans worth more"
            )
            continue
        for day in days:
            per_day[day] = per_day.get(day, 0) + 1
    return plans


def is_proposable(plan: MarkdownPlan) -> bool:
    """A plan leaves the optimiser only when it changes a price, passed the breaker and fits
    under the per-day cap."""
    return bool(plan.changes) and not plan.rejected and plan.deferred is None
