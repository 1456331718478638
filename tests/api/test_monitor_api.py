"""`GET /v1/monitor/alerts`: the stored alerts for evaluators and admins, newest day first, one
day's on request; other roles get a 403 with a sentence."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import issue_key
from retail.store.models import MonitorAlert
from tools.base import Principal


def _alert(day: dt.date, category: str, p_value: float) -> MonitorAlert:
    return MonitorAlert(
        id=f"{day}-{category}",
        kind="drift",
        feature="demand",
        level="category",
        segment={"category": category},
        as_of=day,
        since=day - dt.timedelta(days=5),
        effect=0.31,
        p_value=p_value,
        message=f"{category} demand across the chain is 31% above its seasonal reference.",
        retrain_kind="forecaster",
        details={"z": 5.1},
        created_at=dt.datetime(2026, 11, 16, tzinfo=dt.UTC),
    )


def test_alerts_are_listed_for_evaluators_and_admins(engine: Engine, client: TestClient) -> None:
    day = dt.date(2026, 11, 15)
    with Session(engine) as session:
        session.add_all(
            [
                _alert(day - dt.timedelta(days=1), "Tents", 1e-9),
                _alert(day, "Socks", 1e-5),
                _alert(day, "Jackets", 1e-7),
            ]
        )
        session.commit()
    keys = {
        spec: issue_key(engine, Principal.parse(spec), label="test")
        for spec in ("evaluator:eve", "admin:ada", "planner:pat")
    }

    def get(spec: str, **params: str) -> list[dict[str, object]]:
        response = client.get(
            "/v1/monitor/alerts", params=params, headers={"Authorization": f"Bearer {keys[spec]}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    everything = get("evaluator:eve")
    assert [a["segment"]["category"] for a in everything] == ["Jackets", "Socks", "Tents"]
    assert everything[0]["message"].startswith("Jackets demand across the chain")
    assert everything[0]["retrain_kind"] == "forecaster" and everything[0]["as_of"] == str(day)
    assert [a["segment"]["category"] for a in get("admin:ada", as_of=str(day))] == [
        "Jackets",
        "Socks",
    ]
    refused = client.get(
        "/v1/monitor/alerts", headers={"Authorization": f"Bearer {keys['planner:pat']}"}
    )
    assert refused.status_code == 403 and "evaluator" in refused.json()["detail"]
    bad_day = client.get(
        "/v1/monitor/alerts",
        params={"as_of": "yesterday"},
        headers={"Authorization": f"Bearer {keys['evaluator:eve']}"},
    )
    assert bad_day.status_code == 422
