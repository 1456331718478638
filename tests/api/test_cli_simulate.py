"""`aisle simulate traffic` on a tiny generated world."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import func, select
from typer.testing import Result

from ml_core.experiments import assignment
from retail.store.models import RecommendationServed, ShopperEvent
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _tiny_world() -> None:
    seed_configured_world(ScaleSpec(20, 2, 60, 120, 0.8, 40, 2.0))


def test_traffic_reports_observed_and_true_rates(aisle: Aisle) -> None:
    _tiny_world()
    table = aisle("simulate", "traffic", "--visits", "200", "--policy", "popularity")
    assert table.exit_code == 0, table.output
    assert "200 simulated visits" in table.stdout and "popularity" in table.stdout
    first = aisle("simulate", "traffic", "--visits", "200", "--policy", "oracle", "--json")
    again = aisle("simulate", "traffic", "--visits", "200", "--policy", "oracle", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["visits"] == 200 and report["experiment_id"] is None
    (arm,) = report["arms"]
    assert arm["arm"] == "oracle" and arm["observed"]["visits"] == 200
    assert 0 < arm["true"]["ctr"] < 1 and arm["true"]["conversion"] < arm["true"]["ctr"]
    # The same seed, the same visits.
    assert json.loads(again.stdout)["arms"] == report["arms"]
    # Without --experiment nothing is written.
    engine = open_store()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RecommendationServed)).scalar() == 0
    engine.dispose()


def test_bad_input_exits_2_with_one_sentence(aisle: Aisle) -> None:
    no_world = aisle("simulate", "traffic", "--visits", "10", "--policy", "random")
    assert no_world.exit_code == 2
    assert no_world.stderr.startswith("error: There is no generated world in ")
    _tiny_world()
    for args, message in [
        (["--visits", "0"], "error: --visits must be at least 1, not 0.\n"),
        (["--visits", "5", "--policy", "best"], "error: Unknown policy 'best': choose one of "
         "recommender, popularity, random, oracle.\n"),
        (["--visits", "5", "--policy", "random", "--k", "0"],
         "error: Show at least one item (k >= 1).\n"),
        (["--visits", "5"], "error: There is no trained recommender; run `aisle recommend train` "
         "or pick another --policy.\n"),
    ]:  # fmt: skip
        result = aisle("simulate", "traffic", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr == message


def test_experiment_traffic_is_written_for_the_report(aisle: Aisle) -> None:
    _tiny_world()
    assert aisle("recommend", "train").exit_code == 0
    engine = open_store()
    experiment = assignment.create_experiment(
        engine,
        name="home grid",
        layer="home",
        arms=[
            {"name": "control", "weight": 1, "config": {"policy": "popularity"}},
            {"name": "personal", "weight": 1, "config": {"policy": "recommender"}},
        ],
        traffic=0.5,
        created_by="test",
        audience="simulated",
    )
    unknown = aisle(
        "simulate", "traffic", "--visits", "5", "--policy", "random", "--experiment", "x"
    )
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: No experiment with id or name 'x'.\n"
    draft = aisle("simulate", "traffic", "--visits", "10", "--experiment", "home grid")
    assert draft.exit_code == 2
    assert (
        draft.stderr
        == "error: Experiment 'home grid' is draft; only a running experiment gets traffic.\n"
    )
    live = assignment.create_experiment(
        engine, name="live grid", layer="ranking", arms=[
            {"name": "control", "weight": 1}, {"name": "b", "weight": 1},
        ], created_by="test",
    )  # fmt: skip
    assignment.start_experiment(engine, live.id)
    # Simulated visits must not land in an experiment whose report reads real shoppers.
    refused = aisle("simulate", "traffic", "--visits", "10", "--experiment", "live grid")
    assert refused.exit_code == 2 and refused.stderr == (
        "error: Experiment 'live grid' enrols the storefront's visitors; simulate traffic for an "
        "experiment created with audience simulated.\n"
    )
    assignment.stop_experiment(engine, live.id)
    assignment.start_experiment(engine, experiment.id)
    result = aisle(
        "simulate", "traffic", "--visits", "200", "--experiment", "home grid",
        "--policy", "random", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {row["arm"] for row in report["arms"]} == {
        "control", "personal", "random (not in the experiment)"
    }  # fmt: skip
    with engine.connect() as conn:
        served = conn.execute(
            select(RecommendationServed.arm, RecommendationServed.propensity, func.count())
            .where(RecommendationServed.experiment_id == experiment.id)
            .group_by(RecommendationServed.arm, RecommendationServed.propensity)
            .order_by(RecommendationServed.arm)
        ).all()
        total = conn.execute(select(func.count()).select_from(RecommendationServed)).scalar()
        clicks = conn.execute(
            select(func.count())
            .select_from(ShopperEvent)
            .where(ShopperEvent.event_type == "click", ShopperEvent.recommendation_id.is_not(None))
        ).scalar()
    engine.dispose()
    assert [(arm, propensity) for arm, propensity, _ in served] == [
        ("control", 0.5), ("personal", 0.5)
    ]  # fmt: skip
    # Every visit is logged; about half the units are in the experiment (traffic 0.5).
    assert total == 200 and 40 < sum(n for *_, n in served) < 160
    observed = sum(row["observed"]["ctr"] * row["observed"]["visits"] for row in report["arms"])
    assert clicks == round(observed) and report["events"] >= clicks
