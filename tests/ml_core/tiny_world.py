"""A tiny generated world for the model tests that read the store's own tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from retail.world.shocks import parse_shock


def seed_tiny_world(
    engine: Engine,
    folder: Path,
    *,
    days: int = 400,
    stores: int = 2,
    spec: ScaleSpec | None = None,
    seed: int = 5,
) -> Engine:
    """25 products, `stores` stores, 40 customers over `days` days (seed 5) into `engine`, or
    the world `spec` describes; its world folder is `folder / "world"`."""
    spec = spec or ScaleSpec(25, stores, 40, days, 0.8, 20, 1.0)
    seed_world(
        engine,
        scale="small",
        seed=seed,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=spec,
    )
    return engine


def seed_world_file(
    folder: Path, spec: ScaleSpec, *, seed: int, shocks: tuple[str, ...] = ()
) -> Engine:
    """A generated world (with these shocks) in a fresh SQLite file and world folder under
    `folder`, sales ending on the pinned day."""
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    seed_world(
        engine,
        scale="small",
        seed=seed,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=spec,
        shocks=tuple(parse_shock(s) for s in shocks),
    )
    return engine
