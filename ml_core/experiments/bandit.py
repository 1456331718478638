"""Thompson sampling over arms (strategies), optionally per context segment.

Each arm's reward model is conjugate, so its state is a few sufficient statistics per arm and
segment (count, sum, sum of squares): updates are additions, a batch of logged visits is one
update, and the state is a plain dict that can live in Redis or a JSON column.

- `bernoulli` (clicks): Beta(a0 + successes, b0 + failures) over the arm's click rate.
- `gaussian` (revenue per visit): Normal-Inverse-Gamma over the arm's mean and variance; the
  mean's marginal posterior is a Student t, which is what Thompson sampling draws from.

Every choice comes with its propensity: the probability that Thompson sampling, under the
current posterior, picks that arm. That is P(arm's draw is the largest) = integral of
prod_{b != a} F_b(x) dF_a(x) over independent posteriors; it is computed by quadrature on each
arm's quantile grid (deterministic, no Monte Carlo noise), which is what off-policy evaluation
needs from the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from retail.errors import AisleError

Reward = Literal["bernoulli", "gaussian"]
REWARDS: tuple[Reward, ...] = ("bernoulli", "gaussian")
# The key of the one segment a sampler without context uses.
ALL = "*"
# Quantile points per arm for the propensity quadrature (midpoint rule in probability): within
# 1e-4 of the exact value, also for posteriors far narrower than the gaps between them.
_GRID = 256
DEFAULT_PRIORS: dict[Reward, dict[str, float]] = {
    # Uniform over the click rate.
    "bernoulli": {"a": 1.0, "b": 1.0},
    # Centred on zero with the weight of a hundredth of an observation; alpha 1 gives the mean a
    # t with 2 degrees of freedom: wide enough that no arm is ruled out before it is tried.
    "gaussian": {"mu": 0.0, "kappa": 0.01, "alpha": 1.0, "beta": 1.0},
}


class BanditError(AisleError):
    """A bandit was given an unknown arm, a reward outside its model, or a malformed state."""


@dataclass(frozen=True, slots=True)
class Choice:
    arm: str
    propensity: float


class ThompsonSampler:
    """Thompson sampling over `arms`, with one posterior per arm and segment.

    A segment (a device, a placement, "mobile/home") learns on its own; `segment=None` is the
    pooled one. `rng` makes the draws reproducible.
    """

    def __init__(
        self,
        arms: Sequence[str],
        reward: Reward = "bernoulli",
        *,
        prior: Mapping[str, float] | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        if len(arms) < 2 or len(set(arms)) != len(arms):
            raise BanditError("A bandit needs at least two arms, each named once.")
        if reward not in REWARDS:
            raise BanditError(f"Unknown reward model {reward!r}: choose from {', '.join(REWARDS)}.")
        self.arms = tuple(arms)
        self.reward: Reward = reward
        self.prior = {**DEFAULT_PRIORS[reward], **(prior or {})}
        self.rng = np.random.default_rng(rng)
        self._index = {arm: i for i, arm in enumerate(self.arms)}
        # Per segment: (n_arms, 3) array of count, sum and sum of squares of the rewards.
        self._stats: dict[str, np.ndarray] = {}
        # Per segment: the propensities of the current posterior, until the next update.
        self._propensities: dict[str, np.ndarray] = {}

    # -- choosing ---------------------------------------------------------------------------

    def choose(self, segment: str | None = None) -> Choice:
        """One Thompson draw: the arm whose sampled mean is largest, with its propensity."""
        arms, propensities = self.choose_many(1, segment)
        return Choice(self.arms[int(arms[0])], float(propensities[0]))

    def choose_many(self, n: int, segment: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`n` independent Thompson draws under the current posterior (a batch of visits served
        before the next update): arm indices and each one's propensity."""
        draws = self.posterior(segment).rvs(size=(n, len(self.arms)), random_state=self.rng)
        chosen = draws.argmax(axis=1)
        return chosen, self.propensities(segment)[chosen]

    def propensities(self, segment: str | None = None) -> np.ndarray:
        """P(Thompson sampling picks each arm) under the segment's posterior; sums to 1."""
        key = _key(segment)
        if key not in self._propensities:
            self._propensities[key] = choice_probabilities(self.posterior(segment))
        return self._propensities[key].copy()

    def posterior(self, segment: str | None = None) -> Any:
        """The arms' posteriors over their mean rewards: one frozen scipy distribution with a
        parameter per arm (its methods answer per arm along the last axis)."""
        n, total, squares = self._segment(segment).T
        p = self.prior
        if self.reward == "bernoulli":
            return stats.beta(p["a"] + total, p["b"] + n - total)
        mean = np.divide(total, n, out=np.zeros_like(total), where=n > 0)
        kappa = p["kappa"] + n
        mu = (p["kappa"] * p["mu"] + total) / kappa
        alpha = p["alpha"] + n / 2
        spread = np.maximum(squares - n * mean**2, 0.0)  # squared deviations, rounding clipped
        beta = p["beta"] + spread / 2 + p["kappa"] * n * (mean - p["mu"]) ** 2 / (2 * kappa)
        return stats.t(df=2 * alpha, loc=mu, scale=np.sqrt(beta / (alpha * kappa)))

    def means(self, segment: str | None = None) -> np.ndarray:
        """Each arm's posterior mean reward."""
        return np.asarray(self.posterior(segment).mean(), dtype=np.float64)

    # -- learning ---------------------------------------------------------------------------

    def update(self, arm: str, reward: float, segment: str | None = None) -> None:
        self.update_many([arm], [reward], segment)

    def update_many(
        self,
        arms: Sequence[str] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        segment: str | None = None,
    ) -> None:
        """Add a batch of observed rewards; `arms` are names or indices into `self.arms`."""
        codes = self._codes(arms)
        values = np.asarray(rewards, dtype=np.float64)
        if values.shape != codes.shape:
            raise BanditError("Give one reward per arm played.")
        if not np.isfinite(values).all():
            raise BanditError("Rewards must be finite numbers.")
        if self.reward == "bernoulli" and not np.isin(values, (0.0, 1.0)).all():
            raise BanditError("A Bernoulli bandit's rewards are 0 or 1.")
        stats_ = self._segment(segment)
        self._propensities.pop(_key(segment), None)
        n_arms = len(self.arms)
        stats_[:, 0] += np.bincount(codes, minlength=n_arms)
        stats_[:, 1] += np.bincount(codes, weights=values, minlength=n_arms)
        stats_[:, 2] += np.bincount(codes, weights=values**2, minlength=n_arms)

    def counts(self, segment: str | None = None) -> np.ndarray:
        """How many rewards each arm has been updated with."""
        return self._segment(segment)[:, 0].copy()

    # -- state ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready state (arms, reward model, prior, per-segment statistics)."""
        return {
            "arms": list(self.arms),
            "reward": self.reward,
            "prior": dict(self.prior),
            "segments": {key: value.tolist() for key, value in self._stats.items()},
        }

    @classmethod
    def from_dict(
        cls, state: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> ThompsonSampler:
        try:
            sampler = cls(state["arms"], state["reward"], prior=state["prior"], rng=rng)
            for key, rows in state["segments"].items():
                array = np.asarray(rows, dtype=np.float64)
                if array.shape != (len(sampler.arms), 3):
                    raise BanditError(f"Segment {key!r} has statistics of the wrong shape.")
                sampler._stats[str(key)] = array
        except (KeyError, TypeError, ValueError) as exc:
            raise BanditError(f"Not a Thompson sampler's state: {exc}.") from None
        return sampler

    def _segment(self, segment: str | None) -> np.ndarray:
        key = _key(segment)
        if key not in self._stats:
            self._stats[key] = np.zeros((len(self.arms), 3))
        return self._stats[key]

    def _codes(self, arms: Sequence[str] | np.ndarray) -> np.ndarray:
        values = np.asarray(arms)
        if values.dtype.kind in "iu":
            if len(values) and (values.min() < 0 or values.max() >= len(self.arms)):
                raise BanditError("An arm index is out of range.")
            return values.astype(np.int64)
        try:
            return np.array([self._index[str(a)] for a in values], dtype=np.int64)
        except KeyError as exc:
            raise BanditError(
                f"Unknown arm {exc.args[0]!r}: the arms are {', '.join(self.arms)}."
            ) from None


def _key(segment: str | None) -> str:
    return ALL if segment is None else segment


def choice_probabilities(dists: Any) -> np.ndarray:
    """P(arm a's draw is the largest) for independent continuous distributions, given as one
    frozen scipy distribution with a parameter per arm (`stats.beta(a_array, b_array)`).

    P(a) = integral over u in (0, 1) of prod_{b != a} F_b(F_a^-1(u)) du: the midpoint rule in
    probability, so the points sit where arm a has its mass however narrow or heavy-tailed its
    posterior is; renormalised so rounding cannot leave the sum off 1.
    """
    levels = (np.arange(_GRID) + 0.5) / _GRID
    points = dists.ppf(levels[:, None])  # (grid, arms): arm a's quantiles in column a
    below = dists.cdf(points[:, :, None])  # [g, a, b] = F_b(arm a's g-th quantile)
    arms = below.shape[1]
    below[:, np.arange(arms), np.arange(arms)] = 1.0
    out = below.prod(axis=2).mean(axis=0)
    return np.asarray(out / out.sum(), dtype=np.float64)
