"""Off-policy evaluation: what a target policy would have earned, from another policy's log.

The log is (context, action, propensity, reward) per visit: the action the logging policy took,
the probability it had of taking it, and what the visit earned (a click, revenue). The target
policy is given as its probabilities over actions in each logged context. Estimators:

- IPS: mean of w_i r_i with w_i = pi(a_i | x_i) / p_i. Unbiased when every action the target
  takes had a positive logging propensity; its variance grows with the weights.
- SNIPS (self-normalised IPS): sum w_i r_i / sum w_i. Slightly biased, usually far less variable.
- DR (doubly robust): the reward model's prediction for the target's actions plus the weighted
  residual of the logged one: unbiased if either the propensities or the reward model are
  right, and less variable than IPS when the model explains part of the reward.

Intervals are normal approximations with each estimator's own per-visit variance (the delta
method for SNIPS), or `scipy.stats.bootstrap` percentile intervals.

Slates, the simple way: a recommendation is a ranked list, but the action here is the arm (the
strategy that ranked it) and the propensity is the arm's. That is exact for evaluating any policy
that chooses among the logged strategies, per context if it likes (e.g. "the recommender on
mobile, popularity on desktop"), because a strategy determines its list for a visitor. It cannot
evaluate a new ranking that no logged arm produces; that needs item-level propensities (a
pseudo-inverse or position-based estimator), which the log does not carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from retail.errors import AisleError

Interval = Literal["normal", "bootstrap"]
ESTIMATORS = ("ips", "snips", "dr")


class OffPolicyError(AisleError):
    """A log or target policy that the estimators cannot use."""


@dataclass(frozen=True, slots=True)
class LoggedBandit:
    """One row per logged visit: the context's code (a segment), the action taken (an index),
    the logging propensity of that action and the observed reward."""

    contexts: np.ndarray  # (n,) int codes; all zeros when there is no context
    actions: np.ndarray  # (n,) int in [0, n_actions)
    propensities: np.ndarray  # (n,) in (0, 1]
    rewards: np.ndarray  # (n,)
    n_actions: int

    def __post_init__(self) -> None:
        n = len(self.actions)
        if n == 0:
            raise OffPolicyError("The log is empty.")
        if any(len(a) != n for a in (self.contexts, self.propensities, self.rewards)):
            raise OffPolicyError("Every logged visit needs a context, action, propensity, reward.")
        if self.actions.min() < 0 or self.actions.max() >= self.n_actions:
            raise OffPolicyError("A logged action is outside the action set.")
        if not ((self.propensities > 0) & (self.propensities <= 1)).all():
            raise OffPolicyError("Logged propensities must be in (0, 1].")


@dataclass(frozen=True, slots=True)
class Estimate:
    estimator: str
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    n: int
    # Kish's effective sample size of the importance weights: how many visits the estimate is
    # really worth. Far below n means the target and logging policies rarely agree.
    effective_n: float


def deterministic_target(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """The (n, n_actions) probabilities of a policy that takes `actions[i]` in context i."""
    target = np.zeros((len(actions), n_actions))
    target[np.arange(len(actions)), actions] = 1.0
    return target


def ips(
    log: LoggedBandit,
    target: np.ndarray,
    *,
    alpha: float = 0.05,
    interval: Interval = "normal",
    rng: np.random.Generator | int | None = None,
) -> Estimate:
    weights = _weights(log, target)
    terms = weights * log.rewards
    return _estimate(
        "ips", terms.mean(), terms, weights, alpha, interval, rng, lambda i: terms[i].mean(-1)
    )


def snips(
    log: LoggedBandit,
    target: np.ndarray,
    *,
    alpha: float = 0.05,
    interval: Interval = "normal",
    rng: np.random.Generator | int | None = None,
) -> Estimate:
    weights = _weights(log, target)
    if weights.sum() == 0:
        raise OffPolicyError("The target policy never takes an action the log holds.")
    weighted = weights * log.rewards
    value = float(weighted.sum() / weights.sum())
    # Delta method: the ratio's influence terms; their mean is 0, their spread is the variance.
    terms = weights * (log.rewards - value) / weights.mean()
    return _estimate(
        "snips",
        value,
        terms,
        weights,
        alpha,
        interval,
        rng,
        lambda i: weighted[i].sum(-1) / weights[i].sum(-1),
    )


def doubly_robust(
    log: LoggedBandit,
    target: np.ndarray,
    reward_model: np.ndarray | None = None,
    *,
    alpha: float = 0.05,
    interval: Interval = "normal",
    rng: np.random.Generator | int | None = None,
) -> Estimate:
    """`reward_model` is the (n, n_actions) predicted reward of every action in each logged
    context; by default `reward_table(log)` (cross-fitted means per context and action)."""
    weights = _weights(log, target)
    predicted = reward_table(log) if reward_model is None else np.asarray(reward_model, float)
    if predicted.shape != target.shape:
        raise OffPolicyError("The reward model needs one prediction per visit and action.")
    rows = np.arange(len(log.actions))
    terms = (target * predicted).sum(axis=1) + weights * (
        log.rewards - predicted[rows, log.actions]
    )
    return _estimate(
        "dr", terms.mean(), terms, weights, alpha, interval, rng, lambda i: terms[i].mean(-1)
    )


def evaluate(
    log: LoggedBandit,
    target: np.ndarray,
    *,
    alpha: float = 0.05,
    interval: Interval = "normal",
    rng: np.random.Generator | int | None = None,
) -> dict[str, Estimate]:
    """IPS, SNIPS and DR of `target` from `log`, by name."""
    return {
        "ips": ips(log, target, alpha=alpha, interval=interval, rng=rng),
        "snips": snips(log, target, alpha=alpha, interval=interval, rng=rng),
        "dr": doubly_robust(log, target, alpha=alpha, interval=interval, rng=rng),
    }


def reward_table(log: LoggedBandit, folds: int = 2, seed: int = 0) -> np.ndarray:
    """Cross-fitted mean reward per (context, action): each visit's predictions come from the
    other folds' visits only, so DR's residual term is not fitted to its own noise. A cell no
    other fold saw falls back to the action's mean, then to the overall mean."""
    n = len(log.actions)
    fold = np.random.default_rng(seed).integers(0, folds, n)
    n_contexts = int(log.contexts.max()) + 1
    cells = log.contexts * log.n_actions + log.actions
    size = n_contexts * log.n_actions
    out = np.empty((n, log.n_actions))
    for f in range(folds):
        train, test = fold != f, fold == f
        if not test.any():
            continue
        overall = log.rewards[train].mean() if train.any() else log.rewards.mean()
        action_n = np.bincount(log.actions[train], minlength=log.n_actions)
        action_sum = np.bincount(
            log.actions[train], weights=log.rewards[train], minlength=log.n_actions
        )
        action_mean = np.where(action_n > 0, action_sum / np.maximum(action_n, 1), overall)
        cell_n = np.bincount(cells[train], minlength=size).reshape(n_contexts, -1)
        cell_sum = np.bincount(cells[train], weights=log.rewards[train], minlength=size).reshape(
            n_contexts, -1
        )
        table = np.where(cell_n > 0, cell_sum / np.maximum(cell_n, 1), action_mean[None, :])
        out[test] = table[log.contexts[test]]
    return out


def _weights(log: LoggedBandit, target: np.ndarray) -> np.ndarray:
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (len(log.actions), log.n_actions):
        raise OffPolicyError("The target policy needs probabilities for every visit and action.")
    if (target < 0).any() or not np.allclose(target.sum(axis=1), 1.0):
        raise OffPolicyError("The target policy's probabilities must sum to 1 in each context.")
    return target[np.arange(len(log.actions)), log.actions] / log.propensities


def _estimate(
    name: str,
    value: float,
    terms: np.ndarray,
    weights: np.ndarray,
    alpha: float,
    interval: Interval,
    rng: np.random.Generator | int | None,
    statistic: Callable[[np.ndarray], np.ndarray],
) -> Estimate:
    """`terms` are the per-visit influence terms (their mean's standard error is the normal
    interval's); `statistic(index)` recomputes the estimator on visits `index` (last axis) for
    the bootstrap."""
    n = len(terms)
    std_error = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    if interval == "normal":
        half = stats.norm.ppf(1 - alpha / 2) * std_error
        low, high = value - half, value + half
    elif interval == "bootstrap":
        # Resampling visit indices keeps each visit's weight, reward and prediction together.
        result = stats.bootstrap(
            (np.arange(n),),
            lambda index, axis: statistic(index),  # the index's last axis is the visits
            vectorized=True,
            n_resamples=999,
            batch=50,  # bounds memory: 50 resamples of n indices at a time
            confidence_level=1 - alpha,
            method="percentile",
            rng=np.random.default_rng(rng),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    else:
        raise OffPolicyError(f"Unknown interval {interval!r}: choose normal or bootstrap.")
    effective = float(weights.sum() ** 2 / (weights**2).sum()) if (weights > 0).any() else 0.0
    return Estimate(name, float(value), std_error, float(low), float(high), n, effective)
