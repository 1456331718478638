"""Bad input and overload on the real app: a NUL character, invalid Unicode or a number JSON has
not (NaN, Infinity, 1e400), wherever it comes (path, query, header, JSON body), is a 422 with one
sentence on every route, on SQLite and on PostgreSQL (which refuses NULs in text); an exhausted
connection pool is a quick 503 with Retry-After; a burst on one uvicorn process queues rather
than fails.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import ROUTERS, create_app
from api.auth import issue_key, seed_demo_keys
from api.hygiene import json_body_problem
from api.ratelimit import RateLimit
from api.routes import pages
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import Customer, Order
from tests.factories import Catalogue, seed_catalogue
from tests.servers import start_server, stop, wait_for
from tools.base import Principal

SECRET = "a-real-secret-for-tests"
ADMIN = "admin:root"

# Each bad value as it travels: percent-encoded in a URL, raw in a header, as JSON text in a body.
NUL_IN_URL = "a%00b"
# The UTF-8-style bytes of the lone surrogate U+D800, which no UTF-8 decoder accepts.
SURROGATE_IN_URL = "a%ED%A0%80b"
BAD_BODIES = {
    "lone surrogate escape": b'"\\ud800"',
    "lone surrogate bytes": b'"\xed\xa0\x80"',
    "NUL escape": b'"a\\u0000b"',
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "1e400": b"1e400",
}


def _seed(engine: Engine) -> Catalogue:
    """The test catalogue and a customer with an order: what the demo users need."""
    catalogue = seed_catalogue(engine)
    with transaction(engine) as session:
        session.add(Customer(id="cust-ada", first_name="Ada", last_name="L", source="generated"))
        session.flush()
        session.add(
            Order(id="ord-1", customer_id="cust-ada", status="delivered", source="generated")
        )
    return catalogue


def _settings(db_url: str, var_dir: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "database_url": db_url,
        "var_dir": var_dir,
        "environment": "test",
        "secret_key": SECRET,
        **overrides,
    }
    return Settings(**fields)  # type: ignore[arg-type]


@dataclass
class Probe:
    """One route, filled in so that only the bad value is wrong."""

    method: str
    path: str
    path_params: list[str]
    query_params: list[str]
    header_params: list[str]
    body_fields: list[str] | None  # None: the route takes no body

    def url(self, path_value: str = "p-1") -> str:
        return re.sub(r"\{[^}]+\}", path_value, self.path)


def probes() -> list[Probe]:
    """Every route of the app's routers (the web pages' included) and what it reads."""
    found = []
    for route in [r for router in (*ROUTERS, pages.router) for r in router.routes]:
        if not isinstance(route, APIRoute):
            continue
        params: dict[str, list[str]] = {"path": [], "query": [], "header": [], "cookie": []}
        for field in get_flat_params(route.dependant):
            params[field.field_info.in_.value].append(field.alias)  # type: ignore[attr-defined]
        body_fields = None
        if route.body_field is not None:
            schema = route.body_field.field_info.annotation
            body_fields = list(getattr(schema, "model_fields", {})) or [route.body_field.name]
        for method in sorted(route.methods - {"HEAD"}):
            found.append(
                Probe(
                    method,
                    route.path,
                    params["path"],
                    params["query"],
                    params["header"],
                    body_fields,
                )
            )
    return found


@pytest.fixture
def served(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """The app over a seeded world, and the demo admin's key (a real one, from the database)."""
    _seed(engine)
    settings = _settings(db_url, tmp_path)
    admin = next(d.key for d in seed_demo_keys(engine, settings) if d.principal.role == "admin")
    plenty = RateLimit(burst=1_000_000, per_second=1_000_000.0)
    with TestClient(create_app(settings, load_assistant=False, rate_limit=plenty)) as client:
        yield client, admin


def _assert_refused(response: httpx.Response, what: str) -> None:
    assert response.status_code == 422, f"{what}: {response.status_code} {response.text[:300]}"
    body = response.json()
    detail = body["detail"]
    assert detail.startswith("Invalid request: ") and detail.endswith("."), what
    assert "\n" not in detail and "Traceback" not in detail, what
    assert body["errors"] and body["errors"][0]["msg"] == detail, what


def test_every_route_refuses_bad_input_with_a_422_sentence(
    served: tuple[TestClient, str],
) -> None:
    client, admin = served
    auth = {"Authorization": f"Bearer {admin}"}
    routes = probes()
    app: FastAPI = client.app  # type: ignore[assignment]
    documented = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= {(p.method, p.path) for p in routes}
    assert {"/", "/static/{name}"} <= {p.path for p in routes}
    tried = 0
    for probe in routes:
        label = f"{probe.method} {probe.path}"
        for name, bad in (("NUL", NUL_IN_URL), ("surrogate", SURROGATE_IN_URL)):
            # Every query parameter the route reads; one it does not read must not pass either.
            for param in [*probe.query_params, "unread"]:
                url = f"{probe.url()}?{param}={bad}"
                response = client.request(probe.method, url, headers=auth)
                _assert_refused(response, f"{label}: {name} in query {param}")
                tried += 1
            if probe.path_params:
                response = client.request(probe.method, probe.url(bad), headers=auth)
                _assert_refused(response, f"{label}: {name} in the path")
                tried += 1
        for header in [*probe.header_params, "X-Unread"]:
            headers = {**auth, header: "a\x00b"}
            response = client.request(probe.method, probe.url(), headers=headers)
            _assert_refused(response, f"{label}: NUL in header {header}")
            tried += 1
        if probe.body_fields is None:
            continue
        for name, bad_json in BAD_BODIES.items():
            for field in probe.body_fields:
                body = b'{"%s": %s}' % (field.encode(), bad_json)
                response = client.request(
                    probe.method,
                    probe.url(),
                    content=body,
                    headers={**auth, "Content-Type": "application/json"},
                )
                _assert_refused(response, f"{label}: {name} in body field {field}")
                tried += 1
    assert tried > 100


def test_a_bad_value_is_named_where_it_is(served: tuple[TestClient, str]) -> None:
    client, admin = served
    response = client.get("/v1/audit?limit=5&conversation_id=x%00y", headers={"X-API-Key": admin})
    _assert_refused(response, "NUL in a query")
    assert response.json()["errors"][0]["loc"] == ["query", "conversation_id"]
    assert "query parameter 'conversation_id': text must not contain NUL" in response.text
    response = client.post(
        "/v1/chat/turn",
        content=b'{"message": ["ok", "\\ud800"]}',
        headers={"X-API-Key": admin, "Content-Type": "application/json"},
    )
    _assert_refused(response, "a lone surrogate in a body")
    assert response.json()["errors"][0]["loc"] == ["body", "message", 1]
    assert "lone surrogate" in response.json()["detail"]


def test_good_input_passes_through(served: tuple[TestClient, str]) -> None:
    client, admin = served
    # Characters beyond ASCII, and beyond the BMP, are text like any other.
    assert client.get("/v1/products", params={"q": "\U0001f600 jacket"}).status_code == 200
    assert client.get("/v1/products?q=caf%C3%A9").status_code == 200
    # Malformed JSON is left to FastAPI's own parse (a 422 of its own kind).
    response = client.post(
        "/v1/proposals/p-1/decision",
        content=b"{not json",
        headers={"X-API-Key": admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"m": "\\ud83d\\ude00"}', None),
        (b'{"m": "\\\\u0000 is only text"}', None),
        (b'{"m": 1e308, "n": -1.5e-400}', None),
        (b"{not json", None),
        (b'{"m": "\\udc00"}', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),
        (b'{"m": "\\u0000"}', "NUL characters"),
        (b"[NaN]", "NaN"),
        (b'{"m": -Infinity}', "-Infinity"),
        (b'{"m": -1e400}', "-1e400"),
        (b"9" * 5000, "5000 digits"),
        (b"[" * 100_000, "nested too deeply"),
        (b'"\xff"', "valid UTF-8"),
    ],
)
def test_json_bodies_are_read_strictly(body: bytes, problem: str | None) -> None:
    found = json_body_problem(body)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found.sentence, found


def test_an_exhausted_pool_is_a_quick_503_with_retry_after(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    _seed(engine)
    settings = _settings(
        db_url,
        tmp_path,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout_s=0.2,
    )
    app = create_app(settings, load_assistant=False)
    with TestClient(app) as client:
        assert client.get("/v1/products").status_code == 200
        with app.state.engine.connect():  # the pool's only connection, held elsewhere
            busy = client.get("/v1/products")
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["Retry-After"]) >= 1
        assert busy.json()["detail"].endswith("retry in a moment.")
        # Freed, the pool serves again.
        assert client.get("/v1/products").status_code == 200


# --- a burst on one real uvicorn process ----------------------------------------------------

BURST = 100


@pytest.fixture
def uvicorn_server(
    engine: Engine, db_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], Catalogue]]:
    """`uvicorn api.app:create_app` (one process, default settings but the database) over a
    seeded world: its base URL, one admin key per route (each under its rate limit's burst)."""
    catalogue = _seed(engine)
    log = tmp_path / "uvicorn.log"
    server, base = start_server(_settings(db_url, tmp_path / "var"), log)
    try:
        wait_for(server, base, log, path="/health")
        keys = {
            f"k{i}": issue_key(engine, Principal.parse(ADMIN), label="burst") for i in range(40)
        }
        yield base, keys, catalogue
    finally:
        stop(server)


def read_routes(schema: dict[str, object], catalogue: Catalogue) -> list[str]:
    """Every GET operation of the OpenAPI document, with real ids in its path where the world
    has them; those needing the assistant, which a test process does not load (503 by design),
    are left out."""
    product = catalogue.product_ids[0]
    ids = {"product_id": product, "customer_id": "cust-ada"}
    urls = []
    for path, operations in schema["paths"].items():  # type: ignore[attr-defined]
        if "get" not in operations or path in {"/ready", "/v1/threads/{thread_id}"}:
            continue
        urls.append(re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "unknown-1"), path))
    return urls


async def _burst(base: str, url: str, key: str) -> Counter[int]:
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        headers = {"Authorization": f"Bearer {key}"}
        answers = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(BURST)))
    return Counter(a.status_code for a in answers)


@pytest.mark.slow
def test_a_burst_on_every_read_route_queues_rather_than_fails(
    uvicorn_server: tuple[str, dict[str, str], Catalogue],
) -> None:
    base, keys, catalogue = uvicorn_server
    urls = read_routes(httpx.get(f"{base}/openapi.json").json(), catalogue)
    assert "/v1/products" in urls and len(urls) <= len(keys)
    for url, key in zip(urls, keys.values(), strict=False):
        statuses = asyncio.run(_burst(base, url, key))
        assert sum(statuses.values()) == BURST
        assert not {s for s in statuses if s >= 500}, f"{url}: {dict(statuses)}"
    statuses = asyncio.run(_burst(base, "/v1/products?in_stock=true&q=a", keys["k39"]))
    assert statuses == Counter({200: BURST})
