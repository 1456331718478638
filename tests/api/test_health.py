"""The health route and the app shell: root page, error bodies, OpenAPI operation ids."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from api.app import _require_operation_id, describe_validation_errors
from retail.errors import AisleError, DatabaseUnavailableError, NotFoundError
from retail.store.db import make_engine
from retail.store.schema import head_revision


def test_health_reports_database_and_schema_revision(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema_revision"] == head_revision()
    assert body["version"]


def test_health_is_503_when_the_database_is_unreachable(app: FastAPI, client: TestClient) -> None:
    healthy = app.state.engine
    # Nothing listens on port 1: connecting fails at once, as in a database outage.
    app.state.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", check=False)
    try:
        response = client.get("/health")
    finally:
        app.state.engine.dispose()
        app.state.engine = healthy

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["database"] == "unavailable"
    assert response.json()["schema_revision"] is None


def test_root_serves_the_storefront(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Aisle" in response.text
    assert 'href="/associate"' in response.text and 'href="/planner"' in response.text


def test_unknown_path_is_a_json_404_sentence(client: TestClient) -> None:
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.json() == {"detail": "Nothing is served at /no/such/page."}


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_asking_for_an_unknown_page_gets_an_html_page_with_links(
    client: TestClient,
) -> None:
    response = client.get("/plannr", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Nothing is served at <code>/plannr</code>" in response.text
    for path in ("/", "/associate", "/planner", "/pricing", "/evals"):
        assert f'<a href="{path}">' in response.text


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/plannr", "application/json"),
        ("/plannr", "*/*"),
        ("/v1/no-such-route", BROWSER_ACCEPT),
        ("/static/missing.js", "*/*"),
    ],
)
def test_programs_and_the_api_keep_their_json_404(
    client: TestClient, path: str, accept: str
) -> None:
    response = client.get(path, headers={"Accept": accept})

    assert response.status_code == 404
    assert "detail" in response.json()


def test_wrong_method_is_a_json_405_sentence(client: TestClient) -> None:
    response = client.post("/health")

    assert response.status_code == 405
    assert response.json() == {"detail": "POST is not allowed on /health."}


def test_openapi_paths_and_operation_ids_are_stable(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    operations = {
        (path, method): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    # The whole map of routes is checked with the service's (tests/api/test_api_misc.py);
    # here, the catalogue's own.
    assert operations[("/health", "get")] == "health"
    assert operations[("/v1/products", "get")] == "listProducts"
    assert operations[("/v1/products/{product_id}", "get")] == "getProduct"
    assert schema["info"]["title"] == "Aisle"
    # Errors are documented with the bodies the app really sends.
    list_responses = schema["paths"]["/v1/products"]["get"]["responses"]
    assert list_responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorPublic"
    }
    assert list_responses["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorPublic"
    }
    params = {p["name"] for p in schema["paths"]["/v1/products"]["get"]["parameters"]}
    assert params == {
        "category_id",
        "brand_id",
        "min_price",
        "max_price",
        "in_stock",
        "store_id",
        "q",
        "limit",
        "offset",
    }


def test_a_documented_route_without_operation_id_is_refused() -> None:
    router = APIRouter()

    @router.get("/anonymous")
    def anonymous() -> dict[str, str]:
        return {}

    app = FastAPI(generate_unique_id_function=_require_operation_id)
    app.include_router(router)
    with pytest.raises(ValueError, match="needs an explicit operation_id"):
        app.openapi()


def test_validation_sentence_names_each_problem_and_counts_the_rest() -> None:
    errors = [
        {"loc": ("query", f"p{n}"), "msg": "Input should be a valid integer"} for n in range(5)
    ]
    sentence = describe_validation_errors(errors)

    assert sentence == (
        "Invalid request: query parameter 'p0': input should be a valid integer; "
        "query parameter 'p1': input should be a valid integer; "
        "query parameter 'p2': input should be a valid integer; and 2 more problems."
    )


def _raise(exc: Exception) -> Any:
    def endpoint() -> None:
        raise exc

    return endpoint


@pytest.mark.parametrize(
    ("exc", "code", "detail"),
    [
        (AisleError("That input cannot be used."), 400, "That input cannot be used."),
        (NotFoundError("No order with id '#W1'."), 404, "No order with id '#W1'."),
        (
            DatabaseUnavailableError("Cannot connect to the database."),
            503,
            "Cannot connect to the database.",
        ),
        (
            OperationalError("SELECT 1", {}, Exception("server closed the connection")),
            503,
            "The database is unavailable right now.",
        ),
        (RuntimeError("a bug"), 500, "Aisle failed unexpectedly; the error has been logged."),
    ],
    ids=["aisle-error", "not-found", "database-unavailable", "operational-error", "bug"],
)
def test_errors_leave_as_one_json_sentence(
    app: FastAPI, exc: Exception, code: int, detail: str
) -> None:
    app.add_api_route("/boom", _raise(exc), operation_id="boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")

    assert response.status_code == code
    assert response.json() == {"detail": detail}
