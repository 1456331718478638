"""What the tests of proposals start from: a tiny generated world on SQLite or on a PostgreSQL
database of its own, where the replenishment agent has orders to propose, and the content of a
markdown proposal written by hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine

from ml_core.pricing.guardrails import Guardrails
from retail.settings import Settings
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from tests.conftest import _create_postgres_database, _drop_postgres_database

# Twenty products over two stores with 120 days of sales: enough for several purchase orders.
SPEC = ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0)

# A three-week markdown of one SKU from 100 to 90, then 70.
MARKDOWN_CONTENT = {
    "sku": "SKU-1",
    "current_price": 100.0,
    "list_price": 100.0,
    "unit_cost": 40.0,
    "path": [
        {"week_starting": "2026-11-16", "price": 90.0},
        {"week_starting": "2026-11-23", "price": 90.0},
        {"week_starting": "2026-11-30", "price": 70.0},
    ],
    "guardrails": Guardrails().model_dump(mode="json"),
    "expected": {"units": 10.0},
}


@contextmanager
def seeded_store(backend: str, root: Path, secret: str) -> Iterator[tuple[Settings, Engine]]:
    """The tiny world on `backend` ("sqlite" or "postgresql"), its var dir under `root`: the
    settings that reach it (test environment, `secret`) and its open engine, disposed afterwards
    (and the PostgreSQL database dropped)."""
    with ExitStack() as cleanup:
        if backend == "sqlite":
            url = f"sqlite:///{root / 'aisle.db'}"
        else:
            name, url = _create_postgres_database()
            cleanup.callback(_drop_postgres_database, name)
        settings = Settings(
            database_url=url, var_dir=root / "var", environment="test", secret_key=secret
        )
        engine = open_store(settings)
        cleanup.callback(engine.dispose)
        seed_world(
            engine,
            scale="small",
            seed=5,
            end=PINNED_END,
            world_dir=settings.world_dir,
            show_progress=False,
            spec=SPEC,
        )
        yield settings, engine
