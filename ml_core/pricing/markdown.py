"""Markdown optimisation: the best weekly price path for an item with stock to sell.

Demand in week w at price p is `baseline[w] * (p / current_price) ** elasticity`, where the
baseline is the expected demand at the current price (from a forecast or recent sales) and the
elasticity comes from `ml_core.pricing.elasticity`. Sales are the expected demand, capped by
the stock left. Objectives:
- `margin`: (price - cost) on units sold, plus (salvage - cost) on units left at the end;
- `revenue`: price on units sold; leftovers are worth nothing;
- `clearance`: margin on units sold, and every unit left at the end costs its list price, so
  the plan sells out by the end of the horizon whenever the guardrails allow.

The elasticity is an estimate: with its standard error given, the plan is chosen for what it
earns on average over the elasticity's posterior rather than at the point estimate alone. The
path that is best at each of `SCENARIOS` elasticities (Gauss-Hermite nodes of the posterior) is
a candidate, and the candidate with the highest expected value across them is the start of the
plan; its units and values are those expectations. On the generated world this took the
markdown simulation from 0.966 to 0.972 of the oracle's profit (small world, same run). The
average of the scenarios is no scenario, so the path best on average can differ from every
candidate in a week or two (a walk through the demo found 4 of 23 plans beaten by editing one
week): the chosen path is then improved one week at a time (`_improve`, coordinate ascent over
the moves the guardrails allow, each valued as `outcome` values it) until no one-week change is
worth more.

The optimiser is dynamic programming over (week, price in force, stock left): stock is kept on a
grid of at most `STOCK_GRID` steps and each week's sales are rounded to that grid, so the search
is exact for that model (the tests compare it with enumerating every path). Only transitions the
guardrails allow are searched, and only the states reachable from the item's start: a few dozen
per item where the grid holds n_prices x STOCK_GRID per week (a chain's items are solved
together, see `_optimise_chunk`). `plan_many` re-checks every plan with the circuit breaker and
applies the cap on price changes per day across items, keeping the most valuable changes; for
the plans left to propose it names the guardrails that bind (`RELAXATIONS`), each with the step
the plan would take without it and what that step would be worth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ml_core.pricing.guardrails import (
    MARGIN_FLOOR,
    MARKDOWN_ONLY,
    MAXIMUM_STEP,
    MINIMUM_PRICE,
    PRICE_TOLERANCE,
    ChangeHistory,
    Guardrails,
    check_plan,
    ladder_price,
    money,
    step_violations,
    units_text,
)

Objective = Literal["margin", "revenue", "clearance"]
# Elasticities a plan is weighed at when the estimate's standard error is known (see above).
SCENARIOS = 5
# A scenario's elasticity stays in this range: demand that rose with the price would turn a
# markdown plan into a price rise, and an item whose estimate is all prior (standard error in
# the tens on a tiny history) must not ask about demand ten thousand times the baseline.
MIN_SCENARIO_ELASTICITY, MAX_SCENARIO_ELASTICITY = -10.0, -0.1
OBJECTIVES: tuple[Objective, ...] = ("margin", "revenue", "clearance")
STOCK_GRID = 2000
MIN_STEP = 1e-3
# The guardrails whose relaxation is tried to say which ones bind a plan.
RELAXATIONS: dict[str, dict[str, object]] = {
    MARGIN_FLOOR: {"min_margin": -1.0},
    MINIMUM_PRICE: {"min_price_fraction": 0.0},
    MAXIMUM_STEP: {"max_step": 10.0},
    MARKDOWN_ONLY: {"monotone": False},
}


# Price ladders and their allowed steps are kept for this many SKUs x guardrails: a chain's
# SKUs under the guardrails and their relaxations (see `_price_ladder`, `_allowed_steps`).
LADDERS_CACHED = 1 << 16


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
    elasticity_se: float = 0.0  # the estimate's standard error; 0 plans at the estimate alone

    @property
    def horizon(self) -> int:
        return len(self.baseline)

    def promo(self, week: int) -> bool:
        return week < len(self.promo_weeks) and self.promo_weeks[week]


@dataclass(frozen=True, slots=True)
class Binding:
    """A guardrail that held a plan back: the plan made without it would, in `week`, move the
    price from `previous` to `price` (breaking it as `reason` says) and be worth `gain` more.

    `previous` is that other plan's price, which the proposal need not share: `relaxed` is its
    path up to and including `week`, `proposed` the proposal's over the same weeks, both from
    `current_price`, so a report can set what it would have done beside what is proposed."""

    guardrail: str
    week: int
    previous: float
    price: float
    reason: str
    gain: float
    current_price: float
    relaxed: tuple[float, ...]
    proposed: tuple[float, ...]


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
    keep_leftover: float  # units left keeping the current price all horizon
    binding: list[Binding] = field(default_factory=list)
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
    """The current price and the ladder's prices, highest first (read-only)."""
    return _price_ladder(item.list_price, item.current_price, guardrails.ladder)[0]


@lru_cache(maxsize=LADDERS_CACHED)
def _price_ladder(
    list_price: float, current_price: float, ladder: tuple[float, ...]
) -> tuple[np.ndarray, int]:
    """The candidate prices and the index of the current price among them, worked out once per
    SKU: it has the same prices at every location. A new plan's rungs are rounded by today's
    rule (`Guardrails.rounding` defaults to it, and the plan records it)."""
    rungs = {ladder_price(list_price, f) for f in ladder}
    prices = np.array(sorted(rungs | {round(current_price, 2)}, reverse=True))
    prices.flags.writeable = False
    return prices, int(np.flatnonzero(np.isclose(prices, round(current_price, 2)))[0])


def _rewards(item: MarkdownItem, objective: Objective) -> tuple[float, float]:
    """(what a unit sold costs, what a unit left at the end is worth) under the objective."""
    if objective == "revenue":
        return 0.0, 0.0
    if objective == "margin":
        return item.unit_cost, item.salvage - item.unit_cost
    return item.unit_cost, -item.list_price


def expected_figures(
    item: MarkdownItem,
    objective: Objective,
    path: tuple[float, Sequence[float], float],
    keep: tuple[float, Sequence[float], float],
) -> dict[str, Any]:
    """The expected outcome a proposal records and the page shows, from the (value, units per
    week, units left) of its path and of keeping today's price (`outcome`): the units left are
    part of the value (under `margin`, each at its salvage, below cost), so their worth is given
    with them and said in words (`leftover_note`), or a margin made on every unit sold above
    cost could read as a loss with nothing to explain it."""
    value, units, leftover = path
    keep_value, keep_units, keep_leftover = keep
    worth = _rewards(item, objective)[1]
    return {
        "units": round(sum(units), 2),
        "value": round(value, 2),
        "keep_units": round(sum(keep_units), 2),
        "keep_value": round(keep_value, 2),
        "gain": round(value - keep_value, 2),
        "leftover": round(leftover, 2),
        "keep_leftover": round(keep_leftover, 2),
        "leftover_value": round(leftover * worth, 2),
        "keep_leftover_value": round(keep_leftover * worth, 2),
        "leftover_note": _leftover_note(item, objective, leftover, keep_leftover, worth),
    }


def _leftover_note(
    item: MarkdownItem, objective: Objective, left: float, keep_left: float, worth: float
) -> str | None:
    """What the units left at the end add to the value, in words; None when it is nothing."""
    if worth == 0 or max(left, keep_left) < 0.05:
        return None
    each = {
        "margin": f"valued at salvage {money(item.salvage)} each, {money(-worth)} under cost",
        "clearance": f"each counted as its list price lost ({money(-worth)})",
    }[objective]
    return (
        f"includes {units_text(left)} unsold units {each}: {money(left * worth)} "
        f"({units_text(keep_left)} units, {money(keep_left * worth)}, keeping today's price)"
    )


def solve(item: MarkdownItem, guardrails: Guardrails, objective: Objective) -> MarkdownPlan:
    """The best price path by dynamic programming over (week, price in force, stock left)."""
    return solve_many([item], guardrails, objective)[0]


def solve_many(
    items: Sequence[MarkdownItem], guardrails: Guardrails, objective: Objective
) -> list[MarkdownPlan]:
    """`solve` for many items at once (one programme over all of them and their elasticity
    scenarios, see `_optimise`)."""
    scenarios = [_scenarios(item) for item in items]
    flat = [
        replace(item, elasticity=e) for item, s in zip(items, scenarios, strict=True) for e, _ in s
    ]
    problems = [_problem(item, guardrails, objective) for item in flat]
    values, paths = _optimise(problems, with_paths=True)
    plans, first = [], 0
    for item, weighted in zip(items, scenarios, strict=True):
        chunk = slice(first, first + len(weighted))
        first += len(weighted)
        step = problems[chunk.start].step
        if len(weighted) == 1:
            # The programme is exact for one elasticity: no one-week change is worth more.
            chosen, sold, left = paths[chunk.start]
            prices = [float(problems[chunk.start].prices[j]) for j in chosen]
            value, units, leftover = values[chunk.start], [s * step for s in sold], left * step
        else:
            candidates = [
                [float(problem.prices[j]) for j in path[0]]
                for problem, path in zip(problems[chunk], paths[chunk], strict=True)
            ]
            outcomes = [outcome(item, c, objective) for c in candidates]
            best = max(range(len(candidates)), key=lambda i: outcomes[i][0])
            prices = candidates[best]
            value, units, leftover = outcomes[best]
            improved = _improve(item, problems[chunk.start], prices, objective)
            if improved != prices:
                better = outcome(item, improved, objective)
                if better[0] > value:
                    prices, (value, units, leftover) = improved, better
        keep = outcome(item, [item.current_price] * item.horizon, objective)
        plans.append(
            MarkdownPlan(
                item_id=item.item_id,
                current_price=item.current_price,
                prices=prices,
                units=units,
                value=value,
                keep_value=keep[0],
                keep_units=float(sum(keep[1])),
                leftover=leftover,
                keep_leftover=keep[2],
            )
        )
    return plans


# Rounds of `_improve` at most; each changes one week, and a plan has a few weeks to change.
IMPROVE_ROUNDS = 16


def _improve(
    item: MarkdownItem, problem: _Problem, prices: Sequence[float], objective: Objective
) -> list[float]:
    """The path, improved one week at a time: each round values every one-week change the
    guardrails allow (the step into the week's new price and the step out of it to the next
    week's; `problem.allowed`, the programme's own moves) as `outcome` values paths, and makes
    the best one, until none is worth more. The scenario candidates are each best at one
    elasticity; this finds what their average leaves between them."""
    ladder = problem.prices
    index = [int(np.argmin(np.abs(ladder - p))) for p in prices]
    if not np.allclose(ladder[index], prices, atol=PRICE_TOLERANCE):
        return list(prices)  # a path off the programme's ladder is not one to edit
    horizon = len(index)
    current = float(_expected_values(item, ladder[np.array([index])], objective)[0])
    for _ in range(IMPROVE_ROUNDS):
        moves = []
        for week in range(horizon):
            before = problem.start if week == 0 else index[week - 1]
            for j in range(len(ladder)):
                if j == index[week] or not problem.allowed[week, before, j]:
                    continue
                if week + 1 < horizon and not problem.allowed[week + 1, j, index[week + 1]]:
                    continue
                moves.append([*index[:week], j, *index[week + 1 :]])
        if not moves:
            break
        worth = _expected_values(item, ladder[np.array(moves)], objective)
        best = int(np.argmax(worth))
        if worth[best] <= current + 1e-9 * max(abs(current), 1.0):
            break
        index, current = moves[best], float(worth[best])
    return [float(ladder[j]) for j in index]


def _expected_values(item: MarkdownItem, paths: np.ndarray, objective: Objective) -> np.ndarray:
    """`outcome`'s value of many paths at once (rows of `paths`), the same arithmetic in the
    same order: what `_improve` compares. The plan's own figures still come from `outcome`."""
    cost_per_unit, leftover_value = _rewards(item, objective)
    step = stock_step(item)
    total = np.zeros(len(paths))
    for elasticity, weight in _scenarios(item):
        stock = np.full(len(paths), float(item.stock))
        earned = np.zeros(len(paths))
        for week in range(item.horizon):
            price = paths[:, week]
            demand = item.baseline[week] * (price / item.current_price) ** elasticity
            demand = np.rint(np.minimum(demand / step, item.stock / step + 1)) * step
            sold = np.minimum(demand, stock)
            stock = stock - sold
            earned = earned + (price - cost_per_unit) * sold
        total = total + weight * (earned + stock * leftover_value)
    return total


def _scenarios(item: MarkdownItem) -> list[tuple[float, float]]:
    """(elasticity, weight) pairs the item's plan is weighed over: the estimate alone without a
    standard error, else Gauss-Hermite nodes of its normal posterior."""
    if item.elasticity_se <= 0:
        return [(item.elasticity, 1.0)]
    nodes, weights = _hermite_nodes(SCENARIOS)
    elasticities = np.clip(
        item.elasticity + item.elasticity_se * nodes,
        MIN_SCENARIO_ELASTICITY,
        MAX_SCENARIO_ELASTICITY,
    )
    return [(float(e), float(w)) for e, w in zip(elasticities, weights, strict=True)]


@lru_cache(maxsize=4)
def _hermite_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to one) of n-point Gauss-Hermite quadrature for a standard
    normal."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


def outcome(
    item: MarkdownItem, prices: Sequence[float], objective: Objective
) -> tuple[float, list[float], float]:
    """(value, units per week, units left) of a price path by the item's demand model, averaged
    over the elasticity's scenarios, with sales on the optimiser's stock grid: the one way a
    path is valued, for the plan chosen, for keeping today's price, and for a pricing manager's
    edit of the plan (from the demand model its proposal records)."""
    step = stock_step(item)
    value, units, left = 0.0, np.zeros(item.horizon), 0.0
    for elasticity, weight in _scenarios(item):
        v, u, rest = evaluate(item, prices, objective, step=step, elasticity=elasticity)
        value, units, left = (
            value + weight * v,
            units + weight * np.asarray(u),
            left + weight * rest,
        )
    return value, [float(u) for u in units], left


@dataclass(frozen=True, slots=True)
class _Problem:
    """One item's programme under one set of guardrails: stock is counted in grid steps."""

    prices: np.ndarray  # (n_prices,) candidate prices, highest first
    start: int  # index of the current price
    step: float  # units per grid step
    n_grid: int  # stock levels 0 .. n_grid - 1
    demand: np.ndarray  # (horizon, n_prices) grid steps demanded in each week at each price
    allowed: np.ndarray  # (horizon, n_prices, n_prices): the step from price k to j in week w
    unit_margin: np.ndarray  # (n_prices,) what a unit sold earns at each price
    leftover_value: float  # what a unit left at the end is worth


def _problem(item: MarkdownItem, guardrails: Guardrails, objective: Objective) -> _Problem:
    prices, start = _price_ladder(item.list_price, item.current_price, guardrails.ladder)
    cost_per_unit, leftover_value = _rewards(item, objective)
    step = stock_step(item)
    n_grid = int(round(item.stock / step)) + 1
    # Which step is allowed depends on the week only through whether it is a promotion week.
    key = (tuple(prices.tolist()), item.list_price, item.unit_cost, guardrails)
    allowed = np.stack([_allowed_steps(*key, item.promo(w)) for w in range(item.horizon)])
    return _Problem(
        prices=prices,
        start=start,
        step=step,
        n_grid=n_grid,
        demand=_demand_steps(item, prices, step, n_grid),
        allowed=allowed,
        unit_margin=prices - cost_per_unit,
        leftover_value=leftover_value,
    )


@lru_cache(maxsize=LADDERS_CACHED)
def _allowed_steps(
    prices: tuple[float, ...],
    list_price: float,
    unit_cost: float,
    guardrails: Guardrails,
    promo_week: bool,
) -> np.ndarray:
    """allowed[k, j]: the guardrails allow the step from prices[k] to prices[j] (read-only).
    A SKU has the same prices and cost at every location, so its steps are checked once."""
    allowed = np.array(
        [
            [
                not step_violations(
                    previous=previous,
                    price=price,
                    list_price=list_price,
                    unit_cost=unit_cost,
                    promo_week=promo_week,
                    guardrails=guardrails,
                )
                for price in prices
            ]
            for previous in prices
        ],
        dtype=bool,
    )
    allowed.flags.writeable = False
    return allowed


# Problems solved together: their reachable states share the arrays of each week.
CHUNK = 128


def _optimise(
    problems: Sequence[_Problem], *, with_paths: bool
) -> tuple[list[float], list[tuple[list[int], list[int], int]]]:
    """Each problem's best value and, `with_paths`, its best path (price index and grid steps
    sold per week, grid steps left at the end); problems of one horizon are solved together, a
    chunk at a time."""
    values: list[float] = [0.0] * len(problems)
    paths: list[tuple[list[int], list[int], int]] = [([], [], 0)] * len(problems)
    by_horizon: dict[int, list[int]] = {}
    for i, problem in enumerate(problems):
        by_horizon.setdefault(len(problem.demand), []).append(i)
    for indices in by_horizon.values():
        for first in range(0, len(indices), CHUNK):
            chunk = indices[first : first + CHUNK]
            found, best = _optimise_chunk([problems[i] for i in chunk], with_paths=with_paths)
            for i, value, path in zip(chunk, found, best, strict=True):
                values[i] = value
                paths[i] = path
    return values, paths


def _optimise_chunk(
    problems: Sequence[_Problem], *, with_paths: bool
) -> tuple[list[float], list[tuple[list[int], list[int], int]]]:
    """Backward induction over (week, price in force, stock left) for problems of one horizon,
    on the states reachable from each one's start only (a few dozen per item where the full grid
    holds n_prices x n_grid per week).

    A state is the key (problem, price, stock) packed into one integer; each week's reachable
    keys are sorted, so the next week's value is found by binary search. Values are computed
    term for term as over the full grid (and the first best price is chosen, as argmax does), so
    the plans are the same.
    """
    n, horizon = len(problems), len(problems[0].demand)
    n_prices = max(len(p.prices) for p in problems)
    n_grid = max(p.n_grid for p in problems)
    span = n_prices * n_grid
    demand = np.zeros((n, horizon, n_prices), dtype=np.int64)
    allowed = np.zeros((n, horizon, n_prices, n_prices), dtype=bool)
    unit_margin = np.zeros((n, n_prices))
    for row, p in enumerate(problems):
        size = len(p.prices)
        demand[row, :, :size] = p.demand
        allowed[row, :, :size, :size] = p.allowed
        unit_margin[row, :size] = p.unit_margin
    step = np.array([p.step for p in problems])
    leftover_value = np.array([p.leftover_value for p in problems])
    start = np.array([p.start for p in problems], dtype=np.int64)
    full = np.array([p.n_grid - 1 for p in problems], dtype=np.int64)

    def moves(
        key: np.ndarray, w: int
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per price j, the states that may move to it in week w: their positions, problems
        and grid steps sold, and the keys they reach."""
        b, rest = np.divmod(key, span)
        k, g = np.divmod(rest, n_grid)
        for j in range(n_prices):
            at = np.flatnonzero(allowed[b, w, k, j])
            b_at, g_at = b[at], g[at]
            sold = np.minimum(demand[b_at, w, j], g_at)
            yield j, at, b_at, sold, b_at * span + j * n_grid + (g_at - sold)

    layers = [np.arange(n, dtype=np.int64) * span + start * n_grid + full]
    for w in range(horizon):
        reached = np.sort(np.concatenate([nxt for *_, nxt in moves(layers[w], w)]))
        layers.append(reached[np.concatenate(([True], reached[1:] != reached[:-1]))])
    b = layers[horizon] // span
    value = layers[horizon] % n_grid * step[b] * leftover_value[b]
    choices: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * horizon
    for w in range(horizon - 1, -1, -1):
        best = np.full(len(layers[w]), -np.inf)
        choice = np.zeros(len(layers[w]), dtype=np.int64)
        for j, at, b_at, sold, nxt in moves(layers[w], w):
            q = (
                unit_margin[b_at, j] * sold * step[b_at]
                + value[np.searchsorted(layers[w + 1], nxt)]
            )
            better = q > best[at]
            best[at[better]] = q[better]
            choice[at[better]] = j
        value, choices[w] = best, choice
    # Layer 0 holds one state per problem, in order: its start.
    if not with_paths:
        return value.tolist(), [([], [], 0)] * n
    every = np.arange(n)
    price, left = start, full
    chosen = np.empty((horizon, n), dtype=np.int64)
    sales = np.empty((horizon, n), dtype=np.int64)
    for w in range(horizon):
        chosen[w] = choices[w][np.searchsorted(layers[w], every * span + price * n_grid + left)]
        sales[w] = np.minimum(demand[every, w, chosen[w]], left)
        price, left = chosen[w], left - sales[w]
    paths = [(chosen[:, i].tolist(), sales[:, i].tolist(), int(left[i])) for i in range(n)]
    return value.tolist(), paths


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
    plans = solve_many(items, guardrails, objective)
    for item, plan in zip(items, plans, strict=True):
        plan.rejected = check_plan(
            plan.prices,
            current_price=item.current_price,
            list_price=item.list_price,
            unit_cost=item.unit_cost,
            promo_weeks=item.promo_weeks,
            guardrails=guardrails,
            history=history,
        )
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
    proposable = [i for i, plan in enumerate(plans) if is_proposable(plan)]
    _note_binding(
        [items[i] for i in proposable], [plans[i] for i in proposable], guardrails, objective
    )
    return plans


def _note_binding(
    items: Sequence[MarkdownItem],
    plans: Sequence[MarkdownPlan],
    guardrails: Guardrails,
    objective: Objective,
) -> None:
    """Add to each plan every guardrail that binds it, with the numbers that make it bind.

    A guardrail binds when the plan solved with that guardrail alone relaxed is worth more,
    valued the same way as the plan itself (over the elasticity's scenarios): comparing a
    relaxed optimum at the point estimate with a plan's expected value would call guardrails
    binding that did not change the plan at all. The relaxed plan then breaks the guardrail in
    some week (it is the only one relaxed); the first such week is what the binding reports."""
    base = [_problem(item, guardrails, objective) for item in items]
    for name, relaxed in RELAXATIONS.items():
        loose = guardrails.model_copy(update=relaxed)
        # Where the relaxation allows no other step, the programme and its value are the same.
        changed = [
            i
            for i, (item, kept) in enumerate(zip(items, base, strict=True))
            if not np.array_equal(_problem(item, loose, objective).allowed, kept.allowed)
        ]
        freer = solve_many([items[i] for i in changed], loose, objective)
        for i, other in zip(changed, freer, strict=True):
            plan = plans[i]
            if other.value > plan.value + 1e-6 * max(abs(plan.value), 1.0):
                binding = _binding(name, items[i], plan, other, guardrails)
                if binding is not None:
                    plan.binding.append(binding)


def _binding(
    name: str,
    item: MarkdownItem,
    plan: MarkdownPlan,
    freer: MarkdownPlan,
    guardrails: Guardrails,
) -> Binding | None:
    """The first week in which `freer`, the plan made without guardrail `name`, breaks it."""
    previous = item.current_price
    for week, price in enumerate(freer.prices):
        reasons = step_violations(
            previous=previous,
            price=price,
            list_price=item.list_price,
            unit_cost=item.unit_cost,
            promo_week=item.promo(week),
            guardrails=guardrails,
        )
        if reasons:
            return Binding(
                name,
                week,
                previous,
                price,
                reasons[0],
                freer.value - plan.value,
                item.current_price,
                tuple(freer.prices[: week + 1]),
                tuple(plan.prices[: week + 1]),
            )
        previous = price
    return None


def is_proposable(plan: MarkdownPlan) -> bool:
    """A plan leaves the optimiser only when it changes a price, passed the breaker and fits
    under the per-day cap."""
    return bool(plan.changes) and not plan.rejected and plan.deferred is None
