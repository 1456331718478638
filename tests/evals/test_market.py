"""The simulated market on a small generated world: reproducible, ordered as the truth says,
its true values matching what the visits show, its log in the shape experiments read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from evals.market import (
    ArmsPolicy,
    CallablePolicy,
    ClickModel,
    Market,
    MarketError,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    RecommenderPolicy,
    record_visits,
    uniform_chooser,
    unit_chooser,
)
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.models import load_recommender
from ml_core.recommend.train import ARTIFACT, train_store_recommender
from ml_core.registry import ArtifactRegistry
from retail.store.db import make_engine
from retail.store.models import RecommendationServed, ShopperEvent
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, ScaleSpec, seed_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    """60 products, 300 customers with 60 days of sessions, a trained item-item model."""
    folder = tmp_path_factory.mktemp("market")
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    seed_world(
        engine,
        scale="small",
        seed=3,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=ScaleSpec(60, 1, 300, 60, 1.0, 60, 4.0),
    )
    train_store_recommender(engine, ArtifactRegistry(folder / "artifacts"), ItemItem())
    yield engine, folder
    engine.dispose()


@pytest.fixture(scope="module")
def market(world: tuple[Engine, Path]) -> Market:
    return Market.from_world(world[1] / "world", seed=1)


def test_the_same_seed_gives_the_same_visits(market: Market) -> None:
    def run(seed: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng(seed)
        visits = market.simulate(RandomPolicy(market), market.visitors(500, rng), rng)
        return visits.visitors.unit_id, visits.items, visits.clicks, visits.revenue

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_true_values_order_oracle_above_popularity_above_random(market: Market) -> None:
    oracle = market.expected(OraclePolicy(market))
    noisy = market.expected(OraclePolicy(market, noise=2.0, seed=1))
    popular = market.expected(PopularityPolicy(market))
    random = market.expected(RandomPolicy(market))
    assert oracle.ctr > noisy.ctr > popular.ctr > random.ctr
    assert oracle.conversion > popular.conversion > random.conversion
    assert oracle.revenue_per_visit > random.revenue_per_visit
    # Storefront-like rates: a random list is clicked about once in a hundred visits or so.
    assert 0.005 < random.ctr < 0.05 and oracle.ctr < 0.5
    assert random.click_rate <= random.ctr


def test_observed_rates_match_the_true_expectation(market: Market) -> None:
    policy = PopularityPolicy(market)
    truth = market.expected(policy)
    rng = np.random.default_rng(11)
    visits = market.simulate(policy, market.visitors(40_000, rng), rng)
    clicks_per_visit = visits.clicks.sum(axis=1)
    error = clicks_per_visit.std() / np.sqrt(len(visits))
    assert abs(clicks_per_visit.mean() - truth.ctr) < 4 * error
    purchases = visits.purchases.sum(axis=1)
    assert abs(purchases.mean() - truth.conversion) < 4 * purchases.std() / np.sqrt(len(visits))
    assert abs(visits.summary()["click_rate"] - truth.click_rate) < 0.01


def test_visitors_mix_customers_and_anonymous_sessions(market: Market) -> None:
    rng = np.random.default_rng(2)
    visitors = market.visitors(4000, rng, placement="product", session_prefix="t")
    anonymous = ~visitors.signed_in
    assert 0.35 < anonymous.mean() < 0.45
    units = visitors.unit_id
    assert all(u.startswith("session:t-") for u in units[anonymous])
    assert set(units[~anonymous]) <= set(market.customer_ids)
    # Every visit is a session of its own; customers come back, an anonymous session does not.
    assert len(set(visitors.session_id)) == len(visitors)
    assert len(set(units[~anonymous])) < (~anonymous).sum()
    assert len(set(units[anonymous])) == anonymous.sum()
    population = market.population()
    assert population.weight is not None and population.weight.sum() == pytest.approx(1.0)
    with pytest.raises(MarketError, match="Unknown placement"):
        market.visitors(1, rng, placement="checkout")


def test_unit_outcomes_have_the_shape_the_experiment_statistics_read(market: Market) -> None:
    rng = np.random.default_rng(3)
    policy = ArmsPolicy(
        {"control": PopularityPolicy(market), "oracle": OraclePolicy(market)}, uniform_chooser(2)
    )
    before = market.visitors(2000, rng, session_prefix="pre")
    pre = market.simulate(PopularityPolicy(market), before, rng)
    visits = market.simulate(policy, market.visitors(3000, rng), rng)
    units = visits.unit_outcomes(pre)
    assert list(units.columns) == [
        "unit_id", "arm", "visits", "clicks", "add_to_carts", "purchases", "revenue",
        "clicks_sq", "add_to_carts_sq", "purchases_sq", "revenue_sq",
        "pre_visits", "pre_purchases", "pre_revenue",
    ]  # fmt: skip
    assert set(units["arm"]) == {"control", "oracle"}
    assert units["visits"].sum() == 3000 and units["clicks"].sum() == visits.clicks.sum()
    assert units["revenue"].sum() == pytest.approx(visits.revenue.sum())
    assert (units["purchases"] <= units["add_to_carts"]).all()
    assert (units["add_to_carts"] <= units["clicks"]).all()
    assert units["pre_revenue"].sum() > 0
    # Per unit, the squares of the per-visit counts: at least the count, equal for 0/1 visits.
    assert (units["clicks_sq"] >= units["clicks"]).all()
    assert units["clicks_sq"].sum() == (visits.clicks.sum(axis=1) ** 2).sum()
    # The pre-period is joined by unit: signed-in customers' sessions before, none for sessions.
    signed_in = ~units["unit_id"].str.startswith("session:")
    assert units.loc[signed_in, "pre_visits"].sum() > 0
    assert (units.loc[~signed_in, ["pre_visits", "pre_purchases"]] == 0).all().all()
    np.testing.assert_allclose(visits.propensity, 0.5)


def test_a_plain_function_serves_like_the_policy_it_wraps(market: Market) -> None:
    oracle = OraclePolicy(market)
    rng = np.random.default_rng(4)
    visitors = market.visitors(50, rng)
    expected = oracle.show(visitors, 8, rng).items
    by_unit = {
        u: [market.product_ids[i] for i in row]
        for u, row in zip(visitors.unit_id, expected, strict=True)
    }

    def function(visitor: dict) -> tuple[list[str], str, float]:
        return by_unit[visitor["unit_id"]], "wrapped", 1.0

    slates = CallablePolicy(market, function).show(visitors, 8, rng)
    np.testing.assert_array_equal(slates.items, expected)
    assert slates.arm is not None and set(slates.arm) == {"wrapped"}


def test_the_trained_recommender_sits_between_popularity_and_the_oracle(
    market: Market, world: tuple[Engine, Path]
) -> None:
    _, folder = world
    _, model_folder = ArtifactRegistry(folder / "artifacts").active(ARTIFACT)
    recommender = market.expected(RecommenderPolicy(market, load_recommender(model_folder)))
    assert market.expected(OraclePolicy(market)).ctr > recommender.ctr
    assert recommender.ctr > market.expected(RandomPolicy(market)).ctr


def test_recorded_visits_are_the_exposure_log_and_attributed_events(
    market: Market, world: tuple[Engine, Path]
) -> None:
    engine, _ = world
    rng = np.random.default_rng(5)
    arms = {"pop": PopularityPolicy(market), "best": OraclePolicy(market)}
    # Customers in the experiment by a fixed rule; anonymous sessions outside it.
    policy = ArmsPolicy(
        arms,
        unit_chooser(
            list(arms), lambda unit: None if unit.startswith("session:") else ("best", 0.5)
        ),
        fallback=RandomPolicy(market),
    )
    visits = market.simulate(policy, market.visitors(300, rng, session_prefix="rec"), rng)
    events = record_visits(
        engine, market, visits, experiment_id="exp-1", model_versions={"pop": "p", "best": "b"},
        default_version="r",
    )  # fmt: skip
    with engine.connect() as conn:
        served = conn.execute(
            select(RecommendationServed.experiment_id, RecommendationServed.arm, func.count())
            .group_by(RecommendationServed.experiment_id, RecommendationServed.arm)
            .order_by(RecommendationServed.arm)
        ).all()
        kinds = dict(
            conn.execute(
                select(ShopperEvent.event_type, func.count())
                .where(ShopperEvent.recommendation_id.like("sim-%"))
                .group_by(ShopperEvent.event_type)
            ).all()
        )
        revenue = conn.execute(
            select(func.sum(ShopperEvent.value)).where(ShopperEvent.event_type == "purchase")
        ).scalar()
    in_experiment = int(visits.visitors.signed_in.sum())
    assert served == [(None, None, 300 - in_experiment), ("exp-1", "best", in_experiment)]
    assert kinds.get("click") == visits.clicks.sum() and events == sum(kinds.values())
    assert kinds.get("purchase", 0) == visits.purchases.sum()
    assert (revenue or 0.0) == pytest.approx(visits.revenue.sum())


def test_bad_click_models_are_refused() -> None:
    with pytest.raises(MarketError, match="at least one item"):
        ClickModel(k=0)
    with pytest.raises(MarketError, match="anonymous_share must be between 0 and 1"):
        ClickModel(anonymous_share=1.5)
    with pytest.raises(MarketError, match="no generated world"):
        Market.from_world(Path("/nonexistent/world"))
