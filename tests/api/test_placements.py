"""GET /v1/recommendations and POST /v1/events on a small generated world with a trained
recommender: each placement, signed-in shoppers and anonymous visitors, events that move the
next answer, the exposure and event logs in SQL, and two serving processes sharing Redis."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import issue_key
from approvals.decisions import DecisionRequest, decide
from approvals.records import record_plan
from ml_core.experiments.assignment import (
    create_experiment,
    start_experiment,
    stop_experiment,
)
from ml_core.pricing.guardrails import ladder_price
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.live import redis_prefix
from ml_core.recommend.popularity import Popularity
from ml_core.recommend.ranking import CatalogItem
from ml_core.recommend.serving import load_catalog
from ml_core.recommend.train import train_store_recommender
from ml_core.registry import ArtifactRegistry
from retail.clock import today as clock_today
from retail.errors import AisleError
from retail.feeds.load import load_feed
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import (
    Customer,
    InventoryPosition,
    Order,
    OrderItem,
    RecommendationServed,
    ShopperEvent,
    Variant,
)
from tests.factories import seed_placements_world
from tests.proposals import MARKDOWN_CONTENT
from tools.base import Principal

REDIS_URL = "redis://127.0.0.1:6379/0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"


@dataclass
class World:
    settings: Settings
    engine: Engine
    catalog: dict[str, CatalogItem]
    shopper_id: str
    shopper_key: str
    associate_key: str
    bought_together: tuple[str, str]
    """Two products of different categories that customers bought both of."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("placements")
    settings, engine = seed_placements_world(root)
    train_store_recommender(engine, ArtifactRegistry(settings.var_dir / "artifacts"), ItemItem())
    catalog = load_catalog(engine)
    with Session(engine) as session:
        shopper_id = session.scalars(
            select(Order.customer_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Customer.home_store_id.is_not(None))
            .group_by(Order.customer_id)
            .order_by(func.count().desc(), Order.customer_id)
            .limit(1)
        ).one()
        lines = session.execute(
            select(Order.customer_id, OrderItem.product_id).join(
                OrderItem, OrderItem.order_id == Order.id
            )
        ).all()
    baskets: dict[str, set[str]] = {}
    for customer, product in lines:
        baskets.setdefault(customer, set()).add(product)
    pair = next(
        (a, b)
        for basket in baskets.values()
        for a in sorted(basket)
        for b in sorted(basket)
        if catalog[a].category_id != catalog[b].category_id
    )
    shopper_key = issue_key(engine, Principal.parse(f"shopper:{shopper_id}"), label="test")
    associate_key = issue_key(engine, Principal.parse("associate:ann@S001"), label="test")
    yield World(settings, engine, catalog, shopper_id, shopper_key, associate_key, pair)
    engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as test_client:
        yield test_client


def _session() -> dict[str, str]:
    return {"X-Session-Id": uuid.uuid4().hex, "User-Agent": DESKTOP}


def _get(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/recommendations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _post(client: TestClient, headers: dict[str, str], **event: Any) -> None:
    response = client.post("/v1/events", json=event, headers=headers)
    assert response.status_code == 202, response.text


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["product_id"] for i in body["items"]]


def test_an_anonymous_visitor_gets_a_cold_start_home_grid_and_it_is_logged(
    world: World,
) -> None:
    headers = {"X-Session-Id": "visitor-0001", "User-Agent": PHONE}
    with TestClient(create_app(world.settings)) as client:
        body = _get(client, headers, placement="home", k=8)
    assert len(body["items"]) == 8
    assert uuid.UUID(body["recommendation_id"])
    assert body["model_version"] and body["experiment_id"] is None and body["arm"] is None
    for item in body["items"]:
        product = world.catalog[item["product_id"]]
        assert product.online, "an anonymous visitor buys online: only what is in stock there"
        assert item["name"] == product.name and item["price"] == pytest.approx(product.price)
        assert item["source"] == "popular" and item["reason"].startswith("popular ")
    # Shutting the app down flushed the exposure log.
    with Session(world.engine) as session:
        served = session.get(RecommendationServed, body["recommendation_id"])
    assert served is not None
    assert served.unit_id == "session:visitor-0001" and served.customer_id is None
    assert served.placement == "home" and served.items == _ids(body)
    assert served.context["device"] == "phone" and served.arm is None


def test_popularity_by_segment_follows_what_the_segment_clicks(client: TestClient) -> None:
    before = _get(client, {**_session(), "User-Agent": PHONE}, placement="home", k=5)
    favourite = before["items"][-1]["product_id"]
    for _ in range(3):  # three phone visitors put it in their carts
        _post(client, {**_session(), "User-Agent": PHONE}, type="add_to_cart", product_id=favourite)
    phone = _get(client, {**_session(), "User-Agent": PHONE}, placement="home", k=5)
    assert phone["items"][0]["product_id"] == favourite
    assert phone["items"][0]["reason"].startswith("popular with phone shoppers ")
    desktop = _get(client, _session(), placement="home", k=5)
    assert not any(i["reason"].startswith("popular with") for i in desktop["items"])


def test_an_event_changes_the_visitors_next_recommendations(
    client: TestClient, world: World
) -> None:
    headers = _session()
    cold = _get(client, headers, placement="home", k=10)
    viewed = next(i for i in sorted(world.catalog) if world.catalog[i].online)
    if viewed in _ids(cold):
        viewed = next(i for i in sorted(world.catalog) if i not in _ids(cold))
    _post(client, headers, type="view", product_id=viewed)
    warm = _get(client, headers, placement="home", k=10)
    assert viewed not in _ids(warm), "what they are looking at is not news to them"
    name = world.catalog[viewed].name
    assert any(name in i["reason"] for i in warm["items"]), [i["reason"] for i in warm["items"]]
    assert _ids(warm) != _ids(cold)
    # Another visitor's session is their own.
    assert _ids(_get(client, _session(), placement="home", k=10)) == _ids(cold)


def test_a_signed_in_shopper_gets_their_own_picks_at_their_store(
    client: TestClient, world: World
) -> None:
    with Session(world.engine) as session:
        home_store = session.get(Customer, world.shopper_id).home_store_id  # type: ignore[union-attr]
    signed_in = _get(client, {"X-API-Key": world.shopper_key}, placement="home", k=10)
    assert signed_in["items"]
    assert all(world.catalog[i].available(home_store) for i in _ids(signed_in))
    assert any(i["reason"].startswith("because you") for i in signed_in["items"])
    # A session id naming the customer, or a query argument, reads nobody's profile.
    for headers, params in (
        ({"X-Session-Id": world.shopper_id[:40].ljust(8, "_")}, {}),
        (_session(), {"customer_id": world.shopper_id}),
    ):
        anonymous = _get(client, headers, placement="home", k=10, **params)
        assert all(i["source"] == "popular" for i in anonymous["items"])


def test_who_may_ask(client: TestClient, world: World) -> None:
    cases = [
        ({}, 422, "Send an API key for a signed-in shopper, or an X-Session-Id header"),
        ({"X-Session-Id": "short"}, 422, "The session id must be 8 to 40"),
        ({"X-API-Key": "aisle_not-a-key"}, 401, "The API key is not valid."),
        ({"X-API-Key": world.associate_key}, 403, "the associate role has no customer"),
    ]
    for headers, code, sentence in cases:
        response = client.get("/v1/recommendations?placement=home", headers=headers)
        assert response.status_code == code, response.text
        assert sentence in response.json()["detail"]


def test_bad_placements_are_refused_with_a_sentence(client: TestClient) -> None:
    response = client.get("/v1/recommendations?placement=checkout", headers=_session())
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: query parameter 'placement': input should be 'home', 'product', "
        "'cart' or 'post_purchase'."
    )
    response = client.get("/v1/recommendations?placement=product", headers=_session())
    assert response.status_code == 422
    assert (
        response.json()["detail"] == "The product placement needs the product: add product_id=..."
    )
    response = client.get(
        "/v1/recommendations?placement=product&product_id=P99999", headers=_session()
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "No product with id 'P99999'."
    response = client.get("/v1/recommendations?placement=home&k=0", headers=_session())
    assert response.status_code == 422


def test_the_product_page_completes_the_look_then_shows_similar(
    client: TestClient, world: World
) -> None:
    anchor, partner = world.bought_together
    body = _get(client, _session(), placement="product", product_id=anchor, k=8)
    sources = [i["source"] for i in body["items"]]
    look = [i for i in body["items"] if i["source"] == "bought_together"]
    assert look and sources[: len(look)] == ["bought_together"] * len(look), sources
    assert anchor not in _ids(body)
    name = world.catalog[anchor].name
    for item in look:
        assert item["reason"] == f"goes with {name}"
        assert world.catalog[item["product_id"]].category_id != world.catalog[anchor].category_id
    assert any(i["source"] != "bought_together" for i in body["items"]), "similar fills the rest"


def test_cart_and_post_purchase_complement_what_was_added_and_bought(
    client: TestClient, world: World
) -> None:
    headers = _session()
    anchor, _ = world.bought_together
    assert _get(client, headers, placement="cart")["items"] == [], "an empty cart has no add-ons"
    assert _get(client, headers, placement="post_purchase")["items"] == []
    _post(client, headers, type="add_to_cart", product_id=anchor)
    cart = _get(client, headers, placement="cart", k=5)
    assert cart["items"] and anchor not in _ids(cart)
    assert all(i["reason"] == f"goes with {world.catalog[anchor].name}" for i in cart["items"])
    _post(client, headers, type="purchase", product_id=anchor, value=42.5)
    after = _get(client, headers, placement="post_purchase", k=5)
    assert _ids(after) == _ids(cart)
    assert _get(client, headers, placement="cart")["items"] == [], "the purchase emptied it"
    assert anchor not in _ids(_get(client, headers, placement="home", k=20))
    # A signed-in shopper with no purchase this session: what goes with their last order.
    shopper = _get(client, {"X-API-Key": world.shopper_key}, placement="post_purchase", k=5)
    assert all(i["source"] == "bought_together" for i in shopper["items"])


def test_events_are_validated_and_reach_sql_with_their_attribution(world: World) -> None:
    headers = _session()
    product = sorted(world.catalog)[0]
    with TestClient(create_app(world.settings)) as client:
        shown = _get(client, headers, placement="home", k=3)
        rid, clicked = shown["recommendation_id"], shown["items"][0]["product_id"]
        bad = [
            ({"type": "purchase", "product_id": product}, "a purchase needs its value"),
            ({"type": "view", "product_id": product, "recommendation_id": rid}, "a view names no"),
            ({"type": "click", "product_id": product, "value": 3.0}, "only a purchase has a value"),
            ({"type": "like", "product_id": product}, "body field 'type'"),
            ({"type": "purchase", "product_id": product, "value": -1}, "greater than 0"),
            ({"type": "view", "product_id": product, "extra": 1}, "extra inputs"),
        ]
        for event, sentence in bad:
            response = client.post("/v1/events", json=event, headers=headers)
            assert response.status_code == 422, (event, response.text)
            assert sentence in response.json()["detail"], response.json()["detail"]
        missing = client.post(
            "/v1/events", json={"type": "view", "product_id": "P99999"}, headers=headers
        )
        assert missing.status_code == 404
        assert missing.json()["detail"] == "No product with id 'P99999'."
        _post(client, headers, type="click", product_id=clicked, recommendation_id=rid)
        _post(
            client, headers, type="purchase", product_id=clicked, recommendation_id=rid, value=19.99
        )
    # The app's shutdown flushed the log.
    with Session(world.engine) as session:
        rows = session.scalars(
            select(ShopperEvent)
            .where(ShopperEvent.session_id == headers["X-Session-Id"])
            .order_by(ShopperEvent.id)
        ).all()
    assert [(r.event_type, r.product_id, r.recommendation_id, r.value) for r in rows] == [
        ("click", clicked, rid, None),
        ("purchase", clicked, rid, pytest.approx(19.99)),
    ]
    assert all(r.customer_id is None for r in rows)


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return client


def test_two_processes_share_profiles_and_the_event_log_through_redis(
    world: World, tmp_path: Path
) -> None:
    store = _redis_or_skip()
    settings = world.settings.model_copy(update={"redis_url": REDIS_URL})
    prefix = redis_prefix(settings.resolved_database_url)
    headers = _session()
    try:
        with (
            TestClient(create_app(settings)) as first,
            TestClient(create_app(settings)) as second,
        ):
            cold = _get(second, headers, placement="home", k=10)
            viewed = next(i for i in sorted(world.catalog) if i not in _ids(cold))
            _post(first, headers, type="add_to_cart", product_id=viewed)
            warm = _get(second, headers, placement="home", k=10)
            assert viewed not in _ids(warm) and _ids(warm) != _ids(cold)
            name = world.catalog[viewed].name
            assert any(name in i["reason"] for i in warm["items"])
            assert _get(second, headers, placement="cart", k=3)["items"], "the cart is shared"
            # One of the two consumers writes the event to SQL, once.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with Session(world.engine) as session:
                    written = session.scalars(
                        select(ShopperEvent).where(
                            ShopperEvent.session_id == headers["X-Session-Id"]
                        )
                    ).all()
                if written:
                    break
                time.sleep(0.1)
        assert [(r.event_type, r.product_id) for r in written] == [("add_to_cart", viewed)]
        assert store.xpending(f"{prefix}:events", "sql")["pending"] == 0
    finally:
        keys = list(store.scan_iter(f"{prefix}:*"))
        if keys:
            store.delete(*keys)
        store.close()


def _home_grids_while_running(
    world: World, experiment_id: str, visitors: int, k: int
) -> tuple[list[dict[str, Any]], list[RecommendationServed]]:
    """The home grids `visitors` anonymous visitors get while the experiment runs, and the
    exposures logged under it."""
    start_experiment(world.engine, experiment_id)
    try:
        with TestClient(create_app(world.settings)) as client:
            answers = [_get(client, _session(), placement="home", k=k) for _ in range(visitors)]
    finally:
        stop_experiment(world.engine, experiment_id)
    with Session(world.engine) as session:
        served = session.scalars(
            select(RecommendationServed).where(RecommendationServed.experiment_id == experiment_id)
        ).all()
    return answers, list(served)


def test_a_running_experiment_assigns_visitors_applies_its_arms_rules_and_logs_them(
    world: World,
) -> None:
    experiment = create_experiment(
        world.engine,
        name=f"one per category {uuid.uuid4().hex[:6]}",
        layer="home-grid",
        arms=[
            {"name": "control", "weight": 1},
            {"name": "varied", "weight": 1, "config": {"rules": {"max_per_category": 1}}},
        ],
        created_by="eve",
    )
    answers, served = _home_grids_while_running(world, experiment.id, visitors=30, k=8)
    arms = {a["arm"] for a in answers}
    assert arms == {"control", "varied"}, "30 visitors split 50/50 land in both arms"
    assert {a["experiment_id"] for a in answers} == {experiment.id}
    for answer in answers:
        categories = [world.catalog[i].category_id for i in _ids(answer)]
        if answer["arm"] == "varied":
            assert len(categories) == len(set(categories)), "the arm's rules: one per category"
    assert len(served) == len(answers)
    assert {(s.id, s.arm) for s in served} == {(a["recommendation_id"], a["arm"]) for a in answers}
    assert all(s.propensity == pytest.approx(0.5) for s in served)


def test_a_simulator_experiment_enrols_no_storefront_visitor(world: World) -> None:
    arms = [
        {"name": "control", "weight": 1, "config": {"policy": "recommender"}},
        {"name": "pop", "weight": 1, "config": {"policy": "popularity"}},
    ]
    with pytest.raises(AisleError, match="create the experiment with audience simulated"):
        create_experiment(world.engine, name="sim live", layer="sim", arms=arms, created_by="e")
    experiment = create_experiment(
        world.engine,
        name=f"simulated {uuid.uuid4().hex[:6]}",
        layer="sim",
        arms=arms,
        created_by="eve",
        audience="simulated",
    )
    answers, served = _home_grids_while_running(world, experiment.id, visitors=20, k=4)
    # The storefront served its own recommender: no visit may be logged under the popularity arm.
    assert {(a["experiment_id"], a["arm"]) for a in answers} == {(None, None)}
    assert served == []


def test_an_arm_with_rules_that_do_not_hold_is_refused_when_created(world: World) -> None:
    with pytest.raises(AisleError, match="max_per_category"):
        create_experiment(
            world.engine,
            name="bad rules",
            layer="home-grid",
            arms=[
                {"name": "control", "weight": 1},
                {"name": "broken", "weight": 1, "config": {"rules": {"max_per_category": 0}}},
            ],
            created_by="eve",
        )


def test_a_promotion_and_a_rollback_reach_a_running_process(world: World) -> None:
    registry = ArtifactRegistry(world.settings.var_dir / "artifacts")
    champion = registry.ledger("recommender").champion
    challenger = train_store_recommender(
        world.engine, registry, Popularity(), stage="candidate"
    ).model_version
    admin = {"X-API-Key": issue_key(world.engine, Principal.parse("admin:root"), label="test")}
    headers = {"X-API-Key": world.shopper_key, **_session()}
    with TestClient(create_app(world.settings)) as client:
        assert _get(client, headers, placement="home")["model_version"] == champion
        promoted = client.post(
            "/v1/models/recommender/promote",
            json={"version": challenger, "force": True, "reason": "try popularity"},
            headers=admin,
        )
        assert promoted.status_code == 200, promoted.text
        assert _get(client, headers, placement="home")["model_version"] == challenger
        rolled = client.post(
            "/v1/models/recommender/rollback", json={"reason": "back"}, headers=admin
        )
        assert rolled.status_code == 200, rolled.text
        assert _get(client, headers, placement="home")["model_version"] == champion


def _following(world: World, **update: Any) -> Settings:
    """The world's settings with the catalogue's version checked on every request: the first
    answer after a write already shows it (the default checks every `catalog_check_s`)."""
    return world.settings.model_copy(update={"catalog_check_s": 0.0, **update})


@dataclass(frozen=True)
class _Markdown:
    content: dict[str, Any]
    location_id: str
    model_versions: dict[str, Any]
    expires_at: dt.datetime


def _approve_markdown(world: World, product_id: str) -> float:
    """Propose a 10% markdown of `product_id` from today, as the pricing agent would, and have a
    pricing manager approve it (`approvals.decisions.decide`, the one door); its new price."""
    with Session(world.engine) as session:
        skus = session.execute(
            select(Variant.id, Variant.price).where(
                Variant.product_id == product_id, Variant.available.is_(True)
            )
        ).all()
        today = clock_today(session, world.settings)
    list_price = float(skus[0].price)
    new_price = ladder_price(list_price, 0.9)
    content = {
        **MARKDOWN_CONTENT,
        "sku": skus[0].id,
        "product_id": product_id,
        "current_price": list_price,
        "list_price": list_price,
        "unit_cost": 0.0,
        "location": {"id": "CHAIN"},
        "zone": {"id": "CHAIN", "name": "every store and online"},
        "variants": [
            {"sku": sku, "list_price": float(price), "current_price": float(price)}
            for sku, price in skus
        ],
        "path": [{"week_starting": today.isoformat(), "price": new_price}],
    }
    planned = _Markdown(content, "CHAIN", {}, dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    with transaction(world.engine) as session:
        (recorded,) = record_plan(
            session, "price_change", [planned], proposer="agent:pricing"
        ).recorded
    decided = decide(
        world.engine,
        Principal.parse("pricing_manager:priya"),
        DecisionRequest(
            proposal_id=recorded.id, decision="approve", content_hash=recorded.content_hash
        ),
        settings=world.settings,
    )
    assert decided.execution is not None and decided.execution.executed, decided
    return new_price


def test_an_approved_markdown_shows_on_the_next_answer_without_a_restart(world: World) -> None:
    """The lists and their cards come from the recommender's catalogue snapshot, which follows
    the catalogue's version: an approved markdown is on the next home grid and product page."""
    anchor, _ = world.bought_together
    headers = _session()
    with TestClient(create_app(_following(world))) as client:
        shown = _get(client, headers, placement="home", k=8)["items"]
        shown += _get(client, _session(), placement="product", product_id=anchor, k=8)["items"]
        target = next(i for i in shown if i["price_min"] == i["price_max"])
        new_price = _approve_markdown(world, target["product_id"])
        assert new_price < target["price"]
        again = _get(client, headers, placement="home", k=8)["items"]
        again += _get(client, _session(), placement="product", product_id=anchor, k=8)["items"]
    cards = [i for i in again if i["product_id"] == target["product_id"]]
    assert cards, "a markdown keeps the product on the lists that showed it"
    for card in cards:
        assert card["price"] == card["price_min"] == card["price_max"] == pytest.approx(new_price)


def _stock(world: World) -> list[Any]:
    """Every inventory position as recorded now, with its product."""
    with Session(world.engine) as session:
        return list(
            session.execute(
                select(
                    InventoryPosition.location_id,
                    InventoryPosition.variant_id,
                    InventoryPosition.on_hand,
                    InventoryPosition.on_order,
                    Variant.product_id,
                ).join(Variant, Variant.id == InventoryPosition.variant_id)
            ).all()
        )


def _stock_file(world: World, root: Path, stock: list[Any], sold_out: str | None) -> Path:
    """Today's inventory snapshot of `stock` (the feed file a store system sends), with every
    SKU of `sold_out` at 0 on hand everywhere. Each file is its own export (the `export`
    column, which the loader ignores): the same content again would be a file already loaded."""
    with Session(world.engine) as session:
        today = clock_today(session, world.settings)
    export = uuid.uuid4().hex[:8]
    lines = ["as_of,location_id,variant_id,on_hand,on_order,export"]
    lines += [
        f"{today},{r.location_id},{r.variant_id},"
        f"{0 if r.product_id == sold_out else r.on_hand},{r.on_order},{export}"
        for r in stock
    ]
    path = root / f"stock-{export}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _in_process_load(world: World, path: Path) -> None:
    loaded = load_feed(world.engine, "inventory", path, loaded_by="test", settings=world.settings)
    assert loaded.status == "accepted" and loaded.rows_applied, loaded.sentence


def test_a_product_that_sells_out_leaves_the_next_answer(world: World, tmp_path: Path) -> None:
    """An inventory snapshot that sells a shown product out everywhere: the next home grid and
    product page leave it out (never recommend what cannot be sold), without a restart."""
    anchor, _ = world.bought_together
    headers = _session()
    with TestClient(create_app(_following(world))) as client:
        page = _ids(_get(client, _session(), placement="product", product_id=anchor, k=8))
        home = _ids(_get(client, headers, placement="home", k=8))
        sold_out = next(i for i in page if i in home) if set(page) & set(home) else home[0]
        stock = _stock(world)
        _in_process_load(world, _stock_file(world, tmp_path, stock, sold_out))
        try:
            assert sold_out not in _ids(_get(client, headers, placement="home", k=8))
            after = _get(client, _session(), placement="product", product_id=anchor, k=8)
            assert sold_out not in _ids(after) and len(after["items"]) == 8
        finally:
            _in_process_load(world, _stock_file(world, tmp_path, stock, sold_out=None))


def test_a_stock_write_in_another_process_reaches_two_serving_processes(
    world: World, tmp_path: Path
) -> None:
    """Two serving processes sharing Redis (as in production), a third process loading the
    inventory file (as `aisle data load` does): both servers' next answers follow it."""
    store = _redis_or_skip()
    settings = _following(world, redis_url=REDIS_URL)
    prefix = redis_prefix(settings.resolved_database_url)
    try:
        with (
            TestClient(create_app(settings)) as first,
            TestClient(create_app(settings)) as second,
        ):
            sold_out = _ids(_get(first, _session(), placement="home", k=8))[0]
            assert sold_out in _ids(_get(second, _session(), placement="home", k=8))
            loader = (
                "import sys; from pathlib import Path; from retail.feeds.load import load_feed; "
                "from retail.store.db import make_engine; "
                "loaded = load_feed(make_engine(sys.argv[1]), 'inventory', Path(sys.argv[2]), "
                "loaded_by='other process'); sys.exit(loaded.rows_applied == 0)"
            )
            stock = _stock(world)
            path = _stock_file(world, tmp_path, stock, sold_out)
            subprocess.run(
                [sys.executable, "-c", loader, settings.resolved_database_url, str(path)],
                check=True,
                env={**os.environ, "AISLE_VAR_DIR": str(settings.var_dir)},
            )
            for client in (first, second):
                assert sold_out not in _ids(_get(client, _session(), placement="home", k=8))
            _in_process_load(world, _stock_file(world, tmp_path, stock, sold_out=None))
            for client in (first, second):
                assert sold_out in _ids(_get(client, _session(), placement="home", k=8))
    finally:
        keys = list(store.scan_iter(f"{prefix}:*"))
        if keys:
            store.delete(*keys)
        store.close()
