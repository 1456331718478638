"""Experiments over HTTP: an evaluator creates, starts, reports on and stops one; other roles are
refused; a wrong description is a 422 and a refusal by state a 409, each with its sentence."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth import issue_key
from retail.identity import Principal
from tests.ml_core.test_experiment_report import log_history, log_traffic

ARMS = [
    {"name": "control", "weight": 1},
    {"name": "ease", "weight": 1, "config": {"model": "ease"}},
]


@pytest.fixture
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    return {
        spec: {"X-API-Key": issue_key(engine, Principal.parse(spec), label="test")}
        for spec in ("evaluator:eve", "planner:pat", "admin:root")
    }


def _create(client: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    body = {"name": "home grid", "layer": "home", "arms": ARMS, "primary_metric": "ctr"}
    return client.post("/v1/experiments", json={**body, **changes}, headers=headers)


def test_an_evaluator_runs_an_experiment_through_the_api(
    client: TestClient, engine: Engine, keys: dict[str, dict[str, str]]
) -> None:
    eve = keys["evaluator:eve"]
    created = _create(client, eve, baseline_rate=0.1)
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert experiment["status"] == "draft" and experiment["created_by"] == "evaluator:eve"
    assert experiment["planned_units"] > 20_000 and "salt" not in experiment
    # An empty store has no history: the plan says so and takes the rate given.
    assert experiment["plan"]["method"] == "independent visits"
    assert experiment["plan"]["in_words"].startswith("Too little history to plan from")

    started = client.post(f"/v1/experiments/{experiment['id']}/start", headers=eve)
    assert started.status_code == 200 and started.json()["status"] == "running"
    clicks = log_traffic(engine, experiment["id"], units=300)

    response = client.get(f"/v1/experiments/{experiment['id']}/report", headers=eve)
    assert response.status_code == 200, response.text
    report = response.json()
    assert sum(report["units"].values()) == 300 and report["control"] == "control"
    ctr = next(r for r in report["results"] if r["metric"] == "ctr")
    assert ctr["value"] == pytest.approx(clicks["ease"] / report["visits"]["ease"])
    assert ctr["abs_ci"][0] < ctr["abs_diff"] < ctr["abs_ci"][1]
    # The page shows the pair the relative change is of, beside the plain values.
    assert ctr["rel_diff"] == pytest.approx(
        ctr["adjusted_value"] / ctr["adjusted_control_value"] - 1
    )
    assert report["planned"]["metric"] == "ctr" and report["over_time"]
    narrower = client.get(
        f"/v1/experiments/{experiment['id']}/report?alpha=0.2&cuped=false", headers=eve
    ).json()
    narrow_ctr = next(r for r in narrower["results"] if r["metric"] == "ctr")
    assert narrow_ctr["abs_ci"][1] - narrow_ctr["abs_ci"][0] < ctr["abs_ci"][1] - ctr["abs_ci"][0]

    listed = client.get("/v1/experiments", headers=keys["admin:root"]).json()
    assert [(e["id"], e["status"]) for e in listed] == [(experiment["id"], "running")]
    stopped = client.post("/v1/experiments/home grid/stop", headers=eve)
    assert stopped.status_code == 200 and stopped.json()["stopped_at"]


def test_other_roles_are_refused(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    refused = _create(client, keys["planner:pat"])
    assert refused.status_code == 403
    assert "it is for evaluator, admin" in refused.json()["detail"]
    assert client.get("/v1/experiments", headers=keys["planner:pat"]).status_code == 403
    assert client.get("/v1/experiments").status_code == 401


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"arms": ARMS[:1]}, "An experiment needs at least two arms; 1 given."),
        ({"arms": [ARMS[0], {"name": "b", "weight": 0}]}, "weights must be above 0"),
        ({"traffic": 0}, "above 0 and at most 1, not 0"),
        ({"layer": "Home!"}, "lowercase letters"),
        ({"baseline_rate": 0.6, "minimum_uplift": 1.0}, "not a rate a test can detect"),
    ],
)
def test_a_wrong_description_is_a_422_with_its_reason(
    client: TestClient, keys: dict[str, dict[str, str]], changes: dict[str, Any], sentence: str
) -> None:
    response = _create(client, keys["evaluator:eve"], **changes)
    assert response.status_code == 422, response.text
    assert sentence in response.json()["detail"]


def test_refusals_by_state_are_409_and_unknown_ids_404(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    eve = keys["evaluator:eve"]
    first = _create(client, eve, traffic=0.7).json()
    assert _create(client, eve).status_code == 409  # the name is taken
    second = _create(client, eve, name="other", traffic=0.5).json()
    assert client.post(f"/v1/experiments/{first['id']}/start", headers=eve).status_code == 200
    full = client.post(f"/v1/experiments/{second['id']}/start", headers=eve)
    assert full.status_code == 409 and "30.00% of its traffic free" in full.json()["detail"]
    again = client.post(f"/v1/experiments/{first['id']}/start", headers=eve)
    assert again.status_code == 409 and "only a draft" in again.json()["detail"]
    assert client.post("/v1/experiments/nope/stop", headers=eve).status_code == 404
    report = client.get("/v1/experiments/nope/report", headers=eve)
    assert report.status_code == 404 and report.json()["detail"] == (
        "No experiment with id or name 'nope'."
    )
    empty = client.get(f"/v1/experiments/{second['id']}/report", headers=eve).json()
    assert empty["note"] == "No exposures are logged for this experiment yet."


def test_creation_plans_from_the_stores_history(
    client: TestClient, engine: Engine, keys: dict[str, dict[str, str]]
) -> None:
    log_history(engine, units=200, end=dt.datetime.now(dt.UTC))
    created = _create(client, keys["evaluator:eve"], baseline_rate=0.9)
    assert created.status_code == 201, created.text
    experiment = created.json()
    plan = experiment["plan"]
    assert plan["method"] == "history" and experiment["planned_units"] == plan["visits"]
    assert plan["planned"]["design_effect"] > 1.5 and 0.2 < plan["planned"]["baseline_rate"] < 0.32
    assert "Estimated from the last 28 days: 200 units'" in plan["in_words"]
