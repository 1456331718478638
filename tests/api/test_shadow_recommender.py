"""A recommender in shadow on live placement requests: a small generated world with an item-item
champion and a popularity version in shadow; requests through the API; the shadow's lists logged
beside (never in) the served ones; clicks posted; the live comparison, its CLI and its gate."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from evals.promotion import PromotionRefused, load_rules, promote
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.popularity import Popularity
from ml_core.recommend.shadow import live_comparison
from ml_core.recommend.train import train_store_recommender
from ml_core.registry import ArtifactRegistry
from retail.settings import Settings, get_settings
from retail.store.models import Product, RecommendationServed, RecommendationShadow
from tests.factories import seed_placements_world

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"


@dataclass
class World:
    settings: Settings
    engine: Engine
    registry: ArtifactRegistry
    champion: str
    shadow: str
    served: list[dict[str, Any]]
    """The API's answers, in request order."""
    clicked: list[tuple[str, str]]
    """(recommendation_id, product_id) of every click posted."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("shadow")
    settings, engine = seed_placements_world(root)
    registry = ArtifactRegistry(settings.var_dir / "artifacts")
    champion = train_store_recommender(engine, registry, ItemItem()).model_version
    shadow = train_store_recommender(engine, registry, Popularity(), stage="shadow").model_version
    served: list[dict[str, Any]] = []
    clicked: list[tuple[str, str]] = []
    with TestClient(create_app(settings)) as client:
        products = _products(engine)
        for n in range(12):
            headers = {"X-Session-Id": uuid.uuid4().hex, "User-Agent": DESKTOP}
            product = products[n * 3 % len(products)]
            for params in ({"placement": "home"}, {"placement": "product", "product_id": product}):
                response = client.get("/v1/recommendations", params=params, headers=headers)
                assert response.status_code == 200, response.text
                body = response.json()
                served.append(body)
                if body["items"] and n % 2 == 0:
                    # Shoppers click further down the list as n grows.
                    item = body["items"][min(n // 2, len(body["items"]) - 1)]["product_id"]
                    event = {"type": "click", "product_id": item}
                    event["recommendation_id"] = body["recommendation_id"]
                    posted = client.post("/v1/events", json=event, headers=headers)
                    assert posted.status_code == 202, posted.text
                    clicked.append((body["recommendation_id"], item))
    # The app's shutdown flushed the exposure, shadow and event logs.
    yield World(settings, engine, registry, champion, shadow, served, clicked)
    engine.dispose()


def _products(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Product.id).order_by(Product.id)).scalars())


def _logs(engine: Engine) -> tuple[dict[str, RecommendationServed], dict[str, Any]]:
    with Session(engine) as session:
        served = {r.id: r for r in session.scalars(select(RecommendationServed))}
        shadow = {r.recommendation_id: r for r in session.scalars(select(RecommendationShadow))}
    return served, shadow


def test_the_shadow_lists_every_request_and_is_never_served(world: World) -> None:
    served, shadow = _logs(world.engine)
    answered = {body["recommendation_id"]: body for body in world.served}
    assert set(served) == set(answered) == set(shadow)
    for rid, body in answered.items():
        items = [i["product_id"] for i in body["items"]]
        # What the visitor saw is the champion's, and the exposure log holds exactly that.
        assert body["model_version"] == world.champion
        assert served[rid].model_version == world.champion and served[rid].items == items
        assert shadow[rid].model_version == world.shadow
        assert shadow[rid].placement == body["placement"]
    # The shadow is another model: its lists differ from what was shown, and none was served.
    differing = [rid for rid in answered if shadow[rid].items != served[rid].items]
    assert differing
    assert all(r.model_version != world.shadow for r in served.values())


def test_the_live_comparison_scores_both_lists_on_the_clicked_items(world: World) -> None:
    served, shadow = _logs(world.engine)
    found = live_comparison(world.engine, world.shadow)
    assert found.requests == len(shadow) and found.chosen_items == len(world.clicked) > 0
    assert found.served_versions == [world.champion]

    def rr(items: list[str], product: str) -> float:
        return 1 / (items.index(product) + 1) if product in items else 0.0

    served_rr = [rr(served[rid].items, p) for rid, p in world.clicked]
    shadow_rr = [rr(shadow[rid].items, p) for rid, p in world.clicked]
    assert found.served.hit_rate == 1.0  # a click lands on a served item
    assert found.served.mrr == pytest.approx(sum(served_rr) / len(served_rr))
    assert found.shadow.mrr == pytest.approx(sum(shadow_rr) / len(shadow_rr))
    assert found.shadow.hit_rate == pytest.approx(sum(r > 0 for r in shadow_rr) / len(shadow_rr))
    assert found.sentence().startswith(f"On {len(world.clicked)} items shoppers chose")


def test_the_cli_reports_the_live_comparison(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISLE_VAR_DIR", str(world.settings.var_dir))
    monkeypatch.setenv("AISLE_DATABASE_URL", world.settings.database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["models", "compare", "recommender", "--live", "--json"])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert payload["shadow_version"] == world.shadow
        assert payload["chosen_items"] == len(world.clicked)
        wrong = CliRunner().invoke(cli, ["models", "compare", "recommender", "v0", "--live"])
        assert wrong.exit_code == 2
        assert "No version 'v0' of 'recommender' in the registry." in wrong.output
    finally:
        get_settings.cache_clear()


def test_the_live_gate_decides_once_enough_items_were_chosen(world: World, tmp_path: Any) -> None:
    found = live_comparison(world.engine, world.shadow)
    rules = load_rules().model_dump()
    rules["kinds"]["recommender"]["gates"] = []  # the live gate alone decides here
    live = rules["kinds"]["recommender"]["live"]
    # A bar the shadow's live MRR cannot reach, and enough clicks for it to count.
    live["min_chosen"] = found.chosen_items
    live["gates"] = [{"metric": "live_mrr", "min": found.shadow.mrr + 0.01}]
    path = tmp_path / "promotion.yaml"
    path.write_text(json.dumps(rules))
    with pytest.raises(PromotionRefused, match="live_mrr"):
        promote(world.engine, world.registry, "recommender", world.shadow, by="admin:t", rules=path)
    # Fewer chosen items than the rule needs: the live gate is not checked at all.
    live["min_chosen"] = found.chosen_items + 1
    path.write_text(json.dumps(rules))
    outcome = promote(
        world.engine, world.registry, "recommender", world.shadow, by="admin:t", rules=path
    )
    assert outcome.stage == "champion" and outcome.gates == []
    assert "live" not in (outcome.basis or "")
