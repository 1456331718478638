"""Assignment: the same unit always gets the same arm, arms get their weight's share of units,
experiments of one layer never share a unit, and the life cycle in SQL refuses bad input and a
layer with too little free traffic."""

from __future__ import annotations

import datetime as dt

import pytest
from scipy import stats
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from ml_core.experiments.assignment import (
    BUCKETS,
    Arm,
    ExperimentSpec,
    LiveExperiments,
    allocate_buckets,
    assign,
    assign_all,
    create_experiment,
    parse_arm,
    running_experiments,
    start_experiment,
    stop_experiment,
)
from ml_core.experiments.stats import srm_check
from ml_core.recommend.ranking import RankingRules
from retail.errors import AisleError, NotFoundError
from retail.store.models import Experiment

UNITS = [f"C{i:05d}" for i in range(20_000)]
TWO_ARMS = [
    {"name": "control", "weight": 1},
    {"name": "ease", "weight": 1, "config": {"model": "ease"}},
]


def spec(
    id_: str, layer: str, buckets: range, weights: tuple[float, ...] = (1, 1)
) -> ExperimentSpec:
    arms = tuple(Arm(f"arm{i}", w, {"i": i}) for i, w in enumerate(weights))
    return ExperimentSpec(id_, layer, f"salt-{id_}", arms, frozenset(buckets))


def test_assignment_is_deterministic_and_carries_the_arm_config_and_propensity() -> None:
    experiment = spec("e1", "home", range(BUCKETS), (3, 1))
    first = [assign([experiment], unit) for unit in UNITS[:500]]
    again = [assign([experiment], unit) for unit in UNITS[:500]]
    assert first == again and all(a is not None for a in first)
    by_arm = {a.arm: a for a in first if a is not None}
    assert by_arm["arm0"].propensity == 0.75 and by_arm["arm1"].propensity == 0.25
    assert by_arm["arm1"].config == {"i": 1}
    # Another salt reshuffles the units: with a 3:1 split, 37.5% of units change arm.
    other = spec("e2", "home", range(BUCKETS), (3, 1))
    moved = sum(
        a is not None and assign([other], u).arm != a.arm  # type: ignore[union-attr]
        for u, a in zip(UNITS[:500], first, strict=True)
    )
    assert 0.25 < moved / 500 < 0.5


@pytest.mark.parametrize("weights", [(1, 1), (2, 1, 1)])
def test_arms_get_their_weights_share_of_units(weights: tuple[float, ...]) -> None:
    experiment = spec("e1", "home", range(BUCKETS), weights)
    counts = {f"arm{i}": 0 for i in range(len(weights))}
    for unit in UNITS:
        found = assign([experiment], unit)
        assert found is not None
        counts[found.arm] += 1
    p_value, mismatch = srm_check(counts, {f"arm{i}": w for i, w in enumerate(weights)})
    assert not mismatch and p_value > 0.001


def test_traffic_share_is_the_share_of_units_in_the_experiment() -> None:
    experiment = spec("e1", "home", range(BUCKETS // 5))  # 20% of the layer
    inside = sum(assign([experiment], unit) is not None for unit in UNITS)
    test = stats.binomtest(inside, len(UNITS), 0.2)
    assert test.pvalue > 0.001


def test_experiments_of_one_layer_never_share_a_unit_and_layers_are_independent() -> None:
    left, right = spec("left", "home", range(0, 5000)), spec("right", "home", range(5000, 10000))
    other_layer = spec("ranker", "ranking", range(BUCKETS))
    seen = {"left": 0, "right": 0}
    in_both_layers = 0
    for unit in UNITS:
        found = assign_all([left, right, other_layer], unit)
        home = [a for a in found if a.experiment_id in seen]
        assert len(home) == 1  # the layer is split whole between the two
        seen[home[0].experiment_id] += 1
        in_both_layers += any(a.experiment_id == "ranker" for a in found)
    assert in_both_layers == len(UNITS)
    assert not srm_check(seen, {"left": 1, "right": 1})[1]
    # The first layer by name decides what one served recommendation logs.
    assert assign([left, right, other_layer], UNITS[0]).experiment_id in seen  # type: ignore[union-attr]


def test_parse_arm_reads_name_weight_and_json_config() -> None:
    assert parse_arm("ease=2:{\"model\": \"ease\"}") == {
        "name": "ease", "weight": 2.0, "config": {"model": "ease"}
    }  # fmt: skip
    assert parse_arm("control=1") == {"name": "control", "weight": 1.0, "config": {}}
    for bad, message in [
        ("control", "NAME=WEIGHT"),
        ("a=x", "not a number"),
        ("a=1:{", "not JSON"),
    ]:
        with pytest.raises(AisleError, match=message):
            parse_arm(bad)


def _create(engine: Engine, name: str, layer: str = "home", traffic: float = 0.5) -> Experiment:
    return create_experiment(
        engine, name=name, layer=layer, arms=TWO_ARMS, traffic=traffic, created_by="evaluator:eve"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arms": TWO_ARMS[:1]}, "at least two arms"),
        ({"arms": [TWO_ARMS[0], TWO_ARMS[0]]}, "Arm names must differ"),
        ({"arms": [TWO_ARMS[0], {"name": "b", "weight": 0}]}, "weights must be above 0"),
        ({"traffic": 0.0}, "above 0 and at most 1"),
        ({"traffic": 1.5}, "above 0 and at most 1"),
        ({"primary_metric": "likes"}, "Unknown metric 'likes'"),
        ({"layer": "Home Page"}, "lowercase"),
    ],
)
def test_create_refuses_bad_input_with_a_sentence(
    engine: Engine, changes: dict[str, object], message: str
) -> None:
    given: dict[str, object] = {"name": "x", "layer": "home", "arms": TWO_ARMS, "traffic": 0.5}
    with pytest.raises(AisleError, match=message):
        create_experiment(engine, created_by="evaluator:eve", **{**given, **changes})  # type: ignore[arg-type]


def test_life_cycle_capacity_and_bucket_reuse(engine: Engine) -> None:
    first = _create(engine, "first", traffic=0.6)
    with pytest.raises(AisleError, match="already exists"):
        _create(engine, "first")
    second = _create(engine, "second", traffic=0.5)
    elsewhere = _create(engine, "elsewhere", layer="ranking", traffic=1.0)
    assert running_experiments(engine, "live") == []
    start_experiment(engine, first.id)
    with pytest.raises(AisleError, match="40.00% of its traffic free"):
        start_experiment(engine, "second")  # by name too
    start_experiment(engine, elsewhere.id)  # another layer has its own buckets
    with pytest.raises(AisleError, match="only a draft experiment can start"):
        start_experiment(engine, first.id)
    stop_experiment(engine, first.id)
    with pytest.raises(AisleError, match="only a running one can stop"):
        stop_experiment(engine, first.id)
    start_experiment(engine, second.id)
    specs = {s.id: s for s in running_experiments(engine, "live")}
    assert set(specs) == {second.id, elsewhere.id}
    # The stopped experiment's buckets were freed and the next start took the lowest free ones.
    assert specs[second.id].buckets == frozenset(range(5000))
    assert len(specs[elsewhere.id].buckets) == BUCKETS
    with pytest.raises(NotFoundError, match="No experiment with id or name 'nope'"):
        start_experiment(engine, "nope")


def test_buckets_replay_the_same_from_the_rows(engine: Engine) -> None:
    a, b = _create(engine, "a", traffic=0.3), _create(engine, "b", traffic=0.3)
    start_experiment(engine, a.id)
    start_experiment(engine, b.id)
    with Session(engine) as session:
        rows = list(session.query(Experiment))
    owned = allocate_buckets(rows)
    assert owned[a.id] == frozenset(range(3000)) and owned[b.id] == frozenset(range(3000, 6000))
    assert allocate_buckets(reversed(rows)) == owned  # the order read does not matter


def test_live_experiments_read_again_after_their_ttl(engine: Engine) -> None:
    live = LiveExperiments(engine, ttl_s=3600)
    assert live.assign("C00001") is None
    exp = _create(engine, "full", traffic=1.0)
    start_experiment(engine, exp.id)
    assert live.assign("C00001") is None  # still the cached read
    fresh = LiveExperiments(engine, ttl_s=0)
    found = fresh.assign("C00001")
    assert found is not None and found.experiment_id == exp.id and found.propensity == 0.5
    with Session(engine) as session, session.begin():
        session.execute(
            update(Experiment).values(stopped_at=dt.datetime.now(dt.UTC), status="stopped")
        )
    assert fresh.assign("C00001") is None


def test_an_arms_rules_are_parsed_once_per_experiment_while_it_runs(engine: Engine) -> None:
    arms = [
        {"name": "control", "weight": 1},
        {"name": "varied", "weight": 1, "config": {"rules": {"max_per_category": 1}}},
    ]
    exp = create_experiment(
        engine, name="rules", layer="home", arms=arms, created_by="evaluator:eve"
    )
    start_experiment(engine, exp.id)
    live = LiveExperiments(engine, ttl_s=0)  # every call reads the table again
    served = {}
    for unit in UNITS[:40]:
        found = live.assign(unit)
        assert found is not None
        served.setdefault(found.arm, []).append(found.rules)
    assert all(rules is None for rules in served["control"])
    first = served["varied"][0]
    assert first == RankingRules(max_per_category=1)
    # The same parsed object on every request and every read of the table.
    assert all(rules is first for rules in served["varied"])
    cache: dict[str, tuple[Arm, ...]] = {}
    running_experiments(engine, "live", cache)
    assert cache[exp.id][1].rules == first
    stop_experiment(engine, exp.id)
    assert live.assign(UNITS[0]) is None
    # A stopped experiment's parsed arms leave the cache.
    assert running_experiments(engine, "live", cache) == [] and cache == {}
