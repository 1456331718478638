"""Benchmark: recommenders on the generated world, against popularity and the oracle.

Seeds the world into a temporary SQLite database (or reads an existing var directory with
`--var-dir`, holding `aisle.db` and `world/`), reads the customers' interactions the way
`aisle recommend train` does (views, add-to-carts, purchases of orders not cancelled; weights 1, 3,
5), and splits them by time: everything up to `--test-days` before the last event trains, and a
customer's products touched afterwards that they had not touched before are the relevant set
(`--relevant purchases` keeps only bought ones). Every model recommends K items per test customer,
excluding their training items, scored with `ml_core.recommend.metrics` in the same run as:
- popularity (the baseline), trending, item-item co-occurrence, EASE and the two-tower model;
- the oracle, which ranks every launched product by the customer's true latent score from
  `preferences.npz` (customer . product + log popularity, the very score sessions sample from),
  excluding the same training items. No model can beat it on average.
- the information bound, a diagnostic rather than a model (not in `ml_core`'s registry): what a
  ranker that knew the item side perfectly could reach from the same data. It is given the true
  product vectors and log popularity and the prior customers' taste is drawn from, but not the
  customer's vector: it infers that by maximum a posteriori from the customer's own training
  events under the generator's model (`retail/world/shoppers.py`), and ranks launched products by
  the latent score at it. Its assumptions, each the generator's:
  - a session views the top 1 + Poisson(2) products launched by its day, ranked by score + Gumbel
    noise; so its views, in time order, are a Plackett-Luce draw: the likelihood of each view is
    the softmax of the scores over the products launched by the session's day that the session
    has not viewed yet (a session cut by the cutoff keeps its first views, still exact);
  - carts (each view, p 0.22), purchases (each cart, p 0.5), cancellations, and how many sessions
    and views a customer has do not depend on the score: they carry no taste, so the bound reads
    views only, each weighted 1 (the models' 3 and 5 for carts and purchases are a heuristic);
  - the prior is `build_preferences`'s: x = 0.9 (w c_a + (1 - w) c_b) + N(0, 0.5^2 I), categories
    a, b uniform, w ~ U(0.5, 1), here a mixture of Gaussians with 8 nodes for w. The category
    centres c are not saved; they are redrawn from the world's seed, checked by redrawing the
    world's product and customer vectors exactly. Knowing them is knowing the population, which
    enough other customers would teach; nothing about the customer's own vector is given;
  - the MAP is found by generalised EM from the MAP under a Gaussian with the prior's mean and
    covariance and from the 3 category pairs whose means best explain the views; the mode with
    the highest posterior wins (the mixture has a mode per category pair);
  - cold-start customers have no events: they are ranked by the prior predictive, the chance a
    customer drawn from the prior picks each product (Monte Carlo). The score at the prior mean,
    or the bare log popularity, rank worse than the popularity baseline: how many customers a
    product reaches also grows with how much their scores for it vary.
  A point estimate ranks a little worse than averaging over the posterior would, so this is an
  estimate of the limit, not a strict bound.
Every model is given the item features of every product launched by the last event (category,
brand, base price, embedded name and description; text embeddings cached under
`<AISLE_VAR_DIR>/cache`), so products first touched after the cutoff (late launches) are in every
model's catalogue: these cold-start items can only be ranked by what the features say (the
two-tower); the other models place them after every item they have an opinion on. Their recall is
reported for every model next to popularity's.

Fit times are medians of `--runs` fits; `serve_ms` is the p50/p99 of single-customer top-K calls.

    .venv/bin/python benchmarks/bench_recommend_world.py
    .venv/bin/python benchmarks/bench_recommend_world.py --scale medium --runs 3
    .venv/bin/python benchmarks/bench_recommend_world.py --var-dir var --relevant purchases

Prints one JSON document on stdout; progress and the table go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select, text

from ml_core.recommend.base import Recommender
from ml_core.recommend.data import TIME
from ml_core.recommend.evaluate import interactions_from_frame, relevant_pairs
from ml_core.recommend.metrics import ITEM, USER, ranking_metrics, topk_report
from ml_core.recommend.models import RECOMMENDERS
from ml_core.recommend.store_data import (
    EVENT,
    PURCHASE,
    store_interactions,
    store_item_features,
)
from retail.settings import get_settings
from retail.store.db import make_engine
from retail.store.models import ShopperEvent
from retail.store.schema import upgrade
from retail.world.catalog import generate_catalog
from retail.world.seed import PINNED_END, seed_world
from retail.world.shoppers import LATENT_DIM, Preferences

console = Console(stderr=True)
MODELS = ("popularity", "trending", "item_item", "ease", "two_tower")
# A diagnostic row, not a model: what perfect item-side knowledge could reach (see the docstring).
BOUND = "information_bound"


def open_world(args: argparse.Namespace, scratch: Path) -> tuple[Engine, Path, float | None]:
    """The engine and world folder to read, seeding a fresh world unless --var-dir is given."""
    if args.var_dir:
        var = Path(args.var_dir)
        return make_engine(f"sqlite:///{var / 'aisle.db'}"), var / "world", None
    engine = make_engine(f"sqlite:///{scratch / 'aisle.db'}")
    upgrade(engine)
    started = time.perf_counter()
    console.print(f"seeding the {args.scale} world (seed {args.seed}) ...")
    seed_world(
        engine,
        scale=args.scale,
        seed=args.seed,
        end=PINNED_END,
        world_dir=scratch / "world",
        show_progress=False,
    )
    return engine, scratch / "world", time.perf_counter() - started


@dataclass(frozen=True)
class WorldTruth:
    """The generated world's latent preferences, and which products were launched when."""

    preferences: Preferences  # every customer and product, in preferences.npz order
    customer_ids: pd.Index
    product_ids: np.ndarray
    launched_on: np.ndarray  # datetime64[D] per product, NaT where the store does not list it
    live: np.ndarray  # launched by the world's last day: every model's catalogue


def world_truth(world: Path, engine: Engine) -> WorldTruth:
    npz = np.load(world / "preferences.npz", allow_pickle=False)
    products = npz["product_ids"].astype(str)
    with engine.connect() as conn:
        launched = pd.read_sql(text("SELECT id, launched_on FROM products"), conn)
    launched_on = (
        pd.to_datetime(launched.set_index("id")["launched_on"])
        .reindex(products)
        .to_numpy("datetime64[D]")
    )
    last_day = np.datetime64(json.loads((world / "manifest.json").read_text())["end"], "D")
    return WorldTruth(
        Preferences(npz["customer_vectors"], npz["product_vectors"], npz["log_popularity"]),
        pd.Index(npz["customer_ids"].astype(str)),
        products,
        launched_on,
        launched_on <= last_day,
    )


def latent_top_k(
    truth: WorldTruth,
    users: np.ndarray,
    scores_of: Callable[[np.ndarray], np.ndarray],
    train: pd.DataFrame,
    k: int,
) -> pd.DataFrame:
    """Top-k launched products per customer by `scores_of(rows of users)` (customers x products of
    preferences.npz), excluding the customer's training items."""
    product_col = pd.Index(truth.product_ids)
    seen = train[[USER, ITEM]].drop_duplicates()
    seen_user = pd.Index(users).get_indexer(seen[USER])
    seen_item = product_col.get_indexer(seen[ITEM])
    keep = (seen_user >= 0) & (seen_item >= 0)
    parts = []
    for start in range(0, len(users), 1024):
        stop = min(start + 1024, len(users))
        scores = scores_of(np.arange(start, stop))
        scores[:, ~truth.live] = -np.inf
        in_block = keep & (seen_user >= start) & (seen_user < stop)
        scores[seen_user[in_block] - start, seen_item[in_block]] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        parts.append(
            pd.DataFrame(
                {
                    USER: np.repeat(users[start:stop], k),
                    ITEM: truth.product_ids[top.ravel()],
                    "rank": np.tile(np.arange(1, k + 1), stop - start),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def oracle_scores(truth: WorldTruth, users: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Each customer's true latent score, the one sessions sample from."""
    rows = truth.customer_ids.get_indexer(users)
    return lambda block: truth.preferences.scores(rows[block])


# The prior `build_preferences` draws customers' taste from: categories a, b uniform, w ~ U(0.5, 1),
# x = 0.9 (w c_a + (1 - w) c_b) + N(0, 0.5^2 I). `generator_prior` checks these against the world.
TASTE_SHRINK, TASTE_NOISE, TASTE_LEAD = 0.9, 0.5, (0.5, 1.0)
# Midpoint nodes for w: 8 put neighbouring means 0.06 |c_a - c_b| apart, well under the noise.
LEAD_NODES = 8
# Multi-start: the mixture prior has a mode per category pair, so EM starts from the Gaussian
# approximation's MAP and from the pairs whose means explain the customer's views best.
PAIR_STARTS = 3
# Monte Carlo draws from the prior for the cold-start customers' ranking.
PRIOR_DRAWS = 20_000


@dataclass(frozen=True)
class TastePrior:
    """A mixture of equally likely isotropic Gaussians N(mean, sigma^2 I) over taste vectors."""

    means: np.ndarray  # (components, LATENT_DIM)
    sigma: float
    pair_means: np.ndarray  # one mean per category pair (w at its midpoint), for the starts

    def _log_weights(self, x: np.ndarray) -> np.ndarray:
        distance = (x**2).sum(1)[:, None] - 2 * x @ self.means.T + (self.means**2).sum(1)[None, :]
        return -distance / (2 * self.sigma**2)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Up to a constant."""
        parts = []
        for start in range(0, len(x), 512):
            logits = self._log_weights(x[start : start + 512])
            top = logits.max(1)
            parts.append(top + np.log(np.exp(logits - top[:, None]).sum(1)))
        return np.concatenate(parts)

    def predictive(self, preferences: Preferences, live: np.ndarray) -> np.ndarray:
        """The chance that a customer drawn from the prior picks each product of `live` first:
        the ranking for a customer with no data. Not the latent score at the prior mean: a
        product's reach across customers also grows with the spread of their scores for it."""
        rng = np.random.default_rng(0)
        draws = self.means[rng.integers(0, len(self.means), PRIOR_DRAWS)]
        draws += rng.normal(0, self.sigma, draws.shape)
        chance = np.zeros(len(live))
        for start in range(0, PRIOR_DRAWS, 2048):
            scores = Preferences(
                draws[start : start + 2048], preferences.product_vectors, preferences.log_popularity
            ).scores(np.arange(min(2048, PRIOR_DRAWS - start)))
            scores[:, ~live] = -np.inf
            weights = np.exp(scores - scores.max(1, keepdims=True))
            chance += (weights / weights.sum(1, keepdims=True)).sum(0)
        return chance / PRIOR_DRAWS

    def anchor(self, x: np.ndarray) -> np.ndarray:
        """The components' means weighted by their responsibility for x (EM's E-step)."""
        parts = []
        for start in range(0, len(x), 512):
            logits = self._log_weights(x[start : start + 512])
            weights = np.exp(logits - logits.max(1, keepdims=True))
            parts.append((weights / weights.sum(1, keepdims=True)) @ self.means)
        return np.concatenate(parts)


def generator_prior(world: Path, truth: WorldTruth) -> TastePrior:
    """The world's own prior over customer taste, as a mixture of Gaussians.

    The category centres are not saved, so they are redrawn from the world's seed with the
    streams `seed_world` gives the catalogue and the preferences; redrawing every product and
    customer vector that way and comparing with preferences.npz checks the centres and the
    constants above against the generator (a changed generator stops the benchmark, not skews it).
    """
    manifest = json.loads((world / "manifest.json").read_text())
    seed, n_products = manifest["seed"], manifest["parameters"]["n_products"]
    catalog = generate_catalog(
        np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[0]), n_products
    )
    rng = np.random.default_rng(np.random.SeedSequence(seed + 1).spawn(3)[1])
    index = {c.id: i for i, c in enumerate(catalog.categories)}
    centres = rng.normal(0.0, 1.0, size=(len(index), LATENT_DIM))
    category = np.array([index[p.category_id] for p in catalog.products])
    products = centres[category] * 0.8 + rng.normal(0, 0.6, (len(category), LATENT_DIM))
    n_customers = len(truth.customer_ids)
    first = rng.integers(0, len(index), n_customers)
    second = rng.integers(0, len(index), n_customers)
    lead = rng.uniform(*TASTE_LEAD, n_customers)[:, None]
    customers = (lead * centres[first] + (1 - lead) * centres[second]) * TASTE_SHRINK
    customers += rng.normal(0, TASTE_NOISE, (n_customers, LATENT_DIM))
    if not (
        np.allclose(products, truth.preferences.product_vectors, rtol=0, atol=1e-12)
        and np.allclose(customers, truth.preferences.customer_vectors, rtol=0, atol=1e-12)
    ):
        raise SystemExit("The world's vectors do not redraw from its seed: the prior is unknown.")

    def means(leads: np.ndarray) -> np.ndarray:
        w = leads[None, None, :, None]
        a, b = centres[:, None, None, :], centres[None, :, None, :]
        return ((w * a + (1 - w) * b) * TASTE_SHRINK).reshape(-1, LATENT_DIM)

    low, high = TASTE_LEAD
    nodes = low + (high - low) * (np.arange(LEAD_NODES) + 0.5) / LEAD_NODES
    return TastePrior(means(nodes), TASTE_NOISE, means(np.array([(low + high) / 2])))


def training_views(
    engine: Engine, truth: WorldTruth, users: np.ndarray, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """The customers' views up to the cutoff, in session order: user (row of `users`), item
    (product column), position in its session, and the session's day."""
    with engine.connect() as conn:
        views = pd.read_sql(
            select(
                ShopperEvent.id,
                ShopperEvent.session_id,
                ShopperEvent.customer_id.label(USER),
                ShopperEvent.product_id.label(ITEM),
                ShopperEvent.occurred_at.label(TIME),
            ).where(ShopperEvent.event_type == "view"),
            conn,
        )
    views[TIME] = pd.to_datetime(views[TIME], utc=True)
    views["user"] = pd.Index(users).get_indexer(views[USER].astype(str))
    views["item"] = pd.Index(truth.product_ids).get_indexer(views[ITEM].astype(str))
    views = views[(views[TIME] <= cutoff) & (views["user"] >= 0) & (views["item"] >= 0)]
    views = views.sort_values(["user", "session_id", TIME, "id"], ignore_index=True)
    sessions = views.groupby("session_id", sort=False)
    views["position"] = sessions.cumcount()
    # A session starts between 8:00 and 23:00 of its day (`_one_session`).
    first = sessions[TIME].transform("min")
    views["day"] = first.dt.tz_convert(None).dt.floor("D").to_numpy("datetime64[D]")
    return views[["user", "item", "position", "day"]]


class ViewLikelihood:
    """Log-likelihood of each customer's training views under the generator's session model, with
    its gradient and Fisher information in the taste vector.

    A session ranks the products launched by its day by score + Gumbel noise and views the top
    1 + Poisson(2) in that order (`simulate_sessions`): a Plackett-Luce draw, so its j-th view has
    probability softmax(score) over the products launched by that day and not viewed earlier in
    the session. How many sessions and views a customer has, which views are carted (p 0.22) and
    which carts are bought (p 0.5) or cancelled do not depend on the score, so views are the
    whole of what the data says about a customer's taste.
    """

    def __init__(self, preferences: Preferences, launched_on: np.ndarray, views: pd.DataFrame):
        self.preferences, self.launched_on, self.views = preferences, launched_on, views
        vectors = preferences.product_vectors
        self.vectors, self.log_popularity = vectors, preferences.log_popularity
        n_products = len(vectors)
        # Per product: 1, v, v v' — one product of weights with it gives Z, Z E[v], Z E[v v'].
        outer = np.einsum("pd,pe->pde", vectors, vectors).reshape(n_products, -1)
        self.moments = np.hstack([np.ones((n_products, 1)), vectors, outer])
        self.user = views["user"].to_numpy()
        self.item = views["item"].to_numpy()
        self.position = views["position"].to_numpy()
        days, day_of_view = np.unique(views["day"].to_numpy(), return_inverse=True)
        self.live, live_of_day = np.unique(
            launched_on[None, :] <= days[:, None], axis=0, return_inverse=True
        )
        live_of_view = live_of_day.ravel()[day_of_view.ravel()]
        pairs, self.pair_of_view = np.unique(
            np.stack([self.user, live_of_view], axis=1), axis=0, return_inverse=True
        )
        self.pair_user, self.pair_live = pairs[:, 0], pairs[:, 1]
        self.pair_of_view = self.pair_of_view.ravel()
        self.user_starts = np.flatnonzero(np.r_[True, self.user[1:] != self.user[:-1]])

    def only(self, users: np.ndarray) -> ViewLikelihood:
        """The same likelihood for a sorted subset of its customers, numbered in that order."""
        views = self.views[np.isin(self.views["user"].to_numpy(), users)].copy()
        views["user"] = np.searchsorted(users, views["user"].to_numpy())
        return ViewLikelihood(self.preferences, self.launched_on, views)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per customer (rows of x, the warm customers in order): log-likelihood, gradient and
        Fisher information (minus the Hessian)."""
        scores = x @ self.vectors.T + self.log_popularity[None, :]
        shift = scores.max(1)
        weights = np.exp(scores - shift[:, None])
        totals = (weights[self.pair_user] * self.live[self.pair_live]) @ self.moments
        taken = weights[self.user, self.item][:, None] * self.moments[self.item]
        # What the earlier views of the same session took out of the softmax (views are in
        # session order, so a view's predecessor is the row before it).
        removed = np.zeros_like(taken)
        for j in range(1, int(self.position.max(initial=0)) + 1):
            rows = np.flatnonzero(self.position == j)
            removed[rows] = removed[rows - 1] + taken[rows - 1]
        rest = totals[self.pair_of_view] - removed
        z = np.maximum(rest[:, 0], totals[self.pair_of_view, 0] * 1e-12)
        loglik = scores[self.user, self.item] - shift[self.user] - np.log(z)
        mean = rest[:, 1 : 1 + LATENT_DIM] / z[:, None]
        second = (rest[:, 1 + LATENT_DIM :] / z[:, None]).reshape(-1, LATENT_DIM, LATENT_DIM)
        information = second - np.einsum("nd,ne->nde", mean, mean)
        return (
            np.add.reduceat(loglik, self.user_starts),
            np.add.reduceat(self.vectors[self.item] - mean, self.user_starts, axis=0),
            np.add.reduceat(information, self.user_starts, axis=0),
        )

    def pair_scan(self, means: np.ndarray) -> np.ndarray:
        """Approximate log-likelihood (earlier views left in the softmax) of each customer's views
        at each of `means`: (customers, means)."""
        scores = means @ self.vectors.T + self.log_popularity[None, :]
        masked = np.where(self.live[:, None, :], scores[None, :, :], -np.inf)
        top = masked.max(2, keepdims=True)
        log_z = (top[..., 0] + np.log(np.exp(masked - top).sum(2))).T  # (means, live sets)
        n_users = len(self.user_starts)
        counts = np.zeros((n_users, len(self.vectors)))
        np.add.at(counts, (self.user, self.item), 1.0)
        live_counts = np.zeros((n_users, len(self.live)))
        np.add.at(live_counts, (self.user, self.pair_live[self.pair_of_view]), 1.0)
        return counts @ scores.T - live_counts @ log_z.T


def ascend(
    likelihood: ViewLikelihood,
    x: np.ndarray,
    anchor: np.ndarray,
    precision: np.ndarray,
    steps: int,
) -> np.ndarray:
    """Newton steps, halved where they do not improve, on each customer's log-likelihood
    - (x - anchor)' precision (x - anchor) / 2 (concave: the steps converge to its maximum)."""

    def objective(at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        loglik, grad, information = likelihood(at)
        offset = at - anchor
        value = loglik - 0.5 * np.einsum("ud,de,ue->u", offset, precision, offset)
        return value, grad - offset @ precision, information + precision

    value, grad, hessian = objective(x)
    for _ in range(steps):
        step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        scale = np.ones(len(x))
        for _ in range(30):
            trial = x + scale[:, None] * step
            trial_value, trial_grad, trial_hessian = objective(trial)
            better = trial_value >= value - 1e-12
            if better.all():
                break
            scale = np.where(better, scale, scale / 2)
        moved = np.abs(np.where(better[:, None], trial - x, 0)).max(initial=0)
        x = np.where(better[:, None], trial, x)
        value = np.where(better, trial_value, value)
        grad = np.where(better[:, None], trial_grad, grad)
        hessian = np.where(better[:, None, None], trial_hessian, hessian)
        if moved < 1e-8:
            break
    return x


def map_taste(likelihood: ViewLikelihood, prior: TastePrior, x: np.ndarray) -> np.ndarray:
    """The MAP taste vector under the mixture prior, by generalised EM from x: each E-step
    weighs the components by their responsibility, each M-step is a Newton step towards the
    Gaussian posterior those weights give."""
    precision = np.eye(LATENT_DIM) / prior.sigma**2
    x = x.copy()
    # EM converges at different speeds per customer: those still moving are iterated alone.
    active = np.arange(len(x))
    for _ in range(1000):
        moved = ascend(likelihood, x[active], prior.anchor(x[active]), precision, steps=1)
        still = np.abs(moved - x[active]).max(1) >= 1e-6
        x[active] = moved
        if not still.any():
            break
        if not still.all():
            likelihood = likelihood.only(np.flatnonzero(still))
            active = active[still]
    return x


def information_bound_scores(
    world: Path, engine: Engine, truth: WorldTruth, users: np.ndarray, cutoff: pd.Timestamp
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """Each test customer's score: the latent score at their MAP taste vector, inferred from their
    own training views with the true product vectors, log popularity and prior; for cold-start
    customers, the log of the prior predictive (`TastePrior.predictive`)."""
    prior = generator_prior(world, truth)
    views = training_views(engine, truth, users, cutoff)
    warm = np.unique(views["user"].to_numpy())
    views["user"] = np.searchsorted(warm, views["user"].to_numpy())
    likelihood = ViewLikelihood(truth.preferences, truth.launched_on, views)
    centre = prior.means.mean(0)
    spread = np.cov(prior.means, rowvar=False) + prior.sigma**2 * np.eye(LATENT_DIM)
    gaussian = ascend(
        likelihood,
        np.tile(centre, (len(warm), 1)),
        centre,
        np.linalg.inv(spread),
        steps=100,
    )
    scan = likelihood.pair_scan(prior.pair_means)
    best_pairs = np.argsort(-scan, axis=1)[:, :PAIR_STARTS]
    starts = [gaussian] + [prior.pair_means[best_pairs[:, j]] for j in range(PAIR_STARTS)]
    found, posterior = [], []
    for start in starts:
        x = map_taste(likelihood, prior, start)
        found.append(x)
        posterior.append(likelihood(x)[0] + prior.log_density(x))
    best = np.argmax(np.stack(posterior), axis=0)
    vectors = np.zeros((len(users), LATENT_DIM))
    vectors[warm] = np.stack(found)[best, np.arange(len(warm))]
    at_map = Preferences(
        vectors, truth.preferences.product_vectors, truth.preferences.log_popularity
    )
    no_data = np.log(prior.predictive(truth.preferences, truth.live))
    cold = np.ones(len(users), dtype=bool)
    cold[warm] = False

    def scores_of(block: np.ndarray) -> np.ndarray:
        scores = at_map.scores(block)
        scores[cold[block]] = no_data
        return scores

    return scores_of, {
        "warm_customers": len(warm),
        "training_views": len(views),
        "prior_components": len(prior.means),
        "best_start_not_gaussian_share": float((best > 0).mean()),
    }


def serve_latency(model: Recommender, users: np.ndarray, k: int, calls: int) -> dict[str, float]:
    """p50 / p99 milliseconds of one customer's top-k, the way a page would ask."""
    rng = np.random.default_rng(0)
    times = []
    for user in rng.choice(users, size=min(calls, len(users)), replace=False):
        started = time.perf_counter()
        model.recommend([user], k)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--var-dir", help="An existing var dir (aisle.db + world/) to read.")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--test-days", type=int, default=30)
    parser.add_argument("--relevant", choices=("interactions", "purchases"), default="interactions")
    parser.add_argument("--runs", type=int, default=3, help="Fits per model, for the median.")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    k = args.k
    with tempfile.TemporaryDirectory(prefix="bench-recommend-") as scratch:
        engine, world, seed_seconds = open_world(args, Path(scratch))
        frame, _ = store_interactions(engine)
        cutoff = frame[TIME].max() - pd.Timedelta(days=args.test_days)
        train = frame[frame[TIME] <= cutoff]
        after = frame[frame[TIME] > cutoff]
        if args.relevant == "purchases":
            after = after[after[EVENT] == PURCHASE]
        relevant, _ = relevant_pairs(train, after)
        users = np.sort(relevant[USER].unique().astype(str))
        features = store_item_features(
            engine, get_settings().var_dir / "cache", launched_by=frame[TIME].max().date()
        )
        interactions = interactions_from_frame(train, item_features=features)
        # The catalogue also holds products nobody touched before the cutoff: those are the
        # cold-start items, so the training items are read off the training rows.
        train_users = pd.Index(interactions.user_ids)
        train_items = pd.Index(np.sort(train[ITEM].unique().astype(str)))

        results: dict[str, dict[str, Any]] = {}
        console.print(f"oracle over {len(users):,} test customers")
        truth = world_truth(world, engine)
        oracle = latent_top_k(truth, users, oracle_scores(truth, users), train, k)
        console.print("information bound: MAP taste from each customer's training views")
        started = time.perf_counter()
        inferred, bound_facts = information_bound_scores(world, engine, truth, users, cutoff)
        bound = latent_top_k(truth, users, inferred, train, k)
        bound_facts["seconds"] = time.perf_counter() - started
        warm = relevant[relevant[USER].isin(train_users)]

        def report(lists: pd.DataFrame) -> dict[str, Any]:
            return {
                **topk_report(lists, relevant, k, train_users, train_items),
                "warm_users": ranking_metrics(lists, warm, k),
            }

        results["oracle"] = report(oracle)
        results[BOUND] = {**report(bound), "diagnostic": bound_facts}
        console.print(f"{BOUND}: recall@{k} {results[BOUND]['recall']:.4f}")
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            fits = []
            for _ in range(args.runs):
                started = time.perf_counter()
                model = RECOMMENDERS[name]().fit(interactions)
                fits.append(time.perf_counter() - started)
            lists = model.recommend(users, k).to_frame()
            results[name] = {
                **report(lists),
                "fit_seconds_median": float(np.median(fits)),
                "fit_seconds_runs": [round(f, 3) for f in fits],
                "serve_ms": serve_latency(model, users, k, 200),
            }
            console.print(f"{name}: recall@{k} {results[name]['recall']:.4f}")
        engine.dispose()

    oracle_recall, oracle_ndcg = results["oracle"]["recall"], results["oracle"]["ndcg"]
    popular_cold = results.get("popularity", {}).get("cold_start_items", {}).get("recall")
    warm_oracle = results["oracle"]["warm_users"]["recall"]
    for values in results.values():
        values["recall_vs_oracle"] = values["recall"] / oracle_recall
        values["ndcg_vs_oracle"] = values["ndcg"] / oracle_ndcg
        values["warm_recall_vs_oracle"] = values["warm_users"]["recall"] / warm_oracle
    summary = {
        "benchmark": "recommend_world",
        "date": dt.date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "world": {"scale": args.scale, "seed": args.seed, "var_dir": args.var_dir},
        "seed_seconds": seed_seconds,
        "split": {
            "cutoff": cutoff.isoformat(),
            "test_days": args.test_days,
            "relevant": args.relevant,
            "train_interactions": len(train),
            "train_customers": len(train_users),
            "train_products": len(train_items),
            "catalog_products": len(interactions.item_ids),
            "test_customers": len(users),
            "relevant_pairs": len(relevant),
            "cold_start_item_pairs": results["oracle"]["cold_start_items"]["interactions"],
        },
        "k": k,
        "models": results,
        "popularity_cold_item_recall": popular_cold,
    }
    table = Table(title=f"generated world ({args.scale}, seed {args.seed}): top-{k}")
    for column in ("model", f"recall@{k}", f"nDCG@{k}", "recall/oracle", "nDCG/oracle"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for column in ("warm R/oracle", "cold items R", "cold users R", "fit s", "p99 ms"):
        table.add_column(column, justify="right")
    for name, values in results.items():
        cold_items = values["cold_start_items"]["recall"]
        cold_users = values["cold_start_users"]["recall"]
        table.add_row(
            "information bound (diagnostic)" if name == BOUND else name,
            f"{values['recall']:.4f}",
            f"{values['ndcg']:.4f}",
            f"{values['recall_vs_oracle']:.3f}",
            f"{values['ndcg_vs_oracle']:.3f}",
            f"{values['warm_recall_vs_oracle']:.3f}",
            "-" if cold_items is None else f"{cold_items:.4f}",
            "-" if cold_users is None else f"{cold_users:.4f}",
            f"{values['fit_seconds_median']:.3f}" if "fit_seconds_median" in values else "-",
            f"{values['serve_ms']['p99']:.2f}" if "serve_ms" in values else "-",
        )
    # Redirected stderr has no width to fit; 80 columns would truncate the figures.
    console.width = max(console.width, 150)
    console.print(table)
    json.dump(summary, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
