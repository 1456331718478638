"""API keys on SQLite and PostgreSQL: demo principals with derived keys, 401 for missing,
unknown, expired and revoked keys, 403 for a role outside a route's grant, per-key rate limits
(in process and in the real Redis at 127.0.0.1:6379) and `aisle users ...`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import Result

from api.app import create_app
from api.auth import (
    AuthSetupError,
    demo_key,
    demo_keys,
    hash_key,
    issue_key,
    revoke_key,
    seed_demo_keys,
)
from api.ratelimit import LocalRateLimiter, RateLimit, RedisRateLimiter
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import ApiKey, Customer, Order
from tests.factories import Catalogue, seed_catalogue
from tools.base import Principal

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "a-real-secret-for-tests"
SHOPPER = "cust-ada"


def _seed(engine: Engine) -> Catalogue:
    """The test catalogue and one generated customer with an order."""
    catalogue = seed_catalogue(engine)
    with transaction(engine) as session:
        session.add(Customer(id=SHOPPER, first_name="Ada", last_name="L", source="generated"))
        session.flush()
        session.add(Order(id="ord-1", customer_id=SHOPPER, status="delivered", source="generated"))
    return catalogue


def _settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "database_url": db_url,
        "var_dir": tmp_path,
        "environment": "test",
        "secret_key": SECRET,
        **overrides,
    }
    return Settings(**fields)  # type: ignore[arg-type]


def _client(settings: Settings, rate_limit: RateLimit | None = None) -> TestClient:
    return TestClient(create_app(settings, load_assistant=False, rate_limit=rate_limit))


@pytest.fixture
def seeded(engine: Engine) -> Catalogue:
    return _seed(engine)


def test_demo_principals_get_keys_derived_from_the_secret(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    settings = _settings(db_url, tmp_path)
    seeded_keys = seed_demo_keys(engine, settings)
    specs = [
        (k.principal.role, k.principal.id, k.principal.customer_id, k.principal.store_id)
        for k in seeded_keys
    ]
    assert specs == [
        ("shopper", SHOPPER, SHOPPER, None),
        ("associate", "ann", None, seeded.downtown),
        ("planner", "pat", None, None),
        ("planner", "quinn", None, None),
        ("pricing_manager", "priya", None, None),
        ("evaluator", "eve", None, None),
        ("admin", "root", None, None),
    ]
    assert all(k.key.startswith("aisle_") and len(k.key) == 38 for k in seeded_keys)
    assert len({k.key for k in seeded_keys}) == 7
    # The same secret gives the same keys; seeding again changes nothing.
    assert [k.key for k in seed_demo_keys(engine, settings)] == [k.key for k in seeded_keys]
    shown = demo_keys(engine, settings)
    assert [k.key for k in shown] == [k.key for k in seeded_keys] and all(k.issued for k in shown)
    other = demo_keys(engine, settings.model_copy(update={"secret_key": "another-secret"}))
    assert not any(k.issued for k in other)
    assert {k.key for k in other}.isdisjoint(k.key for k in seeded_keys)
    assert demo_key(SECRET, Principal.parse("planner:pat")) == seeded_keys[2].key


def test_demo_keys_need_a_real_secret_outside_dev(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    placeholder = Settings(database_url=db_url, var_dir=tmp_path, environment="test")
    with pytest.raises(AuthSetupError, match="AISLE_SECRET_KEY"):
        seed_demo_keys(engine, placeholder)
    dev = placeholder.model_copy(update={"environment": "dev"})
    assert len(seed_demo_keys(engine, dev)) == 7


def test_only_a_hash_of_a_key_is_stored(engine: Engine, seeded: Catalogue) -> None:
    key = issue_key(engine, Principal.parse("planner:pat"), label="test")
    with Session(engine) as session:
        rows = session.query(ApiKey).all()
    assert [r.key_hash for r in rows] == [hash_key(key)]
    assert key not in json.dumps([vars(r) for r in rows], default=str)


def test_a_key_authenticates_as_its_principal_and_roles_are_enforced(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    evaluator = issue_key(engine, Principal.parse("evaluator:eve"), label="test")
    shopper = issue_key(engine, Principal.parse(f"shopper:{SHOPPER}"), label="test")
    with _client(_settings(db_url, tmp_path)) as client:
        for headers in ({"Authorization": f"Bearer {evaluator}"}, {"X-API-Key": evaluator}):
            response = client.get("/v1/audit/verify", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["ok"] is True
        refused = client.get("/v1/audit/verify", headers={"X-API-Key": shopper})
        assert refused.status_code == 403
        assert refused.json() == {
            "detail": "The shopper role may not use GET /v1/audit/verify; it is for "
            "evaluator, admin."
        }
        stock = client.get("/v1/stock?product_id=x", headers={"X-API-Key": evaluator})
        assert stock.status_code == 403 and "associate, admin" in stock.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "This route needs an API key"),
        ({"Authorization": "Bearer aisle_not_a_key"}, "The API key is not valid."),
        ({"X-API-Key": "aisle_not_a_key"}, "The API key is not valid."),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "This route needs an API key"),
    ],
)
def test_missing_and_unknown_keys_are_a_401(
    engine: Engine, db_url: str, tmp_path: Path, headers: dict[str, str], detail: str
) -> None:
    with _client(_settings(db_url, tmp_path)) as client:
        response = client.get("/v1/audit", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"].startswith(detail)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_expired_and_revoked_keys_are_a_401_and_a_new_key_works(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    eve = Principal.parse("evaluator:eve")
    past = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    expired = issue_key(engine, eve, label="test", expires_at=past)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    revoked = issue_key(engine, eve, label="test", expires_at=future)
    assert revoke_key(engine, revoked) and not revoke_key(engine, "aisle_never_issued")
    fresh = issue_key(engine, eve, label="test", expires_at=future)
    with _client(_settings(db_url, tmp_path)) as client:
        gone = client.get("/v1/audit", headers={"X-API-Key": expired})
        assert gone.status_code == 401
        assert gone.json()["detail"] == "The API key expired at 2024-05-01 12:00 UTC."
        off = client.get("/v1/audit", headers={"X-API-Key": revoked})
        assert off.status_code == 401 and off.json()["detail"] == "The API key has been revoked."
        assert client.get("/v1/audit", headers={"X-API-Key": fresh}).status_code == 200


def test_a_key_over_its_rate_limit_gets_a_429_with_retry_after(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    busy = issue_key(engine, Principal.parse("evaluator:eve"), label="test")
    calm = issue_key(engine, Principal.parse("evaluator:eve"), label="test")
    with _client(_settings(db_url, tmp_path), RateLimit(burst=3, per_second=0.5)) as client:
        codes = [
            client.get("/v1/audit?limit=1", headers={"X-API-Key": busy}).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/audit?limit=1", headers={"X-API-Key": busy})
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "2"
        assert limited.json()["detail"].startswith("Too many requests with this API key")
        # Each key has its own bucket.
        assert client.get("/v1/audit?limit=1", headers={"X-API-Key": calm}).status_code == 200


def test_redis_buckets_are_shared_by_every_worker() -> None:
    limit = RateLimit(burst=2, per_second=0.1)
    prefix = f"aisle-test:{uuid.uuid4().hex}:"
    # Two limiters on one Redis are two API workers: they spend from one bucket.
    first, second = (RedisRateLimiter(REDIS_URL, limit, prefix=prefix) for _ in range(2))
    try:
        assert first.acquire("k") is None
        assert second.acquire("k") is None
        wait = first.acquire("k")
        assert wait is not None and 0 < wait <= 10
        assert second.acquire("other") is None
    finally:
        first.close()
        second.close()


def test_without_redis_the_process_keeps_its_own_buckets() -> None:
    # Nothing listens on port 1: every call fails at once, as in a Redis outage.
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", RateLimit(burst=1, per_second=0.1))
    try:
        assert limiter.acquire("k") is None
        assert limiter.acquire("k") is not None
    finally:
        limiter.close()
    local = LocalRateLimiter(RateLimit(burst=1, per_second=1000.0))
    assert local.acquire("k") is None


def test_the_app_limits_through_redis_when_configured(
    engine: Engine, seeded: Catalogue, db_url: str, tmp_path: Path
) -> None:
    key = issue_key(engine, Principal.parse("evaluator:eve"), label="test")
    settings = _settings(db_url, tmp_path, redis_url=REDIS_URL)
    limit = RateLimit(burst=2, per_second=0.2)
    # Two apps on one Redis: the second sees what the first spent.
    with _client(settings, limit) as one, _client(settings, limit) as two:
        assert one.get("/v1/audit?limit=1", headers={"X-API-Key": key}).status_code == 200
        assert two.get("/v1/audit?limit=1", headers={"X-API-Key": key}).status_code == 200
        assert one.get("/v1/audit?limit=1", headers={"X-API-Key": key}).status_code == 429
        assert two.get("/v1/audit?limit=1", headers={"X-API-Key": key}).status_code == 429


Aisle = Callable[..., Result]


def test_users_commands_seed_show_and_add_keys(
    aisle: Aisle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retail.settings import get_settings
    from retail.store.open import open_store

    engine = open_store()
    try:
        _seed(engine)
    finally:
        engine.dispose()
    refused = aisle("users", "seed-demo")
    assert refused.exit_code == 2
    assert refused.output.startswith("error: Demo keys are derived from AISLE_SECRET_KEY")
    monkeypatch.setenv("AISLE_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    seeded = aisle("users", "seed-demo", "--json")
    assert seeded.exit_code == 0, seeded.output
    keys = json.loads(seeded.stdout)
    assert [k["role"] for k in keys][:2] == ["shopper", "associate"] and all(
        k["issued"] for k in keys
    )
    shown = aisle("users", "keys", "--json")
    assert json.loads(shown.stdout) == keys
    table = aisle("users", "keys")
    assert keys[2]["key"] in table.stdout and "pat" in table.stdout
    added = aisle("users", "add", "--as", "planner:zed", "--days", "3", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["key"].startswith("aisle_")
    unknown = aisle("users", "add", "--as", "shopper:nobody")
    assert unknown.exit_code == 2 and "nobody" in unknown.output
