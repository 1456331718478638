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
from ml_core.experiments.report import experiment_report
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
    specs = running_experiments(engine)
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
    # clicks here) cuts little. (600 units of 1-3 visits say little of a floor 40 times
    # further out, so the plan itself may go either way: the words follow it.)
    planned = report.planned
    assert planned["method"] == "delta method over units, CUPED"
    assert 1.0 <= planned["design_effect"] < 1.3
    assert planned["independent_visits_per_arm"] == planned_sample_size(ctr["control_value"], 0.05)
    assert 0 <= planned["cuped_variance_reduction"] < 0.2
    assert "the design effect is 1." in planned["in_words"]
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


def test_too_few_units_say_so_and_still_count(engine: Engine) -> None:
    exp = create_experiment(
        engine, name="tiny", layer="home", arms=ARMS, created_by="evaluator:eve"
    )
    start_experiment(engine, exp.id)
    log_traffic(engine, exp.id, units=2, seed=1)
    report = experiment_report(engine, exp.id)
    assert sum(report.units.values()) == 2 and not report.results
    assert report.note is not None and report.note.startswith("Too few units to compare yet")
