"""The replenishment simulation: the policy meets its service target on stationary Poisson demand
and beats the four-weeks-of-demand rule on cost at an equal or better fill rate."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from ml_core.inventory.policy import SERVICE_LEVELS, abc_classes
from ml_core.inventory.simulate import (
    MovingAverageForecaster,
    PrecomputedForecaster,
    SimulationConfig,
    SimulationItems,
    SimulationResult,
    poisson_demand,
    simple_rule_quantity,
    simulate_replenishment,
)

N_SERIES, N_DAYS, START = 300, 280, 56


def _stationary(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson demand at a fixed rate per series (slow and fast movers), and those rates."""
    rng = np.random.default_rng(seed)
    rate = rng.lognormal(-0.5, 1.0, N_SERIES)
    return poisson_demand(np.repeat(rate[:, None], N_DAYS, axis=1), seed=seed + 1), rate


def _retail_items(rate: np.ndarray, seed: int) -> SimulationItems:
    """Suppliers like the generated world's: 4-20 day lead times, case packs, MOQs, ABC classes."""
    rng = np.random.default_rng(seed)
    n = len(rate)
    lead = rng.uniform(4, 20, n)
    cost = rng.uniform(5, 100, n)
    price = cost * rng.uniform(1.6, 2.4, n)
    pack = rng.choice([1, 2, 4, 6, 12], n)
    classes = abc_classes(rate * price)
    return SimulationItems.build(
        n,
        unit_cost=cost,
        shortage_cost=price - cost,
        lead_time_mean=lead,
        lead_time_sd=lead * rng.uniform(0.1, 0.3, n),
        service_level=[SERVICE_LEVELS[c] for c in classes],
        case_pack=pack,
        moq=pack * rng.integers(1, 3, n),
        abc_class=classes,
    )


@pytest.mark.parametrize("target", [0.90, 0.95, 0.98])
def test_the_policy_reaches_its_service_target_on_stationary_poisson_demand(
    target: float,
) -> None:
    demand, rate = _stationary(seed=3)
    rng = np.random.default_rng(4)
    lead = rng.uniform(4, 20, N_SERIES)
    items = SimulationItems.build(
        N_SERIES,
        unit_cost=20.0,
        shortage_cost=20.0,
        lead_time_mean=lead,
        lead_time_sd=0.2 * lead,
        service_level=target,
    )
    # The class target alone, no economic raise: does the policy deliver what it promises?
    config = SimulationConfig(economic_service=False, warmup_days=28)
    result = simulate_replenishment(demand, items, start=START, config=config)
    # A cycle service target of α gives a unit fill rate of at least α.
    assert result.policy.fill_rate >= target
    # ...and stock-outs on at most the share of days the target allows.
    assert result.policy.stockout_day_rate <= (1 - target) / 2


def test_the_policy_beats_the_simple_rule_on_cost_at_an_equal_or_better_fill_rate() -> None:
    demand, rate = _stationary(seed=11)
    items = _retail_items(rate, seed=12)
    result = simulate_replenishment(demand, items, start=START)
    assert result.policy.fill_rate >= result.simple.fill_rate
    assert result.policy.total_cost < result.simple.total_cost
    assert result.policy_wins and result.cost_ratio < 0.9
    # Both rules saw exactly the same demand.
    assert result.policy.demand_units == result.simple.demand_units == demand[:, START:].sum()


def test_the_oracle_forecast_serves_at_least_as_well_as_the_moving_average() -> None:
    demand, rate = _stationary(seed=21)
    items = _retail_items(rate, seed=22)
    oracle = PrecomputedForecaster.oracle(np.repeat(rate[:, None], N_DAYS, axis=1), None)
    with_oracle = simulate_replenishment(demand, items, start=START, forecaster=oracle)
    with_average = simulate_replenishment(demand, items, start=START)
    assert with_oracle.policy.fill_rate >= with_average.policy.fill_rate - 0.002
    assert with_oracle.policy_wins


def test_the_ledger_adds_up_and_the_run_is_repeatable() -> None:
    demand, rate = _stationary(seed=31)
    items = _retail_items(rate, seed=32)
    first = simulate_replenishment(demand, items, start=START)
    again = simulate_replenishment(demand, items, start=START)
    assert first == again
    for rule in (first.policy, first.simple):
        assert rule.sold_units + rule.lost_units == rule.demand_units
        assert rule.total_cost == pytest.approx(
            rule.holding_cost + rule.shortage_cost + rule.ordering_cost
        )
        assert rule.ordering_cost == rule.orders * first.config.order_cost
        assert rule.avg_inventory_units > 0 and rule.orders > 0
        assert set(rule.fill_rate_by_class) <= {"A", "B", "C"}
    assert first.n_days == N_DAYS - START


def test_the_result_renders_as_a_table_and_a_dict() -> None:
    demand, rate = _stationary(seed=41)
    result = simulate_replenishment(demand[:40], _retail_items(rate[:40], seed=42), start=START)
    assert isinstance(result, SimulationResult)
    out = io.StringIO()
    Console(file=out, width=120).print(result.table(title="test"))
    text = out.getvalue()
    for label in ("fill rate (units)", "stock-out days", "avg inventory, value", "total cost"):
        assert label in text
    payload = result.as_dict()
    assert payload["cost_ratio"] == result.cost_ratio
    assert payload["policy"]["rule"] == "policy"


def test_the_simple_rule_orders_four_weeks_in_whole_cases() -> None:
    qty = simple_rule_quantity(
        np.array([2.0, 2.0, 2.0, 2.0, 2.0]),
        np.array([20.0, 20.0, 20.0, 60.0, 20.0]),
        case_pack=np.array([1.0, 12.0, 10.0, 1.0, 12.0]),
        moq=np.array([0.0, 0.0, 0.0, 0.0, 48.0]),
        shelf_capacity=np.array([np.inf, np.inf, np.inf, np.inf, 50.0]),
    )
    # 56 wanted, 20 held: 36; in cases of 12, 36; of 10, 40; nothing when held covers it;
    # an MOQ of 48 would overflow a 50-unit shelf, so no order.
    assert qty.tolist() == [36, 36, 40, 0, 0]


def test_the_moving_average_forecaster_knows_only_the_past() -> None:
    history = np.arange(60, dtype=float)[None, :].repeat(2, axis=0)
    fc = MovingAverageForecaster(history, window=28)(day=40, rows=np.array([1]), horizon=5)
    assert fc.mean.shape == (1, 5)
    assert fc.mean[0, 0] == pytest.approx(np.arange(13, 41).mean())
    with pytest.raises(ValueError, match="history"):
        MovingAverageForecaster(history, window=28)(day=10, rows=np.array([0]), horizon=5)


def test_bad_simulation_input_is_refused() -> None:
    items = SimulationItems.build(2, unit_cost=1.0, shortage_cost=1.0, lead_time_mean=3.0)
    with pytest.raises(ValueError, match="shape"):
        simulate_replenishment(np.ones((3, 100)), items, start=50)
    with pytest.raises(ValueError, match="start"):
        simulate_replenishment(np.ones((2, 100)), items, start=100)
    with pytest.raises(ValueError, match="non-negative"):
        simulate_replenishment(-np.ones((2, 100)), items, start=50)
