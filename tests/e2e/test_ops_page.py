"""The /ops page in a real browser: an administrator reads each model kind's champion and stage
history, the drift section (monitoring not run, or the monitor's alerts), a quarantined feed with
its reason, and the weekly KPI plots with their definitions, each checked against the API or the
store; an evaluator is told the registry is for administrators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from ml_core.registry import ArtifactRegistry, describe_kind
from retail.clock import clock
from retail.feeds.load import load_feed
from retail.kpis import DEFINITIONS, weekly_kpis
from retail.store.db import transaction
from retail.store.models import FeedBatch
from tests.e2e.conftest import Site
from tests.e2e.test_pages import demo_user, fact, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


@pytest.fixture
def quarantined_feed(site: Site, tmp_path: Path) -> Iterator[str]:
    """An inventory file lacking a column, quarantined on load; its batch is removed afterwards so
    the other pages' tests see the world as it was."""
    stock = tmp_path / "stock.csv"
    stock.write_text("as_of,location_id,variant_id,on_hand\n2026-01-01,S1,X,3\n")
    batch = load_feed(site.engine, "inventory", stock, loaded_by="e2e", settings=site.settings)
    assert batch.status == "quarantined" and batch.reason
    try:
        yield batch.reason
    finally:
        with transaction(site.engine) as session:
            session.execute(delete(FeedBatch).where(FeedBatch.loaded_by == "e2e"))


def test_an_admin_reads_models_alerts_feeds_and_kpis(
    page: Page, site: Site, quarantined_feed: str
) -> None:
    admin = demo_user(site, "admin")
    page.goto("/ops")
    sign_in(page, admin)

    registry = ArtifactRegistry(site.settings.var_dir / "artifacts")
    kinds = [describe_kind(registry, name) for name in registry.names()]
    assert kinds, "the e2e world trains and registers models"
    for kind in kinds:
        panel = page.locator(f"#models [data-kind='{kind['kind']}']")
        champion = kind["champion"]
        expected = f"{champion} ({kind['model']})" if champion and kind["model"] else champion
        expect(fact(panel, "Champion")).to_have_text(expected or "none yet")
        changes = len(registry.ledger(kind["kind"]).history)
        expect(panel.locator("tbody tr")).to_have_count(changes)

    alerts = httpx.get(f"{site.url}/v1/monitor/alerts", headers={"X-API-Key": site.keys[admin]})
    if alerts.status_code == 404:
        expect(page.locator("#alerts")).to_have_text(
            "Monitoring has not run yet: this server reports no drift alerts."
        )
    else:
        assert alerts.status_code == 200, alerts.text
        listed = alerts.json()
        listed = listed if isinstance(listed, list) else listed["items"]
        if listed:
            expect(page.locator("#alerts tbody tr")).to_have_count(len(listed))
        else:
            expect(page.locator("#alerts")).to_contain_text("No drift alert is stored")

    feeds = page.locator("#feeds")
    expect(feeds.locator(".feed-summary")).to_have_text("Quarantined: 1 of 1 feed batch loaded.")
    row = feeds.get_by_role("row").filter(has_text="stock.csv")
    expect(row).to_contain_text("quarantined")
    expect(row).to_contain_text(quarantined_feed)

    kpis = weekly_kpis(site.engine, clock(site.engine, site.settings).today, 12)
    for definition in DEFINITIONS:
        expect(page.locator(f".kpi[data-kpi='{definition.key}'] .definition")).to_have_text(
            f"Definition: {definition.definition}"
        )
    latest = kpis["points"][-1]
    expect(page.locator(".kpi[data-kpi='fill_rate'] .chart-summary")).to_contain_text(
        f"Fill rate in the week of {latest['week_start']}: {latest['fill_rate']:.1%}"
    )
    stockouts = page.locator(".kpi[data-kpi='stockouts']")
    expect(stockouts.locator("circle.kpi-point")).to_have_count(
        sum(p["stockouts"] is not None for p in kpis["points"])
    )

    sign_in(page, demo_user(site, "evaluator"))
    expect(page.locator("#models")).to_contain_text(
        "The model registry is open to administrators only"
    )
