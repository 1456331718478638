"""A tiny generated world for the model tests that read the store's own tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from retail.world.seed import PINNED_END, ScaleSpec, seed_world


def seed_tiny_world(engine: Engine, folder: Path, *, days: int, stores: int = 2) -> Engine:
    """25 products, `stores` stores, 40 customers over `days` days (seed 5) into `engine`."""
    spec = ScaleSpec(25, stores, 40, days, 0.8, 20, 1.0)
    seed_world(
        engine,
        scale="small",
        seed=5,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        spec=spec,
    )
    return engine
