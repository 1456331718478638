"""The associate console's routes, the audit routes, readiness, metrics, the OpenAPI document and
the guards every route shares (body size, bad input), on the tool world served without an
assistant: the console calls real tools (knowledge graph, recommender) as the request's
principal, and every call is audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import MAX_BODY_BYTES
from retail.store.models import Customer, Location
from tests.api.test_chat import Served, serve
from tests.tools.world import ToolWorld

EVALUATOR = "evaluator:eve"


@pytest.fixture(scope="module")
def served(tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    specs = [
        tool_world.associate,
        f"shopper:{tool_world.shopper_id}",
        EVALUATOR,
        "planner:pat",
    ]
    yield from serve(tool_world, tmp_path_factory.mktemp("misc-app"), specs, assistant=None)


def test_stock_here_and_nearby_for_an_associate(served: Served, tool_world: ToolWorld) -> None:
    response = served.client.get(
        "/v1/stock",
        params={"variant_id": tool_world.out_of_stock_variant_id},
        headers=served.auth(tool_world.associate),
    )
    assert response.status_code == 200, response.text
    stock = response.json()
    assert stock["store_id"] == tool_world.store_id  # the associate's own store by default
    (sku,) = stock["variants"]
    assert sku["variant_id"] == tool_world.out_of_stock_variant_id and sku["at_store"] == 0
    distances = [n["distance_km"] for n in sku["nearby"]]
    assert distances == sorted(distances)


def test_substitutes_of_a_sold_out_sku_are_in_stock(served: Served, tool_world: ToolWorld) -> None:
    response = served.client.get(
        "/v1/substitutes",
        params={"variant_id": tool_world.out_of_stock_variant_id},
        headers=served.auth(tool_world.associate),
    )
    assert response.status_code == 200, response.text
    substitutes = response.json()["substitutes"]
    assert substitutes and all(s["available_to_sell"] > 0 for s in substitutes)
    assert {s["kind"] for s in substitutes} <= {"same_product", "same_category"}


def test_customer_lookup_respects_consent(served: Served, tool_world: ToolWorld) -> None:
    associate = served.auth(tool_world.associate)
    profile = served.client.get(f"/v1/customers/{tool_world.shopper_id}", headers=associate)
    assert profile.status_code == 200
    assert profile.json()["marketing_consent"] and profile.json()["order_count"] > 0
    picks = served.client.get(
        f"/v1/customers/{tool_world.shopper_id}/recommendations?limit=3", headers=associate
    )
    assert picks.status_code == 200 and 0 < len(picks.json()["items"]) <= 3
    private = tool_world.no_consent_customer_id
    hidden = served.client.get(f"/v1/customers/{private}", headers=associate)
    assert hidden.status_code == 200 and hidden.json()["order_count"] is None
    refused = served.client.get(f"/v1/customers/{private}/recommendations", headers=associate)
    assert refused.status_code == 403
    assert "marketing consent" in refused.json()["detail"]


def test_customers_are_found_by_name_for_an_associate(
    served: Served, tool_world: ToolWorld
) -> None:
    associate = served.auth(tool_world.associate)
    with Session(tool_world.engine) as session:
        customer = session.get_one(Customer, tool_world.shopper_id)
    name = f"{customer.first_name} {customer.last_name}"
    found = served.client.get("/v1/customers", params={"q": name.lower()}, headers=associate)
    assert found.status_code == 200, found.text
    match = next(c for c in found.json()["customers"] if c["customer_id"] == customer.id)
    assert match["name"] == name
    short = served.client.get("/v1/customers", params={"q": "a"}, headers=associate)
    assert short.status_code == 422 and "at least 2 characters" in short.text


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/v1/customers/nobody-at-all", 404, "nobody-at-all"),
        ("/v1/stock", 422, "Name a product_id or a variant_id"),
        ("/v1/stock?variant_id=NOPE-1", 404, "NOPE-1"),
        ("/v1/substitutes?variant_id=x&store_id=ONLINE", 404, "ONLINE"),
        ("/v1/stock?product_id=x&limit=99", 422, "limit"),
    ],
)
def test_a_tools_typed_error_is_its_http_status(
    served: Served, tool_world: ToolWorld, path: str, status: int, detail: str
) -> None:
    response = served.client.get(path, headers=served.auth(tool_world.associate))
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


def test_the_console_is_for_associates(served: Served, tool_world: ToolWorld) -> None:
    shopper = served.auth(f"shopper:{tool_world.shopper_id}")
    response = served.client.get(f"/v1/customers/{tool_world.shopper_id}", headers=shopper)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("The shopper role may not use GET")


def test_a_key_says_who_it_acts_as(served: Served, tool_world: ToolWorld) -> None:
    me = served.client.get("/v1/me", headers=served.auth(EVALUATOR))
    assert me.status_code == 200, me.text
    assert (me.json()["id"], me.json()["role"]) == ("eve", "evaluator")
    unknown = served.client.get("/v1/me", headers={"Authorization": "Bearer aisle_nobody"})
    assert unknown.status_code == 401


def test_an_associate_lists_the_stores_by_name(served: Served, tool_world: ToolWorld) -> None:
    response = served.client.get("/v1/stores", headers=served.auth(tool_world.associate))
    assert response.status_code == 200, response.text
    stores = response.json()
    with Session(tool_world.engine) as session:
        expected = session.scalars(
            select(Location).where(Location.kind == "store").order_by(Location.name)
        ).all()
    assert [(s["id"], s["name"]) for s in stores] == [(loc.id, loc.name) for loc in expected]
    assert tool_world.store_id in {s["id"] for s in stores}
    refused = served.client.get("/v1/stores", headers=served.auth(EVALUATOR))
    assert refused.status_code == 403


def test_api_tool_calls_are_audited_as_the_caller(served: Served, tool_world: ToolWorld) -> None:
    served.client.get(
        f"/v1/customers/{tool_world.shopper_id}", headers=served.auth(tool_world.associate)
    )
    events = served.client.get("/v1/audit?limit=5", headers=served.auth(EVALUATOR))
    assert events.status_code == 200
    latest = events.json()[0]
    assert latest["tool_name"] == "customer_profile" and latest["principal_id"] == "ann"
    assert latest["role"] == "associate" and latest["agent_name"] == "api"
    seqs = [e["seq"] for e in events.json()]
    assert seqs == sorted(seqs, reverse=True)
    verify = served.client.get("/v1/audit/verify", headers=served.auth(EVALUATOR))
    assert verify.status_code == 200 and verify.json()["ok"] is True
    assert verify.json()["events"] >= len(seqs)
    denied = served.client.get("/v1/audit", headers=served.auth("planner:pat"))
    assert denied.status_code == 403


def test_a_body_over_the_limit_is_a_413(served: Served, tool_world: ToolWorld) -> None:
    headers = served.auth(f"shopper:{tool_world.shopper_id}")
    big = b'{"message": "' + b"x" * MAX_BODY_BYTES + b'"}'
    declared = served.client.post(
        "/v1/chat", content=big, headers={**headers, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json() == {"detail": "The request body is over the limit of 64 KiB."}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = served.client.post(
        "/v1/chat/turn", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    # The server goes on serving.
    assert served.client.get("/health").status_code == 200


def test_not_ready_without_the_assistant(served: Served) -> None:
    response = served.client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["missing"] == ["assistant"]
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
    assert body["checks"]["rag_index"]["ok"]
    assert "not loaded" in body["checks"]["assistant"]["detail"]
    chat = served.client.post("/v1/chat", json={"message": "hi"}, headers=served.auth(EVALUATOR))
    assert chat.status_code == 503 and "not loaded" in chat.json()["detail"]


def test_metrics_count_requests_by_route_template(served: Served, tool_world: ToolWorld) -> None:
    for customer in (tool_world.shopper_id, tool_world.no_consent_customer_id):
        served.client.get(f"/v1/customers/{customer}", headers=served.auth(tool_world.associate))
    served.client.get("/v1/audit", headers={"X-API-Key": "aisle_wrong"})
    response = served.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = 'route="/v1/customers/{customer_id}"'
    assert f'aisle_http_requests_total{{method="GET",{route},status="200"}}' in text
    assert 'aisle_http_requests_total{method="GET",route="/v1/audit",status="401"}' in text
    assert f'aisle_http_request_duration_seconds_bucket{{le="0.1",method="GET",{route}}}' in text
    assert 'aisle_tool_calls_total{status="ok",tool="customer_profile"}' in text
    assert tool_world.shopper_id not in text


def test_every_api_route_has_a_stable_operation_id(served: Served) -> None:
    schema = served.client.get("/openapi.json").json()
    operations = {
        (path, method): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {
        ("/health", "get"): "health",
        ("/ready", "get"): "ready",
        ("/metrics", "get"): "metrics",
        ("/v1/me", "get"): "whoAmI",
        ("/v1/stores", "get"): "listStores",
        ("/v1/products", "get"): "listProducts",
        ("/v1/products/{product_id}", "get"): "getProduct",
        ("/v1/recommendations", "get"): "getRecommendations",
        ("/v1/events", "post"): "createEvent",
        ("/v1/chat", "post"): "chat",
        ("/v1/chat/turn", "post"): "chatTurn",
        ("/v1/threads/{thread_id}", "get"): "getThread",
        ("/v1/stock", "get"): "getStock",
        ("/v1/substitutes", "get"): "getSubstitutes",
        ("/v1/customers", "get"): "findCustomers",
        ("/v1/customers/{customer_id}", "get"): "getCustomer",
        ("/v1/customers/{customer_id}/recommendations", "get"): "getCustomerRecommendations",
        ("/v1/proposals", "get"): "listProposals",
        ("/v1/proposals/{proposal_id}", "get"): "getProposal",
        ("/v1/proposals/{proposal_id}/decision", "post"): "decideProposal",
        ("/v1/proposals/{proposal_id}/execute", "post"): "executeProposal",
        ("/v1/purchase-orders", "get"): "listPurchaseOrders",
        ("/v1/audit", "get"): "listAuditEvents",
        ("/v1/audit/verify", "get"): "verifyAudit",
        ("/v1/evals/runs", "get"): "listEvalRuns",
        ("/v1/evals/runs/{run_id}", "get"): "getEvalRun",
        ("/v1/evals/runs/{run_id}/report", "get"): "getEvalReport",
        ("/v1/monitor/alerts", "get"): "listMonitorAlerts",
        ("/v1/experiments", "get"): "listExperiments",
        ("/v1/experiments", "post"): "createExperiment",
        ("/v1/experiments/{key}/start", "post"): "startExperiment",
        ("/v1/experiments/{key}/stop", "post"): "stopExperiment",
        ("/v1/experiments/{key}/report", "get"): "getExperimentReport",
        ("/v1/models", "get"): "listModels",
        ("/v1/models/{kind}", "get"): "listModelVersions",
        ("/v1/models/{kind}/history", "get"): "listModelStageChanges",
        ("/v1/models/{kind}/versions/{version}", "get"): "getModelVersion",
        ("/v1/models/{kind}/diff", "get"): "diffModelVersions",
        ("/v1/models/{kind}/promote", "post"): "promoteModel",
        ("/v1/models/{kind}/rollback", "post"): "rollbackModel",
        ("/v1/feeds", "get"): "listFeedBatches",
        ("/v1/ops/kpis", "get"): "getOpsKpis",
        ("/v1/proposals/{proposal_id}/preview", "post"): "previewProposalEdit",
    }
    schemes = schema["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"
    chat = schema["paths"]["/v1/chat"]["post"]["responses"]
    assert "text/event-stream" in chat["200"]["content"]
    assert chat["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorPublic"
    }
