"""Live shopper events: each visitor's recent actions, popularity by segment, and the event log
that reaches SQL in batches.

A `LiveStore` keeps, per unit (a customer id, or `session:<id>` for an anonymous visitor), the
newest `RECENT` events, which the next recommendation reads; per segment (device and time of day),
how much each product was clicked, carted and bought, which cold-start recommendations read; and
an event log that `EventFlusher` drains into the `shopper_events` table.

- `LocalLiveStore` keeps all three in this process (the embedded default): a crash loses the
  events not yet flushed, at most one flush window (`EventFlusher.interval_s`, 1 s).
- `RedisLiveStore` (`AISLE_REDIS_URL`) keeps them in Redis, so every serving process reads the
  same profiles: a list per unit, a hash per segment, and a stream for the log, read by a
  consumer group whose consumers (one per process) write batches to SQL and acknowledge them
  afterwards. A crashed process's unacknowledged batch is claimed by another consumer within
  a minute (idle `STALE_MS`, then that consumer's next claim), so a crash loses nothing that
  reached Redis (a batch written but not acknowledged may be written twice). Keys are prefixed
  by a digest of the database URL: two deployments sharing one Redis never read each other's
  events.

`BatchWriter` writes the exposure log (`recommendations_served`) the same way, from memory:
rows queue and are inserted together every interval, never one transaction per request; a crash
loses at most one interval of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Engine, insert

from retail.store.models import Base, ShopperEvent

log = logging.getLogger(__name__)

EventKind = Literal["view", "click", "add_to_cart", "purchase"]
EVENT_KINDS: tuple[EventKind, ...] = ("view", "click", "add_to_cart", "purchase")
# Events kept per unit for the next recommendation: what a session profile reads.
RECENT = 20
# How much one event adds to its product's popularity in its segment; a view is a glance.
SEGMENT_WEIGHTS: Mapping[str, float] = {"click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
# Units remembered in process before the least recently active are forgotten.
MAX_UNITS = 100_000
# A unit's recent events expire from Redis after this long without a new one.
RECENT_TTL_S = 7 * 24 * 3600
# The stream keeps about this many events (SQL has them all once flushed).
STREAM_MAX = 200_000
# A consumer's batch unacknowledged for this long belonged to a process that died.
STALE_MS = 30_000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One shopper action as the store records it."""

    unit_id: str
    session_id: str
    customer_id: str | None
    kind: EventKind
    product_id: str
    at: float
    """Seconds since the epoch."""
    segment: str
    recommendation_id: str | None = None
    value: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveEvent:
        return cls(**json.loads(text))

    def row(self) -> dict[str, Any]:
        """The event as a `shopper_events` row."""
        return {
            "session_id": self.session_id,
            "customer_id": self.customer_id,
            "occurred_at": dt.datetime.fromtimestamp(self.at, dt.UTC),
            "event_type": self.kind,
            "product_id": self.product_id,
            "recommendation_id": self.recommendation_id,
            "value": self.value,
        }


class LiveStore(Protocol):
    """Where recent events, segment popularity and the event log live."""

    def append(self, event: LiveEvent) -> None:
        """Record the event: the unit's next `recent` includes it when this returns."""
        ...

    def recent(self, unit_id: str) -> list[LiveEvent]:
        """The unit's newest events, newest first."""
        ...

    def segment_popularity(self, segment: str) -> dict[str, float]:
        """Product id -> weighted clicks, carts and purchases in the segment."""
        ...

    def take(self, limit: int, wait_s: float) -> tuple[list[LiveEvent], Any]:
        """Up to `limit` logged events not yet flushed (waiting up to `wait_s` for one), and a
        token for `ack` once they are written."""
        ...

    def ack(self, token: Any) -> None: ...

    def close(self) -> None: ...


class LocalLiveStore:
    """This process's events, guarded by one lock (API routes run on worker threads)."""

    def __init__(self, max_units: int = MAX_UNITS) -> None:
        self.max_units = max_units
        self._recent: OrderedDict[str, deque[LiveEvent]] = OrderedDict()
        self._popular: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._log: deque[LiveEvent] = deque()
        self._changed = threading.Condition()

    def append(self, event: LiveEvent) -> None:
        with self._changed:
            events = self._recent.get(event.unit_id)
            if events is None:
                events = self._recent[event.unit_id] = deque(maxlen=RECENT)
                while len(self._recent) > self.max_units:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(event.unit_id)
            events.append(event)
            weight = SEGMENT_WEIGHTS.get(event.kind)
            if weight:
                self._popular[event.segment][event.product_id] += weight
            self._log.append(event)
            self._changed.notify()

    def recent(self, unit_id: str) -> list[LiveEvent]:
        with self._changed:
            return list(reversed(self._recent.get(unit_id, ())))

    def segment_popularity(self, segment: str) -> dict[str, float]:
        with self._changed:
            return dict(self._popular.get(segment, {}))

    def take(self, limit: int, wait_s: float) -> tuple[list[LiveEvent], Any]:
        with self._changed:
            if not self._log:
                self._changed.wait(wait_s)
            batch = [self._log.popleft() for _ in range(min(limit, len(self._log)))]
        return batch, None

    def ack(self, token: Any) -> None:
        """Nothing to acknowledge: taken events left the queue already."""

    def close(self) -> None:
        with self._changed:
            self._changed.notify_all()


def redis_prefix(database_url: str) -> str:
    """Keys of the deployment whose database is `database_url`."""
    return "aisle:" + hashlib.sha256(database_url.encode()).hexdigest()[:12] + ":live"


class RedisLiveStore:
    """Recent events, segment popularity and the event log in Redis, shared by every process
    that uses the same Redis and database."""

    group = "sql"

    def __init__(self, url: str, prefix: str, *, stale_ms: int = STALE_MS) -> None:
        import redis

        self.prefix = prefix
        self.stale_ms = stale_ms
        self.stream = f"{prefix}:events"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        # Short timeouts: a slow Redis shows up as an error, not as a request hanging.
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=1.0, health_check_interval=30
        )
        # The reader blocks on the stream: it gets a connection of its own.
        self._reader: Any = redis.Redis.from_url(url, socket_timeout=10.0)
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        # Where the next claim of a dead consumer's batches goes on from (None: not until
        # `_next_claim`, a monotonic time): at start, then every `stale_ms`.
        self._claim_from: Any = "0-0"
        self._next_claim = 0.0

    def _recent_key(self, unit_id: str) -> str:
        return f"{self.prefix}:recent:{unit_id}"

    def append(self, event: LiveEvent) -> None:
        text = event.to_json()
        key = self._recent_key(event.unit_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.lpush(key, text)
        pipe.ltrim(key, 0, RECENT - 1)
        pipe.expire(key, RECENT_TTL_S)
        weight = SEGMENT_WEIGHTS.get(event.kind)
        if weight:
            pipe.hincrbyfloat(f"{self.prefix}:popular:{event.segment}", event.product_id, weight)
        pipe.xadd(self.stream, {"e": text}, maxlen=STREAM_MAX, approximate=True)
        pipe.execute()

    def recent(self, unit_id: str) -> list[LiveEvent]:
        found = self._client.lrange(self._recent_key(unit_id), 0, -1)
        return [LiveEvent.from_json(text) for text in found]

    def segment_popularity(self, segment: str) -> dict[str, float]:
        found = self._client.hgetall(f"{self.prefix}:popular:{segment}")
        return {k.decode(): float(v) for k, v in found.items()}

    def take(self, limit: int, wait_s: float) -> tuple[list[LiveEvent], Any]:
        # First what a dead consumer left unacknowledged, then new events.
        if self._claim_from is None and time.monotonic() >= self._next_claim:
            self._claim_from = "0-0"
        if self._claim_from is not None:
            next_id, claimed, *_ = self._reader.xautoclaim(
                self.stream, self.group, self.consumer, self.stale_ms, self._claim_from, count=limit
            )
            if next_id in (b"0-0", "0-0"):
                self._claim_from = None
                self._next_claim = time.monotonic() + self.stale_ms / 1000
            else:
                self._claim_from = next_id
            if claimed:
                return self._decode(claimed)
        found = self._reader.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=limit,
            block=max(1, int(wait_s * 1000)),
        )
        return self._decode(found[0][1] if found else [])

    @staticmethod
    def _decode(entries: Sequence[Any]) -> tuple[list[LiveEvent], Any]:
        ids = [entry_id for entry_id, _ in entries]
        events = [LiveEvent.from_json(fields[b"e"]) for _, fields in entries if fields]
        return events, ids

    def ack(self, token: Any) -> None:
        if token:
            self._client.xack(self.stream, self.group, *token)

    def close(self) -> None:
        self._client.close()
        self._reader.close()


class BatchWriter:
    """Rows of one table inserted in batches by a background thread: every `interval_s`, or as
    soon as `batch_size` are waiting; `close` writes what is left."""

    def __init__(
        self,
        engine: Engine,
        table: type[Base],
        *,
        interval_s: float = 1.0,
        batch_size: int = 500,
        name: str = "batch-writer",
    ) -> None:
        self.engine = engine
        self.table = table
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._rows: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        with self._changed:
            self._rows.append(row)
            if len(self._rows) >= self.batch_size:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._closed and len(self._rows) < self.batch_size:
                    self._changed.wait(self.interval_s)
                rows, self._rows = self._rows, []
                closed = self._closed
            if rows:
                self._write(rows)
            if closed:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(self.table), rows)
        except Exception:
            # Losing a batch of logs must not take the serving process down; it is logged.
            log.exception("could not write %d %s rows", len(rows), self.table.__tablename__)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()


class EventFlusher:
    """Drains a `LiveStore`'s event log into `shopper_events` in batches of up to `batch_size`,
    waiting at most `interval_s` for events; acknowledges a batch once it is written."""

    def __init__(
        self,
        store: LiveStore,
        engine: Engine,
        *,
        interval_s: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.store = store
        self.engine = engine
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.flush_once(self.interval_s)
        # Stopping: write what is waiting without waiting for more.
        while self.flush_once(0.0):
            pass

    def flush_once(self, wait_s: float) -> int:
        """Write one batch; how many events it held."""
        try:
            events, token = self.store.take(self.batch_size, wait_s)
            if events:
                with self.engine.begin() as conn:
                    conn.execute(insert(ShopperEvent), [e.row() for e in events])
            self.store.ack(token)
        except Exception:
            # Left unacknowledged in Redis, the batch is claimed again after STALE_MS.
            log.exception("could not flush shopper events")
            if wait_s:
                self._stop.wait(wait_s)
            return 0
        return len(events)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def open_live_store(redis_url: str | None, database_url: str) -> LiveStore:
    """Redis's when `redis_url` is set, else this process's."""
    if redis_url:
        return RedisLiveStore(redis_url, redis_prefix(database_url))
    return LocalLiveStore()


class Live:
    """What a serving process keeps for live events: the store, the flusher that drains its
    log into SQL, and the batched exposure and shadow logs. `close` flushes them all."""

    def __init__(self, engine: Engine, redis_url: str | None, database_url: str) -> None:
        from retail.store.models import RecommendationServed, RecommendationShadow

        self.store = open_live_store(redis_url, database_url)
        self.flusher = EventFlusher(self.store, engine)
        self.exposures = BatchWriter(engine, RecommendationServed, name="exposure-writer")
        self.shadows = BatchWriter(engine, RecommendationShadow, name="shadow-writer")

    def close(self) -> None:
        self.shadows.close()
        self.exposures.close()
        self.flusher.close()
        self.store.close()
