"""The storefront's recommendations in a real browser: an anonymous visitor's home grid, and the
product view's "complete the look" after a click, which reaches the event log with the
recommendation it came from."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from retail import catalog_version
from retail.store.models import Product, RecommendationServed, ShopperEvent, Variant
from tests.e2e.conftest import Site


def test_an_anonymous_visitor_opens_a_pick_and_sees_what_completes_the_look(
    page: Page, site: Site
) -> None:
    page.goto("/")
    cards = page.locator("#home-grid li.card")
    expect(cards).to_have_count(8)
    session_id = page.evaluate("localStorage.getItem('aisle.session')")
    first = cards.first
    name = first.locator("h3").inner_text()
    first.get_by_role("button", name=f"View: {name}").click()

    expect(page.locator("#product-title")).to_have_text(name)
    look = page.locator("#look-grid li.card")
    expect(look.first).to_be_visible()
    expect(look.first).to_contain_text(f"goes with {name}")
    expect(page.locator("#like-grid li.card").first).to_be_visible()
    # The grid that follows the click answers to it: the opened product is not news any more.
    expect(page.locator("#home-grid h3", has_text=name)).to_have_count(0)

    # The click and the grid it came from reach SQL (each log is flushed every second).
    deadline = time.monotonic() + 15
    clicks: list[ShopperEvent] = []
    served: RecommendationServed | None = None
    while served is None and time.monotonic() < deadline:
        with Session(site.engine) as session:
            clicks = list(
                session.scalars(
                    select(ShopperEvent).where(
                        ShopperEvent.session_id == session_id, ShopperEvent.event_type == "click"
                    )
                )
            )
            if clicks and clicks[0].recommendation_id:
                served = session.get(RecommendationServed, clicks[0].recommendation_id)
        time.sleep(0.2)
    assert len(clicks) == 1 and served is not None, clicks
    assert served.placement == "home" and served.unit_id == f"session:{session_id}"
    assert clicks[0].product_id in served.items


def test_an_associate_on_the_storefront_sees_a_visitors_picks_not_a_refusal(
    page: Page, site: Site
) -> None:
    """Walk 2026-12-07: signed in as an associate, the storefront's "Picked for you" showed the
    API's refusal in red ("These storefront routes are for shoppers …"); the page is open to
    anyone signed in, and someone with no customer to pick for sees what a visitor sees."""
    page.goto("/")
    associate = next(spec for spec in site.keys if spec.startswith("associate:"))
    panel = page.locator("#identity")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    page.get_by_label("Demo user").select_option(label=associate)
    page.get_by_role("button", name="Use", exact=True).click()
    expect(page.locator("#access")).to_contain_text("This page is for shoppers")
    cards = page.locator("#home-grid li.card")
    expect(cards).to_have_count(8)
    expect(page.locator("#picks-error")).to_be_hidden()
    expect(cards.first).to_contain_text("popular")


def test_a_recommended_card_shows_its_price_range_and_todays_prices(page: Page, site: Site) -> None:
    """Sizes at different prices read as a range on the storefront's cards, as on every other
    card; a price changed while the site runs shows on the next grid (walk 5)."""
    page.goto("/")
    first = page.locator("#home-grid li.card").first
    name = first.locator("h3").inner_text()
    with Session(site.engine) as session:
        variants = list(
            session.scalars(
                select(Variant)
                .join(Product, Product.id == Variant.product_id)
                .where(Product.name == name, Variant.available.is_(True))
                .order_by(Variant.id)
            )
        )
        before = {v.id: v.price for v in variants}
        for i, variant in enumerate(variants):
            variant.price = 40.0 if i == 0 else 48.0
        # As every price write does: the serving process sees the catalogue's version move.
        catalog_version.bump(session)
        session.commit()
    try:
        # The server checks the version at most every `catalog_check_s`: past that, the next
        # request reloads its snapshot.
        page.wait_for_timeout(site.settings.catalog_check_s * 1000 + 100)
        page.reload()
        card = page.locator("#home-grid li.card").filter(has=page.locator("h3", has_text=name))
        shown = "$40.00 – $48.00" if len(variants) > 1 else "$40.00"
        expect(card.locator(".price")).to_have_text(shown)
        card.get_by_role("button", name=f"View: {name}").click()
        expect(page.locator("#product-facts")).to_contain_text(shown)
    finally:
        with Session(site.engine) as session:
            for variant_id, price in before.items():
                session.get_one(Variant, variant_id).price = price
            catalog_version.bump(session)
            session.commit()


def test_the_product_on_view_is_in_the_address_so_reload_and_back_keep_it(
    page: Page, site: Site
) -> None:
    page.goto("/")
    first = page.locator("#home-grid li.card").first
    name = first.locator("h3").inner_text()
    first.get_by_role("button", name=f"View: {name}").click()
    title = page.locator("#product-title")
    expect(title).to_have_text(name)
    expect(page).to_have_url(re.compile(r"/\?product=[^&]+$"))
    product_id = page.url.rpartition("=")[2]
    with Session(site.engine) as session:
        assert session.get_one(Product, product_id).name == name

    page.reload()
    expect(title).to_have_text(name)
    expect(page.locator("#product-view")).to_be_visible()
    expect(page.locator("#like-grid li.card").first).to_be_visible()

    page.go_back()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#product-view")).to_be_hidden()
    page.go_forward()
    expect(title).to_have_text(name)
    expect(page.locator("#product-view")).to_be_visible()

    # An address naming no product says so where the product would be.
    page.goto("/?product=no-such-product")
    expect(title).to_have_text("Product not found")
    expect(page.locator("#product-error")).to_be_visible()
