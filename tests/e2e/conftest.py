"""Fixtures of the end-to-end tests: a copy of the tool world served by a real uvicorn on a free
loopback port, with the demo users' keys, a stored forecast and reorder proposals in it, and
headless Chromium (Debian's, never a downloaded build) driven by Playwright.

The world is copied so that what the browser writes (decisions, purchase orders, conversations)
never reaches the tool world other tests read. The server runs in `dev`, where the pages offer
the demo users, with a real secret so their keys can be issued.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import Engine

from api.auth import principal_spec, seed_demo_keys
from ml_core.forecasting.backtest import resolve_models
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.run import run_store_forecast
from ml_core.registry import ArtifactRegistry
from retail.settings import Settings
from retail.store.open import open_store
from tools.base import Principal, Services, ToolContext, invoke

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

    from tests.tools.world import ToolWorld

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("AISLE_CHROMIUM", "/usr/bin/chromium"))
SECRET = "e2e-secret-for-the-demo-keys"
# The planner whose run proposes the orders; the browser approves as another planner.
PROPOSER = Principal.parse("planner:pat")
START_TIMEOUT_S = 180.0


@dataclass
class Site:
    """The served copy of the world: its address, its store, and what the tests may name."""

    url: str
    engine: Engine
    settings: Settings
    keys: dict[str, str]
    """Demo principal spec (`planner:quinn`) -> API key."""
    proposal_ids: list[str]
    """Open purchase-order proposals made by PROPOSER."""


def _copy_world(tool_world: ToolWorld, root: Path) -> Settings:
    shutil.copytree(tool_world.settings.var_dir, root / "var")
    source_path = tool_world.engine.url.database
    assert source_path is not None
    # SQLite's backup copies a consistent snapshot, WAL included.
    with sqlite3.connect(source_path) as source, sqlite3.connect(root / "aisle.db") as target:
        source.backup(target)
    return Settings(
        database_url=f"sqlite:///{root / 'aisle.db'}",
        var_dir=root / "var",
        environment="dev",
        secret_key=SECRET,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait for /ready (the assistant loaded, the index open), so that no test's first answer
    waits for the models to load."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the server was not ready within {START_TIMEOUT_S:.0f} s:\n{log.read_text()}")


def _start_server(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "AISLE_DATABASE_URL": settings.resolved_database_url,
        "AISLE_VAR_DIR": str(settings.var_dir),
        "AISLE_ENVIRONMENT": settings.environment,
        "AISLE_SECRET_KEY": settings.secret_key,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _propose_reorders(engine: Engine, settings: Settings, store_id: str) -> list[str]:
    """Forecast the store (so the planner's chart has a p10-p90 band to draw), then propose
    reorders as PROPOSER; the ids of the proposals."""
    forecaster = resolve_models(["seasonal_naive"], MODELS)["seasonal_naive"]()
    registry = ArtifactRegistry(settings.var_dir / "artifacts")
    run_store_forecast(engine, registry, forecaster, horizon=28, location_id=store_id)
    services = Services(engine, settings)
    try:
        ctx = ToolContext(principal=PROPOSER, services=services, agent_name="e2e")
        outcome = invoke(ctx, "propose_reorders", {"location_id": store_id})
    finally:
        services.close()
    assert outcome.ok and outcome.output is not None, outcome.error
    proposal_ids = [p["proposal_id"] for p in outcome.output["proposals"]]
    assert proposal_ids, "the tool world should need some reordering"
    return proposal_ids


@pytest.fixture(scope="session")
def site(tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("e2e-world")
    settings = _copy_world(tool_world, root)
    engine = open_store(settings)
    log = root / "server.log"
    # The server loads its models meanwhile: nothing it loads at start is written below.
    process, url = _start_server(settings, log)
    try:
        keys = {principal_spec(d.principal): d.key for d in seed_demo_keys(engine, settings)}
        proposal_ids = _propose_reorders(engine, settings, tool_world.store_id)
        _wait_until_ready(process, url, log)
        yield Site(url, engine, settings, keys, proposal_ids)
    finally:
        _stop(process)
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; scripts/setup.sh installs Debian's chromium")
    # Assertions wait as long as actions do: a turn can take seconds on a busy machine.
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        # Playwright drives the system's Chromium; it never downloads a browser of its own.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context (empty localStorage) on the site. Requests leaving the loopback
    server are refused, and a page script error or a script, stylesheet or font asked of
    another host fails the test."""
    context = browser.new_context(base_url=site.url)
    errors: list[str] = []
    foreign: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
            return
        if route.request.resource_type in {"script", "stylesheet", "font"}:
            foreign.append(route.request.url)
        route.abort()

    context.route("**/*", only_local)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not foreign, f"the page asked another host for code or styles: {foreign}"
