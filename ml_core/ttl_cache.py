"""A small thread-safe cache whose entries expire: for answers that may be a few seconds stale
and are asked for far more often than they change (a customer's history, a product page's
lists)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    """Up to `max_entries` values, each kept `ttl_s` seconds (a caller may ask for a fresher one);
    the least recently used go first."""

    def __init__(
        self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V], *, max_age_s: float | None = None) -> V:
        """The value for `key`, computed (outside the lock) when missing or older than
        `max_age_s` (default `ttl_s`; 0: always computed, and kept for those who accept it)."""
        now = self.clock()
        max_age = self.ttl_s if max_age_s is None else min(max_age_s, self.ttl_s)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < max_age:
                self._entries.move_to_end(key)
                return found[1]
        value = compute()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value
