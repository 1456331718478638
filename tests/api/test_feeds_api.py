"""`GET /v1/feeds`: the batches received, newest first, with each quarantined one's reason; for
evaluators and admins only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth import issue_key
from retail.feeds.load import load_feed
from retail.settings import Settings
from tools.base import Principal


def test_feed_batches_are_listed_for_evaluators(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", environment="test")
    missing = tmp_path / "stock.csv"
    missing.write_text("as_of,location_id,variant_id,on_hand\n2026-01-01,S1,X,3\n")
    load_feed(engine, "inventory", missing, loaded_by="test", settings=settings)
    evaluator = issue_key(engine, Principal.parse("evaluator:eve"), label="test")
    planner = issue_key(engine, Principal.parse("planner:pat"), label="test")
    with TestClient(create_app(settings, load_assistant=False)) as client:
        response = client.get("/v1/feeds", headers={"X-API-Key": evaluator})
        assert response.status_code == 200, response.text
        [batch] = response.json()
        assert batch["kind"] == "inventory" and batch["status"] == "quarantined"
        assert batch["reason"] == (
            "The inventory file lacks the column on_order (its columns are as_of, location_id, "
            "variant_id, on_hand); quarantined."
        )
        assert batch["rows_read"] == 1 and batch["rows_applied"] == 0
        accepted = client.get("/v1/feeds?status=accepted", headers={"X-API-Key": evaluator})
        assert accepted.json() == []
        refused = client.get("/v1/feeds", headers={"X-API-Key": planner})
        assert refused.status_code == 403
        assert (
            client.get("/v1/feeds?kind=orders", headers={"X-API-Key": evaluator}).status_code == 422
        )
