"""The markdown optimiser against brute force, and its guardrails under random inputs."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.pricing.guardrails import Guardrails, change_history, check_plan, step_violations
from ml_core.pricing.markdown import (
    OBJECTIVES,
    MarkdownItem,
    Objective,
    candidate_prices,
    evaluate,
    is_proposable,
    plan_many,
    solve,
    stock_step,
)

START = dt.date(2026, 11, 16)


def _brute_force(item: MarkdownItem, guardrails: Guardrails, objective: Objective) -> float:
    """The best value over every price path the guardrails allow, on the optimiser's model."""
    best = float("-inf")
    prices = [float(p) for p in candidate_prices(item, guardrails)]
    for path in itertools.product(prices, repeat=item.horizon):
        previous, ok = item.current_price, True
        for week, price in enumerate(path):
            if step_violations(
                previous=previous,
                price=price,
                list_price=item.list_price,
                unit_cost=item.unit_cost,
                promo_week=item.promo(week),
                guardrails=guardrails,
            ):
                ok = False
                break
            previous = price
        if ok:
            best = max(best, evaluate(item, path, objective, step=stock_step(item))[0])
    return best


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("monotone", [True, False])
def test_dynamic_programme_matches_brute_force(objective: Objective, monotone: bool) -> None:
    item = MarkdownItem(
        "A",
        40.0,
        40.0,
        15.0,
        60,
        (12, 10, 8, 5),
        -2.2,
        salvage=4.0,
        promo_weeks=(False, True, False, False),
    )
    guardrails = Guardrails(ladder=(1.0, 0.8, 0.6, 0.5), max_step=0.3, monotone=monotone)
    plan = solve(item, guardrails, objective)
    assert plan.value == pytest.approx(_brute_force(item, guardrails, objective), rel=1e-9)
    assert evaluate(item, plan.prices, objective, step=stock_step(item))[0] == pytest.approx(
        plan.value, rel=1e-9
    )


def test_clearance_sells_out_where_margin_keeps_stock() -> None:
    # Inelastic demand: a markdown loses margin, but clearance must sell out.
    item = MarkdownItem("B", 20.0, 20.0, 8.0, 200, (20, 20, 20, 20), -0.8)
    guardrails = Guardrails(min_price_fraction=0.3, max_step=0.5, min_margin=-1.0)
    margin = solve(item, guardrails, "margin")
    clearance = solve(item, guardrails, "clearance")
    assert clearance.leftover < margin.leftover


items = st.builds(
    MarkdownItem,
    item_id=st.sampled_from(["A", "B", "C"]),
    list_price=st.floats(5, 200),
    current_price=st.floats(5, 200),
    unit_cost=st.floats(1, 150),
    stock=st.floats(0, 500),
    baseline=st.lists(st.floats(0, 80), min_size=1, max_size=5).map(tuple),
    elasticity=st.floats(-4.0, -0.3),
    salvage=st.floats(0, 5),
    promo_weeks=st.lists(st.booleans(), max_size=5).map(tuple),
)
guardrail_sets = st.builds(
    Guardrails,
    ladder=st.lists(st.floats(0.3, 1.2), min_size=1, max_size=5).map(tuple),
    min_margin=st.floats(-0.5, 0.6),
    max_step=st.floats(0.05, 0.6),
    min_price_fraction=st.floats(0.0, 0.9),
    monotone=st.booleans(),
    max_changes_per_day=st.integers(0, 3),
    history_sigmas=st.floats(0.5, 4.0),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(items, min_size=1, max_size=4),
    guardrail_sets,
    st.sampled_from(OBJECTIVES),
    st.lists(st.floats(-0.5, 0.2), max_size=12),
)
def test_no_plan_that_breaks_a_guardrail_leaves_the_optimiser(
    batch: list[MarkdownItem], guardrails: Guardrails, objective: Objective, past: list[float]
) -> None:
    history = change_history(past)
    plans = plan_many(batch, guardrails, objective, start=START, history=history)
    per_day: dict[int, int] = {}
    for item, plan in zip(batch, plans, strict=True):
        if not is_proposable(plan):
            continue
        assert not check_plan(
            plan.prices,
            current_price=item.current_price,
            list_price=item.list_price,
            unit_cost=item.unit_cost,
            promo_weeks=item.promo_weeks,
            guardrails=guardrails,
            history=history,
        )
        for week in plan.changes:
            per_day[week] = per_day.get(week, 0) + 1
    assert all(count <= guardrails.max_changes_per_day for count in per_day.values())


def test_circuit_breaker_rejects_with_reasons() -> None:
    guardrails = Guardrails(min_margin=0.2, max_step=0.25, min_price_fraction=0.5)
    history = change_history([-0.05, -0.1, 0.05, -0.08, 0.03, -0.04])
    reasons = check_plan(
        [45.0, 20.0, 30.0],
        current_price=50.0,
        list_price=50.0,
        unit_cost=20.0,
        promo_weeks=(False, False, True),
        guardrails=guardrails,
        history=history,
    )
    text = " | ".join(reasons)
    assert "not on the price ladder" in text
    assert "below the minimum" in text
    assert "margin floor" in text
    assert "maximum step" in text
    assert "markdown-only" in text
    assert "during a promotion" in text
    assert "standard deviations from recent price changes" in text


def test_a_rejected_plan_is_never_proposable() -> None:
    item = MarkdownItem("C", 100.0, 100.0, 30.0, 300, (30, 30, 30), -3.0)
    history = change_history([0.0, 0.01, -0.01, 0.0, 0.01, -0.01])
    (plan,) = plan_many([item], Guardrails(), "margin", start=START, history=history)
    assert plan.changes and plan.rejected and not is_proposable(plan)
