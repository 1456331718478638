"""Day-by-day inventory simulation: the order-up-to policy against a simple rule, same demand.

Given true demand per series and day (the generated world's realised demand, or Poisson draws
around an expected demand), a forecaster, supplier lead-time distributions, case packs, MOQs and
costs, it replays `start..T-1` day by day for two replenishment rules at once:

- the policy (`ml_core.inventory.policy.order_up_to`): order up to the service quantile of
  demand over lead time plus review period;
- the simple rule: order up to four weeks of average forecast demand, rounded up to the case
  pack (and to the supplier's MOQ, which no rule can ignore).

Both rules see the same demand, the same forecasts and the same lead-time draws (common random
numbers), so the difference in their figures is the rule's doing, not luck. The default
forecaster reads past demand itself, uncensored, so neither rule's stock-outs bias the other's
forecasts. Sales are lost, not backordered, when the shelf is empty, as in a store. Reported
per rule: fill rate (units), stock-out days, average inventory (units and value), holding,
shortage and ordering cost, and order count.

Timing within a day: arrivals land first, then the day's demand is served, then series whose
review day it is order; an order placed at the end of day t with lead time ℓ lands on day t + ℓ.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from rich.table import Table

from ml_core.inventory.policy import DemandModel, FloatArray, order_up_to

# Realised demand in the generated world is gamma-Poisson with this shape (retail/world/demand.py).
WORLD_DISPERSION_SHAPE = 4.0


@dataclass(frozen=True, slots=True)
class DailyForecast:
    """A forecast issued at the end of one day for the next H days of some series."""

    mean: FloatArray  # (rows, H) expected units per day
    var: FloatArray  # (rows, H) variance of each day's demand
    level_sd: FloatArray  # (rows,) sd of the error of the forecast's level, units/day


class Forecaster(Protocol):
    """Forecast days `day + 1 .. day + horizon` of the series `rows`, knowing demand up to `day`."""

    def __call__(self, day: int, rows: NDArray[np.int64], horizon: int) -> DailyForecast: ...


class MovingAverageForecaster:
    """Flat forecast at the mean of the last `window` days, with their variance as the spread.

    The mean of `window` noisy days is itself uncertain (sd = sd_day / √window); that level error
    persists over the whole protection period, so it is reported as `level_sd`.
    """

    def __init__(self, history: ArrayLike, window: int = 28) -> None:
        self.history = np.asarray(history, dtype=float)
        self.window = window

    def __call__(self, day: int, rows: NDArray[np.int64], horizon: int) -> DailyForecast:
        if day + 1 < self.window:
            raise ValueError(f"day {day} has fewer than {self.window} days of history")
        recent = self.history[rows, day + 1 - self.window : day + 1]
        mean = recent.mean(axis=1)
        # Counts are at least Poisson-dispersed, however calm the last weeks looked.
        var = np.maximum(recent.var(axis=1, ddof=1), mean)
        return DailyForecast(
            mean=np.repeat(mean[:, None], horizon, axis=1),
            var=np.repeat(var[:, None], horizon, axis=1),
            level_sd=np.sqrt(var / self.window),
        )


class PrecomputedForecaster:
    """Forecasts already made for every day (a backtest's, or the oracle's expected demand).

    `mean[i, d]` (and `var[i, d]`) is the forecast of day d for series i; columns are aligned
    with the demand array. Past the last column the last day repeats.
    """

    def __init__(
        self, mean: ArrayLike, var: ArrayLike | None = None, level_sd: ArrayLike = 0.0
    ) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.var = self.mean.copy() if var is None else np.asarray(var, dtype=float)
        self.level_sd = np.broadcast_to(np.asarray(level_sd, dtype=float), self.mean.shape[:1])

    @classmethod
    def oracle(
        cls, expected: ArrayLike, dispersion_shape: float | None = WORLD_DISPERSION_SHAPE
    ) -> PrecomputedForecaster:
        """The true expected demand, with the gamma-Poisson variance μ + μ²/k (Poisson if None)."""
        mu = np.asarray(expected, dtype=float)
        var = mu if dispersion_shape is None else mu + mu**2 / dispersion_shape
        return cls(mu, var)

    def __call__(self, day: int, rows: NDArray[np.int64], horizon: int) -> DailyForecast:
        last = self.mean.shape[1] - 1
        columns = np.minimum(np.arange(day + 1, day + 1 + horizon), last)
        return DailyForecast(
            mean=self.mean[np.ix_(rows, columns)],
            var=self.var[np.ix_(rows, columns)],
            level_sd=np.asarray(self.level_sd[rows], dtype=float),
        )


@dataclass(frozen=True, slots=True)
class SimulationItems:
    """Per-series supply and cost facts, arrays of shape (n,)."""

    unit_cost: FloatArray
    shortage_cost: FloatArray  # per unit of lost sales (the margin, typically)
    case_pack: FloatArray
    moq: FloatArray
    lead_time_mean: FloatArray
    lead_time_sd: FloatArray
    service_level: FloatArray  # the policy's cycle service target
    shelf_capacity: FloatArray  # inf: no cap
    abc_class: NDArray[np.str_]  # for the per-class breakdown

    @classmethod
    def build(
        cls,
        n: int,
        *,
        unit_cost: ArrayLike,
        shortage_cost: ArrayLike,
        lead_time_mean: ArrayLike,
        lead_time_sd: ArrayLike = 0.0,
        service_level: ArrayLike = 0.95,
        case_pack: ArrayLike = 1,
        moq: ArrayLike = 0,
        shelf_capacity: ArrayLike | None = None,
        abc_class: ArrayLike | None = None,
    ) -> SimulationItems:
        """Broadcast scalars or arrays to n series."""

        def col(x: ArrayLike) -> FloatArray:
            return np.array(np.broadcast_to(np.asarray(x, dtype=float), (n,)), dtype=float)

        capacity = col(np.inf if shelf_capacity is None else shelf_capacity)
        classes = np.broadcast_to(np.asarray("" if abc_class is None else abc_class), (n,))
        return cls(
            unit_cost=col(unit_cost),
            shortage_cost=col(shortage_cost),
            case_pack=np.maximum(col(case_pack), 1.0),
            moq=col(moq),
            lead_time_mean=col(lead_time_mean),
            lead_time_sd=col(lead_time_sd),
            service_level=col(service_level),
            shelf_capacity=np.where(np.isnan(capacity), np.inf, capacity),
            abc_class=np.array(classes, dtype=str),
        )

    def __len__(self) -> int:
        return len(self.unit_cost)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    review_period: int = 7
    holding_rate: float = 0.25  # per year, times unit cost
    order_cost: float = 5.0  # per order line placed (handling and receiving)
    simple_cover_days: int = 28  # the simple rule's order-up-to, in days of average demand
    demand_model: DemandModel = "gamma"
    marginal_case_check: bool = True
    economic_service: bool = True  # raise the class target to the cost-optimal level
    warmup_days: int = 0  # days simulated but left out of the figures
    forecast_window: int = 28  # of the default moving-average forecaster
    seed: int = 0  # lead-time draws


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What one replenishment rule achieved over the simulated days, all series together."""

    rule: str
    demand_units: int
    sold_units: int
    lost_units: int
    fill_rate: float  # sold / demand
    stockout_days: int  # series-days with lost sales
    stockout_day_rate: float  # stockout_days / series-days
    avg_inventory_units: float  # units on hand at the end of the day, summed over series
    avg_inventory_value: float  # the same at unit cost
    holding_cost: float
    shortage_cost: float
    ordering_cost: float
    total_cost: float
    orders: int  # order lines placed
    units_ordered: int
    fill_rate_by_class: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    policy: RuleResult
    simple: RuleResult
    n_series: int
    n_days: int
    config: SimulationConfig

    @property
    def cost_ratio(self) -> float:
        """Policy total cost / simple rule total cost: below 1 means the policy is cheaper."""
        return self.policy.total_cost / self.simple.total_cost if self.simple.total_cost else 0.0

    @property
    def fill_rate_delta(self) -> float:
        return self.policy.fill_rate - self.simple.fill_rate

    @property
    def policy_wins(self) -> bool:
        """Cheaper at an equal or better fill rate: the issue's goal."""
        return self.cost_ratio < 1.0 and self.fill_rate_delta >= 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.n_series,
            "days": self.n_days,
            "config": asdict(self.config),
            "policy": asdict(self.policy),
            "simple_rule": asdict(self.simple),
            "cost_ratio": self.cost_ratio,
            "fill_rate_delta": self.fill_rate_delta,
            "policy_wins": self.policy_wins,
        }

    def table(self, title: str | None = None) -> Table:
        table = Table(title=title or f"{self.n_series:,} series × {self.n_days} days")
        table.add_column("")
        table.add_column("policy", justify="right")
        table.add_column("simple rule", justify="right")
        p, s = self.policy, self.simple

        def row(label: str, name: str, fmt: str) -> tuple[str, str, str]:
            return label, format(getattr(p, name), fmt), format(getattr(s, name), fmt)

        rows = [
            row("fill rate (units)", "fill_rate", ".2%"),
            row("stock-out days", "stockout_days", ","),
            row("stock-out day rate", "stockout_day_rate", ".2%"),
            row("avg inventory, units", "avg_inventory_units", ",.0f"),
            row("avg inventory, value", "avg_inventory_value", ",.0f"),
            row("holding cost", "holding_cost", ",.0f"),
            row("shortage cost", "shortage_cost", ",.0f"),
            row("ordering cost", "ordering_cost", ",.0f"),
            row("total cost", "total_cost", ",.0f"),
            row("orders", "orders", ","),
        ]
        for label in sorted(set(p.fill_rate_by_class) | set(s.fill_rate_by_class)):
            rows.append(
                (
                    f"fill rate, class {label}",
                    f"{p.fill_rate_by_class.get(label, math.nan):.2%}",
                    f"{s.fill_rate_by_class.get(label, math.nan):.2%}",
                )
            )
        for cells in rows:
            table.add_row(*cells)
        table.caption = f"cost ratio policy/simple {self.cost_ratio:.3f}"
        return table


def simple_rule_quantity(
    avg_daily: FloatArray,
    position: FloatArray,
    *,
    case_pack: FloatArray,
    moq: FloatArray,
    shelf_capacity: FloatArray,
    cover_days: float = 28.0,
) -> NDArray[np.int64]:
    """Order up to `cover_days` of average demand, rounded up to the case pack (and the MOQ)."""
    pack = np.maximum(case_pack, 1.0)
    need = np.maximum(cover_days * avg_daily - position, 0.0)
    qty = np.ceil(need / pack) * pack
    moq_units = np.ceil(np.maximum(moq, 0.0) / pack) * pack
    qty = np.where((qty > 0) & (qty < moq_units), moq_units, qty)
    room = np.floor(np.maximum(shelf_capacity - position, 0.0) / pack) * pack
    qty = np.where(qty > room, np.where(room >= moq_units, room, 0.0), qty)
    return qty.astype(np.int64)


class _Ledger:
    """One rule's stock, pipeline and running totals."""

    def __init__(self, n: int, ring: int, classes: NDArray[np.str_]) -> None:
        self.on_hand = np.zeros(n, dtype=np.int64)
        self.pipeline = np.zeros((n, ring), dtype=np.int64)
        self.classes = classes
        self.demand = np.zeros(n, dtype=np.int64)
        self.sold = np.zeros(n, dtype=np.int64)
        self.stockout_days = 0
        self.inventory_units = 0.0
        self.inventory_value = 0.0
        self.orders = 0
        self.units_ordered = 0

    def position(self, rows: NDArray[np.int64]) -> FloatArray:
        return (self.on_hand[rows] + self.pipeline[rows].sum(axis=1)).astype(float)

    def result(
        self, rule: str, items: SimulationItems, days: int, config: SimulationConfig
    ) -> RuleResult:
        demand, sold = int(self.demand.sum()), int(self.sold.sum())
        lost = self.demand - self.sold
        holding = self.inventory_value * config.holding_rate / 365.0
        shortage = float((lost * items.shortage_cost).sum())
        ordering = self.orders * config.order_cost
        by_class = {}
        for label in np.unique(self.classes):
            if label:
                member = self.classes == label
                d = self.demand[member].sum()
                by_class[str(label)] = float(self.sold[member].sum() / d) if d else 1.0
        n_days = max(days, 1)
        return RuleResult(
            rule=rule,
            demand_units=demand,
            sold_units=sold,
            lost_units=demand - sold,
            fill_rate=sold / demand if demand else 1.0,
            stockout_days=self.stockout_days,
            stockout_day_rate=self.stockout_days / (len(self.on_hand) * n_days),
            avg_inventory_units=self.inventory_units / n_days,
            avg_inventory_value=self.inventory_value / n_days,
            holding_cost=holding,
            shortage_cost=shortage,
            ordering_cost=ordering,
            total_cost=holding + shortage + ordering,
            orders=self.orders,
            units_ordered=self.units_ordered,
            fill_rate_by_class=by_class,
        )


def simulate_replenishment(
    demand: ArrayLike,
    items: SimulationItems,
    *,
    start: int,
    forecaster: Forecaster | None = None,
    config: SimulationConfig | None = None,
) -> SimulationResult:
    """Replay days `start .. T-1` of `demand` (n series × T days) under both rules.

    Without a forecaster, a moving average of the last `config.forecast_window` days of the
    same demand is used (so `start` must leave that much history).
    """
    config = config or SimulationConfig()
    d = np.asarray(demand)
    if d.ndim != 2 or len(d) != len(items):
        raise ValueError(f"demand has shape {d.shape}; expected ({len(items)}, days)")
    if (d < 0).any():
        raise ValueError("demand must be non-negative")
    d = d.astype(np.int64)
    n, total_days = d.shape
    if not 0 < start < total_days:
        raise ValueError(f"start must lie in 1..{total_days - 1}")
    forecaster = forecaster or MovingAverageForecaster(d, window=config.forecast_window)
    review = config.review_period
    rng = np.random.default_rng(config.seed)
    max_lead = max(1, math.ceil(float(np.max(items.lead_time_mean + 4 * items.lead_time_sd))))
    sim_days = total_days - start
    # Drawn once, used by both rules: a rule that orders on the same day waits just as long.
    leads = np.clip(
        np.rint(
            rng.normal(items.lead_time_mean[:, None], items.lead_time_sd[:, None], (n, sim_days))
        ),
        1,
        max_lead,
    ).astype(np.int64)
    ring = max_lead + 1
    horizon = max(
        math.ceil(float(np.max(items.lead_time_mean)) + review) + 1, config.simple_cover_days
    )
    all_rows = np.arange(n)
    policy, simple = _Ledger(n, ring, items.abc_class), _Ledger(n, ring, items.abc_class)

    def policy_decision(fc: DailyForecast, rows: NDArray[np.int64], position: FloatArray) -> Any:
        return order_up_to(
            fc.mean,
            fc.var,
            on_hand=position,
            lead_time_mean=items.lead_time_mean[rows],
            lead_time_sd=items.lead_time_sd[rows],
            review_period=review,
            service_level=items.service_level[rows],
            case_pack=items.case_pack[rows],
            moq=items.moq[rows],
            shelf_capacity=items.shelf_capacity[rows],
            unit_cost=items.unit_cost[rows],
            holding_rate=config.holding_rate,
            shortage_cost=items.shortage_cost[rows],
            level_sd=fc.level_sd,
            demand_model=config.demand_model,
            marginal_case_check=config.marginal_case_check,
            economic_service=config.economic_service,
        )

    # Each rule starts at its own target with nothing in transit.
    first = forecaster(start - 1, all_rows, horizon)
    policy.on_hand[:] = policy_decision(first, all_rows, np.zeros(n)).target.astype(np.int64)
    simple.on_hand[:] = np.ceil(
        np.minimum(
            config.simple_cover_days * first.mean[:, : config.simple_cover_days].mean(axis=1),
            items.shelf_capacity,
        )
    ).astype(np.int64)

    review_offset = all_rows % review  # staggered, as stores order on different weekdays
    counted_days = 0
    for t in range(start, total_days):
        slot = t % ring
        counting = t >= start + config.warmup_days
        counted_days += counting
        demand_today = d[:, t]
        for ledger in (policy, simple):
            ledger.on_hand += ledger.pipeline[:, slot]
            ledger.pipeline[:, slot] = 0
            sold = np.minimum(demand_today, ledger.on_hand)
            ledger.on_hand -= sold
            if counting:
                ledger.demand += demand_today
                ledger.sold += sold
                ledger.stockout_days += int((demand_today > sold).sum())
                ledger.inventory_units += float(ledger.on_hand.sum())
                ledger.inventory_value += float((ledger.on_hand * items.unit_cost).sum())
        rows = np.flatnonzero(review_offset == (t - start) % review)
        if rows.size == 0:
            continue
        fc = forecaster(t, rows, horizon)
        arrival = (t + leads[rows, t - start]) % ring
        quantities = {
            "policy": policy_decision(fc, rows, policy.position(rows)).quantity,
            "simple": simple_rule_quantity(
                fc.mean[:, : config.simple_cover_days].mean(axis=1),
                simple.position(rows),
                case_pack=items.case_pack[rows],
                moq=items.moq[rows],
                shelf_capacity=items.shelf_capacity[rows],
                cover_days=config.simple_cover_days,
            ),
        }
        for ledger, qty in ((policy, quantities["policy"]), (simple, quantities["simple"])):
            ledger.pipeline[rows, arrival] += qty
            if counting:
                ledger.orders += int((qty > 0).sum())
                ledger.units_ordered += int(qty.sum())
    return SimulationResult(
        policy=policy.result("policy", items, counted_days, config),
        simple=simple.result("simple_rule", items, counted_days, config),
        n_series=n,
        n_days=counted_days,
        config=config,
    )


def poisson_demand(expected: ArrayLike, seed: int = 0) -> NDArray[np.int64]:
    """Poisson draws around an expected demand (n series × T days)."""
    return np.random.default_rng(seed).poisson(np.asarray(expected, dtype=float)).astype(np.int64)
