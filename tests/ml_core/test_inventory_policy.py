"""The order-up-to policy: hand-computed decisions, constraints in order, explanations, properties.

The hand-computed cases use the normal demand model and Poisson daily variance (no quantiles
given), so every number can be checked on paper: 2 units a day over a 5-day lead time plus a
7-day review is 24 units with variance 24 (sd 4.899); the 95% quantile is 24 + 1.6449 × 4.899 =
32.06, so the order-up-to level is 33.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ml_core.inventory.policy import (
    MAX_SERVICE_LEVEL,
    SERVICE_LEVELS,
    Arrival,
    DemandModel,
    PolicyDecision,
    PolicyInput,
    abc_classes,
    daily_variance,
    decide,
    decide_many,
    economic_service_level,
    order_up_to,
    stated_safety_stock,
)

BASE: dict[str, Any] = {
    "sku": "SKU-1",
    "location_id": "S001",
    "forecast_mean": (2.0,) * 30,
    "on_hand": 10,
    "lead_time_mean_days": 5.0,
    "review_period_days": 7.0,
    "service_level": 0.95,
}


def _decide(**overrides: Any) -> PolicyDecision:
    return decide(PolicyInput(**{**BASE, **overrides}), demand_model="normal")


def test_the_hand_computed_case_orders_up_to_the_service_quantile() -> None:
    d = _decide()
    assert d.expected_demand == pytest.approx(24.0)
    assert d.demand_sd == pytest.approx(np.sqrt(24.0))
    assert d.protection_days == 12.0
    assert d.target_level == 33
    assert d.safety_stock == pytest.approx(9.0)
    assert d.inventory_position == 10
    assert d.order_quantity == 23
    assert d.binding == "none"
    assert d.days_of_cover == pytest.approx(33 / 2.0)
    assert 0.95 < d.expected_fill_rate < 1.0


def test_case_pack_rounds_the_order_up_to_whole_cases() -> None:
    d = _decide(case_pack=6)
    assert (d.order_quantity, d.cases, d.binding) == (24, 4, "case_pack")
    assert d.explanation.startswith("Order 24 units (4 cases of 6): ")
    assert "case pack binds" in d.explanation


def test_moq_raises_the_order_to_the_minimum_in_whole_cases() -> None:
    # 23 needed -> 24 in cases of 6 -> a minimum of 28 is 5 whole cases, 30.
    d = _decide(case_pack=6, moq=28)
    assert (d.order_quantity, d.binding) == (30, "moq")
    assert "minimum order of 30" in d.explanation and "MOQ binds" in d.explanation


def test_an_moq_already_met_does_not_bind() -> None:
    assert _decide(case_pack=6, moq=12).binding == "case_pack"


@pytest.mark.parametrize(
    ("case_pack", "moq", "quantity"),
    [(1, 0, 15), (6, 0, 12), (6, 18, 0)],
)
def test_shelf_capacity_caps_the_target_and_the_order(
    case_pack: int, moq: int, quantity: int
) -> None:
    # Room on a 25-unit shelf with 10 in position: 15 units, 2 whole cases of 6, no MOQ of 18.
    d = _decide(shelf_capacity=25, case_pack=case_pack, moq=moq)
    assert d.order_quantity == quantity
    assert d.binding == "shelf_capacity"
    assert d.target_level == 25 and d.uncapped_target == 33
    assert "the shelf holds 25" in d.explanation and "shelf capacity binds" in d.explanation


@pytest.mark.parametrize(
    ("shelf_capacity", "on_hand"), [(None, 10), (25, 10), (35, 14), (20, 30), (30, 40)]
)
def test_the_explanation_states_the_decisions_own_safety_stock(
    shelf_capacity: int | None, on_hand: int
) -> None:
    # One safety stock, the table's (target ordered up to − expected demand), whether or not the
    # shelf caps the target below the service quantile.
    d = _decide(shelf_capacity=shelf_capacity, on_hand=on_hand)
    stated = re.findall(r"a safety stock of (-?[\d.]+)", d.explanation)
    assert stated == [str(stated_safety_stock(d))], d.explanation
    assert d.safety_stock == pytest.approx(d.target_level - d.expected_demand)


def test_rounding_up_past_the_shelf_stops_at_the_last_case_that_fits() -> None:
    # Target 33 fits a 35-unit shelf, but the 19 needed round up to 4 cases: 14 + 24 = 38.
    d = _decide(shelf_capacity=35, case_pack=6, on_hand=14)
    assert d.target_level == 33
    assert (d.order_quantity, d.binding) == (18, "shelf_capacity")
    assert "overflow the shelf of 35" in d.explanation


def test_no_order_when_the_position_covers_the_target() -> None:
    d = _decide(on_hand=40)
    assert (d.order_quantity, d.binding) == (0, "no_need")
    assert d.explanation.startswith("Order nothing: ")
    assert "already covers the target" in d.explanation


def test_reserved_units_do_not_count_and_on_order_does() -> None:
    assert _decide(on_hand=40, reserved=10).order_quantity == 3
    assert _decide(on_hand=10, on_order=20).order_quantity == 3


def test_arrivals_after_the_protection_period_do_not_count() -> None:
    soon = _decide(on_order=20, arrivals=(Arrival(in_days=4, quantity=20),))
    late = _decide(on_order=20, arrivals=(Arrival(in_days=30, quantity=20),))
    assert soon.counted_on_order == 20 and soon.order_quantity == 3
    assert late.counted_on_order == 0 and late.order_quantity == 23
    assert "20 more arrive too late to count" in late.explanation


def test_higher_service_needs_a_higher_target() -> None:
    targets = [_decide(service_level=s).target_level for s in (0.8, 0.9, 0.95, 0.98, 0.995)]
    assert targets == sorted(targets) and len(set(targets)) == len(targets)


def test_the_abc_class_sets_the_service_target() -> None:
    no_override = {**BASE, "service_level": None}
    levels = {
        c: decide(PolicyInput(**{**no_override, "abc_class": c})).service_level for c in "ABC"
    }
    assert levels == SERVICE_LEVELS
    assert (
        "the 98% service target for an A item"
        in decide(PolicyInput(**{**no_override, "abc_class": "A"})).explanation
    )


def test_longer_or_more_variable_lead_time_needs_more_safety_stock() -> None:
    base = _decide()
    longer = _decide(lead_time_mean_days=10.0)
    variable = _decide(lead_time_sd_days=2.0)
    assert longer.safety_stock > base.safety_stock
    assert variable.safety_stock > base.safety_stock
    # var = 12 × 2 + 2² × 2² = 40; 24 + 1.6449 × √40 = 34.4, so the target is 35.
    assert variable.demand_sd == pytest.approx(np.sqrt(40.0))
    assert variable.target_level == 35


def test_forecast_level_uncertainty_adds_safety_stock() -> None:
    # A level error of 0.5 units/day persists over all 12 days: var = 24 + (12 × 0.5)² = 60.
    d = _decide(forecast_level_sd=0.5)
    assert d.demand_sd == pytest.approx(np.sqrt(60.0))


def test_the_quantiles_set_the_daily_spread() -> None:
    # P10/P90 of 0.72/3.28 around 2 imply sd 1 a day: var over 12 days = 12 (≥ the Poisson 2).
    d = _decide(forecast_p10=(0.7184,) * 30, forecast_p90=(3.2816,) * 30)
    assert d.demand_sd == pytest.approx(np.sqrt(24.0), rel=1e-3)  # floored at the mean
    wide = _decide(forecast_p10=(0.0,) * 30, forecast_p90=(6.0,) * 30)
    assert wide.demand_sd == pytest.approx(np.sqrt(12 * (6 / 2.5631) ** 2), rel=1e-3)


def test_a_forecast_shorter_than_the_protection_period_continues_at_its_rate() -> None:
    assert _decide(forecast_mean=(1.0, 2.0, 3.0)).expected_demand == pytest.approx(24.0)


def test_gamma_model_quantile_agrees_with_simulation() -> None:
    rng = np.random.default_rng(0)
    mean, sd = 3.0, 2.5
    shape, scale = (mean / sd) ** 2, sd**2 / mean
    draws = rng.gamma(shape, scale, 2_000_000)
    d = order_up_to(
        [[mean / 12] * 12],
        [[sd**2 / 12] * 12],
        on_hand=0,
        lead_time_mean=5,
        review_period=7,
        service_level=0.95,
    )
    assert d.uncapped_target[0] == np.ceil(np.quantile(draws, 0.95))
    # A right-skewed slow mover needs more than the normal approximation says.
    normal = order_up_to(
        [[mean / 12] * 12],
        [[sd**2 / 12] * 12],
        on_hand=0,
        lead_time_mean=5,
        review_period=7,
        service_level=0.95,
        demand_model="normal",
    )
    assert d.uncapped_target[0] >= normal.uncapped_target[0]


def test_lost_sales_dearer_than_holding_raise_the_service_level() -> None:
    cheap = _decide(unit_cost=10.0, shortage_cost=10.0)
    assert cheap.target_service_level == 0.95
    assert cheap.service_level == MAX_SERVICE_LEVEL
    assert cheap.target_level > _decide().target_level
    assert "raised to 99%" in cheap.explanation
    assert "a lost sale ($10.00 of margin)" in cheap.explanation, "money reads as money"
    # When a lost sale costs little against holding, the class target stands.
    dear = _decide(unit_cost=100.0, holding_rate=2.0, shortage_cost=0.5)
    assert dear.service_level == 0.95
    assert "raised" not in dear.explanation


def test_economic_service_level_is_the_critical_ratio() -> None:
    levels = economic_service_level([1.0, 3.0, np.nan, 0.0], [1.0, 1.0, 1.0, 1.0])
    assert levels[0] == pytest.approx(0.5) and levels[1] == pytest.approx(0.75)
    assert np.isnan(levels[2]) and np.isnan(levels[3])


def test_the_newsvendor_check_drops_a_case_not_worth_holding() -> None:
    # 1 unit short of target, cases of 50 of a dear item whose lost sale costs a cent.
    d = _decide(on_hand=32, case_pack=50, unit_cost=100.0, shortage_cost=0.01, service_level=0.95)
    assert d.order_quantity == 0 and d.marginal_case_dropped and d.binding == "case_pack"
    assert "would cost more to hold than the sales it protects" in d.explanation
    kept = decide(
        PolicyInput(
            **{**BASE, "on_hand": 32, "case_pack": 50, "unit_cost": 100.0, "shortage_cost": 0.01}
        ),
        demand_model="normal",
        marginal_case_check=False,
    )
    assert kept.order_quantity == 50 and not kept.marginal_case_dropped


def test_no_demand_means_no_order_and_no_cover_figure() -> None:
    d = _decide(forecast_mean=(0.0,) * 10, on_hand=0)
    assert d.order_quantity == 0 and d.days_of_cover is None
    assert "no demand is expected" in d.explanation


def test_the_explanation_names_the_numbers_a_planner_checks() -> None:
    d = decide(
        PolicyInput(
            **{
                **BASE,
                "service_level": None,
                "abc_class": "A",
                "forecast_mean": (31 / 19,) * 30,
                "lead_time_mean_days": 12.0,
                "on_hand": 14,
                "on_order": 6,
                "case_pack": 6,
            }
        ),
        demand_model="normal",
    )
    text = d.explanation
    assert text.startswith(f"Order {d.order_quantity} units ({d.cases} cases of 6): ")
    for fragment in (
        "12-day lead time plus 7-day review is 31 units",
        f"98% service target for an A item needs {d.target_level} on hand or on order",
        "you have 14 on hand with 6 arriving, a position of 20",
        "case pack binds",
        "Expected fill rate",
        "days of cover after the order",
    ):
        assert fragment in text


def test_decide_many_matches_one_at_a_time() -> None:
    inputs = [
        PolicyInput(**{**BASE, "on_hand": on_hand, "forecast_mean": (rate,) * days})
        for on_hand, rate, days in ((0, 1.0, 10), (5, 3.0, 40), (50, 0.5, 20))
    ]
    assert decide_many(inputs) == [decide(i) for i in inputs]
    assert decide_many([]) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"forecast_mean": ()},
        {"forecast_mean": (1.0, -1.0)},
        {"forecast_mean": (1.0, float("nan"))},
        {"forecast_p10": (1.0,)},
        {"on_hand": -1},
        {"case_pack": 0},
        {"service_level": 1.0},
        {"on_order": 5, "arrivals": (Arrival(in_days=1, quantity=3),)},
        {"lead_time_mean_days": 0.0},
    ],
)
def test_bad_input_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PolicyInput(**{**BASE, **bad})


def test_order_up_to_refuses_bad_arrays() -> None:
    with pytest.raises(ValueError, match="service levels"):
        order_up_to([[1.0]], on_hand=0, lead_time_mean=1, service_level=1.5)
    with pytest.raises(ValueError, match="shape"):
        order_up_to([[1.0, 1.0]], [[1.0]], on_hand=0, lead_time_mean=1, service_level=0.9)


def test_abc_classes_follow_cumulative_revenue_share() -> None:
    # Shares ranked above each item: 0, .5, .75 (A); .9 (B); .95, .975 (C); no revenue is C.
    revenue = [50, 100, 30, 10, 5, 5, 0]
    assert abc_classes(revenue).tolist() == ["A", "A", "A", "B", "C", "C", "C"]
    assert abc_classes([0, 0]).tolist() == ["C", "C"]


def test_daily_variance_is_at_least_poisson() -> None:
    assert daily_variance([2.0, 0.3], [0.0, 0.0], [6.0, 1.0]).tolist() == pytest.approx(
        [(6 / 2.5631031) ** 2, 0.3]
    )
    assert daily_variance([2.0]).tolist() == [2.0]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.0, 50.0),
    horizon=st.integers(1, 60),
    on_hand=st.integers(0, 500),
    on_order=st.integers(0, 300),
    reserved=st.integers(0, 50),
    lead=st.floats(0.5, 40.0),
    lead_sd=st.floats(0.0, 10.0),
    review=st.sampled_from([1.0, 7.0, 14.0]),
    case_pack=st.integers(1, 48),
    moq=st.integers(0, 200),
    capacity=st.one_of(st.none(), st.integers(0, 800)),
    service=st.floats(0.5, 0.999),
    shortage=st.one_of(st.none(), st.floats(0.0, 200.0)),
    unit_cost=st.floats(0.0, 300.0),
    model=st.sampled_from(["gamma", "normal"]),
)
def test_orders_always_respect_pack_moq_and_capacity(
    rate: float,
    horizon: int,
    on_hand: int,
    on_order: int,
    reserved: int,
    lead: float,
    lead_sd: float,
    review: float,
    case_pack: int,
    moq: int,
    capacity: int | None,
    service: float,
    shortage: float | None,
    unit_cost: float,
    model: DemandModel,
) -> None:
    inp = PolicyInput(
        forecast_mean=(rate,) * horizon,
        on_hand=on_hand,
        on_order=on_order,
        reserved=reserved,
        lead_time_mean_days=lead,
        lead_time_sd_days=lead_sd,
        review_period_days=review,
        case_pack=case_pack,
        moq=moq,
        shelf_capacity=capacity,
        service_level=service,
        shortage_cost=shortage,
        unit_cost=unit_cost,
    )
    d = decide(inp, demand_model=model)
    q = d.order_quantity
    assert q >= 0 and q % case_pack == 0
    assert q == 0 or q >= moq
    if capacity is not None:
        assert d.target_level <= capacity
        assert q == 0 or d.inventory_position + q <= capacity
    if d.binding == "no_need":
        assert q == 0 and d.inventory_position >= d.uncapped_target
    if d.binding == "none":
        assert q == d.uncapped_target - d.inventory_position
    assert 0.0 <= d.expected_fill_rate <= 1.0
    assert d.target_level <= d.uncapped_target
    assert d.explanation.startswith("Order ")
