"""Real-time session profiles: a shopper's views and carts move their next recommendations.

`SessionProfiles.record` appends the action to the shopper's session (the last `max_events`),
recomputes the session vector from those items, each weighted by its action's strength and
halved every `half_life_s` seconds of age, and blends it with the shopper's long-term vector:
profile = unit((1 - session_share) * long_term + session_share * session). The profile is updated
before `record` returns, so the very next recommendation uses it; the work is one pass over at
most `max_events` item vectors (well under a millisecond), not a model refit.

The store is in-process: a dict kept to `max_shoppers` by least-recent use, guarded by a lock so
API workers on threads may share it. A shopper's session lives as long as they stay among the
most recently active; evicted sessions simply start again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ml_core.recommend.base import ItemVectorSource

# A cart says more about intent than a glance; purchases end a need more than they signal one,
# so they are excluded from recommendations rather than weighted here.
# A click on a recommendation is a view that was chosen from a list.
SESSION_WEIGHTS: Mapping[str, float] = {"view": 1.0, "click": 1.5, "add_to_cart": 3.0}


@dataclass(frozen=True, slots=True)
class SessionEvent:
    item_id: str
    kind: str
    at: float
    """Seconds since the epoch (the store's clock)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A snapshot of one shopper: the blended vector (None: nothing known yet) and the session's
    events, newest first."""

    vector: np.ndarray | None
    recent: tuple[SessionEvent, ...]


@dataclass(slots=True)
class _Shopper:
    events: deque[SessionEvent]
    long_term: np.ndarray | None = None
    session: np.ndarray | None = None
    vector: np.ndarray | None = field(default=None)


class SessionProfiles:
    """Per-shopper session events and blended profile vectors, bounded by least-recent use."""

    def __init__(
        self,
        vectors: ItemVectorSource,
        *,
        max_shoppers: int = 10_000,
        max_events: int = 20,
        half_life_s: float = 1_800.0,
        session_share: float = 0.7,
        kind_weights: Mapping[str, float] = SESSION_WEIGHTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0.0 <= session_share <= 1.0:
            raise ValueError(f"session_share must be within [0, 1], not {session_share}.")
        self.vectors = vectors
        self.max_shoppers = max_shoppers
        self.max_events = max_events
        self.half_life_s = half_life_s
        self.session_share = session_share
        self.kind_weights = dict(kind_weights)
        self.clock = clock
        self._shoppers: OrderedDict[str, _Shopper] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, shopper_id: str, item_id: str, kind: str) -> np.ndarray | None:
        """Add a view or add-to-cart to the shopper's session; returns the updated profile."""
        if kind not in self.kind_weights:
            raise ValueError(
                f"Unknown session event {kind!r}: expected one of {', '.join(self.kind_weights)}."
            )
        now = self.clock()
        with self._lock:
            shopper = self._shopper(shopper_id)
            shopper.events.append(SessionEvent(item_id, kind, now))
            shopper.session = self._session_vector(shopper.events, now)
            self._blend(shopper)
            return shopper.vector

    def set_session(self, shopper_id: str, events: Sequence[SessionEvent]) -> np.ndarray | None:
        """Replace the shopper's session with `events` (oldest first; kinds without a weight are
        left out): the session as a store shared by several processes has it. Returns the
        updated profile."""
        now = self.clock()
        with self._lock:
            shopper = self._shopper(shopper_id)
            shopper.events.clear()
            shopper.events.extend(e for e in events if e.kind in self.kind_weights)
            shopper.session = self._session_vector(shopper.events, now) if shopper.events else None
            self._blend(shopper)
            return shopper.vector

    def set_long_term(self, shopper_id: str, vector: np.ndarray | None) -> None:
        """The shopper's vector from their history (None when they have none)."""
        with self._lock:
            shopper = self._shopper(shopper_id)
            shopper.long_term = _unit(vector)
            self._blend(shopper)

    def get(self, shopper_id: str) -> Profile:
        with self._lock:
            shopper = self._shoppers.get(shopper_id)
            if shopper is None:
                return Profile(None, ())
            self._shoppers.move_to_end(shopper_id)
            return Profile(shopper.vector, tuple(reversed(shopper.events)))

    def __len__(self) -> int:
        return len(self._shoppers)

    def _shopper(self, shopper_id: str) -> _Shopper:
        shopper = self._shoppers.get(shopper_id)
        if shopper is None:
            shopper = _Shopper(deque(maxlen=self.max_events))
            self._shoppers[shopper_id] = shopper
            while len(self._shoppers) > self.max_shoppers:
                self._shoppers.popitem(last=False)
        else:
            self._shoppers.move_to_end(shopper_id)
        return shopper

    def _session_vector(self, events: deque[SessionEvent], now: float) -> np.ndarray | None:
        ages = np.array([now - e.at for e in events])
        weights = np.array([self.kind_weights[e.kind] for e in events]) * np.exp2(
            -ages / self.half_life_s
        )
        vector = self.vectors.user_vector([e.item_id for e in events], weights)
        return _unit(vector)

    def _blend(self, shopper: _Shopper) -> None:
        long_term, session = shopper.long_term, shopper.session
        if long_term is None or session is None:
            # With only one of the two known it is the whole profile, whatever the shares say.
            shopper.vector = session if long_term is None else long_term
        else:
            share = self.session_share
            shopper.vector = _unit((1.0 - share) * long_term + share * session)


def _unit(vector: np.ndarray | None) -> np.ndarray | None:
    """The vector scaled to length 1; None for a zero vector (it points nowhere)."""
    if vector is None:
        return None
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else None
