"""The live event stores (in process and in the real Redis at 127.0.0.1:6379), the flusher that
writes their log to SQL in batches, and the batched exposure log."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ml_core.recommend.live import (
    RECENT,
    BatchWriter,
    EventFlusher,
    LiveEvent,
    LiveStore,
    LocalLiveStore,
    RedisLiveStore,
)
from retail.store.models import RecommendationServed, ShopperEvent

REDIS_URL = "redis://127.0.0.1:6379/0"


def _event(unit: str, product: str, kind: str = "view", **fields: object) -> LiveEvent:
    return LiveEvent(
        unit_id=unit,
        session_id=unit.removeprefix("session:"),
        customer_id=None,
        kind=kind,  # type: ignore[arg-type]
        product_id=product,
        at=time.time(),
        segment="phone:evening",
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of the test's own, deleted afterwards (skips without Redis)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    name = f"aisle-test:{uuid.uuid4().hex}"
    yield name
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LiveStore]:
    if request.param == "local":
        built: LiveStore = LocalLiveStore()
    else:
        built = RedisLiveStore(REDIS_URL, request.getfixturevalue("prefix"))
    yield built
    built.close()


def test_recent_events_segments_and_the_log(store: LiveStore) -> None:
    for i in range(RECENT + 5):
        store.append(_event("session:a", f"P{i:03d}"))
    store.append(_event("session:b", "P900", "add_to_cart"))
    store.append(_event("session:b", "P900", "purchase", value=12.5))
    recent = store.recent("session:a")
    assert [e.product_id for e in recent] == [f"P{i:03d}" for i in range(RECENT + 4, 4, -1)]
    assert store.recent("session:nobody") == []
    # Views say nothing of popularity; a cart add 3, a purchase 5.
    assert store.segment_popularity("phone:evening") == {"P900": 8.0}
    assert store.segment_popularity("desktop:morning") == {}
    taken, token = store.take(100, 0.1)
    store.ack(token)
    assert len(taken) == RECENT + 7 and taken[-1].value == 12.5
    assert store.take(100, 0.05)[0] == []


def test_the_flusher_writes_batches_and_what_is_left_on_close(engine: Engine) -> None:
    store = LocalLiveStore()
    flusher = EventFlusher(store, engine, interval_s=0.05, batch_size=3)
    rid = str(uuid.uuid4())
    for i in range(7):
        store.append(_event("session:flush-1", f"P{i:03d}", "click", recommendation_id=rid))
    flusher.close()
    with Session(engine) as session:
        rows = session.scalars(select(ShopperEvent).order_by(ShopperEvent.id)).all()
    assert [r.product_id for r in rows] == [f"P{i:03d}" for i in range(7)]
    assert {(r.event_type, r.session_id, r.recommendation_id) for r in rows} == {
        ("click", "flush-1", rid)
    }


def test_a_dead_consumers_batch_is_claimed_by_another(engine: Engine, prefix: str) -> None:
    dead = RedisLiveStore(REDIS_URL, prefix, stale_ms=100)
    dead.append(_event("session:claimed", "P001", "add_to_cart"))
    taken, _ = dead.take(10, 0.1)  # taken and never acknowledged: the process died
    assert [e.product_id for e in taken] == ["P001"]
    time.sleep(0.2)
    alive = RedisLiveStore(REDIS_URL, prefix, stale_ms=100)
    flusher = EventFlusher(alive, engine, interval_s=0.05)
    flusher.close()
    with Session(engine) as session:
        rows = session.scalars(select(ShopperEvent)).all()
    assert [(r.session_id, r.product_id) for r in rows] == [("claimed", "P001")]
    client = redis.Redis.from_url(REDIS_URL)
    assert client.xpending(f"{prefix}:events", "sql")["pending"] == 0
    client.close()
    dead.close()
    alive.close()


def test_the_exposure_log_is_written_in_batches(engine: Engine) -> None:
    writer = BatchWriter(engine, RecommendationServed, interval_s=60.0, batch_size=2)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "served_at": dt.datetime.now(dt.UTC),
            "placement": "home",
            "unit_id": f"session:s{i}",
            "model_version": "v1",
            "items": ["P1", "P2"],
            "context": {"device": "phone"},
        }
        for i in range(3)
    ]
    for row in rows[:2]:
        writer.add(row)
    # A full batch goes at once, long before the interval; the rest when the writer closes.
    deadline = time.monotonic() + 10
    written = 0
    while written < 2 and time.monotonic() < deadline:
        with Session(engine) as session:
            written = len(session.scalars(select(RecommendationServed)).all())
        time.sleep(0.05)
    assert written == 2
    writer.add(rows[2])
    writer.close()
    with Session(engine) as session:
        stored = session.scalars(select(RecommendationServed)).all()
    assert sorted(r.id for r in stored) == sorted(r["id"] for r in rows)
    assert all(r.items == ["P1", "P2"] and r.context == {"device": "phone"} for r in stored)
