"""Serving recommendations: item vectors in Qdrant, session profiles, and the service facade.

- `ItemVectorSource` is what any model offers for retrieval: `item_vectors()` and
  `user_vector(item_ids, weights)`, scored by dot product. `TextVectors` is the content-based
  one (MiniLM embeddings of name, category and description); the two-tower model offers the same
  two methods, and the service uses the active recommender itself whenever it does.
- `ItemIndex` keeps item vectors in the project's one Qdrant adapter (`ml_core.vectors`: Qdrant
  Edge in process, the embedded default, or a Qdrant server through `qdrant-client`, chosen by
  `AISLE_QDRANT_URL`) and queries them under an `ItemFilter`. Each item's payload holds what the
  filters and rules read (category, brand, price band, the stores with stock, online
  availability, margin, clearance), with a payload index on every filtered field.
- `RecommendationService` loads the active recommender version from the artifact registry,
  opens its own copy of the item index under the var dir (building and publishing it when none
  was built: several serving processes each hold one, `ml_core.edge_folders`), and answers
  `for_shopper`, `similar` and `complete_the_look` through the generators here and the rules in
  `ranking`. The shopper id
  is the caller's (the authenticated principal), never text a model filled in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from ml_core.recommend.base import Interactions, ItemVectorSource, Recommender
from ml_core.recommend.features import embed_texts
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.models import load_recommender
from ml_core.recommend.ranking import (
    ORDERED,
    Candidate,
    CatalogItem,
    RankedItem,
    RankingRules,
    because,
    picked,
    popular_reason,
    rank,
)
from ml_core.recommend.session import SessionEvent, SessionProfiles
from ml_core.recommend.store_data import EVENT_WEIGHTS, PURCHASE, purchase_lines
from ml_core.recommend.train import ARTIFACT
from ml_core.registry import ArtifactRegistry
from ml_core.ttl_cache import TtlCache
from ml_core.vectors import FieldKind, Match, Point, Schema, VectorIndex, Where
from ml_core.vectors import open_index as open_vector_index
from retail import catalog_version
from retail.catalog_queries import position_sellable
from retail.clock import today as clock_today
from retail.errors import AisleError, NotFoundError
from retail.settings import Settings
from retail.store.models import (
    Brand,
    Category,
    InventoryPosition,
    Location,
    Order,
    OrderItem,
    PriceChange,
    Product,
    ShopperEvent,
    Variant,
)

# Price bands a shopper would name ("under $25"); upper bounds in the store's currency.
PRICE_BANDS: tuple[tuple[float, str], ...] = (
    (25.0, "under_25"),
    (50.0, "25_50"),
    (100.0, "50_100"),
    (250.0, "100_250"),
    (float("inf"), "250_plus"),
)
# Payload fields and their index types. Qdrant Edge 0.9.0 matches nothing on a bool field
# (MatchValue(True) finds no point, indexed or not), so the two flags are stored as 0 / 1.
PAYLOAD_INDEXES: dict[str, FieldKind] = {
    "item_id": "keyword",
    "category": "keyword",
    "brand": "keyword",
    "price_band": "keyword",
    "in_stock": "keyword",
    "online": "integer",
    "margin": "float",
    "clearance": "integer",
}
# The rules of a list of items like one product (no category cap) and of what goes with some
# (one per category), each keeping to what sells at the shopper's store or online. Called without
# rules, `similar` and `complements` filter stock only at a named store.
SIMILAR_RULES = RankingRules(max_per_category=None)
COMPLEMENT_RULES = RankingRules(max_per_category=1)
# The namespace the item index's point ids had before the adapter, kept so they do not move.
_POINT_NAMESPACE = uuid.UUID("5d9b6c64-4a51-4f55-9d2b-3c1f0a7e8b21")

logger = logging.getLogger(__name__)


class TextVectors:
    """Content-based vectors: unit MiniLM embeddings of each item's name, category and
    description; a user is the weighted mean of the items they touched."""

    def __init__(self, item_ids: Sequence[str], vectors: np.ndarray) -> None:
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self._row_of = {item_id: row for row, item_id in enumerate(self.item_ids.tolist())}

    @classmethod
    def embed(cls, texts: Mapping[str, str], cache_dir: Path | None = None) -> TextVectors:
        """Embed one text per item id (cached by text under `cache_dir`)."""
        return cls(list(texts), embed_texts(list(texts.values()), cache_dir))

    def item_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return self.item_ids, self.vectors

    def user_vector(self, item_ids: Sequence[str], weights: Any = None) -> np.ndarray:
        rows = np.array([self._row_of.get(i, -1) for i in item_ids], dtype=np.int64)
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
        known = rows >= 0
        if not known.any() or w[known].sum() <= 0:
            return np.zeros(self.vectors.shape[1], dtype=np.float32)
        mean = w[known] @ self.vectors[rows[known]] / w[known].sum()
        return mean.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The vector index


class Hit(NamedTuple):
    item_id: str
    score: float


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items a query may return: with `in_stock`, only those buyable by a shopper at
    `location_id` (in stock there) or online (the only way when `location_id` is None); none of
    `exclude_ids`; none in `exclude_categories`."""

    in_stock: bool = False
    location_id: str | None = None
    exclude_ids: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()

    def where(self) -> Where:
        """This filter as conditions on the item index's payloads (see `payload`)."""
        must_not = tuple(
            Match(key, tuple(sorted(values)))
            for key, values in (
                ("item_id", self.exclude_ids),
                ("category", self.exclude_categories),
            )
            if values
        )
        should: tuple[Match, ...] = ()
        if self.in_stock:
            should = (Match("online", (1,)),)
            if self.location_id is not None:
                should += (Match("in_stock", (self.location_id,)),)
        return Where(should=should, must_not=must_not)


def item_schema(dim: int) -> Schema:
    """The item index: `dim`-dimensional item vectors (Qdrant's unnamed vector) and payloads."""
    return Schema(namespace=_POINT_NAMESPACE, dim=dim, fields=PAYLOAD_INDEXES)


class ItemIndex:
    """Item vectors with payloads in the project's Qdrant adapter (`ml_core.vectors`: Qdrant Edge
    or a Qdrant server); top-k by dot product under an `ItemFilter`."""

    def __init__(self, index: VectorIndex) -> None:
        self.index = index

    def upsert(
        self, item_ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        self.index.upsert(
            [Point(i, v, p) for i, v, p in zip(item_ids, vectors, payloads, strict=True)]
        )
        self.index.finish()

    def set_payloads(self, item_ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        """Replace the items' payloads (stock changed), keeping their vectors."""
        self.index.set_payloads(item_ids, payloads)

    def delete(self, item_ids: Sequence[str]) -> None:
        self.index.delete(item_ids)
        self.index.finish()

    def query(self, vector: np.ndarray, k: int, where: ItemFilter) -> list[Hit]:
        found = self.index.query(
            dense=vector, where=where.where(), limit=k, with_payload=["item_id"]
        )
        return [Hit(p.payload["item_id"], p.score) for p in found if p.payload]

    def publish(self) -> None:
        """Offer an index built by this process as the shared one (the next process copies it)."""
        self.index.publish()

    def count(self) -> int:
        return self.index.count()

    def close(self) -> None:
        self.index.close()


def open_index(settings: Settings, name: str, dim: int) -> ItemIndex:
    """The item index called `name`: a collection on `settings.qdrant_url` when set, else this
    process's copy of the Qdrant Edge shard `var_dir/indexes/<name>` (an empty one when none
    was built: `ItemIndex.publish` offers it once filled)."""
    return ItemIndex(open_vector_index(settings, name, item_schema(dim)))


def payload(item: CatalogItem) -> dict[str, Any]:
    """What the index keeps beside an item's vector: the fields filters and rules read."""
    return {
        "item_id": item.item_id,
        "category": item.category_id or "",
        "brand": item.brand or "",
        "price_band": price_band(item.price),
        "in_stock": sorted(item.in_stock),
        "online": int(item.online),
        "margin": item.margin,
        "clearance": int(item.clearance),
    }


def price_band(price: float) -> str:
    return next(name for bound, name in PRICE_BANDS if price < bound)


# ---------------------------------------------------------------------------------------------
# The catalogue as the store has it now


def load_catalog(engine: Engine) -> dict[str, CatalogItem]:
    """Every product with its category, brand, price range on sale, margin rate, clearance
    flag and the stores (and whether online) where it is in stock, by the catalogue's rule
    (`position_sellable`)."""
    with engine.connect() as conn:
        products = pd.read_sql(
            select(
                Product.id,
                Product.name,
                Product.description,
                Product.category_id,
                Category.name.label("category"),
                Brand.name.label("brand"),
            )
            .outerjoin(Category, Category.id == Product.category_id)
            .outerjoin(Brand, Brand.id == Product.brand_id),
            conn,
        )
        variants = pd.read_sql(
            select(
                Variant.id, Variant.product_id, Variant.price, Variant.unit_cost, Variant.available
            ),
            conn,
        )
        stock = pd.read_sql(
            select(Variant.product_id, InventoryPosition.location_id, Location.kind)
            .join(InventoryPosition, position_sellable())
            .join(Location, Location.id == InventoryPosition.location_id)
            .where(Location.kind.in_(["store", "online"]))
            .distinct(),
            conn,
        )
        # The price in effect: an approved markdown scheduled for a later week is not yet one.
        latest = (
            select(PriceChange.variant_id, func.max(PriceChange.effective_on).label("on"))
            .where(PriceChange.effective_on <= clock_today(engine))
            .group_by(PriceChange.variant_id)
            .subquery()
        )
        clearance = pd.read_sql(
            select(Variant.product_id)
            .join(PriceChange, PriceChange.variant_id == Variant.id)
            .join(
                latest,
                (latest.c.variant_id == PriceChange.variant_id)
                & (latest.c.on == PriceChange.effective_on),
            )
            .where(PriceChange.reason == "markdown")
            .distinct(),
            conn,
        )
    selling = variants[variants["available"].astype(bool)]
    # `retail.catalog_queries.price_range`'s rule: the lowest and highest price of the SKUs sold.
    prices = selling.groupby("product_id")["price"].agg(["min", "max"])
    costed = selling.dropna(subset=["unit_cost"])
    costed = costed[costed["price"] > 0]
    margin = (
        ((costed["price"] - costed["unit_cost"]) / costed["price"])
        .groupby(costed["product_id"])
        .mean()
    )
    stores: dict[str, set[str]] = defaultdict(set)
    online: set[str] = set()
    for product_id, location_id, kind in stock.itertuples(index=False):
        if kind == "online":
            online.add(product_id)
        else:
            stores[product_id].add(location_id)
    on_clearance = set(clearance["product_id"])
    catalog: dict[str, CatalogItem] = {}
    for row in products.itertuples(index=False):
        catalog[row.id] = CatalogItem(
            item_id=row.id,
            name=row.name,
            category_id=row.category_id,
            category=row.category or "other",
            # Products without a brand (all of tau2's) read back as NaN, which no payload takes.
            brand=row.brand if isinstance(row.brand, str) else None,
            price=float(prices["min"].get(row.id, 0.0)),
            price_range=(
                (float(prices.at[row.id, "min"]), float(prices.at[row.id, "max"]))
                if row.id in prices.index
                else None
            ),
            margin=float(np.clip(margin.get(row.id, 0.0), 0.0, 1.0)),
            clearance=row.id in on_clearance,
            in_stock=frozenset(stores.get(row.id, ())),
            online=row.id in online,
            description=row.description or "",
        )
    return catalog


def catalog_stamp(engine: Engine) -> tuple[int, dt.date]:
    """What a catalogue snapshot is current for: the catalogue's version (moved by every price
    and stock write, `retail.catalog_version`) and today's date (a scheduled markdown step
    starts on its day with no write)."""
    with engine.connect() as conn:
        version = catalog_version.current(conn)
    return version, clock_today(engine)


# ---------------------------------------------------------------------------------------------
# The service


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The catalogue as read at `version` (the catalogue's version, today), and the masks of
    the model's items allowed per location made from it: replaced whole, never edited, so a
    request reads one snapshot throughout."""

    items: dict[str, CatalogItem]
    version: tuple[int, dt.date]
    allowed: dict[str | None, np.ndarray] = field(default_factory=dict)

    def reset(self) -> _Snapshot:
        """The same items without the masks (another model's items)."""
        return _Snapshot(self.items, self.version)


@dataclass(frozen=True, slots=True)
class _Action:
    item_id: str
    kind: str
    weight: float
    """The action's strength times its recency decay."""
    age_days: float | None = None
    """How long ago it was, when known (a reason told about the customer says it)."""


def _index_name(ids: np.ndarray, matrix: np.ndarray) -> str:
    # Named by content: the same vectors reuse the index whichever version asked for them.
    digest = hashlib.sha256("\n".join(ids).encode())
    digest.update(matrix.tobytes())
    return f"recommender-items-{digest.hexdigest()[:16]}"


class RecommendationService:
    """Recommendations for shoppers and associates, from the active recommender version.

    Candidates come from vector retrieval on the shopper's profile (long-term history blended
    with this session), item-item neighbours of what they just looked at, and popularity; the
    `RankingRules` decide what is shown. `model_version` names the recommender version used, for
    answers to cite. `follow_catalog` keeps its catalogue snapshot (stock, prices, clearance)
    in step with the store's. `version` pins another version than the champion (the shadow's
    service, `ml_core.recommend.shadow`).
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        vectors: ItemVectorSource | None = None,
        half_life_days: float = 30.0,
        history_limit: int = 200,
        history_ttl_s: float = 60.0,
        clock: Callable[[], dt.datetime] | None = None,
        version: str | None = None,
    ) -> None:
        self.engine = engine
        # A pinned version (a shadow computing beside the champion) instead of the champion.
        self.pinned_version = version
        self.settings = settings
        self.half_life_days = half_life_days
        self.history_limit = history_limit
        # Shoppers' histories read from SQL, kept for callers that accept one a little old
        # (`for_shopper(history_max_age_s=...)`).
        self._histories: TtlCache[tuple[list[_Action], set[str]]] = TtlCache(history_ttl_s)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._snapshot = self._read_catalog()
        self._catalog_lock = threading.Lock()
        self._catalog_checked = time.monotonic()
        self._given_vectors = vectors
        self._registry = ArtifactRegistry(settings.var_dir / "artifacts")
        self._reload_lock = threading.Lock()
        self.index: ItemIndex  # opened by `_load_champion`, under `_index_name`
        self._index_name: str | None = None
        self._text: TextVectors | None = None
        self._load_champion()
        self._bought_together = self._fit_bought_together()

    def _load_champion(self) -> None:
        """Load the registry's champion and what hangs on it: the vectors (its own, for the
        two-tower model), the session profiles and the item index."""
        self._stamp = self._registry.ledger_stamp(ARTIFACT)
        manifest, folder = (
            self._registry.load(ARTIFACT, self.pinned_version)
            if self.pinned_version
            else self._registry.active(ARTIFACT)
        )
        model: Recommender = load_recommender(folder)
        # The active model's own vectors when it has them (the two-tower model), else text.
        vectors = self._given_vectors or (
            model if isinstance(model, ItemVectorSource) else self._text_vectors()
        )
        ids, matrix = vectors.item_vectors()
        known = np.isin(ids, list(self.catalog))
        self._ids = np.asarray(ids, dtype=str)[known]
        self._matrix = np.asarray(matrix, dtype=np.float32)[known]
        self._row_of = {item_id: row for row, item_id in enumerate(self._ids)}
        self._nearest: dict[str, frozenset[str]] = {}
        name = _index_name(self._ids, self._matrix)
        if name != self._index_name:
            # Other vectors (to or from the two-tower model): another index, new profiles.
            old = self.index if self._index_name is not None else None
            self.index = self._open_index(name)
            self._index_name = name
            self.profiles = SessionProfiles(vectors)
            if old is not None:
                old.close()
        self.vectors = vectors
        self._snapshot = self._snapshot.reset()  # the masks are over the model's items
        self.model, self.model_version = model, manifest.version

    def _text_vectors(self) -> TextVectors:
        if self._text is None:
            self._text = TextVectors.embed(
                {i: item.text for i, item in sorted(self.catalog.items())},
                self.settings.var_dir / "cache",
            )
        return self._text

    def follow_champion(self) -> bool:
        """Load the registry's champion when it changed since it was loaded (a `stat` of the
        stage ledger per call, the ledger read only when that moved): a promote or rollback
        reaches a running process on its next request. True when it loaded another version.
        A pinned service never moves."""
        if self.pinned_version or self._registry.ledger_stamp(ARTIFACT) == self._stamp:
            return False
        with self._reload_lock:
            stamp = self._registry.ledger_stamp(ARTIFACT)
            if stamp == self._stamp:
                return False  # another request reloaded it meanwhile
            try:
                if self._registry.ledger(ARTIFACT).champion in (None, self.model_version):
                    self._stamp = stamp  # a change to another version's stage
                    return False
                self._load_champion()
            except AisleError as error:
                # A champion that refuses to load (tampered) must not take serving down: the
                # loaded version goes on answering until the ledger changes again.
                logger.warning("recommender champion not loaded: %s", error)
                self._stamp = stamp
                return False
            return True

    def _open_index(self, name: str) -> ItemIndex:
        index = open_index(self.settings, name, self._matrix.shape[1])
        try:
            payloads = [payload(self.catalog[i]) for i in self._ids]
            if index.count() == len(self._ids):
                index.set_payloads(list(self._ids), payloads)  # same vectors: only stock moved
            else:
                index.upsert(list(self._ids), self._matrix, payloads)
                index.publish()
        except Exception:
            # An embedded index left open holds its lock: the next attempt could not open it.
            index.close()
            raise
        return index

    @property
    def catalog(self) -> dict[str, CatalogItem]:
        """The catalogue snapshot the lists are ranked from and their cards show (see
        `follow_catalog`)."""
        return self._snapshot.items

    @property
    def catalog_version(self) -> tuple[int, dt.date]:
        """What the snapshot was read at: the catalogue's version and today's date."""
        return self._snapshot.version

    def follow_catalog(self) -> bool:
        """Reload the catalogue snapshot when a write of prices or stock moved the catalogue's
        version (`retail.catalog_version`) or the day changed (a scheduled markdown step
        starts), checking at most every `Settings.catalog_check_s`: what a shopper can buy
        and pays reaches the lists within that plus one reload, in every process sharing the
        database. One request checks and reloads while the others go on with the snapshot
        they have. True when it reloaded."""
        now = time.monotonic()
        if now - self._catalog_checked < self.settings.catalog_check_s:
            return False
        if not self._catalog_lock.acquire(blocking=False):
            return False
        try:
            self._catalog_checked = now
            if catalog_stamp(self.engine) == self._snapshot.version:
                return False
            self.refresh_stock()
            return True
        finally:
            self._catalog_lock.release()

    def refresh_stock(self) -> None:
        """Re-read stock, prices and clearance; the index's payloads of the items whose stock,
        price band, margin or clearance moved follow, then the new snapshot replaces the old
        one whole."""
        fresh = self._read_catalog()
        old = self._snapshot.items
        moved = [i for i in self._ids if i not in old or payload(old[i]) != payload(fresh.items[i])]
        self.index.set_payloads(moved, [payload(fresh.items[i]) for i in moved])
        self._snapshot = fresh

    def _read_catalog(self) -> _Snapshot:
        # The stamp first: a write landing during the read leaves it behind the data, so the
        # next check reloads again rather than missing the write.
        stamp = catalog_stamp(self.engine)
        return _Snapshot(load_catalog(self.engine), stamp)

    def close(self) -> None:
        self.index.close()

    # -- what callers ask ---------------------------------------------------------------------

    def record(self, shopper_id: str, item_id: str, kind: str) -> None:
        """A view or add-to-cart in the shopper's session; the next recommendation follows it."""
        self.item(item_id)
        self.profiles.record(shopper_id, item_id, kind)

    def for_shopper(
        self,
        shopper_id: str,
        location_id: str | None,
        k: int = 10,
        rules: RankingRules | None = None,
        *,
        session: Sequence[SessionEvent] | None = None,
        with_history: bool = True,
        history_max_age_s: float = 0.0,
        exclude: Collection[str] = (),
        about: str | None = None,
    ) -> list[RankedItem]:
        """The shopper's top `k`, for a shopper at store `location_id` (None: online only).

        `session` (oldest first), when given, is the shopper's session as a store shared by
        several processes has it, in place of what this process recorded; `with_history=False`
        skips reading the store's history (an anonymous visitor has none), and
        `history_max_age_s` lets a history read that long ago stand in (0: read it now);
        `exclude` adds items not to show (bought in this session); `about` names the shopper
        when the list is for a person serving them, so reasons are told about them ("Olivia
        viewed ...") rather than to them ("because you viewed ...")."""
        rules = rules or RankingRules()
        history, purchased = (
            self._histories.get(
                (shopper_id, rules.exclude_purchased_days),
                lambda: self._history(shopper_id, rules.exclude_purchased_days),
                max_age_s=history_max_age_s,
            )
            if with_history
            else ([], set())
        )
        if history:
            self.profiles.set_long_term(
                shopper_id,
                self.vectors.user_vector([a.item_id for a in history], [a.weight for a in history]),
            )
        if session is not None:
            self.profiles.set_session(shopper_id, [e for e in session if e.item_id in self.catalog])
        profile = self.profiles.get(shopper_id)
        now_s = self.clock().timestamp()
        session_actions = [
            _Action(e.item_id, e.kind, self.profiles.kind_weights[e.kind], (now_s - e.at) / 86_400)
            for e in profile.recent
        ]
        # What they are looking at now is not news to them, and what they just bought is done.
        excluded = purchased | {a.item_id for a in session_actions} | set(exclude)
        anchors = session_actions + history[::-1][:5]  # newest first
        n = _pool(k)
        candidates: list[Candidate] = []
        if profile.vector is not None:
            where = ItemFilter(
                in_stock=rules.in_stock_only,
                location_id=location_id,
                exclude_ids=frozenset(excluded),
                exclude_categories=rules.exclude_categories,
            )
            hits = self.index.query(profile.vector, n, where)
            closest = self._closest([h.item_id for h in hits], anchors)
            for hit, anchor in zip(hits, closest, strict=True):
                reason = (
                    because(
                        anchor.kind,
                        self.catalog[anchor.item_id].name,
                        about=about,
                        age_days=anchor.age_days,
                    )
                    if anchor
                    else picked(about)
                )
                candidates.append(Candidate(hit.item_id, hit.score, "vector", reason))
        candidates += self._neighbours(anchors[:5], n, location_id, rules, about=about)
        candidates += self._popular(n, location_id, rules)
        return rank(candidates, self.catalog, rules, k=k, location_id=location_id, exclude=excluded)

    def popular_in_segment(
        self,
        counts: Mapping[str, float],
        label: str,
        k: int = 10,
        *,
        location_id: str | None = None,
        rules: RankingRules | None = None,
        exclude: Collection[str] = (),
    ) -> list[RankedItem]:
        """Cold start: what is popular with visitors like this one (their segment, which
        `label` names in a reason: "phone shoppers in the evening"), for a visitor nothing is
        known about.

        `counts` holds the segment's weighted clicks, carts and purchases per product; each
        product's share of them is smoothed toward its share of the model's popularity with
        `SEGMENT_PRIOR` pseudo-counts, so a segment with little traffic reads as the store's
        best sellers and one with much as itself."""
        rules = rules or RankingRules()
        allowed = self._allowed_mask(location_id, rules)
        ids = self.model.item_ids_
        total = float(self.model.popularity_.sum()) or 1.0
        prior = self.model.popularity_ / total
        seen = np.array([counts.get(str(i), 0.0) for i in ids], dtype=np.float64)
        share = (seen + SEGMENT_PRIOR * prior) / (seen.sum() + SEGMENT_PRIOR)
        share = np.where(allowed, share, -np.inf)
        best = np.argsort(-share, kind="stable")[: _pool(k)]
        candidates = [
            Candidate(
                str(ids[i]),
                float(share[i]),
                "popular",
                f"popular with {label}"
                if seen[i] > 0
                else popular_reason(self.catalog[str(ids[i])]),
            )
            for i in best
            if np.isfinite(share[i])
        ]
        return rank(
            candidates, self.catalog, rules, k=k, location_id=location_id, exclude=set(exclude)
        )

    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        location_id: str | None = None,
        rules: RankingRules | None = None,
    ) -> list[RankedItem]:
        """Items like `item_id`: close in vector space or looked at by the same shoppers.

        Same-category items are the point here, so the default rules (`SIMILAR_RULES`) set no
        category cap, and no stock filter unless a location is given (a storefront passes
        `SIMILAR_RULES` itself: it shows only what sells online or there)."""
        item = self.item(item_id)
        rules = rules or SIMILAR_RULES.model_copy(update={"in_stock_only": location_id is not None})
        n = _pool(k)
        candidates: list[Candidate] = []
        row = self._row_of.get(item_id)
        if row is not None:
            where = ItemFilter(
                in_stock=rules.in_stock_only,
                location_id=location_id,
                exclude_ids=frozenset({item_id}),
                exclude_categories=rules.exclude_categories,
            )
            candidates += [
                Candidate(hit.item_id, hit.score, "vector", f"similar to {item.name}")
                for hit in self.index.query(self._matrix[row], n, where)
            ]
        candidates += self._neighbours(
            [_Action(item_id, "view", 1.0)], n, location_id, rules, phrase="often viewed with {}"
        )
        return rank(
            candidates, self.catalog, rules, k=k, location_id=location_id, exclude={item_id}
        )

    def complete_the_look(
        self,
        item_id: str,
        k: int = 5,
        *,
        location_id: str | None = None,
        rules: RankingRules | None = None,
    ) -> list[RankedItem]:
        """Items from other categories that customers who bought `item_id` also bought; by
        default one per category."""
        return self.complements([item_id], k, location_id=location_id, rules=rules)

    def complements(
        self,
        item_ids: Sequence[str],
        k: int = 5,
        *,
        location_id: str | None = None,
        rules: RankingRules | None = None,
    ) -> list[RankedItem]:
        """Items from categories none of `item_ids` is in that customers who bought them also
        bought (a cart's add-ons, what goes with an order); each scored by the sum over the
        items, its reason naming the item it goes with most. By default one per category."""
        items = [self.item(i) for i in item_ids]
        rules = rules or COMPLEMENT_RULES.model_copy(
            update={"in_stock_only": location_id is not None}
        )
        model = self._bought_together
        known = [i for i in items if model is not None and i.item_id in model.item_index_]
        if model is None or not known:
            return []
        theirs = {i.category_id for i in items}
        other = np.array([self.catalog[i].category_id not in theirs for i in model.item_ids_])
        found = model.similar_items([i.item_id for i in known], _pool(k), allowed=other)
        total: dict[str, float] = defaultdict(float)
        strongest: dict[str, tuple[float, CatalogItem]] = {}
        for anchor, rows, scores in zip(known, found.items, found.scores, strict=True):
            for i, s in zip(rows, scores, strict=True):
                if i < 0 or not np.isfinite(s):  # a NaN score is popularity fill
                    continue
                found_id = str(model.item_ids_[i])
                total[found_id] += float(s)
                if found_id not in strongest or float(s) > strongest[found_id][0]:
                    strongest[found_id] = (float(s), anchor)
        candidates = [
            Candidate(found_id, score, "bought_together", f"goes with {anchor.name}")
            for found_id, score in total.items()
            for anchor in (strongest[found_id][1],)
        ]
        return rank(
            candidates,
            self.catalog,
            rules,
            k=k,
            location_id=location_id,
            exclude={i.item_id for i in items},
        )

    # -- generators and lookups ---------------------------------------------------------------

    def item(self, item_id: str) -> CatalogItem:
        """The catalogue's item; `NotFoundError` for an unknown id."""
        item = self.catalog.get(item_id)
        if item is None:
            raise NotFoundError(f"No product with id {item_id!r}.")
        return item

    def _neighbours(
        self,
        anchors: Sequence[_Action],
        n: int,
        location_id: str | None,
        rules: RankingRules,
        *,
        phrase: str | None = None,
        about: str | None = None,
    ) -> list[Candidate]:
        """Item-item neighbours of the anchors, each weighted by its anchor's weight; the reason
        names the anchor that contributed most (told `about` the shopper, see `for_shopper`)."""
        known = [a for a in anchors if a.item_id in self.model.item_index_]
        if not known:
            return []
        found = self.model.similar_items(
            [a.item_id for a in known], n, allowed=self._allowed_mask(location_id, rules)
        )
        total: dict[int, float] = defaultdict(float)
        top: dict[int, tuple[float, _Action]] = {}
        for anchor, items, scores in zip(known, found.items, found.scores, strict=True):
            for i, s in zip(items, scores, strict=True):
                if i < 0 or not np.isfinite(s):
                    continue
                contribution = anchor.weight * float(s)
                total[i] += contribution
                # A `phrase` names the product the list is for ("goes with X"); a shopper's
                # own action is named only for a product related to it.
                named = phrase or self._related(str(self.model.item_ids_[i]), anchor.item_id)
                if named and (i not in top or contribution > top[i][0]):
                    top[i] = (contribution, anchor)
        candidates = []
        for i, score in total.items():
            reason = picked(about)
            if i in top:
                anchor = top[i][1]
                name = self.catalog[anchor.item_id].name
                reason = (
                    phrase.format(name)
                    if phrase
                    else because(anchor.kind, name, about=about, age_days=anchor.age_days)
                )
            candidates.append(Candidate(str(self.model.item_ids_[i]), score, "item_item", reason))
        return candidates

    def _popular(self, n: int, location_id: str | None, rules: RankingRules) -> list[Candidate]:
        allowed = self._allowed_mask(location_id, rules)
        popularity = np.where(allowed, self.model.popularity_, -np.inf)
        best = np.argsort(-popularity, kind="stable")[:n]
        return [
            Candidate(
                str(self.model.item_ids_[i]),
                float(popularity[i]),
                "popular",
                popular_reason(self.catalog[str(self.model.item_ids_[i])]),
            )
            for i in best
            if np.isfinite(popularity[i])
        ]

    def _allowed_mask(self, location_id: str | None, rules: RankingRules) -> np.ndarray:
        """Over the model's items: in the catalogue and, with `in_stock_only`, buyable here."""
        key = location_id if rules.in_stock_only else "*any*"
        snapshot = self._snapshot  # once: the mask is kept with the snapshot it was made from
        mask = snapshot.allowed.get(key)
        if mask is None:
            mask = np.array(
                [
                    (item := snapshot.items.get(str(i))) is not None
                    and (not rules.in_stock_only or item.available(location_id))
                    for i in self.model.item_ids_
                ]
            )
            snapshot.allowed[key] = mask
        return mask

    def _closest(self, item_ids: Sequence[str], anchors: Sequence[_Action]) -> list[_Action | None]:
        """For each item, the anchor whose vector is closest to it: what retrieval answered to.

        An item is never its own anchor, nor is a product of the same name: the closest vector
        to something the customer bought a while ago is that purchase itself, and "because you
        bought X" is no reason to buy X. Nor is an anchor the item is not related to
        (`_related`): flip-flops are not "because you bought Cycling Helmet" however close
        the shopper's only action is. Without another anchor the item has none (None)."""
        usable = [a for a in anchors if a.item_id in self._row_of]
        if not usable:
            return [None] * len(item_ids)
        anchor_rows = [self._row_of[a.item_id] for a in usable]
        item_rows = [self._row_of.get(i, -1) for i in item_ids]
        scores = self._matrix[item_rows] @ self._matrix[anchor_rows].T
        names = [self.catalog[a.item_id].name for a in usable]
        for row, item_id in enumerate(item_ids):
            name = self.catalog[item_id].name if item_id in self.catalog else None
            for column, anchor in enumerate(usable):
                if (
                    anchor.item_id == item_id
                    or names[column] == name
                    or not self._related(item_id, anchor.item_id)
                ):
                    scores[row, column] = -np.inf
        best = np.argmax(scores, axis=1)
        return [
            usable[b] if r >= 0 and np.isfinite(scores[n, b]) else None
            for n, (r, b) in enumerate(zip(item_rows, best, strict=True))
        ]

    def _related(self, item_id: str, anchor_id: str) -> bool:
        """Whether a reason may name `anchor_id` for `item_id`: the two share a category, or the
        item is among the `RELATED_NEIGHBOURS` products closest to the anchor. Being closer to
        it than to the shopper's other actions is no relation (with one purchase, every pick
        is closest to it)."""
        item, anchor = self.catalog.get(item_id), self.catalog.get(anchor_id)
        if item is None or anchor is None:
            return False
        if item.category_id is not None and item.category_id == anchor.category_id:
            return True
        nearest = self._nearest.get(anchor_id)
        if nearest is None:
            row = self._row_of.get(anchor_id)
            nearest = frozenset()
            if row is not None:
                closeness = self._matrix @ self._matrix[row]
                top = np.argsort(-closeness, kind="stable")[: RELATED_NEIGHBOURS + 1]
                nearest = frozenset(self._ids[top].tolist())
            self._nearest[anchor_id] = nearest
        return item_id in nearest

    def _history(self, shopper_id: str, purchased_days: int) -> tuple[list[_Action], set[str]]:
        """The shopper's latest views, carts and purchases (oldest first, weighted by strength
        and recency), and the items they bought within `purchased_days`."""
        with self.engine.connect() as conn:
            events = conn.execute(
                select(ShopperEvent.product_id, ShopperEvent.event_type, ShopperEvent.occurred_at)
                .where(
                    ShopperEvent.customer_id == shopper_id,
                    ShopperEvent.product_id.is_not(None),
                    ShopperEvent.event_type.in_(["view", "add_to_cart"]),
                )
                .order_by(ShopperEvent.occurred_at.desc())
                .limit(self.history_limit)
            ).all()
            bought = conn.execute(
                select(OrderItem.product_id, Order.created_at, Order.status)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.customer_id == shopper_id, Order.status != "cancelled")
                .order_by(Order.created_at.desc())
                .limit(self.history_limit)
            ).all()
        now = self.clock()
        rows = [(str(p), kind, _utc(at)) for p, kind, at in events]
        # A pending order is "ordered", not "bought"; it weighs as a purchase.
        rows += [
            (str(p), ORDERED if status == "pending" else PURCHASE, _utc(at))
            for p, at, status in bought
        ]
        rows.sort(key=lambda r: r[2] or dt.datetime.min.replace(tzinfo=dt.UTC))
        history = []
        for item_id, kind, at in rows:
            age_days = (now - at).total_seconds() / 86_400 if at else self.half_life_days * 4
            strength = EVENT_WEIGHTS[PURCHASE if kind == ORDERED else kind]
            weight = strength * 2.0 ** (-max(age_days, 0.0) / self.half_life_days)
            history.append(_Action(item_id, kind, weight, age_days if at else None))
        cutoff = now - dt.timedelta(days=purchased_days)
        purchased = {
            item_id
            for item_id, kind, at in rows
            if kind in (PURCHASE, ORDERED) and purchased_days > 0 and (at is None or at >= cutoff)
        }
        return history, purchased

    def _fit_bought_together(self) -> ItemItem | None:
        """Item-item co-occurrence over who bought what: the "frequently bought together"."""
        lines = purchase_lines(self.engine, basket="customer")
        if not lines:
            return None
        customers, products = zip(*lines, strict=True)
        return ItemItem(neighbours=50, shrink=2.0).fit(Interactions.from_ids(customers, products))


# A product is related to a shopper's action on another (and a reason may name that one) when it
# is among this many products closest to it, or in its category (`_related`).
RELATED_NEIGHBOURS = 20
# Pseudo-counts of the store's overall popularity a segment's own counts are smoothed with.
SEGMENT_PRIOR = 50.0


def _pool(k: int) -> int:
    """Candidates each generator proposes for a top-k list: room for exclusions and caps."""
    return max(4 * k, 50)


def _utc(at: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive times; the store writes UTC."""
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
