"""Fixtures of the tool tests: one built world (store, RAG index, knowledge graph, recommender)
per test session, with settings pointed at it for as long as the session runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retail.settings import get_settings
from retail.store.open import open_store
from tests.tools.world import ToolWorld, build_tool_world


@pytest.fixture(scope="session")
def tool_world(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[ToolWorld]:
    """A small generated world plus the tau2 import on SQLite, indexed, graphed and trained.

    Read-only for tests, except where a test restores what it changed.
    """
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
