"""`GET /v1/ops/kpis`: the weekly KPIs for evaluators and admins only, over as many complete
weeks as asked; a number of weeks that is not one from 1 to 104 is a 422 saying so."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth import issue_key
from retail.identity import Principal
from retail.kpis import DEFINITIONS


@pytest.fixture
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    return {
        spec.split(":")[0]: {"X-API-Key": issue_key(engine, Principal.parse(spec), label="test")}
        for spec in ("planner:pat", "evaluator:eve", "admin:root", "pricing_manager:max")
    }


def test_evaluators_and_admins_read_the_weekly_kpis(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    for role in ("evaluator", "admin"):
        response = client.get("/v1/ops/kpis?weeks=3", headers=keys[role])
        assert response.status_code == 200, response.text
        body = response.json()
        assert [d["key"] for d in body["definitions"]] == [d.key for d in DEFINITIONS]
        assert len(body["points"]) == 3
        # An empty store: every week is there, with nothing to compute a KPI from.
        assert all(p["fill_rate"] is None and p["aov"] is None for p in body["points"])
    assert len(client.get("/v1/ops/kpis", headers=keys["admin"]).json()["points"]) == 12


def test_other_roles_and_bad_weeks_are_refused(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    assert client.get("/v1/ops/kpis").status_code == 401
    for role in ("planner", "pricing_manager"):
        refused = client.get("/v1/ops/kpis", headers=keys[role])
        assert refused.status_code == 403
        assert refused.json()["detail"].endswith("it is for evaluator, admin.")
    for weeks, why in [
        ("0", "greater than or equal to 1"),
        ("105", "less than or equal to 104"),
        ("abc", "a valid integer"),
    ]:
        bad = client.get(f"/v1/ops/kpis?weeks={weeks}", headers=keys["evaluator"])
        assert bad.status_code == 422
        assert bad.json()["detail"] == (
            f"Invalid request: query parameter 'weeks': input should be {why}"
            + (", unable to parse string as an integer." if weeks == "abc" else ".")
        )
