"""The simulated market the bandit and off-policy benchmarks share: the generated world's market
and the arms they choose among, each a distinct policy whose true value the market knows."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console
from worlds import world_var_dir

from evals.market import (
    Market,
    OraclePolicy,
    Policy,
    PopularityPolicy,
    RandomPolicy,
    RecommenderPolicy,
    Visitors,
)
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.models import load_recommender
from ml_core.recommend.train import ARTIFACT, train_store_recommender
from ml_core.registry import ArtifactRegistry
from retail.errors import AisleError
from retail.store.db import make_engine

# Oracles that know the truth up to a fixed error of these sizes: arms from nearly best to
# middling, so the bandit must tell close arms apart, not only the obvious ones.
ORACLE_NOISE = (1.0, 2.0, 4.0)


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--var-dir", type=Path, help="an existing var dir (aisle.db + world/)")
    parser.add_argument("--scale", default="small", help="the world seeded when no --var-dir")
    parser.add_argument("--world-seed", type=int, default=42)


@contextmanager
def market_and_arms(
    args: argparse.Namespace, console: Console
) -> Iterator[tuple[Market, dict[str, Policy]]]:
    """The world's market and its arms: random, popularity, the recommender (the var dir's
    active one, else item-item trained on the world into a scratch registry) and the noisy
    oracles."""
    with (
        world_var_dir(args.var_dir, scale=args.scale, seed=args.world_seed, console=console) as (
            var,
            _,
        ),
        tempfile.TemporaryDirectory(prefix="aisle-bench-models-") as scratch,
    ):
        market = Market.from_world(var / "world")
        try:
            _, folder = ArtifactRegistry(var / "artifacts").active(ARTIFACT)
        except AisleError:
            console.print("training item-item on the world ...")
            engine = make_engine(f"sqlite:///{var / 'aisle.db'}")
            registry = ArtifactRegistry(Path(scratch) / "artifacts")
            train_store_recommender(engine, registry, ItemItem())
            engine.dispose()
            _, folder = registry.active(ARTIFACT)
        arms: dict[str, Policy] = {
            "random": RandomPolicy(market),
            "popularity": PopularityPolicy(market),
            "recommender": RecommenderPolicy(market, load_recommender(folder)),
        }
        for i, noise in enumerate(ORACLE_NOISE):
            oracle = OraclePolicy(market, noise=noise, seed=100 + i)
            arms[oracle.name] = oracle
        yield market, arms


def per_visit_values(
    market: Market, arms: dict[str, Policy], visitors: Visitors, rng: np.random.Generator
) -> np.ndarray:
    """(visits, arms, 5): each arm's expected clicks, P(any click), carts, purchases and revenue
    for each visitor, by the click model: what a visit would yield in expectation under it."""
    out = np.empty((len(visitors), len(arms), 5))
    for start in range(0, len(visitors), 4096):
        index = np.arange(start, min(start + 4096, len(visitors)))
        batch = visitors.take(index)
        for a, policy in enumerate(arms.values()):
            slates = policy.show(batch, market.model.k, rng)
            out[index, a] = market.expected_per_visit(batch, slates.items)
    return out
