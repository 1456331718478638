"""Fixtures of the end-to-end tests: a world of their own, built as the tool tests' is, served by
a real uvicorn on a free loopback port, with the demo users' keys, a stored forecast, reorder
proposals and a pricing agent's run waiting on its markdown proposals in it, and headless
Chromium (Debian's, never a downloaded build) driven by Playwright.

The world is the tool world's with eight months of sales instead of two: the pricing agent
estimates elasticities from weeks of varying prices after a product's first six weeks on sale,
which two months do not have. Built apart, what the browser writes (decisions, purchase orders,
prices, conversations) never reaches the tool world other tests read. The server runs in `dev`,
where the pages offer the demo users, with a real secret so their keys can be issued.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import Engine

from agents.checkpoint import open_checkpointer
from agents.operations import advance
from agents.pricing import HANDLER as PRICING
from agents.pricing import PricingRunState
from api.auth import principal_spec, seed_demo_keys
from ml_core.forecasting.backtest import resolve_models
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.run import run_store_forecast
from ml_core.registry import ArtifactRegistry
from retail.settings import Settings
from retail.store.open import open_store
from tests.servers import start_server, stop, wait_for
from tests.tools.world import SPEC as TOOL_WORLD_SPEC
from tests.tools.world import build_tool_world
from tools.base import Principal, Services, ToolContext, invoke

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = Path(os.environ.get("AISLE_CHROMIUM", "/usr/bin/chromium"))
SECRET = "e2e-secret-for-the-demo-keys"
# The planner whose run proposes the orders; the browser approves as another planner.
PROPOSER = Principal.parse("planner:pat")
SPEC = dataclasses.replace(TOOL_WORLD_SPEC, n_days=240)
# How many markdown proposals the pricing agent's run puts up and waits on (it writes all it
# plans); the pricing manager's tests decide two of them.
PRICING_LIMIT = 3
PRICING_RUN = "pricing-e2e"
# The store's forecaster: TSB's smoothed demand rate, unlike the seasonal naive's repeat of last
# week (zero for a slow mover that sold nothing then), gives a total whose range can be
# calibrated to cover 80% of backtested 28-day totals.
FORECASTER = "tsb"
HORIZON = 28


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
    price_change_ids: list[str]
    """Markdown proposals the pricing agent's run waits on, largest expected gain first."""
    store_id: str
    """The store both kinds of proposal were made for."""


def _propose_reorders(services: Services, store_id: str) -> list[str]:
    """Forecast the store (so the planner's chart has a p10-p90 band to draw and its 28-day
    range a backtested calibration), then propose reorders as PROPOSER; the proposals' ids."""
    forecaster = resolve_models([FORECASTER], MODELS)[FORECASTER]()
    registry = ArtifactRegistry(services.settings.var_dir / "artifacts")
    run_store_forecast(services.engine, registry, forecaster, horizon=HORIZON, location_id=store_id)
    ctx = ToolContext(principal=PROPOSER, services=services, agent_name="e2e")
    outcome = invoke(ctx, "propose_reorders", {"location_id": store_id})
    assert outcome.ok and outcome.output is not None, outcome.error
    proposal_ids = [p["proposal_id"] for p in outcome.output["proposals"]]
    assert proposal_ids, "the world should need some reordering"
    return proposal_ids


def _run_pricing_agent(services: Services, store_id: str) -> list[str]:
    """Run the pricing agent on the store as `aisle pricing run` does, up to its wait for the
    pricing manager's decisions (a decision from the page resumes it); the ids it waits on."""
    with open_checkpointer(services.settings) as checkpointer:
        graph = PRICING.build_graph(services, checkpointer)
        initial = PricingRunState(location_id=store_id, limit=PRICING_LIMIT)
        snapshot = advance(graph, initial, PRICING_RUN)
    waiting = [p.id for p in snapshot.values.get("pending", [])] if snapshot.next else []
    assert len(waiting) >= 2, snapshot.values.get("notes")
    return waiting


@pytest.fixture(scope="session")
def site(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("e2e-world")
    settings = Settings(
        database_url=f"sqlite:///{root / 'aisle.db'}",
        var_dir=root / "var",
        environment="dev",
        secret_key=SECRET,
    )
    engine = open_store(settings)
    world = build_tool_world(engine, settings, shared_data / "tau2_retail", spec=SPEC)
    log = root / "server.log"
    # The server loads its models meanwhile: nothing it loads at start is written below.
    process, url = start_server(settings, log)
    try:
        keys = {principal_spec(d.principal): d.key for d in seed_demo_keys(engine, settings)}
        proposal_ids = _propose_reorders(world.services, world.store_id)
        price_change_ids = _run_pricing_agent(world.services, world.store_id)
        wait_for(process, url, log)
        yield Site(url, engine, settings, keys, proposal_ids, price_change_ids, world.store_id)
    finally:
        stop(process)
        world.services.close()
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
