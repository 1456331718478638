"""Shared fixtures: a fresh, migrated database per test on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner, Result

from api.cli import app
from retail.settings import get_settings
from retail.store.db import make_engine
from retail.store.open import open_store
from retail.store.schema import upgrade

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agents.assistant import Assistant
    from tests.tools.world import ToolWorld

# The PostgreSQL that runs on every machine of this project, CI included.
POSTGRES_ADMIN_URL = os.environ.get(
    "AISLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the public data sets are expected at {SHARED_DATA}")
    return SHARED_DATA


def _create_postgres_database(template: str | None = None) -> tuple[str, str]:
    """A new database, empty or a copy of `template` (a file copy on the server: a fraction of
    what running the migrations again costs)."""
    name = f"aisle_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return name, _postgres_url(name)


def _postgres_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class MigratedTemplates:
    """One database per backend migrated once per test process; a test that asks for the
    `engine` fixture starts from a copy of it. Running every migration for each of some 800
    database tests cost minutes of the suite; the migrations themselves are tested from an empty
    database (tests/retail/test_store_schema.py) and by every test that asks for `db_url` alone."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.postgres: str | None = None

    def sqlite_copy(self, target: Path) -> None:
        if self.sqlite is None:
            self.sqlite = self.folder / "migrated.db"
            _migrate(f"sqlite:///{self.sqlite}")
        shutil.copyfile(self.sqlite, target)

    def postgres_template(self) -> str:
        if self.postgres is None:
            name, url = _create_postgres_database()
            _migrate(url)  # disposed: a template must have no open connection when copied
            self.postgres = name
        return self.postgres


def _migrate(url: str) -> None:
    eng = make_engine(url)
    try:
        upgrade(eng)
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    yield templates
    if templates.postgres is not None:
        _drop_postgres_database(templates.postgres)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """A database on each backend, dropped after the test: empty (no tables), or already
    migrated when the test also asks for `engine`."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "aisle.db"
        if migrated:
            migrated_templates.sqlite_copy(path)
        yield f"sqlite:///{path}"
        return
    name, url = _create_postgres_database(
        migrated_templates.postgres_template() if migrated else None
    )
    try:
        yield url
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def engine(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated, empty database (a copy of the migrated template; `upgrade` finds it at the
    newest revision and does nothing). The var folder is the test's own too: what code under test
    writes beside the database (the audit log's signing key and checkpoints) must not land in,
    or be read from, the working tree's var/."""
    monkeypatch.setenv("AISLE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()
    get_settings.cache_clear()


@pytest.fixture
def aisle_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[Path]:
    """Point Aisle's settings at a private var dir and the test's database."""
    var_dir = tmp_path / "var"
    monkeypatch.setenv("AISLE_VAR_DIR", str(var_dir))
    monkeypatch.setenv("AISLE_DATABASE_URL", db_url)
    monkeypatch.setenv("AISLE_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield var_dir
    get_settings.cache_clear()


Aisle = Callable[..., Result]


@pytest.fixture
def aisle(aisle_env: Path) -> Aisle:
    """Run `aisle ARGS...` in-process against the test's database and var dir."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    return run


@pytest.fixture(scope="session")
def tool_world(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[ToolWorld]:
    """A small generated world plus the tau2 import on SQLite, indexed, graphed and trained.

    Read-only for tests, except where a test restores what it changed. Shared by the tool and
    the agent tests, so a worker builds it once.
    """
    # Imported here: the builder pulls in the recommender and the RAG index, which most tests
    # never touch.
    from tests.tools.world import build_tool_world

    root = tmp_path_factory.mktemp("tool-world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISLE_VAR_DIR", str(root / "var"))
        mp.setenv("AISLE_DATABASE_URL", f"sqlite:///{root / 'aisle.db'}")
        mp.setenv("AISLE_ENVIRONMENT", "test")
        get_settings.cache_clear()
        settings = get_settings()
        engine = open_store(settings)
        world = build_tool_world(engine, settings, shared_data / "tau2_retail")
        try:
            yield world
        finally:
            world.services.close()
            engine.dispose()
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def assistant(
    tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Assistant]:
    """The shopper and associate assistant over the tool world, with its own chat checkpoints
    (one per test module, so threads never cross modules)."""
    from agents.assistant import Assistant
    from agents.checkpoint import open_checkpointer

    settings = tool_world.settings.model_copy(
        update={"var_dir": tmp_path_factory.mktemp("assistant-var")}
    )
    with open_checkpointer(settings) as checkpointer:
        yield Assistant(tool_world.services, checkpointer)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans finished during the test, in the SDK's in-memory exporter: an SDK tracer
    provider is the process's global one for the test only (outside, spans are no-ops)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.test.globals_test import reset_trace_globals

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reset_trace_globals()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        reset_trace_globals()
