"""Off-policy estimators on a synthetic logged bandit whose true values are known."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.experiments.ope import (
    LoggedBandit,
    OffPolicyError,
    deterministic_target,
    doubly_robust,
    evaluate,
    ips,
    snips,
)

# Two contexts, three actions: click rates per (context, action). The context explains most of
# the reward, which a reward model can learn and IPS cannot use.
RATES = np.array([[0.05, 0.45, 0.10], [0.60, 0.15, 0.30]])
LOGGING = np.array([0.6, 0.2, 0.2])
TARGET_ACTION = np.array([1, 0])  # action 1 in context 0, action 0 in context 1
TRUE_VALUE = 0.5 * RATES[0, 1] + 0.5 * RATES[1, 0]


def _log(rng: np.random.Generator, n: int) -> LoggedBandit:
    contexts = rng.integers(0, 2, n)
    actions = rng.choice(3, n, p=LOGGING)
    rewards = (rng.random(n) < RATES[contexts, actions]).astype(float)
    return LoggedBandit(contexts, actions, LOGGING[actions], rewards, 3)


def test_ips_is_unbiased_and_dr_no_more_variable_over_repeated_logs() -> None:
    rng = np.random.default_rng(7)
    values: dict[str, list[float]] = {"ips": [], "snips": [], "dr": []}
    covered = dict.fromkeys(values, 0)
    repeats = 300
    for _ in range(repeats):
        log = _log(rng, 1000)
        for name, estimate in evaluate(
            log, deterministic_target(TARGET_ACTION[log.contexts], 3)
        ).items():
            values[name].append(estimate.value)
            covered[name] += estimate.ci_low <= TRUE_VALUE <= estimate.ci_high
    ips_values = np.array(values["ips"])
    # The mean of 300 estimates is within 4 of its standard errors of the truth.
    assert abs(ips_values.mean() - TRUE_VALUE) < 4 * ips_values.std() / np.sqrt(repeats)
    assert np.var(values["dr"]) <= np.var(values["ips"])
    assert np.var(values["snips"]) <= np.var(values["ips"])
    for name in values:
        assert 0.9 <= covered[name] / repeats <= 0.99, name


def test_the_logging_policy_itself_is_estimated_as_its_observed_mean() -> None:
    log = _log(np.random.default_rng(8), 2000)
    logging_target = np.tile(LOGGING, (2000, 1))
    assert snips(log, logging_target).value == pytest.approx(log.rewards.mean())
    assert ips(log, logging_target).value == pytest.approx(log.rewards.mean())
    assert ips(log, logging_target).effective_n == pytest.approx(2000)


def test_bootstrap_intervals_agree_with_the_normal_ones() -> None:
    log = _log(np.random.default_rng(9), 3000)
    target = deterministic_target(TARGET_ACTION[log.contexts], 3)
    normal = doubly_robust(log, target)
    boot = doubly_robust(log, target, interval="bootstrap", rng=1)
    assert boot.value == normal.value
    assert boot.ci_low < normal.value < boot.ci_high
    assert boot.ci_high - boot.ci_low == pytest.approx(normal.ci_high - normal.ci_low, rel=0.2)


def test_bad_logs_and_targets_are_refused() -> None:
    log = _log(np.random.default_rng(10), 10)
    with pytest.raises(OffPolicyError, match="sum to 1"):
        ips(log, np.full((10, 3), 0.5))
    with pytest.raises(OffPolicyError, match="every visit and action"):
        ips(log, np.ones((9, 3)) / 3)
    with pytest.raises(OffPolicyError, match=r"propensities must be in \(0, 1\]"):
        LoggedBandit(log.contexts, log.actions, np.zeros(10), log.rewards, 3)
