"""The report read from SQL: exposures logged by assignment, outcomes attributed by
recommendation id, one row per unit, arms over time, and the pre-period for CUPED."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import Engine

from ml_core.experiments.assignment import (
    assign,
    create_experiment,
    running_experiments,
    start_experiment,
)
from ml_core.experiments.report import (
    MIN_HISTORY_UNITS,
    experiment_report,
    plan_before_start,
    plan_in_words,
)
from ml_core.experiments.stats import planned_sample_size
from retail.store.db import transaction
from retail.store.models import RecommendationServed, ShopperEvent

ARMS = [
    {"name": "control", "weight": 1},
    {"name": "ease", "weight": 1, "config": {"model": "ease"}},
]
CLICK_RATE = {"control": 0.10, "ease": 0.30}


def log_traffic(engine: Engine, experiment_id: str, units: int, seed: int = 0) -> dict[str, int]:
    """Serve each unit 1-3 visits over three days with the arm assignment gives it; clicks and
    purchases follow the arm's click rate. Returns the clicks logged per arm."""
    rng = np.random.default_rng(seed)
    specs = running_experiments(engine, "live")
    start = dt.datetime.now(dt.UTC)
    clicks = {"control": 0, "ease": 0}
    with transaction(engine) as session:
        for u in range(units):
            unit = f"C{u:04d}"
            # The same customers' history before the experiment: CUPED's covariates.
            for s in range(int(rng.integers(0, 4))):
                session.add(
                    ShopperEvent(
                        session_id=f"pre-{u}-{s}", customer_id=unit, event_type="purchase",
                        occurred_at=start - dt.timedelta(days=3 + s), value=20.0 * (1 + u % 3),
                    )
                )  # fmt: skip
            for visit in range(int(rng.integers(1, 4))):
                found = assign(specs, unit)
                assert found is not None and found.experiment_id == experiment_id
                rec_id = f"r-{u}-{visit}"
                served_at = start + dt.timedelta(days=visit, minutes=1)
                session.add(
                    RecommendationServed(
                        id=rec_id, served_at=served_at, placement="home", unit_id=unit,
                        customer_id=unit, session_id=f"s-{u}-{visit}", model_version="test",
                        experiment_id=found.experiment_id, arm=found.arm,
                        propensity=found.propensity, items=["P1", "P2"], context={},
                    )
                )  # fmt: skip
                if rng.random() < CLICK_RATE[found.arm]:
                    clicks[found.arm] += 1
                    at = served_at + dt.timedelta(seconds=30)
                    for kind, value in (("click", None), ("purchase", 30.0 * (1 + u % 3))):
                        session.add(
                            ShopperEvent(
                                session_id=f"s-{u}-{visit}", customer_id=unit, event_type=kind,
                                occurred_at=at, recommendation_id=rec_id, value=value,
                            )
                        )  # fmt: skip
    return clicks


def test_report_reads_units_outcomes_and_days_from_sql(engine: Engine) -> None:
    exp = create_experiment(
        engine, name="ease vs popular", layer="home", arms=ARMS, traffic=1.0,
        primary_metric="ctr", created_by="evaluator:eve",
    )  # fmt: skip
    empty = experiment_report(engine, exp.id)
    assert empty.note == "No exposures are logged for this experiment yet." and not empty.results
    start_experiment(engine, exp.id)
    clicks = log_traffic(engine, exp.id, units=600)

    report = experiment_report(engine, "ease vs popular")
    assert sum(report.units.values()) == 600 and not report.srm_mismatch
    assert report.mixed_units == 0 and report.note is None
    ctr = next(r for r in report.results if r["metric"] == "ctr")
    assert ctr["arm"] == "ease" and ctr["control"] == "control"
    assert ctr["value"] == pytest.approx(clicks["ease"] / report.visits["ease"])
    assert ctr["control_value"] == pytest.approx(clicks["control"] / report.visits["control"])
    assert ctr["significant"] and ctr["abs_ci"][0] > 0
    # Revenue per visit follows the customers' spend, which their pre-period predicts.
    revenue = next(r for r in report.results if r["metric"] == "revenue_per_visit")
    assert revenue["cuped"] and revenue["variance_reduction"] > 0
    assert report.guardrails[0]["metric"] == "revenue_per_visit"
    assert report.planned is not None and report.planned["metric"] == "ctr"
    assert report.planned["baseline_rate"] == pytest.approx(ctr["control_value"])
    # Planned on the units' own variance: these units click alike within an arm, so today's
    # design effect is near 1, and CUPED (pre-period spend and sessions, which say nothing of
    # clicks here) cuts little. 600 units of 1-3 visits say little of a floor 40 times further
    # out, so the plan itself may go either way with the arms the (random) experiment id draws:
    # where no size is enough the design effect is today's; where a size is named, it is the
    # one at that size, which a small estimated floor can make large. The words follow it.
    planned = report.planned
    assert planned["method"] == "delta method over units, CUPED"
    assert planned["independent_visits_per_arm"] == planned_sample_size(ctr["control_value"], 0.05)
    assert 0 <= planned["cuped_variance_reduction"] < 0.2
    assert f"the design effect is {planned['design_effect']:.1f}," in planned["in_words"]
    if planned["visits_per_arm_without_cuped"] is None:
        assert 1.0 <= planned["design_effect"] < 1.3
    else:
        assert planned["design_effect"] >= 1.0
    if planned["visits_per_arm"] is None:
        assert "no number of visits is enough" in planned["in_words"]
    else:
        assert f"{planned['visits_per_arm']:,} visits per arm with CUPED" in planned["in_words"]

    days = sorted({p["day"] for p in report.over_time})
    assert len(days) == 3 and {p["arm"] for p in report.over_time} == {"control", "ease"}
    last = {p["arm"]: p for p in report.over_time if p["day"] == days[-1]}
    assert last["ease"]["value"] == pytest.approx(ctr["value"])
    assert last["control"]["visits"] == report.visits["control"]
    ease_visits = [p["visits"] for p in report.over_time if p["arm"] == "ease"]
    assert ease_visits == sorted(ease_visits) and ease_visits[0] < ease_visits[-1]


def test_the_plan_says_an_independent_plan_falls_short_only_where_it_does() -> None:
    """Walk 2026-12-07: six visitors' report read "the design effect is 1.0, so a plan that
    counts visits as independent (19,145 per arm) would fall short", above "12,559 visits per
    arm": the plan it named asked for fewer."""
    planned = {
        "metric": "ctr", "baseline_rate": 0.25, "minimum_uplift": 0.05, "power": 0.8,
        "visits_per_arm": 12_559, "visits_per_arm_without_cuped": 12_559,
        "independent_visits_per_arm": 19_145, "design_effect": 1.0,
        "cuped_variance_reduction": None,
    }  # fmt: skip
    fewer = plan_in_words(planned, "estimated from the visits so far.")
    assert "fall short" not in fewer and "customers differ" not in fewer
    assert "the design effect is 1.0, and on the spread the visits so far show" in fewer
    assert "(19,145 per arm)" in fewer and "12,559 visits per arm." in fewer
    more = plan_in_words(
        {**planned, "visits_per_arm": 30_000, "visits_per_arm_without_cuped": 30_000,
         "design_effect": 1.6},
        "estimated from the visits so far.",
    )  # fmt: skip
    assert "customers differ" in more
    assert "the design effect is 1.6, so a plan that counts visits as independent " in more
    assert "(19,145 per arm) would fall short." in more


def test_too_few_units_say_so_and_still_count(engine: Engine) -> None:
    exp = create_experiment(
        engine, name="tiny", layer="home", arms=ARMS, created_by="evaluator:eve"
    )
    start_experiment(engine, exp.id)
    log_traffic(engine, exp.id, units=2, seed=1)
    report = experiment_report(engine, exp.id)
    assert sum(report.units.values()) == 2 and not report.results
    assert report.note is not None and report.note.startswith("Too few units to compare yet")


def test_a_report_with_no_visit_logged_checks_no_split(engine: Engine) -> None:
    exp = create_experiment(
        engine, name="quiet", layer="home", arms=ARMS, created_by="evaluator:eve"
    )
    start_experiment(engine, exp.id)
    report = experiment_report(engine, exp.id)
    assert sum(report.units.values()) == 0
    # Nothing was checked: no p-value that would read as a check passed.
    assert report.srm_p_value is None and not report.srm_mismatch
    log_traffic(engine, exp.id, units=200, seed=3)
    checked = experiment_report(engine, exp.id)
    assert checked.srm_p_value is not None and not checked.srm_mismatch


def log_history(engine: Engine, units: int, end: dt.datetime, seed: int = 2) -> None:
    """Recommendations served outside any experiment in the ten days before `end`: each
    customer 4 visits, half of them clicking on 50% of their visits, half on 2% (customers who
    keep their own taste)."""
    rng = np.random.default_rng(seed)
    with transaction(engine) as session:
        for u in range(units):
            unit, rate = f"H{u:04d}", 0.5 if u % 2 else 0.02
            for visit in range(4):
                rec_id, served_at = f"h-{u}-{visit}", end - dt.timedelta(days=10 - visit)
                session.add(
                    RecommendationServed(
                        id=rec_id, served_at=served_at, placement="home", unit_id=unit,
                        customer_id=unit, session_id=f"hs-{u}-{visit}", model_version="test",
                        items=["P1"], context={},
                    )
                )  # fmt: skip
                if rng.random() < rate:
                    session.add(
                        ShopperEvent(
                            session_id=f"hs-{u}-{visit}", customer_id=unit, event_type="click",
                            occurred_at=served_at, recommendation_id=rec_id,
                        )
                    )  # fmt: skip


def test_a_new_experiment_is_planned_from_history_by_the_reports_rule(engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    log_history(engine, units=200, end=now)
    plan = plan_before_start(engine, primary_metric="ctr", arms=2, baseline_rate=0.9, now=now)
    assert plan.method == "history" and plan.planned is not None
    planned = plan.planned
    # The baseline is the history's own (the rate given is only the fallback's).
    assert 0.2 < planned["baseline_rate"] < 0.32
    # Customers who keep their taste: a visit tells far less than an independent one.
    assert planned["design_effect"] > 1.5
    assert planned["independent_visits_per_arm"] == planned_sample_size(
        planned["baseline_rate"], 0.05
    )
    if planned["visits_per_arm"] is None:
        assert plan.visits is None and "no number of visits is enough" in plan.in_words
    else:
        assert plan.visits == 2 * planned["visits_per_arm"]
        assert planned["visits_per_arm"] > 1.5 * planned["independent_visits_per_arm"]
    assert "Estimated from the last 28 days: 200 units' 800 visits" in plan.in_words
    # Outside the window (the history is 10 days old a month later) there is nothing to plan on.
    later = now + dt.timedelta(days=40)
    assert plan_before_start(engine, primary_metric="ctr", arms=2, now=later).method == "none"


def test_too_little_history_says_so_and_falls_back_labelled(engine: Engine) -> None:
    log_history(engine, units=MIN_HISTORY_UNITS - 1, end=dt.datetime.now(dt.UTC))
    fallback = plan_before_start(engine, primary_metric="ctr", arms=3, baseline_rate=0.1)
    assert fallback.method == "independent visits" and fallback.planned is None
    assert fallback.visits == 3 * planned_sample_size(0.1, 0.05)
    assert fallback.in_words.startswith(
        f"Too little history to plan from: {MIN_HISTORY_UNITS - 1} units"
    )
    assert "as if every visit were independent" in fallback.in_words
    nothing = plan_before_start(engine, primary_metric="ctr", arms=2)
    assert nothing.method == "none" and nothing.visits is None
    assert "give a baseline rate" in nothing.in_words
