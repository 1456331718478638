"""The world an evaluation runs on: built deterministically, cached, and copied for every run.

A world is a folder holding `aisle.db` (SQLite) and `var/` (the generated world's truth files,
the RAG index, the knowledge graph and the recommender): the generated world at a fixed scale and
seed plus the tau2 retail import (and, at the small scale, the DummyJSON import: the shopper dev
set's second public catalogue), indexed, graphed and trained, so the suites' expected ids are
the same on every machine. The tiny world leaves DummyJSON out: it stays the tests' tool world,
and its 194 products would add half again to the index build. Building takes minutes (the RAG
index embeds every document), so the built folder is cached under a fingerprint of what it is
made of; every run works on a private copy of it, because the order suites write to it and the
adversarial suite plants text in it. The test suite's `tool_world` has the same layout, and a
run can start from it the same way.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from evals.suites import Plant
from retail.audit import forget_checkpoints_past_head
from retail.errors import AisleError
from retail.settings import Settings
from retail.store.models import Customer, Location, Order, Product, Review
from retail.store.open import open_store
from retail.world.seed import GENERATOR_VERSION, PINNED_END, SCALES, ScaleSpec
from tools.base import Principal, Services

DATABASE = "aisle.db"
VAR = "var"
STAMP = "eval-world.json"
# Bump when what `build_world` puts into a world changes, so that cached worlds are rebuilt.
BUILD_VERSION = 1
SEED = 9
# The test suite's tool world: 20 products over 3 stores and 60 days; seconds to build.
TINY = ScaleSpec(20, 3, 60, 60, 0.8, 30, 2.0)
WORLD_SCALES: dict[str, ScaleSpec] = {"tiny": TINY, "small": SCALES["small"]}
# The scales whose world also imports DummyJSON.
WITH_DUMMYJSON = frozenset({"small"})
DUMMYJSON_FILE = "products.json"


class WorldError(AisleError):
    """The evaluation world cannot be built or opened."""


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """What a world is made of: the generated world's scale and seed, and the tau2 and
    DummyJSON data (their folders under the shared data)."""

    scale: str
    tau2_dir: Path
    dummyjson_dir: Path
    seed: int = SEED

    @property
    def dummyjson_file(self) -> Path | None:
        """The DummyJSON products this world imports (None: the scale imports none)."""
        return self.dummyjson_dir / DUMMYJSON_FILE if self.scale in WITH_DUMMYJSON else None

    def fingerprint(self) -> str:
        if self.scale not in WORLD_SCALES:
            raise WorldError(
                f"Unknown world scale {self.scale!r}; use one of {', '.join(WORLD_SCALES)}."
            )
        db_json = self.tau2_dir / "db.json"
        if not db_json.is_file():
            raise WorldError(f"The tau2 retail data is not at {self.tau2_dir} (no db.json).")
        key = {
            "scale": self.scale,
            "spec": asdict(WORLD_SCALES[self.scale]),
            "seed": self.seed,
            "generator": GENERATOR_VERSION,
            "build": BUILD_VERSION,
            "tau2": hashlib.sha256(db_json.read_bytes()).hexdigest(),
        }
        products = self.dummyjson_file
        if products is not None:
            if not products.is_file():
                raise WorldError(
                    f"The DummyJSON data is not at {self.dummyjson_dir} (no {DUMMYJSON_FILE})."
                )
            key["dummyjson"] = hashlib.sha256(products.read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def world_settings(folder: Path, **overrides: Any) -> Settings:
    """Settings that point every layer at the world in `folder` (and `overrides`, such as the
    LLM endpoint)."""
    return Settings(
        environment="test",
        var_dir=folder / VAR,
        database_url=f"sqlite:///{(folder / DATABASE).resolve()}",
        **overrides,
    )


def build_world(folder: Path, spec: WorldSpec) -> None:
    """Seed, import, index, graph and train a world into an empty `folder`."""
    # Imported here: the builders pull in torch, the recommender and the RAG index.
    from retail.importers.dummyjson import import_dummyjson
    from retail.importers.tau2 import import_tau2
    from retail.world.seed import seed_world

    settings = world_settings(folder)
    engine = open_store(settings)
    try:
        seed_world(
            engine,
            # The tool tests seed their tiny world under the small label; the same label keeps
            # the tiny evaluation world identical to theirs.
            scale=spec.scale if spec.scale in SCALES else "small",
            seed=spec.seed,
            end=PINNED_END,
            world_dir=settings.world_dir,
            show_progress=False,
            spec=WORLD_SCALES[spec.scale],
        )
        import_tau2(engine, spec.tau2_dir)
        if spec.dummyjson_file is not None:
            import_dummyjson(engine, spec.dummyjson_file)
        build_serving_indexes(engine, settings)
    finally:
        engine.dispose()


def build_serving_indexes(engine: Engine, settings: Settings) -> None:
    """What the assistant serves from, over the store's data: the RAG index, the knowledge graph
    and an item-item recommender (also how the tool tests' world is finished)."""
    from ml_core.recommend.models import resolve_recommenders
    from ml_core.recommend.train import train_store_recommender
    from ml_core.registry import ArtifactRegistry
    from ml_core.vectors import EdgeIndex
    from rag.graph import build_and_save
    from rag.index import RAG_SCHEMA, QdrantRagStore, ingest

    backend = EdgeIndex(settings.var_dir / "indexes" / "rag", RAG_SCHEMA, create=True)
    try:
        ingest(engine, QdrantRagStore(backend), model_dir=settings.var_dir / "models")
    finally:
        backend.close()
    build_and_save(engine, settings)
    train_store_recommender(
        engine,
        ArtifactRegistry(settings.var_dir / "artifacts"),
        resolve_recommenders(["item_item"])["item_item"](),
    )


def cached_world(spec: WorldSpec, cache_dir: Path, *, rebuild: bool = False) -> Path:
    """The built world for `spec` under `cache_dir`, built first if it is not there."""
    fingerprint = spec.fingerprint()
    folder = cache_dir / f"{spec.scale}-{fingerprint}"
    if (folder / STAMP).is_file() and not rebuild:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    staging = cache_dir / f".{folder.name}.building"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        build_world(staging, spec)
        (staging / STAMP).write_text(
            json.dumps({"scale": spec.scale, "seed": spec.seed, "fingerprint": fingerprint})
        )
        staging.rename(folder)
    except OSError as exc:
        raise WorldError(f"Cannot build the evaluation world in {cache_dir}: {exc}.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def copy_world(database: Path, var_dir: Path, target: Path) -> Path:
    """A private copy of a world (its SQLite file and var dir) in `target`; returns `target`.

    The database is copied with SQLite's online backup, so a world another connection has open
    (a test session's) is copied consistently; the chat checkpoints are left behind.
    """
    if not database.is_file():
        raise WorldError(f"No world database at {database}.")
    target.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target / DATABASE)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    shutil.copytree(
        var_dir,
        target / VAR,
        ignore=shutil.ignore_patterns("checkpoints.sqlite*", "*.log"),
    )
    return target


def restore_database(world: EvalWorld, source: Path) -> None:
    """Put an open world copy's database back as `source` holds it, in place: its engine's idle
    connections are closed first, SQLite's backup writes every page in one transaction, and the
    engine's next connection reads them. About a second at the small scale, where a fresh copy
    with a new assistant takes several."""
    world.engine.dispose()
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    target = sqlite3.connect(world.folder / DATABASE)
    try:
        origin.backup(target)
    finally:
        target.close()
        origin.close()
    forget_checkpoints_past_head(world.engine, world.settings)


@dataclass(slots=True)
class EvalWorld:
    """An opened private world: its store, settings, tool services and named facts."""

    folder: Path
    engine: Engine
    settings: Settings
    services: Services
    facts: dict[str, Any]


@contextmanager
def open_world(folder: Path, **overrides: Any) -> Iterator[EvalWorld]:
    """Open the world in `folder` (a private copy); its services close when the block ends."""
    settings = world_settings(folder, **overrides)
    engine = open_store(settings)
    services = Services(engine, settings)
    try:
        yield EvalWorld(folder, engine, settings, services, world_facts(engine))
    finally:
        services.close()
        engine.dispose()


@contextmanager
def assistant_on_copy(
    source: tuple[Path, Path], folder: Path, brain: str, *, warm: bool = True, **overrides: Any
) -> Iterator[tuple[EvalWorld, Any]]:
    """A private copy of the world `source` (its database and var dir) in `folder`, opened, with
    an assistant on it (warmed up for `brain` unless `warm` is false)."""
    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer

    copy_world(*source, folder)
    with open_world(folder, **overrides) as world, open_checkpointer(world.settings) as saver:
        assistant = Assistant(world.services, saver)
        if warm:
            warm_up(assistant, world, brain)
        yield world, assistant


def warm_up(assistant: Any, world: EvalWorld, brain: str) -> None:
    """A search, a document question and a recommendation on threads of their own, so that the
    first timed turns do not pay for opening the indexes, loading the embedder and building the
    recommender's serving index (a serving process pays those once, at its first requests)."""
    shopper = Principal.parse(f"shopper:{world.facts['shopper']}")
    for message in (
        "warm-up: show me socks",
        "warm-up: what is the return policy",
        "warm-up: recommend something for me",
    ):
        assistant.ask(shopper, message, brain=brain)


def plant(folder: Path, plants: Iterable[Plant]) -> int:
    """Write adversarial text into a world copy's products and reviews, and bring its RAG index
    in line (only the changed documents are embedded again); returns how many were planted.

    Call it before the world is opened: the index is written here, not through a retriever.
    """
    from ml_core.vectors import EdgeIndex
    from rag.index import RAG_SCHEMA, QdrantRagStore, ingest

    plants = list(plants)
    if not plants:
        return 0
    settings = world_settings(folder)
    engine = open_store(settings)
    try:
        with Session(engine) as session, session.begin():
            for n, item in enumerate(plants, start=1):
                product = session.get(Product, item.product_id)
                if product is None:
                    raise WorldError(f"Cannot plant text in product {item.product_id!r}: none.")
                if item.description_suffix:
                    product.description = f"{product.description} {item.description_suffix}"
                if item.review:
                    session.add(
                        Review(
                            id=f"eval-plant-{n}",
                            product_id=item.product_id,
                            rating=5,
                            title="Great",
                            body=item.review,
                            author="eval",
                            source=product.source,
                        )
                    )
        backend = EdgeIndex(settings.var_dir / "indexes" / "rag", RAG_SCHEMA, create=False)
        try:
            ingest(engine, QdrantRagStore(backend), model_dir=settings.var_dir / "models")
        finally:
            backend.close()
    finally:
        engine.dispose()
    return len(plants)


def world_facts(engine: Engine) -> dict[str, Any]:
    """The ids a suite names by placeholder (`{shopper}`), picked from the data as the tool
    tests pick theirs, so a suite reads the same on every scale of the generated world."""
    with Session(engine) as session:
        store = session.scalars(
            select(Location).where(Location.kind == "store").order_by(Location.id).limit(1)
        ).one_or_none()
        if store is None:
            raise WorldError("The world has no store; was it seeded?")
        facts: dict[str, Any] = {"store": store.id, "store_name": store.name}
        facts["shopper"] = _customer(session, consent=True, home=store.id)
        facts["no_consent_customer"] = _customer(session, consent=False, home=None)
        facts["other_shopper"] = _customer(session, consent=True, home=None, skip=facts["shopper"])
    return facts


def _customer(session: Session, *, consent: bool, home: str | None, skip: str = "") -> str:
    """The generated customer with the most orders among those with this consent (and home)."""
    query = (
        select(Customer.id)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Customer.source == "generated",
            Customer.marketing_consent.is_(consent),
            Order.status != "cancelled",
            Customer.id != skip,
        )
        .group_by(Customer.id)
        .order_by(func.count().desc(), Customer.id)
        .limit(1)
    )
    if home is not None:
        query = query.where(Customer.home_store_id == home)
    found = session.scalars(query).one_or_none()
    if found is None:
        raise WorldError("The world has no generated customer with orders; was it seeded?")
    return found
