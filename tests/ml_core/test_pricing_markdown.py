"""The markdown optimiser against brute force, and its guardrails under random inputs."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.pricing.guardrails import (
    BROKEN,
    CLOSE,
    MAXIMUM_STEP,
    ChangeHistory,
    GuardrailCheck,
    Guardrails,
    change_history,
    check_plan,
    guardrail_checks,
    guardrail_summary,
    ladder_price,
    step_violations,
)
from ml_core.pricing.markdown import (
    MAX_SCENARIO_ELASTICITY,
    MIN_SCENARIO_ELASTICITY,
    OBJECTIVES,
    RELAXATIONS,
    SCENARIOS,
    MarkdownItem,
    Objective,
    candidate_prices,
    evaluate,
    is_proposable,
    outcome,
    plan_many,
    solve,
    solve_many,
    stock_step,
)
from ml_core.pricing.planning import held_back

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
    elasticity_se=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
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
        assert not _breaks(item, plan.prices, guardrails, history)
        for week in plan.changes:
            per_day[week] = per_day.get(week, 0) + 1
    assert all(count <= guardrails.max_changes_per_day for count in per_day.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(items, min_size=1, max_size=6), guardrail_sets, st.sampled_from(OBJECTIVES))
def test_items_planned_together_get_the_plans_they_get_alone(
    batch: list[MarkdownItem], guardrails: Guardrails, objective: Objective
) -> None:
    """The programme solves many items at once (their ladders, stock grids and horizons
    differ); each one's plan is the one it gets solved alone."""
    together = solve_many(batch, guardrails, objective)
    assert together == [solve(item, guardrails, objective) for item in batch]


def test_an_uncertain_elasticity_picks_the_plan_that_earns_most_on_average() -> None:
    """With a standard error the plan is the best, on average over the elasticity's posterior,
    of the paths that are best at each scenario; without one it is the point estimate's."""
    guardrails = Guardrails()
    certain = MarkdownItem("U", 40.0, 40.0, 16.0, 240, (30, 25, 20, 15, 10), -1.6, salvage=4.8)
    uncertain = replace(certain, elasticity_se=0.5)
    point = solve(certain, guardrails, "margin")
    plan = solve(uncertain, guardrails, "margin")
    step = stock_step(certain)
    nodes, weights = np.polynomial.hermite_e.hermegauss(SCENARIOS)
    scenarios = [
        (
            float(np.clip(-1.6 + 0.5 * z, MIN_SCENARIO_ELASTICITY, MAX_SCENARIO_ELASTICITY)),
            w / weights.sum(),
        )
        for z, w in zip(nodes, weights, strict=True)
    ]

    def expected(prices: list[float]) -> float:
        return sum(
            w * evaluate(certain, prices, "margin", step=step, elasticity=e)[0]
            for e, w in scenarios
        )

    candidates = [solve(replace(certain, elasticity=e), guardrails, "margin") for e, _ in scenarios]
    assert plan.value == pytest.approx(expected(plan.prices), rel=1e-9)
    assert plan.value >= max(expected(c.prices) for c in candidates) - 1e-9
    assert plan.value >= expected(point.prices) - 1e-9
    assert plan.keep_value == pytest.approx(expected([40.0] * 5), rel=1e-9)
    # Planned at the point estimate alone, the plan is the programme's own.
    assert solve(replace(uncertain, elasticity_se=0.0), guardrails, "margin") == point


def _breaks(
    item: MarkdownItem,
    prices: list[float],
    guardrails: Guardrails,
    history: ChangeHistory | None = None,
) -> list[str]:
    """What the circuit breaker says of the item's path (empty: it may be proposed)."""
    return check_plan(
        prices,
        current_price=item.current_price,
        list_price=item.list_price,
        unit_cost=item.unit_cost,
        promo_weeks=item.promo_weeks,
        guardrails=guardrails,
        history=history,
    )


def _one_week_edits(
    item: MarkdownItem, guardrails: Guardrails, prices: list[float]
) -> Iterator[list[float]]:
    """Every path that changes one week of `prices` to another price the guardrails allow
    (into that week and out of it), as a pricing manager's edit may."""
    ladder = [float(p) for p in candidate_prices(item, guardrails)]
    for week, price in itertools.product(range(item.horizon), ladder):
        if abs(price - prices[week]) <= 0.005:
            continue
        path = [*prices[:week], price, *prices[week + 1 :]]
        if not _breaks(item, path, guardrails):
            yield path


def test_no_one_week_edit_beats_a_plan_made_for_an_uncertain_elasticity() -> None:
    """Each scenario's best path is a candidate, but the path best on average over them can
    lie between them: here the best candidate marks down in the last week, and holding the
    price that week instead earns more on average. The plan is improved until no one-week edit
    within the guardrails is worth more (walk 7: 4 of 23 plans were beaten so)."""
    guardrails = Guardrails()
    item = MarkdownItem(
        "W", 40.0, 40.0, 14.7, 173.0, (35.0, 38.0, 38.0, 26.0), -1.9, salvage=4.0,
        elasticity_se=0.6,
    )  # fmt: skip
    plan = solve(item, guardrails, "margin")
    held = outcome(item, [36.0, 36.0, 36.0, 36.0], "margin")[0]
    marked_down = outcome(item, [36.0, 36.0, 36.0, 32.0], "margin")[0]
    assert held > marked_down + 1.0, "the case: holding the price in week 4 is worth more"
    assert plan.value == pytest.approx(outcome(item, plan.prices, "margin")[0], rel=1e-12)
    assert plan.value >= held - 1e-9
    for path in _one_week_edits(item, guardrails, plan.prices):
        assert outcome(item, path, "margin")[0] <= plan.value + 1e-9, path
    # And over a range of uncertain items, under each objective.
    rng = np.random.default_rng(11)
    for n in range(24):
        list_price = float(rng.choice([40.0, 60.0, 90.0]))
        other = MarkdownItem(
            f"R{n}",
            list_price,
            list_price,
            round(list_price * float(rng.uniform(0.3, 0.7)), 2),
            float(rng.integers(20, 200)),
            tuple(float(rng.integers(3, 40)) for _ in range(4)),
            float(rng.uniform(-3.5, -0.8)),
            salvage=list_price * 0.1,
            elasticity_se=float(rng.choice([0.4, 0.8])),
        )
        objective = OBJECTIVES[n % len(OBJECTIVES)]
        found = solve(other, guardrails, objective)
        for path in _one_week_edits(other, guardrails, found.prices):
            assert outcome(other, path, objective)[0] <= found.value + 1e-9, (other, path)


def _overstocked_range() -> list[MarkdownItem]:
    """Overstocked items of a store's range, half with an uncertain elasticity."""
    rng = np.random.default_rng(7)
    batch = []
    for i in range(40):
        list_price = float(rng.uniform(10, 90))
        batch.append(
            MarkdownItem(
                f"I{i}",
                list_price,
                list_price * float(rng.choice([1.0, 0.9])),
                list_price * float(rng.uniform(0.3, 0.85)),
                float(rng.integers(5, 300)),
                tuple(float(rng.uniform(0.5, 12)) for _ in range(8)),
                float(rng.uniform(-4.0, -0.8)),
                salvage=list_price * 0.1,
                promo_weeks=tuple(bool(rng.random() < 0.1) for _ in range(8)),
                elasticity_se=float(rng.choice([0.0, 0.6])),
            )
        )
    return batch


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_proposed_plan_names_each_guardrail_whose_relaxation_alone_pays(
    objective: Objective,
) -> None:
    """Each plan proposed names exactly the guardrails whose relaxation alone would raise its
    value, valued as the plan is (over the elasticity's scenarios), by a path that breaks the
    guardrail; each with the step that breaks it (the planner works that out for proposed plans
    only)."""
    batch = _overstocked_range()
    guardrails = Guardrails(max_changes_per_day=100)
    plans = plan_many(batch, guardrails, objective, start=START)
    proposed = 0
    for item, plan in zip(batch, plans, strict=True):
        if not is_proposable(plan):
            assert not plan.binding
            continue
        proposed += 1
        freer = {
            name: solve(item, guardrails.model_copy(update=relaxed), objective)
            for name, relaxed in RELAXATIONS.items()
        }
        paying = [
            name
            for name, other in freer.items()
            if other.value > plan.value + 1e-6 * max(abs(plan.value), 1.0)
            and check_plan(
                other.prices,
                current_price=item.current_price,
                list_price=item.list_price,
                unit_cost=item.unit_cost,
                promo_weeks=item.promo_weeks,
                guardrails=guardrails,
                history=None,
            )
        ]
        assert [b.guardrail for b in plan.binding] == paying
        for binding in plan.binding:
            # The step the plan would take without the guardrail is one the guardrail forbids.
            assert (
                binding.gain > 0
                and binding.reason
                == step_violations(
                    previous=binding.previous,
                    price=binding.price,
                    list_price=item.list_price,
                    unit_cost=item.unit_cost,
                    promo_week=item.promo(binding.week),
                    guardrails=guardrails,
                )[0]
            )
    assert proposed >= 10 and sum(bool(p.binding) for p in plans) >= 5


def _changes(current_price: float, prices: list[float], through: int) -> str:
    """A path's price changes up to week `through`, as a pricing manager reads them."""
    steps, previous = [], current_price
    for week, price in enumerate(prices[: through + 1]):
        if abs(price - previous) > 0.005:
            steps.append(f"${price:,.2f} from {START + dt.timedelta(weeks=week)}")
        previous = price
    return ", then ".join(steps) if steps else f"${current_price:,.2f} kept"


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_what_a_guardrail_held_back_quotes_the_proposals_own_prices_as_the_proposals(
    objective: Objective,
) -> None:
    """Without markdown-only a plan may mark down deeper first and then go back up: the price
    its forbidden rise starts from is then not the proposal's price that week. The report says
    whose price it is, and states the proposal's own path over the same weeks."""
    batch = _overstocked_range()
    guardrails = Guardrails(max_changes_per_day=100)
    plans = plan_many(batch, guardrails, objective, start=START)
    counterfactual_starts = 0
    for item, plan in zip(batch, plans, strict=True):
        for binding in plan.binding:
            relaxed = guardrails.model_copy(update=RELAXATIONS[binding.guardrail])
            freer = solve(item, relaxed, objective).prices
            proposal_before = plan.prices[binding.week - 1] if binding.week else item.current_price
            text = held_back(binding, START)
            day = START + dt.timedelta(weeks=binding.week)
            assert (
                f"this proposal, up to the week of {day}: "
                f"{_changes(item.current_price, plan.prices, binding.week)})"
            ) in text
            assert f"would price {_changes(item.current_price, freer, binding.week)} (" in text
            assert (
                f"that plan's own step from ${binding.previous:,.2f} to ${binding.price:,.2f}"
                in text
            )
            if abs(binding.previous - proposal_before) > 0.005:
                counterfactual_starts += 1
    assert counterfactual_starts > 0


@pytest.mark.parametrize("list_price", [37.99, 47.99, 29.99, 45.99, 686.99, 96.99])
def test_the_rung_at_the_maximum_step_is_rounded_to_stay_within_it(list_price: float) -> None:
    """70% of list is rounded to the cent toward the list price (96.99 -> 67.90, not 67.89, a
    cut of 30.003%), so the ladder's own rung never breaks a 30% maximum step; the cent below
    does, and the circuit breaker, the optimiser's moves and the page's line all say so alike."""
    guardrails = Guardrails(max_step=0.3)

    def reasons(price: float) -> list[str]:
        return step_violations(
            previous=list_price,
            price=price,
            list_price=list_price,
            unit_cost=0.0,
            promo_week=False,
            guardrails=guardrails,
        )

    def step_line(price: float) -> GuardrailCheck:
        checks = guardrail_checks(
            [price],
            current_price=list_price,
            list_price=list_price,
            unit_cost=0.0,
            guardrails=guardrails,
            bindings={},
        )
        return next(c for c in checks if c.guardrail == MAXIMUM_STEP)

    rung = ladder_price(list_price, 0.7)
    item = MarkdownItem("R", list_price, list_price, 0.0, 10, (1,), -2.0)
    assert rung in candidate_prices(item, guardrails)
    assert abs(rung - list_price) / list_price <= 0.3
    assert reasons(rung) == []
    assert step_line(rung).verdict == CLOSE
    deeper = round(rung - 0.01, 2)
    assert any("maximum step" in r for r in reasons(deeper))
    line = step_line(deeper)
    assert line.verdict == BROKEN
    # Shown precisely enough to read as past the limit, not as "-30.0%" against "30.0%".
    assert f"{deeper / list_price - 1:+.3%}" in line.plan


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


def test_every_guardrail_reports_its_numbers_and_whether_it_passed() -> None:
    """Each guardrail shown as a setting has a line with the plan's figure for it: the cap of
    changes a day, the distance from past changes and no increase during a promotion too; every
    line has the same shape: name (setting): figure: verdict. Whether it held the plan back."""
    history = ChangeHistory(mean=0.0, sd=0.05, n=40)
    checks = {
        c.guardrail: c
        for c in guardrail_checks(
            [90.0, 90.0, 99.0],
            current_price=100.0,
            list_price=100.0,
            unit_cost=40.0,
            guardrails=Guardrails(monotone=False),
            bindings={},
            history=history,
            promo_weeks=[False, False, True],
            busiest=("2027-01-24", 46),
        )
    }
    assert checks["price changes a day"].text == (
        "Price changes a day (at most 50 price changes a day across products): busiest of its "
        "days 2027-01-24: 46 price changes across products (this plan and the approved ones): "
        "passed, close to the limit. It did not hold the plan back."
    )
    # -10% is log(0.9)/0.05 = -2.11 sd, further than +10% back up (+1.91 sd).
    assert checks["distance from past changes"].text == (
        "Distance from past changes (change at most 3.0 standard deviations from past changes): "
        "change -10.0% (100.00 to 90.00) is -2.11 sd of past changes (past changes: mean "
        "+0.0%, sd 0.05 in log terms, 40 changes): passed. It did not hold the plan back."
    )
    promotion = checks["no increase during a promotion"]
    assert (promotion.plan, promotion.verdict) == (
        "1 of the plan's weeks on promotion; week 3 goes up 90.00 to 99.00",
        "broken",
    )
    assert checks["maximum step"].plan == "largest weekly change -10.0% (100.00 to 90.00)"
    assert all(
        c.text.startswith(f"{c.guardrail[0].upper()}{c.guardrail[1:]} ({c.setting}): {c.plan}: ")
        for c in checks.values()
    )
    quiet = {
        c.guardrail: (c.plan, c.verdict)
        for c in guardrail_checks(
            [90.0],
            current_price=100.0,
            list_price=100.0,
            unit_cost=40.0,
            guardrails=Guardrails(),
            bindings={},
            history=ChangeHistory(mean=0.0, sd=0.05, n=3),
        )
    }
    assert quiet["distance from past changes"] == (
        "3 past price changes, fewer than the 5 needed",
        "not checked",
    )
    assert quiet["no increase during a promotion"] == (
        "the plan's promotion weeks are not known",
        "not checked",
    )


def _lines(prices: list[float], **kw: Any) -> list[GuardrailCheck]:
    return guardrail_checks(
        prices,
        current_price=100.0,
        list_price=100.0,
        unit_cost=91.5,
        guardrails=Guardrails(min_margin=0.05),
        history=ChangeHistory(mean=0.0, sd=0.05, n=40),
        promo_weeks=[False, False],
        busiest=("2027-01-24", 3),
        **kw,
    )


def test_the_guardrail_summary_says_what_the_lines_say() -> None:
    """A plan a guardrail held back does not read as "every guardrail passes": the sentence
    above the lines names what held it back, what is broken, what was not checked; after a
    pricing manager's edit, what held the agent's plan back is said to be of the plan before."""
    held = {"margin floor": "without it the plan would price 90.00 from 2026-11-16"}
    checks = _lines([100.0, 100.0], bindings=held)
    assert guardrail_summary(checks, []) == (
        "No guardrail is broken; 1 held the plan back: margin floor."
    )
    margin = next(c for c in checks if c.guardrail == "margin floor")
    # One rounding for margins: 8.5%, as the page's tables show it, never 9% or 8%.
    assert margin.plan == "lowest margin 8.5% (price 100.00 over cost 91.50)"
    assert margin.text.endswith(
        ": passed. It held the plan back: without it the plan would price 90.00 from 2026-11-16."
    )
    assert guardrail_summary(_lines([100.0, 100.0], bindings={}), []) == (
        "No guardrail is broken, and none held the plan back."
    )
    # Below the floor of 5%: broken, and the summary says which.
    broken = _lines([90.0, 90.0], bindings={})
    assert guardrail_summary(broken, ["week 1: price 90.00 breaks the margin floor"]) == (
        "Broken: margin floor."
    )
    edited = _lines([100.0, 100.0], bindings=held, edited=True)
    assert guardrail_summary(edited, []) == (
        "No guardrail is broken; 1 held the agent's plan back before the edit: margin floor."
    )
    assert "Before the edit it held the agent's plan back: without it" in next(
        c.text for c in edited if c.guardrail == "margin floor"
    )
    unchecked = guardrail_checks(
        [100.0],
        current_price=100.0,
        list_price=100.0,
        unit_cost=50.0,
        guardrails=Guardrails(),
        bindings={},
    )
    assert guardrail_summary(unchecked, []) == (
        "No guardrail is broken (distance from past changes, no increase during a promotion: "
        "not checked), and none held the plan back."
    )
