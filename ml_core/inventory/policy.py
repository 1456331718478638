"""Periodic-review order-up-to policy per SKU and location, with the explanation a planner reads.

At each review (weekly by default) an order can only help from the moment it arrives until the
next order arrives: the lead time plus the review period, the *protection period*. The policy
treats demand over that period as a distribution: the forecast's daily means and variances summed
over the expected lead time plus the review period, widened by the lead time's own spread
(var = P·σ_d² + d²·σ_L²) and by the uncertainty of the forecast's level (which, unlike daily
noise, does not average out over the period). The order-up-to level (the target) is that
distribution's quantile (`ml_core.forecasting.horizon.total_quantile`, where every quantile of a
total is taken) at the service target of the SKU's ABC class, or at the newsvendor's
critical ratio b / (b + h) where that is higher (b: the cost of a lost sale, the margin; h: the
cost of holding a unit through an order cycle; capped at 99%). The order brings the inventory
position (on hand + on order − reserved) up to the target, then meets, in this order, the
supplier's case pack, the supplier's minimum order (MOQ) and the shelf's capacity. An optional
newsvendor check drops the last case when holding it costs more than the sales it protects.

`order_up_to` decides for many series at once (arrays; the simulation calls it every review day);
`decide` / `decide_many` take typed `PolicyInput`s and return `PolicyDecision`s with explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special

from ml_core.forecasting.horizon import daily_variance, gamma_params, total_quantile
from ml_core.inventory.cover import days_of_cover

POLICY_VERSION = "order-up-to-1"

AbcClass = Literal["A", "B", "C"]
Binding = Literal["none", "case_pack", "moq", "shelf_capacity", "no_need"]
DemandModel = Literal["gamma", "normal"]
BINDINGS: tuple[Binding, ...] = ("none", "case_pack", "moq", "shelf_capacity", "no_need")
NONE, CASE_PACK, MOQ, SHELF_CAPACITY, NO_NEED = range(5)

# Cycle service level (probability of no stock-out in a review cycle) per ABC class.
SERVICE_LEVELS: dict[str, float] = {"A": 0.98, "B": 0.95, "C": 0.90}
# A: the items making the first 80% of revenue; B: the next 15%; C: the rest.
ABC_SHARES: tuple[float, float] = (0.80, 0.95)
DAYS_PER_YEAR = 365.0
# Beyond this the quantile chases the far tail of a fitted distribution it does not know well.
MAX_SERVICE_LEVEL = 0.99

FloatArray = NDArray[np.float64]


def abc_classes(revenue: ArrayLike, shares: tuple[float, float] = ABC_SHARES) -> NDArray[np.str_]:
    """The ABC class ("A", "B" or "C") of each item from its share of revenue (Pareto classes).

    An item is A when the items ranked above it make less than `shares[0]` of revenue, B when
    they make less than `shares[1]`, C otherwise; items without revenue are C.
    """
    r = np.asarray(revenue, dtype=float)
    r = np.where(np.isfinite(r) & (r > 0), r, 0.0)
    out = np.full(r.shape, "C", dtype="<U1")
    total = r.sum()
    if total <= 0:
        return out
    order = np.argsort(-r, kind="stable")
    ranked = r[order]
    above = (np.cumsum(ranked) - ranked) / total
    classes = np.where(above < shares[0], "A", np.where(above < shares[1], "B", "C"))
    classes[ranked == 0] = "C"
    out[order] = classes
    return out


def economic_service_level(shortage_cost: ArrayLike, holding_cost: ArrayLike) -> FloatArray:
    """The newsvendor's critical ratio b / (b + h): the cost-optimal cycle service level.

    One more unit of target costs h (holding it through an order cycle) and saves b (a lost sale)
    in the cycles where demand would have reached it; the cost is least where P(demand ≤ target)
    is b / (b + h). NaN where the shortage cost is unknown; never above `MAX_SERVICE_LEVEL`.
    """
    b = np.asarray(shortage_cost, dtype=float)
    h = np.asarray(holding_cost, dtype=float)
    known = np.isfinite(b) & (b > 0)
    safe_b = np.where(known, b, 1.0)
    ratio = safe_b / (safe_b + np.maximum(h, 0.0))
    return np.where(known, np.minimum(ratio, MAX_SERVICE_LEVEL), np.nan)


@dataclass(frozen=True, slots=True)
class BatchDecision:
    """The policy's numbers for n series (arrays of shape (n,)); `binding` indexes `BINDINGS`."""

    quantity: NDArray[np.int64]
    target: FloatArray  # order-up-to level after the shelf cap
    uncapped_target: FloatArray  # the service quantile, in whole units
    safety_stock: FloatArray  # target − expected demand over the protection period
    protection_days: FloatArray
    demand_mean: FloatArray  # expected demand over the protection period
    demand_sd: FloatArray
    daily_rate: FloatArray  # average expected units per day over the protection period
    position: FloatArray  # on hand + on order − reserved, before the order
    needed: FloatArray  # uncapped target − position, at least 0
    service_level: FloatArray  # the one applied: the class target, or the economic one if higher
    target_service_level: FloatArray  # the class target (or the caller's)
    order_cycle_days: FloatArray  # expected days between orders; inf without demand
    holding_cost_per_cycle: FloatArray  # holding one unit through one order cycle
    economic_service_level: FloatArray  # b / (b + h·cycle); NaN without a shortage cost
    expected_fill_rate: FloatArray  # after the order
    days_of_cover: FloatArray  # (position + order) / daily rate; inf without demand
    binding: NDArray[np.int64]
    marginal_case_dropped: NDArray[np.bool_]
    moq_units: FloatArray  # the MOQ in whole cases

    def __len__(self) -> int:
        return len(self.quantity)


def order_up_to(
    mean: ArrayLike,
    var: ArrayLike | None = None,
    *,
    on_hand: ArrayLike,
    on_order: ArrayLike = 0,
    reserved: ArrayLike = 0,
    lead_time_mean: ArrayLike,
    lead_time_sd: ArrayLike = 0.0,
    review_period: ArrayLike = 7.0,
    service_level: ArrayLike,
    case_pack: ArrayLike = 1,
    moq: ArrayLike = 0,
    shelf_capacity: ArrayLike | None = None,
    unit_cost: ArrayLike = 0.0,
    holding_rate: ArrayLike = 0.25,
    shortage_cost: ArrayLike | None = None,
    level_sd: ArrayLike = 0.0,
    demand_model: DemandModel = "gamma",
    marginal_case_check: bool = True,
    economic_service: bool = True,
) -> BatchDecision:
    """Order quantities for n series at once.

    `mean` and `var` are (n, H) daily forecast means and variances from tomorrow on (`var`
    defaults to the mean: Poisson); beyond day H the horizon's average day repeats. Scalars
    broadcast. `shelf_capacity` and `shortage_cost` take NaN (or None) for "none". The
    demand model is "gamma" (non-negative and right-skewed, which suits slow movers) or "normal".
    """
    m = np.atleast_2d(np.asarray(mean, dtype=float))
    n = m.shape[0]
    v = m.copy() if var is None else np.atleast_2d(np.asarray(var, dtype=float))
    if m.shape[1] == 0:
        raise ValueError("the forecast needs at least one day")
    if v.shape != m.shape:
        raise ValueError(f"var has shape {v.shape}, mean has {m.shape}")
    if not (np.isfinite(m).all() and np.isfinite(v).all()) or (m < 0).any():
        raise ValueError("forecast means must be finite and non-negative, variances finite")
    # Below a billionth of a unit a day is no demand; it would only overflow the arithmetic.
    m = np.where(m < 1e-9, 0.0, m)
    v = np.where(v < 1e-12, 0.0, v)

    def col(x: ArrayLike | None, default: float = np.nan) -> FloatArray:
        a = np.asarray(default if x is None else x, dtype=float)
        return np.array(np.broadcast_to(a, (n,)), dtype=float)

    lead, lead_sd, review = col(lead_time_mean), col(lead_time_sd), col(review_period)
    target_alpha = col(service_level)
    if not ((target_alpha > 0) & (target_alpha < 1)).all():
        raise ValueError("service levels must lie strictly between 0 and 1")
    protection = lead + review
    mu_p = _window_sum(m, protection)
    rate = mu_p / np.where(protection > 0, protection, 1.0)
    lsd = col(level_sd)
    # Three independent sources: daily noise, when the order lands, and where the level really is.
    var_p = _window_sum(v, protection) + (rate * lead_sd) ** 2 + (protection * lsd) ** 2
    var_l = _window_sum(v, lead) + (rate * lead_sd) ** 2 + (lead * lsd) ** 2
    sd_p, sd_l, mu_l = np.sqrt(var_p), np.sqrt(var_l), _window_sum(m, lead)

    pack = np.maximum(np.rint(col(case_pack)), 1.0)
    moq_units = np.ceil(np.maximum(col(moq), 0.0) / pack) * pack
    # Orders come every review, or less often when the smallest order lasts longer than that;
    # a unit more of target is held through a whole order cycle before the next one replaces it.
    smallest = np.maximum(pack, moq_units)
    has_demand = rate > 0
    cycle = np.where(
        has_demand, np.maximum(review, smallest / np.where(has_demand, rate, 1.0)), np.inf
    )
    shortage = col(shortage_cost)
    h_cycle = col(unit_cost) * col(holding_rate) * np.where(has_demand, cycle, 0.0) / DAYS_PER_YEAR
    economic = np.where(has_demand, economic_service_level(shortage, h_cycle), np.nan)
    alpha = np.fmax(target_alpha, economic) if economic_service else target_alpha

    uncapped = np.maximum(np.ceil(total_quantile(mu_p, sd_p, alpha, demand_model) - 1e-9), 0.0)
    capacity = col(shelf_capacity)
    capacity = np.where(np.isnan(capacity), np.inf, capacity)
    target = np.minimum(uncapped, capacity)
    position = col(on_hand) + col(on_order) - col(reserved)

    needed = np.maximum(uncapped - position, 0.0)
    binding = np.full(n, NONE, dtype=np.int64)
    qty = np.ceil(needed / pack) * pack
    binding[qty > needed] = CASE_PACK
    raised = (qty > 0) & (qty < moq_units)
    qty = np.where(raised, moq_units, qty)
    binding[raised] = MOQ
    # Stock on hand can never exceed position + order, so capping that keeps the shelf whole.
    room = np.floor(np.maximum(capacity - position, 0.0) / pack) * pack
    over = qty > room
    qty = np.where(over, np.where((room >= moq_units) & (room > 0), room, 0.0), qty)
    binding[over] = SHELF_CAPACITY
    binding[needed == 0] = NO_NEED

    dropped = np.zeros(n, dtype=bool)
    if marginal_case_check:
        eligible = (binding == CASE_PACK) & np.isfinite(shortage) & (qty > 0)
        eligible &= (qty - pack == 0) | (qty - pack >= moq_units)
        if eligible.any():
            # The case left out now can come with next week's order: it is early by one review.
            h_review = col(unit_cost) * col(holding_rate) * review / DAYS_PER_YEAR
            b = np.where(np.isfinite(shortage), shortage, 0.0)
            y_up = position + qty
            cost_up = _cycle_cost(y_up, mu_p, sd_p, h_review, b, demand_model)
            cost_down = _cycle_cost(y_up - pack, mu_p, sd_p, h_review, b, demand_model)
            dropped = eligible & (cost_down < cost_up)
            qty = np.where(dropped, qty - pack, qty)

    y = position + qty
    short_per_cycle = np.maximum(
        _loss(y, mu_p, sd_p, demand_model) - _loss(y, mu_l, sd_l, demand_model), 0.0
    )
    cycle_demand = rate * review
    fill = np.where(
        cycle_demand > 0,
        1.0 - short_per_cycle / np.where(cycle_demand > 0, cycle_demand, 1.0),
        1.0,
    )
    cover = days_of_cover(y, rate)
    return BatchDecision(
        quantity=qty.astype(np.int64),
        target=target,
        uncapped_target=uncapped,
        safety_stock=target - mu_p,
        protection_days=protection,
        demand_mean=mu_p,
        demand_sd=sd_p,
        daily_rate=rate,
        position=position,
        needed=needed,
        service_level=alpha,
        target_service_level=target_alpha,
        order_cycle_days=cycle,
        holding_cost_per_cycle=h_cycle,
        economic_service_level=economic,
        expected_fill_rate=np.clip(fill, 0.0, 1.0),
        days_of_cover=cover,
        binding=binding,
        marginal_case_dropped=dropped,
        moq_units=moq_units,
    )


def _window_sum(x: FloatArray, days: FloatArray) -> FloatArray:
    """Sum of each row's first `days` values, the last day counted by its fraction.

    Beyond the row's horizon its average day repeats: a forecast shorter than the protection
    period is extended at its own mean rate rather than read as zero demand.
    """
    n, h = x.shape
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1)], axis=1)
    days = np.maximum(days, 0.0)
    whole = np.minimum(np.floor(days), h).astype(np.int64)
    rows = np.arange(n)
    partial_day = x[rows, np.minimum(whole, h - 1)]
    inside = cum[rows, whole] + (days - whole) * np.where(whole < h, partial_day, 0.0)
    beyond = cum[:, h] + (days - h) * cum[:, h] / h
    return np.where(days <= h, inside, beyond)


def _loss(level: FloatArray, mu: FloatArray, sd: FloatArray, model: DemandModel) -> FloatArray:
    """Expected units short, E[(D − level)⁺], for demand D of the given mean and sd."""
    deterministic = np.maximum(mu - level, 0.0)
    has_spread = sd > 0
    safe_sd = np.where(has_spread, sd, 1.0)
    if model == "normal":
        z = (level - mu) / safe_sd
        pdf = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        return np.where(has_spread, safe_sd * (pdf - z * special.ndtr(-z)), deterministic)
    shape, scale, ok = gamma_params(mu, sd)
    x = np.maximum(level, 0.0) / scale
    tail = mu * special.gammaincc(shape + 1, x) - np.maximum(level, 0.0) * special.gammaincc(
        shape, x
    )
    # Below zero every unit of demand is short, plus the deficit itself.
    tail = np.where(level < 0, mu - level, tail)
    return np.where(ok, np.maximum(tail, 0.0), deterministic)


def _cycle_cost(
    y: FloatArray,
    mu: FloatArray,
    sd: FloatArray,
    holding_per_cycle: FloatArray,
    shortage: FloatArray,
    model: DemandModel,
) -> FloatArray:
    """Newsvendor cost of one cycle at position y: holding the leftover plus the lost sales."""
    short = _loss(y, mu, sd, model)
    leftover = y - mu + short  # E[(y − D)⁺] = y − E[D] + E[(D − y)⁺]
    return holding_per_cycle * leftover + shortage * short


class Arrival(BaseModel):
    """Units already ordered and when they are expected, in days from today."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_days: float = Field(ge=0)
    quantity: int = Field(gt=0)


class PolicyInput(BaseModel):
    """Everything the policy needs to decide one SKU at one location."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = ""
    location_id: str = ""
    forecast_mean: tuple[float, ...] = Field(min_length=1, description="units/day from tomorrow")
    forecast_p10: tuple[float, ...] | None = None
    forecast_p50: tuple[float, ...] | None = None
    forecast_p90: tuple[float, ...] | None = None
    forecast_p95: tuple[float, ...] | None = None
    forecast_sd: tuple[float, ...] | None = Field(
        default=None, description="daily sd; overrides the spread implied by the quantiles"
    )
    forecast_level_sd: float = Field(
        default=0.0, ge=0, description="sd of the error of the forecast's level, units/day"
    )
    on_hand: int = Field(ge=0)
    on_order: int = Field(default=0, ge=0)
    arrivals: tuple[Arrival, ...] = Field(
        default=(), description="when on-order units arrive; empty: all count"
    )
    reserved: int = Field(default=0, ge=0)
    lead_time_mean_days: float = Field(gt=0)
    lead_time_sd_days: float = Field(default=0.0, ge=0)
    review_period_days: float = Field(default=7.0, gt=0)
    case_pack: int = Field(default=1, ge=1)
    moq: int = Field(default=0, ge=0)
    shelf_capacity: int | None = Field(default=None, ge=0)
    unit_cost: float = Field(default=0.0, ge=0)
    holding_rate: float = Field(default=0.25, ge=0, description="holding cost per year, × cost")
    shortage_cost: float | None = Field(default=None, ge=0, description="per unit of lost sales")
    abc_class: AbcClass = "B"
    service_level: float | None = Field(
        default=None, gt=0, lt=1, description="overrides the ABC class's target"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        horizon = len(self.forecast_mean)
        for name in ("forecast_p10", "forecast_p50", "forecast_p90", "forecast_p95", "forecast_sd"):
            values = getattr(self, name)
            if values is not None and len(values) != horizon:
                raise ValueError(f"{name} has {len(values)} days, forecast_mean has {horizon}")
        series = [self.forecast_mean, *(self.forecast_p10, self.forecast_p90, self.forecast_sd)]
        for values in series:
            if values is None:
                continue
            array = np.asarray(values, dtype=float)
            if not np.isfinite(array).all() or (array < 0).any():
                raise ValueError("forecasts must be finite and non-negative")
        if self.arrivals and sum(a.quantity for a in self.arrivals) != self.on_order:
            raise ValueError("the arrivals must add up to on_order")
        return self

    @property
    def target_service_level(self) -> float:
        return (
            self.service_level if self.service_level is not None else SERVICE_LEVELS[self.abc_class]
        )

    @property
    def counted_on_order(self) -> int:
        """On-order units that arrive within the protection period (all, when dates are unknown).

        An arrival after the next order's own arrival cannot prevent this cycle's stock-outs.
        """
        if not self.arrivals:
            return self.on_order
        horizon = self.lead_time_mean_days + self.review_period_days
        return sum(a.quantity for a in self.arrivals if a.in_days <= horizon)

    def daily_variance(self) -> list[float]:
        if self.forecast_sd is not None:
            return [sd * sd for sd in self.forecast_sd]
        return daily_variance(self.forecast_mean, self.forecast_p10, self.forecast_p90).tolist()


class PolicyDecision(BaseModel):
    """What the policy decided for one SKU at one location, and why."""

    model_config = ConfigDict(frozen=True)

    sku: str
    location_id: str
    order_quantity: int
    cases: int
    case_pack: int
    target_level: int = Field(description="order-up-to level, after the shelf cap")
    uncapped_target: int = Field(description="the service quantile of protection demand")
    safety_stock: float = Field(description="target level − expected demand")
    expected_demand: float = Field(description="over the protection period")
    demand_sd: float
    protection_days: float = Field(description="lead time + review period")
    daily_demand: float
    abc_class: AbcClass
    target_service_level: float = Field(description="the ABC class's target, or the caller's")
    service_level: float = Field(description="the one applied; higher when lost sales cost more")
    order_cycle_days: float | None
    inventory_position: int = Field(description="on hand + counted on order − reserved")
    counted_on_order: int
    expected_fill_rate: float = Field(description="units served / demanded, after the order")
    days_of_cover: float | None = Field(description="after the order; None without demand")
    binding: Binding
    marginal_case_dropped: bool
    explanation: str


def decide(
    inp: PolicyInput,
    *,
    demand_model: DemandModel = "gamma",
    marginal_case_check: bool = True,
    economic_service: bool = True,
) -> PolicyDecision:
    """The order for one SKU at one location, with the paragraph a planner reads."""
    return decide_many(
        [inp],
        demand_model=demand_model,
        marginal_case_check=marginal_case_check,
        economic_service=economic_service,
    )[0]


def decide_many(
    inputs: Sequence[PolicyInput],
    *,
    demand_model: DemandModel = "gamma",
    marginal_case_check: bool = True,
    economic_service: bool = True,
) -> list[PolicyDecision]:
    """`decide` for many inputs in one vectorised pass (forecast horizons may differ)."""
    if not inputs:
        return []
    horizon = max(len(i.forecast_mean) for i in inputs)
    mean = np.empty((len(inputs), horizon))
    var = np.empty_like(mean)
    for row, inp in enumerate(inputs):
        m, v = np.asarray(inp.forecast_mean), np.asarray(inp.daily_variance())
        # A shorter forecast continues at its own average day, as `_window_sum` extends it.
        mean[row] = np.concatenate([m, np.full(horizon - len(m), m.mean())])
        var[row] = np.concatenate([v, np.full(horizon - len(v), v.mean())])

    def values(name: str) -> list[float]:
        return [float(getattr(i, name)) for i in inputs]

    batch = order_up_to(
        mean,
        var,
        on_hand=values("on_hand"),
        on_order=[i.counted_on_order for i in inputs],
        reserved=values("reserved"),
        lead_time_mean=values("lead_time_mean_days"),
        lead_time_sd=values("lead_time_sd_days"),
        review_period=values("review_period_days"),
        service_level=[i.target_service_level for i in inputs],
        case_pack=values("case_pack"),
        moq=values("moq"),
        shelf_capacity=[np.nan if i.shelf_capacity is None else i.shelf_capacity for i in inputs],
        unit_cost=values("unit_cost"),
        holding_rate=values("holding_rate"),
        shortage_cost=[np.nan if i.shortage_cost is None else i.shortage_cost for i in inputs],
        level_sd=values("forecast_level_sd"),
        demand_model=demand_model,
        marginal_case_check=marginal_case_check,
        economic_service=economic_service,
    )
    return [_decision(inp, batch, k) for k, inp in enumerate(inputs)]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _decision(inp: PolicyInput, b: BatchDecision, k: int) -> PolicyDecision:
    decision = PolicyDecision(
        sku=inp.sku,
        location_id=inp.location_id,
        order_quantity=int(b.quantity[k]),
        cases=int(b.quantity[k]) // inp.case_pack,
        case_pack=inp.case_pack,
        target_level=int(b.target[k]),
        uncapped_target=int(b.uncapped_target[k]),
        safety_stock=float(b.safety_stock[k]),
        expected_demand=float(b.demand_mean[k]),
        demand_sd=float(b.demand_sd[k]),
        protection_days=float(b.protection_days[k]),
        daily_demand=float(b.daily_rate[k]),
        abc_class=inp.abc_class,
        target_service_level=float(b.target_service_level[k]),
        service_level=float(b.service_level[k]),
        order_cycle_days=_finite(b.order_cycle_days[k]),
        inventory_position=int(round(b.position[k])),
        counted_on_order=inp.counted_on_order,
        expected_fill_rate=float(b.expected_fill_rate[k]),
        days_of_cover=_finite(b.days_of_cover[k]),
        binding=BINDINGS[int(b.binding[k])],
        marginal_case_dropped=bool(b.marginal_case_dropped[k]),
        explanation="",
    )
    text = explain(
        inp,
        decision,
        moq_units=int(b.moq_units[k]),
        holding_cost_per_cycle=float(b.holding_cost_per_cycle[k]),
    )
    return decision.model_copy(update={"explanation": text})


def _units(x: float) -> str:
    text = f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"
    return text.removesuffix(".0")


def _percent(x: float) -> str:
    # 0.98 reads "98%", 0.995 "99.5%": never round a target up to a promise of 100%.
    return f"{x:.0%}" if round(x * 100, 6).is_integer() else f"{x:.1%}"


def stated_safety_stock(d: PolicyDecision) -> float:
    """The safety stock as a planner reads it, in the explanation and in the proposal's line
    alike: rounded once, here, so the two can never show different tenths."""
    return round(d.safety_stock, 1)


def explain(
    inp: PolicyInput, d: PolicyDecision, *, moq_units: int, holding_cost_per_cycle: float = 0.0
) -> str:
    """One paragraph: the order, the demand it covers, the target, the position, what bound."""
    q, pack = d.order_quantity, inp.case_pack
    if q > 0:
        cases = f" ({d.cases} case{'s' if d.cases != 1 else ''} of {pack})" if pack > 1 else ""
        head = f"Order {q} units{cases}"
    else:
        head = "Order nothing"
    lead = f"{_units(inp.lead_time_mean_days)}-day lead time"
    if inp.lead_time_sd_days > 0:
        lead += f" (sd {_units(inp.lead_time_sd_days)} days)"
    demand = (
        f"expected demand over the {lead} plus {_units(inp.review_period_days)}-day review is "
        f"{_units(d.expected_demand)} units (sd {_units(d.demand_sd)})"
    )
    article = "an" if d.abc_class == "A" else "a"
    who = f" for {article} {d.abc_class} item" if inp.service_level is None else ""
    service = f"the {_percent(d.target_service_level)} service target{who}"
    if d.service_level > d.target_service_level + 1e-9 and inp.shortage_cost is not None:
        cycle = d.order_cycle_days or inp.review_period_days
        service += (
            f", raised to {_percent(d.service_level)} because a lost sale "
            f"(${inp.shortage_cost:,.2f} of margin) costs more than holding a unit through the "
            f"{_units(cycle)}-day order cycle (${holding_cost_per_cycle:,.2f}),"
        )
    # The safety stock stated is the decision's own (the target ordered up to, less expected
    # demand), so the page's figure and this sentence are one number; where the shelf caps the
    # target it is stated with the capped target, not with the service quantile.
    safety = f"a safety stock of {stated_safety_stock(d):,.1f}"
    capped = d.target_level < d.uncapped_target
    target = f"{service} needs {d.uncapped_target} on hand or on order"
    if not capped:
        target += f", {safety}"
    have = f"you have {inp.on_hand} on hand"
    if inp.reserved:
        have += f" ({inp.reserved} reserved)"
    if d.counted_on_order:
        have += f" with {d.counted_on_order} arriving"
    late = inp.on_order - d.counted_on_order
    if late:
        have += f" ({late} more arrive too late to count)"
    have += f", a position of {d.inventory_position}"
    needed = max(d.uncapped_target - d.inventory_position, 0)
    cap = inp.shelf_capacity
    held = f" (the target is capped at {d.target_level}, {safety})" if capped else ""
    if d.binding == "no_need":
        why = f", which already covers the target{held}"
    elif d.binding == "none":
        why = f", so {needed} are needed"
    elif d.binding == "case_pack" and d.marginal_case_dropped:
        why = (
            f", so {needed} are needed; a further case of {pack} would cost more to hold than "
            f"the sales it protects, so the order rounds down to whole cases (case pack binds)"
        )
    elif d.binding == "case_pack":
        why = f", so {needed} are needed, rounded up to whole cases of {pack} (case pack binds)"
    elif d.binding == "moq":
        why = (
            f", so {needed} are needed, raised to the supplier's minimum order of {moq_units} "
            f"(MOQ binds)"
        )
    elif q > 0 and cap is not None and d.uncapped_target > cap:
        why = (
            f", so {needed} are needed, but the shelf holds {cap}: the target is capped at "
            f"{d.target_level}, {safety}, and the order at {q} (shelf capacity binds)"
        )
    elif q > 0:
        why = (
            f", so {needed} are needed; whole cases of {pack} to cover that would overflow the "
            f"shelf of {cap}, so the order stops at {q} (shelf capacity binds)"
        )
    else:
        smallest = max(moq_units, pack)
        why = (
            f", so {needed} are needed, but the shelf holds {cap}{held}, which leaves no room "
            f"for {'the minimum order' if moq_units > pack else 'a case'} of {smallest} "
            f"(shelf capacity binds)"
        )
    tail = f"Expected fill rate {d.expected_fill_rate:.1%}"
    if d.days_of_cover is None:
        tail += "; no demand is expected."
    else:
        after = " after the order" if q > 0 else ""
        tail += f"; {d.days_of_cover:.0f} days of cover{after}."
    return f"{head}: {demand}; {target}; {have}{why}. {tail}"
