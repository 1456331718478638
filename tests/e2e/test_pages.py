"""The pages in a real browser against a real server: a shopper finds a product in the chat and
asks about it, a planner approves a reorder proposal and sees its purchase order (and rejects
another, with a reason), a pricing manager approves the pricing agent's markdown and sees its
dated prices (and rejects another, with a reason, on a phone, by keyboard), and pages without a
key or without data say so."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from approvals.bounds import BoundsError
from approvals.price_changes import MarkdownContent, PricingError, edit_markdown, price_steps
from evals.runs import new_run_dir
from ml_core.forecasting.horizon import horizon_total, level_cv_of
from ml_core.forecasting.models import MODELS, describe_model
from ml_core.forecasting.run import calibrate_totals
from ml_core.forecasting.store_panel import sales_panel
from ml_core.pricing.guardrails import percent
from retail.clock import clock
from retail.store.models import (
    AuditEvent,
    Customer,
    DailySales,
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Location,
    Order,
    PriceChange,
    Product,
    Proposal,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Variant,
)
from tests.e2e.conftest import FORECASTER, HORIZON, PRICING_RUN, PROPOSER, Site

# One server and one world serve every page test: they stay on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def sign_in(page: Page, principal: str) -> None:
    """Choose a demo user in the sign-in panel, as a person would."""
    panel = page.locator("#identity")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    page.get_by_label("Demo user").select_option(label=principal)
    page.get_by_role("button", name="Use", exact=True).click()
    expect(page.locator("#identity-label")).to_have_text(signed_in_as(principal))


def signed_in_as(principal: str) -> str:
    """How the header names a demo principal once signed in: `quinn (planner)`."""
    role, _, ident = principal.partition(":")
    words = "administrator" if role == "admin" else role.replace("_", " ")
    return f"{ident.partition('@')[0]} ({words})"


def demo_user(site: Site, role: str) -> str:
    """The first demo principal of `role`, as the sign-in panel lists it."""
    return next(spec for spec in site.keys if spec.startswith(f"{role}:"))


def money(value: float) -> str:
    """A price as the pages write it (the browser's locale is en-US)."""
    return f"${value:,.2f}"


def option_value(price: float) -> str:
    """A price as the pricing page's choice of prices holds it (JavaScript's String(67.9))."""
    return f"{price:.2f}".rstrip("0").rstrip(".")


def signed_money(value: float) -> str:
    """A gain as the pricing page writes it: "+$12.34", "−$5.00"."""
    return f"+{money(value)}" if value >= 0 else f"−{money(-value)}"


def fact(scope: Locator, term: str) -> Locator:
    """The value of one `term` in a page's list of facts."""
    return scope.locator("dt", has_text=term).locator("xpath=following-sibling::dd[1]")


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def show_more(page: Page, *, keyboard: bool = False) -> None:
    """Show the next page of the queue with its button, clicked or pressed with the keyboard
    (after which focus is on the first entry it showed)."""
    entries = page.locator("#queue button[data-id]")
    shown = entries.count()
    more = page.get_by_role("button", name=re.compile(r"^Show more \(\d+ more waiting\)$"))
    if keyboard:
        more.focus()
        page.keyboard.press("Enter")
        expect(entries.nth(shown)).to_be_focused()
    else:
        more.click()
        expect(entries).not_to_have_count(shown)


def show_in_queue(page: Page, proposal_id: str, *, keyboard: bool = False) -> Locator:
    """The proposal's entry in the queue, showing more of the queue until it is listed."""
    expect(page.locator("#queue button[data-id]").first).to_be_visible()
    entry = page.locator(f'#queue button[data-id="{proposal_id}"]')
    while not entry.count():
        show_more(page, keyboard=keyboard)
    return entry


def test_shopper_finds_a_product_and_asks_a_follow_up(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    # Text that arrives while the answer is still streaming is recorded, so the test can tell
    # a streamed answer from one that appears all at once at the end.
    page.evaluate(
        """() => {
          window.streamed = false;
          new MutationObserver(() => {
            const busy = document.querySelector('.msg.assistant[aria-busy="true"] .text');
            if (busy && busy.textContent.trim()) window.streamed = true;
          }).observe(document.getElementById("chat-log"),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )
    box = page.get_by_label("Your message")
    box.fill("show me some jackets or shoes")
    box.press("Enter")

    first_answer = page.locator(".msg.assistant").first
    expect(first_answer).to_have_attribute("aria-busy", "false")
    expect(first_answer.locator(".tools li").first).to_contain_text("Searching products")
    cards = first_answer.locator(".card")
    expect(cards.first).to_be_visible()
    assert page.evaluate("window.streamed"), "no answer text arrived before the final event"
    assert first_answer.locator(".text").inner_text().strip()
    first_name = cards.first.locator("h3").inner_text()
    # Every card has a picture: the product's image, or a placeholder when it has none.
    assert cards.count() == first_answer.locator(".card img, .card .placeholder").count()

    # The follow-up, typed with the keyboard only.
    box.focus()
    page.keyboard.type("tell me more about the first one")
    page.keyboard.press("Enter")
    follow_up = page.locator(".msg.assistant").nth(1)
    expect(follow_up).to_have_attribute("aria-busy", "false")
    expect(follow_up.locator(".tools li").first).to_contain_text("Reading product details")
    expect(follow_up.locator(".text")).to_contain_text(first_name)

    # The thread survives a reload: the conversation comes back from the server, with its cards
    # and the tool lines each answer showed.
    shown = [page.locator(".msg.assistant").nth(n).locator(".card").count() for n in range(2)]
    lines = [
        page.locator(".msg.assistant").nth(n).locator(".tools li").all_inner_texts()
        for n in range(2)
    ]
    assert all(lines), lines
    page.reload()
    expect(page.locator(".msg.user")).to_have_count(2)
    expect(page.locator(".msg.assistant")).to_have_count(2)
    for n, count in enumerate(shown):
        expect(page.locator(".msg.assistant").nth(n).locator(".card")).to_have_count(count)
        expect(page.locator(".msg.assistant").nth(n).locator(".tools li")).to_have_text(lines[n])
    expect(page.locator(".msg.user").nth(1)).to_have_text(
        re.compile("tell me more about the first one")
    )


def ask(page: Page, message: str) -> Locator:
    """Send `message` in the chat as a person would; its answer, once it has finished."""
    answers = page.locator(".msg.assistant")
    before = answers.count()
    box = page.get_by_label("Your message")
    box.fill(message)
    box.press("Enter")
    answer = answers.nth(before)
    expect(answer).to_have_attribute("aria-busy", "false")
    return answer


def answer_prices(text: str) -> dict[str, str]:
    """Per product line of an answer ("1. Name by Brand - $10.00-$12.00 (...)"), its prices."""
    lines = re.findall(r"^\d+\. (.+?)(?: by .+?)? - (\$[\d,.]+(?:-\$[\d,.]+)?)", text, re.M)
    return dict(lines)


def card_prices(answer: Locator) -> dict[str, str]:
    """Per card of an answer, its price as the card writes it, in the answer's notation."""
    cards = answer.locator(".card")
    return {
        cards.nth(n).locator("h3").inner_text(): cards.nth(n)
        .locator(".price")
        .inner_text()
        .replace(" – ", "-")
        for n in range(cards.count())
    }


def test_cards_and_text_state_the_same_prices(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    listed = ask(page, "hiking boots under $250")
    stated = answer_prices(listed.locator(".text").inner_text())
    shown = card_prices(listed)
    # Every card is a product the text lists, at the prices the text states: those of the SKUs
    # that meet the request, so none above the budget.
    assert len(shown) >= 2 and shown == {name: stated[name] for name in shown}, (stated, shown)
    for price in shown.values():
        assert all(float(p.strip("$").replace(",", "")) <= 250 for p in price.split("-"))

    described = ask(page, "tell me more about the second one")
    ((name, price),) = card_prices(described).items()
    said = described.locator(".text").inner_text()
    assert re.match(rf"{re.escape(name)}(?: by [^:]+)?: {re.escape(price)}\.", said), said


def test_the_pages_round_a_figure_as_the_servers_sentences_do(page: Page) -> None:
    """A margin or a unit count reads the same in a table (rounded in the browser) as in the
    sentence beside it (rounded by Python): exact ties go to even in both, 12.25% is 12.2%."""
    page.goto("/")
    for fraction in (0.1225, 0.0125, 0.3745, 0.2835, 0.1005, -0.0625, 0.375):
        assert page.evaluate("x => Aisle.percent(x)", fraction) == percent(fraction), fraction
    for count in (103.25, 0.25, 2.675, 1234.45, -6.25, 7.0):
        assert page.evaluate("x => Aisle.number(x, 1)", count) == f"{count:,.1f}", count
    assert page.evaluate("Aisle.money(2.675)") == money(2.675)


def test_a_signed_out_shopper_is_asked_to_sign_in(page: Page) -> None:
    page.goto("/")
    prompt = page.locator("#chat-log")
    expect(prompt).to_contain_text("Please sign in to chat")
    expect(page.locator("#identity")).to_have_attribute("open", "")
    box = page.get_by_label("Your message")
    box.fill("do you have tents?")
    box.press("Enter")
    expect(prompt).to_contain_text("Please sign in to chat")
    expect(page.locator(".msg")).to_have_count(0)
    expect(box).to_have_value("do you have tents?")  # kept, to send once signed in
    # Pressing Send says why nothing was sent, beside it.
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-error")).to_have_text(
        "Please sign in to send this: choose who you are under “Sign in” at the top right. "
        "Your message stays here."
    )
    expect(box).to_have_value("do you have tents?")
    text = page.locator("main").inner_text()
    assert "Bearer" not in text and "Authorization" not in text


def test_the_storefront_tells_an_associate_it_is_for_shoppers(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "associate"))
    expect(page.locator("#access")).to_contain_text(
        "This page is for shoppers. You are signed in as"
    )
    expect(page.locator("#access")).to_contain_text("Sign in with a shopper's key to shop.")
    sign_in(page, demo_user(site, "shopper"))
    expect(page.locator("#access")).to_be_hidden()


def test_a_policy_table_reads_as_a_table(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    answer = ask(page, "what does shipping cost?")
    table = answer.locator(".text table")
    expect(table.locator("th")).to_have_text(["Option", "Delivery time", "Cost"])
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("Standard")
    assert "|---" not in answer.locator(".text").inner_text()


def test_a_declined_confirmation_reloads_as_declined(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    asked = ask(page, "please cancel order #W5442520, I ordered it by mistake")
    # Asking for a yes is part of the conversation, not an error: plain words, not red.
    question = asked.locator('.tools li[data-status="needs_confirmation"]')
    expect(question).to_have_text(re.compile(r"^Cancelling the order: waiting for your yes"))
    expect(question).to_have_class("asks")
    expect(asked.locator(".tools li.failed")).to_have_count(0)
    assert "needs_confirmation" not in asked.inner_text()
    asked.get_by_role("button", name="No", exact=True).click()
    expect(page.locator(".msg.assistant").nth(1)).to_have_attribute("aria-busy", "false")
    expect(asked.locator(".confirmation")).to_have_text("Not confirmed, so it was not done.")
    expect(asked.get_by_role("button", name="Yes", exact=True)).to_have_count(0)
    # The answer says nothing was changed; the note under the question does not repeat it.
    expect(page.locator("#chat-log")).to_contain_text("Nothing was changed.")
    assert page.locator("#chat-log").inner_text().lower().count("nothing was changed") == 1

    page.reload()
    expect(page.locator(".msg.assistant")).to_have_count(2)
    reloaded = page.locator(".msg.assistant").first
    expect(reloaded.locator(".confirmation")).to_have_text("Not confirmed, so it was not done.")
    expect(reloaded.get_by_role("button", name="Yes", exact=True)).to_have_count(0)
    expect(page.locator(".msg.assistant").nth(1)).to_contain_text("Nothing was changed.")
    assert page.locator("#chat-log").inner_text().lower().count("nothing was changed") == 1
    with Session(site.engine) as session:
        assert session.get_one(Order, "#W5442520").status == "pending"


def test_a_confirmed_cancellation_reads_as_done(page: Page, site: Site) -> None:
    """Walk 2026-12-07: after the shopper's yes the order was cancelled, and its line still read
    "Preparing the cancellation"; the line names the change itself, asked or done."""
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    asked = ask(page, "please cancel order #W3657213, I ordered it by mistake")
    question = asked.locator('.tools li[data-status="needs_confirmation"]')
    expect(question).to_have_text(re.compile(r"^Cancelling the order: waiting for your yes"))
    asked.get_by_role("button", name="Yes", exact=True).click()
    done = page.locator(".msg.assistant").nth(1)
    expect(done).to_have_attribute("aria-busy", "false")
    expect(done.locator('.tools li[data-status="ok"]')).to_have_text(
        re.compile(r"^Cancelling the order · \d+ ms$")
    )
    expect(done).not_to_contain_text("Preparing")
    expect(done.locator(".text")).to_contain_text("is cancelled")
    with Session(site.engine) as session:
        assert session.get_one(Order, "#W3657213").status == "cancelled"


def test_a_pending_confirmation_reloads_with_its_buttons(page: Page, site: Site) -> None:
    page.goto("/")
    sign_in(page, demo_user(site, "shopper"))
    ask(page, "I'd like to cancel order #W7941031 because I ordered it by mistake")
    page.reload()
    asked = page.locator(".msg.assistant").first
    expect(asked.get_by_role("button", name="Yes", exact=True)).to_be_enabled()
    expect(asked.get_by_role("button", name="No", exact=True)).to_be_enabled()
    asked.get_by_role("button", name="No", exact=True).click()
    expect(asked.locator(".confirmation")).to_have_text("Not confirmed, so it was not done.")


def test_an_associate_finds_a_customer_by_name_and_stock_reads_true(page: Page, site: Site) -> None:
    page.goto("/associate")
    sign_in(page, demo_user(site, "associate"))
    expect(page.locator("link[rel=icon]")).to_have_count(1)
    customer = page.get_by_label("Name, e-mail or customer id")
    customer.fill("olivia ito")
    customer.press("Enter")
    results = page.locator("#customer-results")
    expect(results).to_contain_text("Olivia Ito")
    results.get_by_role("button", name="Open profile: Olivia Ito").first.click()
    profile = page.locator("#customer")
    expect(profile.locator("h3")).to_have_text(re.compile(r"^Olivia Ito\s+olivia_ito_3591\s*$"))
    expect(fact(profile, "Marketing consent")).to_have_text("no")
    expect(page.locator("#recommendations")).to_contain_text("marketing consent")

    # An imported product keeps no stock records: "not tracked", never "in stock".
    product = page.get_by_label("Product name")
    product.fill("hiking boots")
    product.press("Enter")
    boots = page.get_by_role("heading", name="Hiking Boots", exact=True)
    card = page.locator("#product-results .card").filter(has=boots)
    expect(card).to_contain_text("Stock not tracked")
    expect(card).not_to_contain_text("In stock")
    card.get_by_role("button", name="Stock and substitutes").click()
    stock = page.locator("#stock")
    expect(stock).to_contain_text("not tracked at any store or online")
    expect(stock.locator("tbody td").filter(has_text=re.compile(r"^0$"))).to_have_count(0)
    nearby = stock.locator("th").filter(has_text=re.compile(r"^Stores within \d+ km"))
    expect(nearby).to_have_count(1)
    for panel in ("#stock", "#customer", "#customer-results", "#product-results"):
        assert "null" not in page.locator(panel).inner_text()

    # A tracked product, and a customer who consented: their panels say no "null" either, and
    # nothing out of stock is recommended.
    product.fill("Boulderpoint")
    product.press("Enter")
    # Without a store typed, a card's stock is the chain's, and says so; the table, the store's.
    tracked = page.locator("#product-results .card").first
    expect(tracked).to_contain_text(re.compile(r"(In|Out of) stock in the chain"))
    tracked.get_by_role("button").click()
    expect(stock.locator("tbody tr").first).to_be_visible()
    with Session(site.engine) as session:
        regular = session.scalars(
            select(Customer)
            .join(Order, Order.customer_id == Customer.id)
            .where(Customer.marketing_consent.is_(True), Customer.home_store_id == site.store_id)
            .order_by(Customer.id)
        ).first()
    assert regular is not None and regular.email
    customer.fill(regular.email.upper())
    customer.press("Enter")
    name = f"{regular.first_name} {regular.last_name}"
    expect(page.locator("#customer h3")).to_contain_text(name)
    picks = page.locator("#recommendations .card")
    expect(picks.first).to_be_visible()
    expect(picks.filter(has_text="In stock")).to_have_count(picks.count())
    for panel in ("#stock", "#customer", "#recommendations"):
        assert "null" not in page.locator(panel).inner_text(), panel


def test_an_empty_product_search_says_what_it_searched_for(page: Page, site: Site) -> None:
    """Walk 2026-12-07: a search that found nothing advised “boot” rather than “hiking boots”,
    while “hiking boots” finds the hiking boots. The search asks for every word in a product's
    name or its category's, and the sentence says that."""
    page.goto("/associate")
    sign_in(page, demo_user(site, "associate"))
    product = page.get_by_label("Product name")
    product.fill("hiking boots")
    product.press("Enter")
    expect(page.locator("#product-results .card").first).to_be_visible()
    product.fill("hiking boots tent")
    product.press("Enter")
    expect(page.locator("#product-results .empty")).to_have_text(
        "No product has every word of “hiking boots tent” in its name or its category's name, "
        "and no product or SKU has that id. Try fewer words, or the SKU on the label "
        "(“P00035-GRP-L”)."
    )


def test_a_sku_the_associates_store_does_not_stock_reads_not_carried_here(
    page: Page, site: Site
) -> None:
    """A SKU other locations keep stock of and this store keeps none of did not sell out here:
    the stock table says it is not carried, never a red 0 that reads as sold out."""
    with Session(site.engine) as session:
        here = exists().where(
            InventoryPosition.variant_id == Variant.id,
            InventoryPosition.location_id == site.store_id,
        )
        elsewhere = exists().where(InventoryPosition.variant_id == Variant.id)
        row = session.execute(
            select(Variant.id, Product.name)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.available.is_(True), elsewhere, ~here)
            .order_by(Variant.id)
        ).first()
    assert row is not None, "the world has SKUs the store does not stock"
    sku, name = row
    page.goto("/associate")
    sign_in(page, demo_user(site, "associate"))
    product = page.get_by_label("Product name")
    product.fill(name)
    product.press("Enter")
    card = page.locator("#product-results .card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )
    card.get_by_role("button", name="Stock and substitutes").click()
    line = page.locator("#stock tbody tr").filter(has_text=sku)
    expect(line).to_have_count(1)
    expect(line.locator("td").nth(3)).to_have_text("Not carried here")
    expect(line).not_to_contain_text("Out of stock")


def test_an_associate_chooses_a_store_by_its_name(page: Page, site: Site) -> None:
    with Session(site.engine) as session:
        stores = session.scalars(
            select(Location).where(Location.kind == "store").order_by(Location.name)
        ).all()
    own = next(store for store in stores if store.id == site.store_id)
    other = next(store for store in stores if store.id != site.store_id)
    page.goto("/associate")
    sign_in(page, demo_user(site, "associate"))
    store = page.get_by_label("Store", exact=True)
    options = store.locator("option")
    # Every store once, by name: the associate's own first, as the default.
    expect(options).to_have_count(len(stores))
    expect(options.first).to_have_text(f"Your store: {own.name}")
    expect(store.locator(f'option[value="{other.id}"]')).to_contain_text(other.name)
    store.select_option(value=other.id)

    product = page.get_by_label("Product name")
    product.fill("Boulderpoint")
    product.press("Enter")
    card = page.locator("#product-results .card").first
    expect(card).to_contain_text(re.compile(rf"(In|Out of) stock at {re.escape(other.name)}"))
    card.get_by_role("button").click()
    expect(page.locator("#stock h3")).to_have_text(re.compile(rf" at {re.escape(other.name)}$"))


def test_a_planners_queue_names_stores_and_suppliers_not_ids(page: Page, site: Site) -> None:
    with Session(site.engine) as session:
        store = session.get_one(Location, site.store_id)
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    entry = show_in_queue(page, site.proposal_ids[-1])
    expect(entry).to_contain_text(f"{store.name} · ")
    text = entry.inner_text()
    assert site.store_id not in text.replace(store.name, "") and "prop-" not in text, text
    # The forecast a line was planned with is named in words, not by its model's bare name.
    entry.click()
    line = page.locator("#detail details.line").first
    model = describe_model(FORECASTER)
    expect(fact(line, "Chart's forecast")).to_have_text(model)
    planned_with = re.compile(rf"^{re.escape(model)}, forecast of \d{{4}}-\d\d-\d\d$")
    expect(fact(line, "Planned with")).to_have_text(planned_with)
    # Internal ids stay out of the planner's reading: the run id, the proposal id and the
    # content hash are in tooltips.
    detail = page.locator("#detail")
    expect(detail).not_to_contain_text("(run ")
    expect(detail).not_to_contain_text("Content hash")
    expect(page.locator("#detail-title")).to_have_attribute(
        "title", re.compile(r"^Proposal \S+ · content hash [0-9a-f]{12,}$")
    )


def test_planner_approves_a_proposal_and_sees_the_purchase_order(page: Page, site: Site) -> None:
    approver = "planner:quinn"
    assert approver != f"planner:{PROPOSER.id}"
    page.goto("/planner")
    sign_in(page, approver)

    proposal_id = site.proposal_ids[0]
    page.locator(f'#queue button[data-id="{proposal_id}"]').click()

    detail = page.locator("#detail")
    # The proposal is named by what it orders; its id is in the tooltip, for whoever quotes it.
    title = page.locator("#detail-title")
    expect(title).to_have_text(re.compile(r"^Reorder from .+ for .+$"))
    expect(title).not_to_contain_text(proposal_id)
    expect(title).to_have_attribute("title", re.compile(rf"^Proposal {proposal_id} · "))
    # The first line's forecast chart, with its p10-p90 band, and the policy's explanation.
    first_line = detail.locator("details.line").first
    expect(first_line.locator("svg.chart polygon.band")).to_have_count(1)
    expect(first_line.locator("svg.chart polyline.mean")).to_have_count(1)
    assert first_line.locator("p").last.inner_text().strip()
    expect(detail.get_by_role("spinbutton").first).to_be_visible()
    # Events are counted from now ("in 7 days"); a calendar date of the wall clock beside the
    # world's "Today" in the header would contradict it.
    expect(detail).to_contain_text(re.compile(r"Expires\s*in \d+ days"))
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", detail.inner_text())

    page.get_by_role("button", name="Approve", exact=True).click()

    outcome = page.locator("#outcome")
    # The order is named by its supplier and where it goes; its id follows, small.
    heading = outcome.get_by_role("heading")
    expect(heading).to_have_text(re.compile(r"^Purchase order created: .+ → .+ po-\S+$"))
    po_id = heading.locator("small.ref").inner_text()
    with Session(site.engine) as session:
        order = session.get(PurchaseOrder, po_id)
        assert order is not None and order.proposal_id == proposal_id
        proposal = session.get_one(Proposal, proposal_id)
        assert proposal.decided_by == approver.split(":")[1]
        assert proposal.executed_ref == po_id
    # The decided proposal has left the queue.
    expect(page.locator(f'#queue button[data-id="{proposal_id}"]')).to_have_count(0)


def test_a_rejection_needs_a_reason_and_orders_nothing(page: Page, site: Site) -> None:
    proposal_id = site.proposal_ids[-1]
    assert proposal_id != site.proposal_ids[0], "the approval test decides the first one"
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    page.locator(f'#queue button[data-id="{proposal_id}"]').click()

    reject = page.get_by_role("button", name="Reject")
    reject.click()
    # The refusal sits beside the reason it is about.
    expect(page.locator(f"#reason-error-{proposal_id}")).to_contain_text("Say why you reject it")
    reason = page.get_by_label("Reason (required to reject)")
    expect(reason).to_be_focused()
    page.keyboard.type("The supplier is changing its case pack next week.")
    reject.click()

    expect(page.locator("#outcome")).to_contain_text("Rejected: nothing is ordered from ")
    with Session(site.engine) as session:
        proposal = session.get_one(Proposal, proposal_id)
        assert (proposal.status, proposal.executed_ref) == ("rejected", None)
        assert proposal.reason == "The supplier is changing its case pack next week."
        assert (
            session.scalars(
                select(PurchaseOrder).where(PurchaseOrder.proposal_id == proposal_id)
            ).all()
            == []
        )


def console_errors(page: Page) -> list[str]:
    """The errors the browser's console logs from now on (a refused request logs one)."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


# Whose key each page asks a signed-out visitor for.
WHOSE = {
    "store associates": "an associate's",
    "planners": "a planner's",
    "pricing managers": "a pricing manager's",
    "evaluators": "an evaluator's",
}


@pytest.mark.parametrize(
    ("path", "people"),
    [
        ("/associate", "store associates"),
        ("/planner", "planners"),
        ("/pricing", "pricing managers"),
        ("/evals", "evaluators"),
        ("/experiments", "evaluators"),
        ("/ops", "evaluators"),
        ("/", None),
    ],
)
def test_a_signed_out_visitor_is_asked_to_sign_in_without_console_errors(
    page: Page, path: str, people: str | None
) -> None:
    errors = console_errors(page)
    page.goto(path)
    expect(page.locator("#identity")).to_have_attribute("open", "")
    expect(page.locator("#identity summary")).to_have_text("Sign in")
    if people is not None:
        expect(page.locator("#access")).to_have_text(
            f"This page is for {people}. Please sign in with {WHOSE[people]} key under "
            "“Sign in” at the top right."
        )
    page.wait_for_load_state("networkidle")
    assert errors == []


def test_a_visitor_with_another_roles_key_reads_whose_page_it_is(page: Page, site: Site) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/planner")
    sign_in(page, "evaluator:eve")
    access = page.locator("#access")
    expect(access).to_have_text(
        "This page is for planners. You are signed in as eve (evaluator). "
        "Sign in with a planner's key."
    )
    expect(page.locator("#queue li")).to_have_count(0)
    # Arriving already signed in, the page says the same without asking the API for a refusal.
    errors = console_errors(page)
    page.reload()
    expect(access).to_contain_text("You are signed in as eve (evaluator)")
    page.wait_for_load_state("networkidle")
    assert errors == []
    assert not [url for url in asked if "/v1/proposals" in url or "/v1/purchase-orders" in url]
    main = page.locator("main").inner_text()
    assert "Bearer" not in main and "may not use" not in main

    sign_in(page, "planner:quinn")
    expect(access).to_be_hidden()
    expect(page.locator("#queue button[data-id]").first).to_be_visible()


def test_one_sign_in_serves_every_page_until_signed_out(page: Page, site: Site) -> None:
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    summary = page.locator("#identity summary")
    for path in ("/", "/associate", "/pricing", "/evals", "/planner"):
        page.goto(path)
        expect(summary).to_have_text("Signed in as quinn (planner)")
        expect(page.locator("#identity")).not_to_have_attribute("open", "")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#queue button[data-id]").first).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(summary).to_have_text("Sign in")
    expect(page.locator("#queue li")).to_have_count(0)
    page.goto("/pricing")
    expect(summary).to_have_text("Sign in")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


def test_pricing_manager_approves_a_markdown_and_sees_its_dated_prices(
    page: Page, site: Site
) -> None:
    approver = demo_user(site, "pricing_manager")
    proposal_id = site.price_change_ids[0]
    with Session(site.engine) as session:
        content = dict(session.get_one(Proposal, proposal_id).content)
    plan = MarkdownContent.of(content, proposal_id)
    page.goto("/pricing")
    sign_in(page, approver)

    entry = show_in_queue(page, proposal_id)
    # The queue tells one markdown from another: the product, and the first cut with its date
    # (which may be weeks after the plan starts: it must not read as today's price).
    first_day, first_price = price_steps(plan, today=plan.path[0].week_starting)[0]
    first_change = f"first change {first_day}: {money(plan.current_price)} → {money(first_price)}"
    expect(entry).to_contain_text(f"{content['product']} · {first_change}")
    expect(entry).to_contain_text(
        f"{money(content['expected']['gain'])} expected gain over keeping today's price"
    )
    entry.click()
    expect(page.locator("#detail-title")).to_have_text(re.compile(r"^Markdown of .+$"))
    detail = page.locator("#detail")
    # An agent that proposed it is named in words ("the pricing agent"), not by its principal.
    with Session(site.engine) as session:
        proposer = session.get_one(Proposal, proposal_id).proposer
    agent = proposer.removeprefix("agent:")
    expect(fact(detail, "Proposed by")).to_have_text(
        f"the {agent} agent" if agent != proposer else proposer
    )
    # One price per product and zone: the page says where in words, not by ids.
    expect(fact(detail, "Price zone")).to_have_text(
        "every store and online: one price for the product across them"
    )
    expect(entry).to_contain_text("every store and online")
    expect(entry).not_to_contain_text("CHAIN")
    expect(fact(detail, "Current price")).to_contain_text(f"{money(plan.current_price)}, margin")
    # Figures are labelled: the stock is sellable units in the zone, the quoted size named.
    expect(fact(detail, "Stock")).to_have_text(
        f"{content['stock']:,.0f} sellable units (on hand, not reserved) at every store and online"
    )
    quoted = next(v for v in content["variants"] if v["sku"] == plan.sku)
    size = " ".join(str(o) for o in quoted.get("options", {}).values())
    expect(fact(detail, "Prices quoted for")).to_contain_text(
        f"{size} ({plan.sku})" if size else plan.sku
    )
    idle = (first_day - plan.path[0].week_starting).days // 7
    expect(fact(detail, "First price change")).to_have_text(
        first_change
        + (
            f" (today's price kept for the {idle} week{'s' if idle != 1 else ''} before)"
            if idle
            else ""
        )
    )
    weeks = detail.get_by_role("table").first.locator("tbody tr")
    expect(weeks).to_have_count(len(plan.path))
    expect(weeks.first.get_by_role("combobox")).to_have_value(option_value(plan.path[0].price))
    expect(fact(detail, "Gain")).to_contain_text(money(content["expected"]["gain"]))
    # The units left at the end are part of the margin, and the page says what they add.
    expect(fact(detail, "Expected margin")).to_contain_text(
        content["expected"]["leftover_note"] or "keeping today's price"
    )
    # The sentence above the guardrail lines says what they say: nothing broken, and which of
    # them held the plan back, if any did (a plan held back does not read as "every one passes").
    summary = detail.get_by_text(re.compile(r"^No guardrail is broken"))
    expect(summary).to_be_visible()
    held = [b["guardrail"] for b in content.get("binding_guardrails", [])]
    expect(summary).to_contain_text(
        f"{len(held)} held the plan back: {', '.join(held)}." if held else "none held the plan"
    )
    expect(detail.get_by_text(content["explanation"])).to_be_visible()

    page.get_by_role("button", name="Approve", exact=True).click()

    outcome = page.locator("#outcome")
    expect(outcome.get_by_role("heading")).to_have_text(f"New prices for {content['product']}")
    today = clock(site.engine, site.settings).today
    with Session(site.engine) as session:
        proposal = session.get_one(Proposal, proposal_id)
        written = session.scalars(
            select(PriceChange)
            .where(PriceChange.proposal_id == proposal_id, PriceChange.variant_id == plan.sku)
            .order_by(PriceChange.effective_on)
        ).all()
        price = float(session.get_one(Variant, plan.sku).price)
        sizes = {size.sku: float(session.get_one(Variant, size.sku).price) for size in plan.sizes()}
        executed_by = session.scalars(
            select(AuditEvent.conversation_id).where(
                AuditEvent.approval_id == proposal_id, AuditEvent.event_type == "execution"
            )
        ).all()
    assert proposal.status == "executed" and proposal.decided_by == approver.split(":")[1]
    assert proposal.executed_ref == f"price_history/{proposal_id}"
    # The approval resumed the pricing agent's run, which wrote the plan's steps with their dates:
    # a week already begun takes effect today, the later ones wait for their day.
    assert executed_by == [PRICING_RUN]
    steps = price_steps(plan, today=today)
    assert steps and [row.effective_on for row in written] == [day for day, _ in steps]
    assert [float(row.price) for row in written] == pytest.approx([p for _, p in steps])
    due = [p for day, p in steps if day <= today]
    assert price == pytest.approx(due[-1] if due else plan.current_price)
    # Every size of the product moved with it: the sizes at its list price share its price.
    for size in plan.sizes():
        if size.list_price == plan.list_price:
            assert sizes[size.sku] == pytest.approx(price)
    # The page shows what was written, date by date.
    shown = outcome.locator("tbody tr")
    expect(shown).to_have_count(len(written))
    for row, change in zip(shown.all(), written, strict=True):
        expect(row).to_contain_text(change.effective_on.isoformat())
        expect(row).to_contain_text(money(float(change.price)))
    # The API says the same, and the decided proposal has left the queue.
    key = site.keys[approver]
    read = httpx.get(
        f"{site.url}/v1/proposals/{proposal_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert read.status_code == 200 and read.json()["status"] == "executed"
    expect(entry).to_have_count(0)


def test_a_pricing_manager_edits_a_weeks_price_and_the_figures_and_guardrails_follow(
    page: Page, site: Site
) -> None:
    """Walk 5: the pricing page had no edit, and an edit (by the API) kept the agent's expected
    figures. A week's price is chosen among the ladder's rungs; the expected figures are the
    planner's own valuation of the edited path, the guardrail lines and summary follow, and an
    edit the guardrails refuse says why beside its week. Nothing is saved before Approve."""
    with Session(site.engine) as session:
        proposal = next(
            p
            for p in (session.get_one(Proposal, i) for i in reversed(site.price_change_ids))
            if p.status == "proposed"
        )
        content, content_hash = dict(proposal.content), proposal.content_hash
    plan = MarkdownContent.of(content, proposal.id)
    # The plan as proposed, valued by the demand model it records, has the planner's figures.
    assert plan.expected() == content["expected"]
    rungs = sorted({w.price for w in plan.path} | {plan.current_price}, reverse=True)

    def tried(week: str, price: float) -> dict[str, Any] | str:
        try:
            return edit_markdown(content, {week: price})
        except (PricingError, BoundsError) as exc:
            return str(exc)

    edits = [
        (w.week_starting.isoformat(), price, tried(w.week_starting.isoformat(), price))
        for w in plan.path
        for price in rungs
        if abs(price - w.price) > 0.005
    ]
    week, price, edited = next(e for e in edits if isinstance(e[2], dict))
    bad_week, bad_price, refusal = next(e for e in edits if isinstance(e[2], str))
    assert isinstance(edited, dict) and isinstance(refusal, str)

    page.goto("/pricing")
    sign_in(page, demo_user(site, "pricing_manager"))
    show_in_queue(page, proposal.id).click()
    detail = page.locator("#detail")
    approve = page.get_by_role("button", name=re.compile("^Approve"))
    expect(fact(detail, "Gain")).to_have_text(signed_money(content["expected"]["gain"]))

    detail.get_by_label(f"Price from the week of {week}").select_option(option_value(price))
    heading = detail.get_by_role("heading", name="Expected outcome of the edited prices")
    expect(heading).to_be_visible()
    x = edited["expected"]
    expect(fact(detail, "Gain")).to_have_text(signed_money(x["gain"]))
    expect(fact(detail, "Units sold")).to_have_text(
        f"{x['units']:,.1f} ({x['keep_units']:,.1f} keeping today's price)"
    )
    expect(fact(detail, "The agent's plan, before the edit")).to_contain_text(
        f"gain {signed_money(content['expected']['gain'])}"
    )
    expect(detail.locator("p.ok, p.bad").first).to_contain_text("before the edit")
    expect(approve).to_have_text("Approve with my changes")
    expect(approve).to_be_enabled()

    # Back to the plan's own price, then a price the guardrails refuse: the sentence is beside
    # that week's choice and Approve waits.
    detail.get_by_label(f"Price from the week of {week}").select_option(
        option_value(next(w.price for w in plan.path if w.week_starting.isoformat() == week))
    )
    expect(fact(detail, "Gain")).to_have_text(signed_money(content["expected"]["gain"]))
    detail.get_by_label(f"Price from the week of {bad_week}").select_option(option_value(bad_price))
    error = detail.locator(f'[id="price-{bad_week}-error"]')
    expect(error).to_have_text(refusal)
    expect(approve).to_be_disabled()
    waits = page.get_by_text(f"Fix the price of the week of {bad_week} above to approve.")
    expect(waits).to_be_visible()
    detail.get_by_label(f"Price from the week of {bad_week}").select_option(
        option_value(next(w.price for w in plan.path if w.week_starting.isoformat() == bad_week))
    )
    expect(error).to_be_hidden()
    expect(approve).to_have_text("Approve")
    expect(approve).to_be_enabled()
    with Session(site.engine) as session:
        after = session.get_one(Proposal, proposal.id)
        assert after.status == "proposed" and after.content_hash == content_hash


def test_the_pricing_queue_shows_one_open_price_per_product_and_zone_and_todays_date(
    page: Page, site: Site
) -> None:
    page.goto("/pricing")
    sign_in(page, demo_user(site, "pricing_manager"))
    # The header says which day the application thinks it is: the demo world's own, and, since
    # this world is pinned to an earlier day than the wall clock's, both dates beside each other.
    now = clock(site.engine, site.settings)
    assert now.source == "world" and now.wall > now.today
    expect(page.locator("#clock time")).to_have_text(now.today.isoformat())
    note = page.locator("#clock-note")
    expect(note).to_contain_text(f"its sales data end {(now.today - dt.timedelta(days=1))}")
    expect(note).to_contain_text(f"the wall clock says {now.wall.isoformat()}")

    entries = page.locator("#queue button[data-id]")
    expect(entries.first).to_be_visible()
    more = page.get_by_role("button", name=re.compile(r"^Show more"))
    while more.count():
        show_more(page)
    listed = [entries.nth(i).get_attribute("data-id") or "" for i in range(entries.count())]
    with Session(site.engine) as session:
        waiting = session.scalars(
            select(Proposal).where(Proposal.kind == "price_change", Proposal.status == "proposed")
        ).all()
    assert sorted(listed) == sorted(p.id for p in waiting)
    # Never two open prices for one product in one zone, and none dated before today.
    keys = [(p.content["product_id"], p.location_id) for p in waiting]
    assert len(keys) == len(set(keys))
    assert all(p.content["path"][0]["week_starting"] >= now.today.isoformat() for p in waiting)


def test_a_markdown_rejection_needs_a_reason_and_changes_no_price_on_a_phone_by_keyboard(
    page: Page, site: Site
) -> None:
    proposal_id = site.price_change_ids[-1]
    assert proposal_id != site.price_change_ids[0], "the approval test decides the first one"
    with Session(site.engine) as session:
        content = session.get_one(Proposal, proposal_id).content
        sku, weeks = content["sku"], len(content["path"])
        price = float(session.get_one(Variant, sku).price)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/pricing")
    sign_in(page, demo_user(site, "pricing_manager"))

    show_in_queue(page, proposal_id, keyboard=True).focus()
    page.keyboard.press("Enter")
    title = page.locator("#detail-title")
    expect(title).to_have_text(re.compile(r"^Markdown of .+$"))
    expect(title).to_be_focused()
    expect(page.locator("#detail").get_by_role("table").first).to_be_visible()
    assert no_sideways_scroll(page)

    reason = page.get_by_label("Reason (required to reject)")
    reject = page.get_by_role("button", name="Reject")
    # Each week's price is a choice of its own, and a table wider than a phone scrolls inside
    # its box, which Chromium makes a tab stop (so it can be scrolled by keyboard): the reason
    # is a Tab per week and a few more on.
    for _ in range(weeks + 4):
        page.keyboard.press("Tab")
        if reason.evaluate("e => e === document.activeElement"):
            break
    expect(reason).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(reject).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"#reason-error-{proposal_id}")).to_contain_text("Say why you reject it")
    expect(reason).to_be_focused()
    page.keyboard.type("Too deep before the holiday weekend.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(reject).to_be_focused()
    page.keyboard.press("Enter")

    outcome = page.locator("#outcome .outcome")
    expect(outcome).to_have_text(re.compile(r"^Rejected: the prices of .+ are unchanged\.$"))
    expect(outcome).to_be_focused()
    assert no_sideways_scroll(page)
    with Session(site.engine) as session:
        proposal = session.get_one(Proposal, proposal_id)
        assert (proposal.status, proposal.executed_ref) == ("rejected", None)
        assert proposal.reason == "Too deep before the holiday weekend."
        written = session.scalars(
            select(PriceChange).where(PriceChange.proposal_id == proposal_id)
        ).all()
        assert written == []
        assert float(session.get_one(Variant, sku).price) == price


# The pricing queue is never empty here: the pricing agent's proposals wait in it.
@pytest.mark.parametrize(
    ("path", "role", "empty"),
    [("/evals", "evaluator", "No evaluation run has been recorded yet.")],
)
def test_a_queue_with_nothing_in_it_says_so_on_a_phone(
    page: Page, site: Site, path: str, role: str, empty: str
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(path)
    sign_in(page, demo_user(site, role))
    expect(page.get_by_text(empty)).to_be_visible()
    if path == "/evals":  # what to do next: the exact command
        expect(page.locator("#runs pre")).to_have_text("aisle eval run --smoke")
    # Nothing is wider than the phone: the page never scrolls sideways.
    assert no_sideways_scroll(page)


def test_an_evaluator_opens_a_runs_report(page: Page, site: Site) -> None:
    run = new_run_dir(site.settings)
    run.mkdir(parents=True)
    summary = {
        "run": {"created_at": "2026-11-23T10:00:00+00:00", "seconds": 9.5, "brains": ["local"]},
        "goals": [{"goal": "full run within 10 minutes", "value": 9.5, "met": True}],
    }
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "report.html").write_text("<html><body><h1>Run report 42</h1></body></html>")
    try:
        page.goto("/evals")
        sign_in(page, demo_user(site, "evaluator"))
        row = page.get_by_role("row").filter(has_text=run.name)
        expect(row).to_contain_text("9.5")
        # The report is fetched with the key (a plain link would get a 401) and opened apart.
        with page.context.expect_page() as opened:
            row.get_by_role("button", name="Open report").click()
        report = opened.value
        expect(report.get_by_role("heading", name="Run report 42")).to_be_visible()
        report.close()
    finally:
        shutil.rmtree(run)  # the other pages' tests expect no runs


def test_static_files_are_cached_by_version_and_never_leave_their_folder(site: Site) -> None:
    page = httpx.get(f"{site.url}/").text
    css = re.search(r'href="(/static/aisle\.css\?v=[0-9a-f]+)"', page)
    assert css is not None
    fresh = httpx.get(site.url + css.group(1))
    assert fresh.status_code == 200 and fresh.headers["content-type"].startswith("text/css")
    assert "immutable" in fresh.headers["cache-control"]
    assert httpx.get(f"{site.url}/static/aisle.css?v=old").headers["cache-control"] == "no-cache"
    for name in ("..%2Fapp.py", "app.py", "missing.js", ".hidden.css"):
        response = httpx.get(f"{site.url}/static/{name}")
        assert response.status_code == 404, name


def quantity_input(detail: Locator, sku: str) -> Locator:
    return detail.locator(f'input[id="qty-{sku}"]')


# Before the test that approves site.proposal_ids[1]: this one reads a proposal still waiting.
def test_a_quantity_below_the_minimum_order_or_absurdly_high_is_refused_as_typed(
    page: Page, site: Site
) -> None:
    with Session(site.engine) as session:
        waiting = [session.get_one(Proposal, p) for p in site.proposal_ids]
        proposal, line = next(
            (p, li)
            for p in waiting
            if p.status == "proposed"
            for li in p.content["lines"]
            if li["moq"] > li["case_pack"]
        )
    sku, pack, moq = line["sku"], line["case_pack"], line["moq"]
    ceiling = (line["quantity"] * 10 + pack - 1) // pack * pack
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    show_in_queue(page, proposal.id).click()
    detail = page.locator("#detail")
    field = quantity_input(detail, sku)
    error = detail.locator(f'[id="qty-{sku}-error"]')
    approve = page.get_by_role("button", name=re.compile("^Approve"))
    # The supplier's minimum order is beside the input before anything is typed.
    cases = f"cases of {pack:,}" if pack > 1 else "any whole number"
    limits = detail.locator(f'[id="qty-{sku}-limits"]')
    expect(limits).to_have_text(f"{cases} · minimum order {moq:,}")
    expect(limits).to_be_visible()
    expect(error).to_be_hidden()

    # A whole case below the supplier's minimum order: the server's sentence, as typed.
    field.fill(str(pack))
    expect(error).to_have_text(
        f"{pack:,} units of {sku} is below the supplier's minimum order of {moq:,}; "
        f"order at least {moq:,}, or 0 to drop the line."
    )
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(approve).to_be_disabled()
    # A typo with extra zeros names the ceiling, never a "whole cases" suggestion beyond it.
    field.fill("1000000001")
    expect(error).to_have_text(
        f"1,000,000,001 units of {sku} is more than 10 times the proposed line; "
        f"order at most {ceiling:,}."
    )
    expect(approve).to_be_disabled()
    if pack > 1:
        # Within the limits, the whole-case suggestions are within them too.
        field.fill(str(moq + 1))
        expect(error).to_have_text(
            f"Order whole cases of {pack}: {moq:,} or {moq + pack:,}."
            if moq + pack <= ceiling
            else f"Order whole cases of {pack}: {moq:,}."
        )
    field.fill("0")
    expect(error).to_be_hidden()
    field.fill(str(moq))
    expect(error).to_be_hidden()
    expect(approve).to_be_enabled()
    with Session(site.engine) as session:
        assert session.get_one(Proposal, proposal.id).status == "proposed"


def test_the_planners_28_day_range_is_the_backtested_total_range(page: Page, site: Site) -> None:
    with Session(site.engine) as session:
        proposal_id = next(
            p for p in site.proposal_ids if session.get_one(Proposal, p).status == "proposed"
        )
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    show_in_queue(page, proposal_id).click()
    first = page.locator("#detail details.line").first
    shown = fact(first, f"Next {HORIZON} days")
    expect(shown).to_contain_text("p10")
    # Whole units: a total of unit sales has whole-unit quantiles.
    found = re.findall(r"p[19]0 ([\d,]+)", shown.inner_text())
    low, high = (float(x.replace(",", "")) for x in found)

    # The same range computed here from the stored run: its daily forecasts of the line's SKU
    # and the shared-level error its backtest calibrated.
    with Session(site.engine) as session:
        sku = session.get_one(Proposal, proposal_id).content["lines"][0]["sku"]
        run = session.scalars(select(ForecastRun).order_by(ForecastRun.created_at.desc())).first()
        assert run is not None
        last_day = session.scalar(
            select(func.max(DailySales.day)).where(DailySales.location_id == site.store_id)
        )
        days = list(
            session.scalars(
                select(ForecastValue)
                .where(
                    ForecastValue.run_id == run.id,
                    ForecastValue.variant_id == sku,
                    ForecastValue.location_id == site.store_id,
                    ForecastValue.day > last_day,
                )
                .order_by(ForecastValue.day)
                .limit(HORIZON)
            )
        )
        metrics = dict(run.metrics)
    total = horizon_total(
        [[d.mean for d in days]],
        [[d.p10 for d in days]],
        [[d.p90 for d in days]],
        level_cv=level_cv_of(metrics),
    )
    assert (low, high) == (total.p10[0], total.p90[0])
    assert low <= total.mean[0] <= high
    # The median of the total beside its range, and the mean labelled as the mean.
    median = re.search(r"median \(p50\) ([\d,]+) units", shown.inner_text())
    assert median is not None and float(median.group(1).replace(",", "")) == total.p50[0]
    expect(shown).to_contain_text(f"mean {total.mean[0]:,.1f}")

    # The calibration backtest, redone here on the store's own sales, covers 80% of the
    # 28-day totals within 5 points, with the level error the run stored.
    data, _ = sales_panel(site.engine, location_id=site.store_id)
    redone = calibrate_totals(MODELS[FORECASTER](), data, HORIZON)
    assert redone["level_cv"] == level_cv_of(metrics)
    assert abs(redone["coverage_80"] - 0.8) <= 0.05, redone
    # The old reading, summed daily quantiles, is a different (and here wider or narrower) range.
    summed = (sum(d.p10 for d in days), sum(d.p90 for d in days))
    assert (low, high) != summed


def test_a_lines_facts_table_and_explanation_state_the_same_plan(page: Page, site: Site) -> None:
    with Session(site.engine) as session:
        proposal_id = next(
            p for p in site.proposal_ids if session.get_one(Proposal, p).status == "proposed"
        )
        line = session.get_one(Proposal, proposal_id).content["lines"][0]
    policy = line["policy"]
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    show_in_queue(page, proposal_id).click()
    first = page.locator("#detail details.line").first
    # The service level shown is the one the order was computed from, the class target beside it.
    expect(fact(first, "Service level")).to_contain_text(
        f"{policy['service_level'] * 100:.1f}% (class {policy['abc_class']} target "
        f"{policy['target_service_level'] * 100:.1f}%"
    )
    # The cover stated is after the order, and says so.
    expect(fact(first, "Days of cover after the order")).to_have_text(str(policy["days_of_cover"]))
    # The safety stock in the table, the facts and the explanation is one number.
    safety = f"{policy['safety_stock']:.1f}"
    row = quantity_input(page.locator("#detail"), line["sku"]).locator("xpath=ancestor::tr")
    expect(row.locator("td").nth(4)).to_have_text(safety)
    expect(fact(first, "Safety stock")).to_have_text(safety)
    expect(first.locator("p", has_text="a safety stock of")).to_contain_text(
        f"a safety stock of {safety}"
    )
    # On order says where it comes from: the open purchase orders in Aisle, and what none
    # explains (the store's stock records).
    with Session(site.engine) as session:
        location_id = session.get_one(Proposal, proposal_id).location_id
        ordered = session.scalars(
            select(PurchaseOrderLine.quantity)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(
                PurchaseOrder.status == "open",
                PurchaseOrder.location_id == location_id,
                PurchaseOrderLine.variant_id == line["sku"],
            )
        ).all()
    recorded = policy["on_order"] - sum(ordered)
    on_order = fact(first, "On order")
    expect(on_order).to_contain_text(f"{policy['on_order']:,}")
    if recorded > 0:
        expect(on_order).to_contain_text(
            f"{recorded:,} from the store's stock records, with no purchase order in Aisle"
        )
    if ordered:
        expect(on_order).to_contain_text(f"{ordered[0]:,} on purchase order po-")


def test_a_bad_quantity_is_refused_beside_its_input_and_values_follow_typing(
    page: Page, site: Site
) -> None:
    assert len(site.proposal_ids) >= 3, "the approval and rejection tests take two others"
    proposal_id = site.proposal_ids[1]
    page.goto("/planner")
    sign_in(page, "planner:quinn")
    show_in_queue(page, proposal_id).click()
    detail = page.locator("#detail")
    with Session(site.engine) as session:
        content = session.get_one(Proposal, proposal_id).content
    line = content["lines"][0]
    sku, pack, cost = line["sku"], line["case_pack"], line["unit_cost"]
    # The queue row names the supplier the order goes to.
    expect(page.locator(f'#queue button[data-id="{proposal_id}"]')).to_contain_text(
        content["supplier"]["name"]
    )
    field = quantity_input(detail, sku)
    error = detail.locator(f'[id="qty-{sku}-error"]')
    row = field.locator("xpath=ancestor::tr")
    total = fact(detail, "Total")
    totals = content["totals"]
    expect(total).to_have_text(
        f"{totals['lines']} lines, {totals['units']:,} units, {money(totals['value'])}"
    )

    # A value the form cannot send says why beside the input, and approval waits for it.
    field.fill("-3" if pack == 1 else str(pack + 1))
    expect(error).to_be_visible()
    expect(error).to_contain_text("below 0" if pack == 1 else f"whole cases of {pack}")
    expect(field).to_have_attribute("aria-invalid", "true")
    box, cause = error.bounding_box(), field.bounding_box()
    assert box is not None and cause is not None
    assert abs(box["y"] - (cause["y"] + cause["height"])) < 40, (box, cause)
    approve = page.get_by_role("button", name="Approve", exact=True)
    expect(approve).to_be_disabled()
    # Beside the disabled button, why it waits; the total leaves the line out and says so.
    waits = page.locator(f'[id="approve-waits-{proposal_id}"]')
    expect(waits).to_have_text(f"Fix the quantity of {sku} above to approve.")
    waits_box, button = waits.bounding_box(), approve.bounding_box()
    assert waits_box is not None and button is not None
    assert abs(waits_box["y"] - (button["y"] + button["height"])) < 40, (waits_box, button)
    others = content["lines"][1:]
    expect(total).to_have_text(
        f"Incomplete: {len(others)} line{'s' if len(others) != 1 else ''}, "
        f"{sum(li['quantity'] for li in others):,} units, "
        f"{money(round(sum(li['line_value'] for li in others), 2))} without {sku}, "
        f"whose quantity cannot be sent"
    )

    # As a valid quantity is typed, the line's value and the proposal's total follow.
    wanted = line["quantity"] + pack
    field.fill(str(wanted))
    expect(error).to_be_hidden()
    expect(waits).to_be_hidden()
    expect(row.locator("td").last).to_have_text(money(wanted * cost))
    others = sum(li["line_value"] for li in content["lines"][1:])
    units = sum(li["quantity"] for li in content["lines"]) + pack
    expect(total).to_contain_text(money(round(others + wanted * cost, 2)))
    expect(total).to_contain_text(f"{units:,} units")
    approve = page.get_by_role("button", name="Approve with my changes")

    # More than ten times the proposed line is refused as it is typed, in the server's words.
    too_many = (line["quantity"] * 10 // pack + 1) * pack
    field.fill(str(too_many))
    expect(error).to_have_text(
        f"{too_many:,} units of {sku} is more than 10 times the proposed line; "
        f"order at most {too_many - pack:,}."
    )
    expect(page.get_by_role("button", name=re.compile("^Approve"))).to_be_disabled()
    expect(page.locator(f"#decision-error-{proposal_id}")).to_be_hidden()

    # Approved with a valid edit: the purchase-order list shows the order by name and value.
    field.fill(str(wanted))
    approve.click()
    expect(page.locator("#outcome").get_by_role("heading")).to_contain_text(
        "Purchase order created: "
    )
    with Session(site.engine) as session:
        order = session.scalars(
            select(PurchaseOrder).where(PurchaseOrder.proposal_id == proposal_id)
        ).one()
        lines = [(li.variant_id, li.quantity, li.unit_cost) for li in order.lines]
        names = {
            v: session.scalar(
                select(Product.name)
                .join(Variant, Variant.product_id == Product.id)
                .where(Variant.id == v)
            )
            for v, _, _ in lines
        }
        supplier = session.get_one(Supplier, order.supplier_id).name
    page.get_by_role("link", name="See every purchase order").click()
    listed = page.locator("#orders details.order", has_text=order.id)
    expect(listed).to_have_count(1)
    summary = listed.locator("summary")
    expect(summary).to_contain_text(supplier)
    expect(summary).to_contain_text(order.status)
    # Counted from now, as every event on the pages is (the header's "Today" is the world's).
    expect(summary).to_contain_text(re.compile(r"created (?:\d+ (?:seconds?|minutes?) ago|now)"))
    summary.click()
    for variant_id, quantity, unit_cost in lines:
        cells = listed.locator("tr", has_text=variant_id).locator("td")
        expect(cells.nth(1)).to_have_text(names[variant_id])
        expect(cells.nth(2)).to_have_text(f"{quantity:,}")
        expect(cells.nth(4)).to_have_text(money(round(quantity * unit_cost, 2)))
    assert {v: q for v, q, _ in lines}[sku] == wanted
    assert "null" not in page.locator("main").inner_text()
    assert "undefined" not in page.locator("main").inner_text()
