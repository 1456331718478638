"""Thompson sampling: it finds the better arm, its propensities are the probabilities it really
chooses with, and its state survives a round trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_core.experiments.bandit import BanditError, ThompsonSampler, choice_probabilities


def test_thompson_sampling_concentrates_on_the_better_of_two_bernoulli_arms() -> None:
    sampler = ThompsonSampler(["a", "b"], rng=1)
    world = np.random.default_rng(2)
    click_rate = np.array([0.04, 0.06])
    # One choice and update per visit, then batches of 50 visits between updates, as a
    # storefront that refreshes the posterior every few seconds would.
    for _ in range(200):
        choice = sampler.choose()
        sampler.update(choice.arm, float(world.random() < click_rate[int(choice.arm == "b")]))
    last = []
    for _ in range(200):
        arms, _ = sampler.choose_many(50)
        sampler.update_many(arms, (world.random(50) < click_rate[arms]).astype(float))
        last.append(arms)
    assert np.concatenate(last[-40:]).mean() > 0.85  # the share of "b" in the last 2,000
    assert sampler.counts()[1] > 3 * sampler.counts()[0]
    assert sampler.means()[1] == pytest.approx(0.06, abs=0.01)
    propensities = sampler.propensities()
    assert propensities.sum() == pytest.approx(1.0) and propensities[1] > 0.85


def test_propensities_are_the_frequencies_thompson_sampling_chooses_with() -> None:
    sampler = ThompsonSampler(["a", "b", "c"], rng=3)
    sampler.update_many(
        ["a"] * 60 + ["b"] * 50 + ["c"] * 20,
        [1] * 6 + [0] * 54 + [1] * 7 + [0] * 43 + [1] * 2 + [0] * 18,
    )
    arms, propensities = sampler.choose_many(200_000)
    frequencies = np.bincount(arms, minlength=3) / len(arms)
    exact = sampler.propensities()
    assert exact.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(frequencies, exact, atol=0.005)
    np.testing.assert_allclose(propensities, exact[arms])


def test_gaussian_revenue_arms_learn_their_means_per_segment() -> None:
    sampler = ThompsonSampler(["low", "high"], "gaussian", rng=4)
    world = np.random.default_rng(5)
    # On mobile the "low" arm earns more; on desktop the other way round.
    means = {"mobile": (3.0, 1.0), "desktop": (1.0, 3.0)}
    for segment, (low, high) in means.items():
        sampler.update_many(["low"] * 300, world.normal(low, 4.0, 300), segment)
        sampler.update_many(["high"] * 300, world.normal(high, 4.0, 300), segment)
    assert sampler.propensities("mobile")[0] > 0.95
    assert sampler.propensities("desktop")[1] > 0.95
    np.testing.assert_allclose(sampler.means("desktop"), [1.0, 3.0], atol=0.6)
    # A segment nothing was learnt for is still at the prior: both arms equally likely.
    np.testing.assert_allclose(sampler.propensities("tablet"), [0.5, 0.5], atol=1e-6)


def test_state_round_trips_through_json() -> None:
    sampler = ThompsonSampler(["a", "b"], "gaussian", prior={"beta": 2.0}, rng=6)
    sampler.update_many([0, 1, 1], [1.5, 0.0, 7.25], "home")
    restored = ThompsonSampler.from_dict(json.loads(json.dumps(sampler.to_dict())), rng=6)
    assert restored.arms == ("a", "b") and restored.prior["beta"] == 2.0
    np.testing.assert_allclose(restored.counts("home"), [1, 2])
    np.testing.assert_allclose(restored.propensities("home"), sampler.propensities("home"))


def test_bad_input_is_refused_with_a_sentence() -> None:
    with pytest.raises(BanditError, match="at least two arms"):
        ThompsonSampler(["only"])
    sampler = ThompsonSampler(["a", "b"])
    with pytest.raises(BanditError, match="Unknown arm 'c'"):
        sampler.update("c", 1.0)
    with pytest.raises(BanditError, match="0 or 1"):
        sampler.update("a", 0.5)
    with pytest.raises(BanditError, match="Not a Thompson sampler's state"):
        ThompsonSampler.from_dict({"arms": ["a", "b"]})


def test_choice_probabilities_of_two_normals_match_the_closed_form() -> None:
    from scipy import stats

    # P(X > Y) for independent normals: Phi((mu_x - mu_y) / sqrt(s_x^2 + s_y^2)).
    exact = stats.norm.cdf(-0.5 / np.sqrt(5.0))
    np.testing.assert_allclose(
        choice_probabilities(stats.norm([0.0, 0.5], [1.0, 2.0])), [exact, 1 - exact], atol=1e-4
    )
