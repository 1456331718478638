"""The simulated market: shoppers whose taste is known, shown recommendations, clicking and buying.

The generated world (`retail/world/shoppers.py`) gave every customer and product a latent vector;
a customer's utility for a product is their dot product plus the product's log popularity, the
score the world's own sessions were sampled from (saved in the world folder as
`preferences.npz`, prices and launch dates in `products.parquet`). This module puts visitors in
front of a policy's ranked list and lets them respond by that truth, so every experiment, bandit
and off-policy estimate can be checked against the true effect.

A visit, by the position-based click model:
- a visitor arrives at a placement: a signed-in customer (drawn by their activity) or, with
  probability `anonymous_share`, an anonymous visitor whose taste is a customer's drawn uniformly
  from the population (the policy sees only a session id); a visit is one session and one list;
- the policy shows k products; position i (0 first) is examined with probability
  1 / log2(i + 2) on desktop and its square on mobile, whose small screen shows fewer items;
- an examined product is clicked with probability sigmoid(a + click_slope * score), the
  intercept a calibrated on the world so that a uniformly random product is clicked
  `random_click_rate` of the times it is examined (CTRs then look like a storefront's: a few %);
- a click becomes an add-to-cart with probability sigmoid(c + click_slope * score -
  price_sensitivity * log(price / median price)), c calibrated so `cart_rate` of the clicks on
  random products are carted, and a cart becomes a purchase with probability
  `purchase_given_cart` (the world's sessions use 0.22 and 0.5); revenue is the product's price.

`Market.expected` gives a policy's TRUE value (clicks, add-to-carts, purchases and revenue per
visit, and the chance of at least one click) as the expectation over the click model for each
visitor, averaged over the whole population with its weights: no sampling, except over a
stochastic policy's own draws (random ranking, a mixture of arms), which it averages over.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from sqlalchemy import Engine

from retail.errors import AisleError
from retail.world.shoppers import Preferences

DEVICES = ("desktop", "mobile")
PLACEMENTS = ("home", "product", "cart", "post_purchase")
# Taste rows the calibration reads: every customer of the small world, a sample of larger ones.
_CALIBRATION_ROWS = 2_000
# Visitors scored at once: bounds the (batch x products) utility block.
_BATCH = 2_048


class MarketError(AisleError):
    """The world cannot be simulated (no generated world, a bad parameter)."""


@dataclass(frozen=True, slots=True)
class ClickModel:
    """How visitors examine, click and buy; the defaults give storefront-like rates."""

    k: int = 8
    click_slope: float = 0.4
    random_click_rate: float = 0.005
    cart_rate: float = 0.2
    price_sensitivity: float = 0.5
    purchase_given_cart: float = 0.5
    anonymous_share: float = 0.4
    mobile_share: float = 0.6

    def __post_init__(self) -> None:
        if self.k < 1:
            raise MarketError("Show at least one item (k >= 1).")
        for name in ("random_click_rate", "cart_rate", "purchase_given_cart"):
            if not 0 < getattr(self, name) < 1:
                raise MarketError(f"{name} must be between 0 and 1.")
        for name in ("anonymous_share", "mobile_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise MarketError(f"{name} must be between 0 and 1.")

    def examination(self, devices: np.ndarray, k: int) -> np.ndarray:
        """(n, k) probability that each position is looked at, by device."""
        desktop = 1 / np.log2(np.arange(k) + 2.0)
        return np.where((devices == "mobile")[:, None], desktop**2, desktop)


@dataclass(frozen=True, slots=True)
class Visitors:
    """A batch of visits (or, with `weight`, the population the expectation averages over)."""

    taste: np.ndarray  # (n,) row of the world's customer vectors whose taste the visitor has
    customer_id: np.ndarray  # (n,) the signed-in customer's id, "" when anonymous
    session_id: np.ndarray  # (n,) the visit's session
    device: np.ndarray  # (n,) "desktop" | "mobile"
    placement: str = "home"
    weight: np.ndarray | None = None  # (n,) population weights, summing to 1

    def __len__(self) -> int:
        return len(self.taste)

    @property
    def signed_in(self) -> np.ndarray:
        return self.customer_id != ""

    @property
    def unit_id(self) -> np.ndarray:
        """What experiments assign: the customer, or `session:<id>` for an anonymous visitor."""
        anonymous = np.char.add("session:", self.session_id.astype(str))
        return np.where(self.signed_in, self.customer_id, anonymous).astype(object)

    def take(self, index: np.ndarray) -> Visitors:
        return Visitors(
            self.taste[index],
            self.customer_id[index],
            self.session_id[index],
            self.device[index],
            self.placement,
            None if self.weight is None else self.weight[index],
        )


@dataclass(frozen=True, slots=True)
class Slates:
    """What a policy showed: (n, k) product positions in the market's catalogue (-1: empty
    slot), and for a policy that chooses among arms, each visit's arm and its propensity."""

    items: np.ndarray
    arm: np.ndarray | None = None
    propensity: np.ndarray | None = None


class Policy(Protocol):
    """Ranks products for a batch of visitors. `stochastic`: whether two calls can differ."""

    name: str
    stochastic: bool

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates: ...


@dataclass(frozen=True, slots=True)
class Visits:
    """The log of simulated visits, one row per visit; item columns are (n, k)."""

    visitors: Visitors
    items: np.ndarray
    clicks: np.ndarray
    carts: np.ndarray
    purchases: np.ndarray
    revenue: np.ndarray  # (n,)
    arm: np.ndarray  # (n,) object; None where the policy has no arms
    propensity: np.ndarray  # (n,) float; NaN where the policy has no arms

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def concat(parts: Sequence[Visits], visitors: Visitors) -> Visits:
        """The batches' logs as one, for `visitors` (the batches' visitors, in order)."""
        if not parts:
            raise MarketError("There are no visits to put together.")
        columns = ("items", "clicks", "carts", "purchases", "revenue", "arm", "propensity")
        return Visits(visitors, *(np.concatenate([getattr(p, c) for p in parts]) for c in columns))

    def take(self, index: np.ndarray) -> Visits:
        return Visits(
            self.visitors.take(index),
            self.items[index],
            self.clicks[index],
            self.carts[index],
            self.purchases[index],
            self.revenue[index],
            self.arm[index],
            self.propensity[index],
        )

    def unit_outcomes(self, pre: Visits | None = None) -> pd.DataFrame:
        """One row per unit and arm, the shape `ml_core.experiments.stats` reads: unit_id, arm,
        visits, clicks, add_to_carts, purchases, revenue, each count's sum of squares per visit
        (`clicks_sq`, ...: for the variance profile), and the unit's pre_visits, pre_purchases
        and pre_revenue in the `pre` period's visits (0 for a unit absent from it or when there
        is none)."""
        counts = {
            "clicks": self.clicks.sum(axis=1),
            "add_to_carts": self.carts.sum(axis=1),
            "purchases": self.purchases.sum(axis=1),
            "revenue": self.revenue,
        }
        frame = pd.DataFrame(
            {
                "unit_id": self.visitors.unit_id,
                "arm": self.arm,
                "visits": 1,
                **counts,
                **{f"{name}_sq": np.square(values) for name, values in counts.items()},
            }
        )
        units = frame.groupby(["unit_id", "arm"], dropna=False, sort=True).sum().reset_index()
        covariates = ("pre_visits", "pre_purchases", "pre_revenue")
        if pre is None:
            units[list(covariates)] = 0.0
            return units
        before = (
            pd.DataFrame(
                {
                    "pre_visits": 1.0,
                    "pre_purchases": pre.purchases.sum(axis=1).astype(float),
                    "pre_revenue": pre.revenue,
                },
                index=pd.Index(pre.visitors.unit_id, name="unit_id"),
            )
            .groupby(level=0)
            .sum()
        )
        joined = units[["unit_id"]].join(before, on="unit_id").fillna(0.0)
        units[list(covariates)] = joined[list(covariates)].to_numpy()
        return units

    def summary(self) -> dict[str, float]:
        """Observed per-visit rates: the sampled counterpart of `Expected`."""
        n = max(len(self), 1)
        return {
            "visits": float(len(self)),
            "ctr": float(self.clicks.sum() / n),
            "click_rate": float(self.clicks.any(axis=1).mean()) if len(self) else 0.0,
            "add_to_cart_rate": float(self.carts.sum() / n),
            "conversion": float(self.purchases.sum() / n),
            "revenue_per_visit": float(self.revenue.sum() / n),
        }


@dataclass(frozen=True, slots=True)
class Expected:
    """A policy's true per-visit values under the click model."""

    ctr: float  # expected clicks per visit (stats.py's CTR: clicks / visits)
    click_rate: float  # P(at least one click): a bandit's Bernoulli reward
    add_to_cart_rate: float
    conversion: float  # expected purchases per visit
    revenue_per_visit: float


class Market:
    """The world's shoppers and products under a click model; reproducible from `seed`."""

    def __init__(
        self,
        preferences: Preferences,
        customer_ids: np.ndarray,
        product_ids: np.ndarray,
        prices: np.ndarray,
        live: np.ndarray,
        popularity: np.ndarray,
        model: ClickModel | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.preferences = preferences
        self.customer_ids = np.asarray(customer_ids, dtype=object)
        self.product_ids = np.asarray(product_ids, dtype=object)
        self.product_index = pd.Index(self.product_ids)
        self.prices = np.asarray(prices, dtype=np.float64)
        self.live = np.asarray(live, dtype=bool)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.model = model or ClickModel()
        if not self.live.any():
            raise MarketError("The world has no products on sale.")
        population = np.random.default_rng(seed)
        # How often each customer visits: the lognormal spread of the world's own sessions.
        activity = population.lognormal(0.0, 0.7, len(self.customer_ids))
        self.activity = activity / activity.sum()
        self._log_price = np.log(self.prices / np.median(self.prices[self.live]))
        self._click_intercept, self._cart_intercept = self._calibrate(population)

    @classmethod
    def from_world(
        cls, world_dir: Path, model: ClickModel | None = None, *, seed: int = 0
    ) -> Market:
        """The market of the generated world saved in `world_dir` (`aisle data seed` writes it)."""
        try:
            npz = np.load(world_dir / "preferences.npz", allow_pickle=False)
            products = pd.read_parquet(world_dir / "products.parquet")
            manifest = json.loads((world_dir / "manifest.json").read_text())
        except FileNotFoundError:
            raise MarketError(
                f"There is no generated world in {world_dir}; run `aisle data seed` first."
            ) from None
        product_ids = npz["product_ids"].astype(str)
        products = products.set_index("product_id").reindex(product_ids)
        end = pd.Timestamp(manifest["end"])
        return cls(
            Preferences(npz["customer_vectors"], npz["product_vectors"], npz["log_popularity"]),
            npz["customer_ids"].astype(str),
            product_ids,
            products["base_price"].to_numpy(),
            (pd.to_datetime(products["launch_date"]) <= end).to_numpy(),
            products["popularity"].to_numpy(),
            model,
            seed=seed,
        )

    # -- visitors ----------------------------------------------------------------------------

    def visitors(
        self,
        n: int,
        rng: np.random.Generator,
        *,
        placement: str = "home",
        session_prefix: str = "anon",
    ) -> Visitors:
        """`n` visits, each a session of its own with one list shown: signed-in customers by
        activity (they come back), anonymous visitors with a taste drawn uniformly from the
        population. An anonymous visitor is known only by the session (the unit is
        `session:<id>`), so each anonymous visit is a unit of its own, as in the storefront's log;
        the experiment report's visits (sessions) are then exactly these visits."""
        if placement not in PLACEMENTS:
            raise MarketError(f"Unknown placement {placement!r}: choose {', '.join(PLACEMENTS)}.")
        model = self.model
        anonymous = rng.random(n) < model.anonymous_share
        taste = rng.choice(len(self.customer_ids), size=n, p=self.activity)
        taste[anonymous] = rng.integers(0, len(self.customer_ids), int(anonymous.sum()))
        customer = np.where(anonymous, "", self.customer_ids[taste]).astype(object)
        device = np.where(rng.random(n) < model.mobile_share, "mobile", "desktop").astype(object)
        session = np.array([f"{session_prefix}-{i}" for i in range(n)], dtype=object)
        return Visitors(taste, customer, session, device, placement)

    def population(self, placement: str = "home") -> Visitors:
        """Every kind of visit once, weighted by how often it happens: each customer signed in
        and anonymous, on each device. Averages over it are exact population expectations."""
        n = len(self.customer_ids)
        model = self.model
        rows = np.tile(np.arange(n), 4)
        signed_in = np.repeat([True, True, False, False], n)
        device = np.repeat(np.array(["desktop", "mobile"] * 2, dtype=object), n)
        device_share = np.where(device == "mobile", model.mobile_share, 1 - model.mobile_share)
        who = np.where(signed_in, np.tile(self.activity, 4), 1.0 / n)
        share = np.where(signed_in, 1 - model.anonymous_share, model.anonymous_share)
        customer = np.where(signed_in, self.customer_ids[rows], "").astype(object)
        session = np.array([f"population-{i}" for i in range(len(rows))], dtype=object)
        return Visitors(rows, customer, session, device, placement, who * share * device_share)

    # -- the truth ---------------------------------------------------------------------------

    def utility(self, visitors: Visitors) -> np.ndarray:
        """(n, products) true score: the visitor's taste . product + log popularity."""
        return self.preferences.scores(visitors.taste)

    def click_probability(self, scores: np.ndarray) -> np.ndarray:
        return expit(self._click_intercept + self.model.click_slope * scores)

    def cart_probability(self, scores: np.ndarray, products: np.ndarray) -> np.ndarray:
        """P(add to cart | click) for `scores` of `products` (same shape, or scores (n, all)
        with `products` every product)."""
        model = self.model
        return expit(
            self._cart_intercept
            + model.click_slope * scores
            - model.price_sensitivity * self._log_price[products]
        )

    def _slots(self, visitors: Visitors, items: np.ndarray) -> tuple[np.ndarray, ...]:
        """(shown, P(examined), P(click), P(cart | click)) of each slot of each list, the shown
        products alone scored: a list is a few of the catalogue's products."""
        shown = items >= 0
        safe = np.where(shown, items, 0)
        scores = self.preferences.scores_of(visitors.taste, safe)
        return (
            shown,
            self.model.examination(visitors.device, items.shape[1]),
            self.click_probability(scores),
            self.cart_probability(scores, safe),
        )

    def respond(self, visitors: Visitors, slates: Slates, rng: np.random.Generator) -> Visits:
        """Each visitor looks at their list and clicks, carts and buys by their true utility."""
        items = slates.items
        n, k = items.shape
        shown, examination, click, cart = self._slots(visitors, items)
        examined = rng.random((n, k)) < examination
        clicks = shown & examined & (rng.random((n, k)) < click)
        carts = clicks & (rng.random((n, k)) < cart)
        purchases = carts & (rng.random((n, k)) < self.model.purchase_given_cart)
        revenue = (purchases * self.prices[np.where(shown, items, 0)]).sum(axis=1)
        return Visits(
            visitors,
            items,
            clicks,
            carts,
            purchases,
            revenue,
            np.full(n, None, dtype=object) if slates.arm is None else slates.arm.astype(object),
            np.full(n, np.nan) if slates.propensity is None else slates.propensity,
        )

    def simulate(
        self,
        policy: Policy,
        visitors: Visitors,
        rng: np.random.Generator,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> Visits:
        """`policy` serves every visit, in batches; `on_batch(n)` reports progress."""
        parts = []
        for start in range(0, len(visitors), _BATCH):
            batch = visitors.take(np.arange(start, min(start + _BATCH, len(visitors))))
            slates = policy.show(batch, self.model.k, rng)
            parts.append(self.respond(batch, slates, rng))
            if on_batch is not None:
                on_batch(len(batch))
        return Visits.concat(parts, visitors)

    def expected(
        self, policy: Policy, visitors: Visitors | None = None, *, draws: int = 8
    ) -> Expected:
        """The policy's true per-visit values over `visitors` (default: the whole population,
        weighted). A stochastic policy is averaged over `draws` of its own choices."""
        visitors = self.population() if visitors is None else visitors
        weight = visitors.weight
        if weight is None:
            weight = np.full(len(visitors), 1 / len(visitors))
        totals = np.zeros(5)
        rng = np.random.default_rng(0)
        for _ in range(draws if policy.stochastic else 1):
            for start in range(0, len(visitors), _BATCH):
                index = np.arange(start, min(start + _BATCH, len(visitors)))
                batch = visitors.take(index)
                slates = policy.show(batch, self.model.k, rng)
                totals += weight[index] @ self.expected_per_visit(batch, slates.items)
        totals /= draws if policy.stochastic else 1
        return Expected(*(float(v) for v in totals))

    def expected_per_visit(self, visitors: Visitors, items: np.ndarray) -> np.ndarray:
        """(n, 5): expected clicks, P(any click), add-to-carts, purchases and revenue of each
        visit given the list it was shown."""
        shown, examination, click, cart = self._slots(visitors, items)
        clicked = shown * examination * click
        carted = clicked * cart
        bought = carted * self.model.purchase_given_cart
        return np.column_stack(
            [
                clicked.sum(axis=1),
                1 - np.prod(1 - clicked, axis=1),
                carted.sum(axis=1),
                bought.sum(axis=1),
                (bought * self.prices[np.where(shown, items, 0)]).sum(axis=1),
            ]
        )

    def _calibrate(self, rng: np.random.Generator) -> tuple[float, float]:
        """Intercepts that give a uniformly random product the model's click and cart rates."""
        n = len(self.customer_ids)
        rows = np.arange(n) if n <= _CALIBRATION_ROWS else rng.choice(n, _CALIBRATION_ROWS, False)
        scores = self.preferences.scores(rows)[:, self.live]
        model = self.model
        slope_scores = model.click_slope * scores

        def click_gap(a: float) -> float:
            return float(expit(a + slope_scores).mean() - model.random_click_rate)

        click_intercept = brentq(click_gap, -50, 50)
        clicks = expit(click_intercept + slope_scores)
        price = model.price_sensitivity * self._log_price[self.live][None, :]

        def cart_gap(c: float) -> float:
            carted = clicks * expit(c + slope_scores - price)
            return float(carted.sum() / clicks.sum() - model.cart_rate)

        return click_intercept, brentq(cart_gap, -50, 50)


# -- policies ---------------------------------------------------------------------------------


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores per row, best first (-inf entries become -1)."""
    k_eff = min(k, scores.shape[1])
    top = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    top = np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top, -1)
    if k_eff < k:
        top = np.pad(top, ((0, 0), (0, k - k_eff)), constant_values=-1)
    return top


@dataclass
class RandomPolicy:
    """k products on sale, uniformly at random: the floor every policy should beat."""

    market: Market
    name: str = "random"
    stochastic: bool = True

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        keys = rng.random((len(visitors), len(self.market.live)))
        return Slates(_top_k(np.where(self.market.live, keys, -np.inf), k))


@dataclass
class PopularityPolicy:
    """The world's best sellers for everyone: what a well-measured top-sellers list shows."""

    market: Market
    name: str = "popularity"
    stochastic: bool = False

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        keys = np.where(self.market.live, self.market.popularity, -np.inf)
        return Slates(np.repeat(_top_k(keys[None, :], k), len(visitors), axis=0))


@dataclass
class OraclePolicy:
    """Ranks by each visitor's true utility, anonymous or not: the ceiling. With `noise` > 0,
    a model that knows the truth only up to a fixed low-rank error (visitor x product), so its
    mistakes are the same on every visit, as a trained model's are."""

    market: Market
    noise: float = 0.0
    seed: int = 0
    name: str = "oracle"
    stochastic: bool = False
    _error: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.noise > 0:
            rng = np.random.default_rng(self.seed)
            dim = self.market.preferences.customer_vectors.shape[1]
            self._error = (
                rng.normal(0, 1, (len(self.market.customer_ids), dim)),
                rng.normal(0, 1, (len(self.market.product_ids), dim)) / np.sqrt(dim),
            )
            if self.name == "oracle":
                self.name = f"oracle+noise{self.noise:g}"

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        scores = self.market.utility(visitors)
        if self._error is not None:
            rows, cols = self._error
            scores = scores + self.noise * (rows[visitors.taste] @ cols.T)
        return Slates(_top_k(np.where(self.market.live, scores, -np.inf), k))


@dataclass
class RecommenderPolicy:
    """A trained `ml_core.recommend` model: signed-in customers by their history, anonymous
    sessions by its cold start (popularity). Items a customer touched before are shown again:
    the simulated taste does not tire of a product, so hiding them would only handicap it."""

    market: Market
    model: Any  # ml_core.recommend.base.Recommender
    name: str = "recommender"
    stochastic: bool = False

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        positions = self.market.product_index.get_indexer(self.model.item_ids_)
        allowed = positions >= 0
        allowed[allowed] = self.market.live[positions[allowed]]
        users = np.where(visitors.signed_in, visitors.customer_id, visitors.unit_id)
        recs = self.model.recommend(users.astype(str), k, exclude_seen=False, allowed=allowed)
        items = np.where(recs.items >= 0, positions[np.maximum(recs.items, 0)], -1)
        return Slates(items)


@dataclass
class CallablePolicy:
    """Any function of one visitor returning product ids (best first), or (ids, arm,
    propensity); ids outside the catalogue are shown as empty slots."""

    market: Market
    function: Callable[[Mapping[str, Any]], Any]
    name: str = "callable"
    stochastic: bool = True

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        items = np.full((len(visitors), k), -1, dtype=np.int64)
        arms: list[Any] = []
        propensities: list[float] = []
        for i in range(len(visitors)):
            answer = self.function(
                {
                    "customer_id": visitors.customer_id[i] or None,
                    "session_id": visitors.session_id[i],
                    "unit_id": visitors.unit_id[i],
                    "device": visitors.device[i],
                    "placement": visitors.placement,
                }
            )
            ids, arm, propensity = (
                answer if isinstance(answer, tuple) else (answer, None, float("nan"))
            )
            chosen = self.market.product_index.get_indexer(list(ids)[:k])
            items[i, : len(chosen)] = chosen
            arms.append(arm)
            propensities.append(float(propensity))
        has_arms = any(a is not None for a in arms)
        return Slates(
            items,
            np.array(arms, dtype=object) if has_arms else None,
            np.array(propensities) if has_arms else None,
        )


Chooser = Callable[[Visitors, np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""Picks an arm per visit: (arm indices, -1 for a visit outside the experiment; propensities)."""


@dataclass
class ArmsPolicy:
    """Each visit is served by the arm `choose` picks (an experiment's assignment, a bandit,
    uniform allocation); a visit outside the experiment (index -1) gets `fallback`."""

    arms: Mapping[str, Policy]
    choose: Chooser
    fallback: Policy | None = None
    name: str = "arms"
    stochastic: bool = True

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        chosen, propensity = self.choose(visitors, rng)
        names = list(self.arms)
        items = np.full((len(visitors), k), -1, dtype=np.int64)
        arm = np.full(len(visitors), None, dtype=object)
        for code in np.unique(chosen):
            rows = np.flatnonzero(chosen == code)
            if code < 0:
                if self.fallback is None:
                    raise MarketError("A visit outside every arm needs a fallback policy.")
                policy = self.fallback
            else:
                policy = self.arms[names[code]]
                arm[rows] = names[code]
            items[rows] = policy.show(visitors.take(rows), k, rng).items
        return Slates(items, arm, np.where(chosen < 0, np.nan, propensity))


def uniform_chooser(n_arms: int) -> Chooser:
    """Every arm with the same probability, independently per visit."""

    def choose(visitors: Visitors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, n_arms, len(visitors)), np.full(len(visitors), 1 / n_arms)

    return choose


def unit_chooser(
    arm_names: Sequence[str], assign: Callable[[str], tuple[str, float] | None]
) -> Chooser:
    """Arms by `assign(unit_id) -> (arm, propensity)` or None (not in the experiment): the one
    seam through which an experiment's deterministic assignment reaches the market."""
    index = {name: i for i, name in enumerate(arm_names)}

    def choose(visitors: Visitors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        codes = np.full(len(visitors), -1, dtype=np.int64)
        propensity = np.full(len(visitors), np.nan)
        for i, unit in enumerate(visitors.unit_id):
            answer = assign(str(unit))
            if answer is not None:
                codes[i], propensity[i] = index[answer[0]], answer[1]
        return codes, propensity

    return choose


# -- the store's log ----------------------------------------------------------------------------


def record_visits(
    engine: Engine,
    market: Market,
    visits: Visits,
    *,
    experiment_id: str | None,
    model_versions: Mapping[str, str],
    default_version: str,
    started_at: dt.datetime | None = None,
) -> int:
    """Write the visits as the storefront would have: one `recommendations_served` row per
    visit (the exposure: unit, arm, propensity, items, device) and `shopper_events` for its
    clicks, add-to-carts and purchases, each naming the recommendation (a purchase carries its
    revenue). `experiment_id` goes on the visits that have an arm; `model_versions` maps an arm
    to the model version recorded, `default_version` is the one of visits without an arm.
    Returns the number of events written.
    Session ids should be unique to the run (`Market.visitors(session_prefix=...)`)."""
    from retail.store.bulk import table

    run = uuid.uuid4().hex[:12]
    start = started_at or dt.datetime.now(dt.UTC)
    visitors = visits.visitors
    units = visitors.unit_id
    products = market.product_ids
    served, events = [], []
    for i in range(len(visits)):
        recommendation_id = f"sim-{run}-{i}"
        # Microseconds apart, in visit order: the log reads back in the order it happened.
        at = start + dt.timedelta(microseconds=16 * i)
        customer = visitors.customer_id[i] or None
        session = str(visitors.session_id[i])
        arm = visits.arm[i]
        shown = visits.items[i]
        propensity = visits.propensity[i]
        served.append(
            {
                "id": recommendation_id,
                "served_at": at,
                "placement": visitors.placement,
                "unit_id": str(units[i]),
                "customer_id": customer,
                "session_id": session,
                "model_version": default_version if arm is None else model_versions[arm],
                "experiment_id": experiment_id if arm is not None else None,
                "arm": arm,
                "propensity": None if np.isnan(propensity) else float(propensity),
                "items": [str(products[p]) for p in shown if p >= 0],
                "context": {"device": str(visitors.device[i]), "simulated": True},
            }
        )
        for kind, mask in (
            ("click", visits.clicks[i]),
            ("add_to_cart", visits.carts[i]),
            ("purchase", visits.purchases[i]),
        ):
            for slot in np.flatnonzero(mask):
                events.append(
                    {
                        "session_id": session,
                        "customer_id": customer,
                        "occurred_at": at + dt.timedelta(microseconds=1 + int(slot)),
                        "event_type": kind,
                        "product_id": str(products[shown[slot]]),
                        "recommendation_id": recommendation_id,
                        "value": float(market.prices[shown[slot]]) if kind == "purchase" else None,
                    }
                )
    with engine.begin() as conn:
        if served:
            conn.execute(table("recommendations_served").insert(), served)
        if events:
            conn.execute(table("shopper_events").insert(), events)
    return len(events)
