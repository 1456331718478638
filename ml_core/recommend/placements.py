"""Placements: which recommendations a storefront slot shows, for a shopper or an anonymous visitor.

- `home`: the visitor's picks (`RecommendationService.for_shopper`) from their history (a
  signed-in shopper's) and this session's events; a visitor with neither gets the cold start,
  what is popular in their segment (device and time of day, `popular_in_segment`). A product
  named with `home` is what they are looking at: it counts as a view for this answer.
- `product`: what goes with the product (`complete_the_look`, from other categories: half the
  list at most), then products like it (`similar`) to fill it.
- `cart`: what goes with the cart (`complements` of the items added since the last purchase).
- `post_purchase`: what goes with the last purchase (this session's, else the last order's).

Every list keeps to the `RankingRules`: only what can be sold at the shopper's home store or
online (`CatalogItem.available`, the one rule, on a catalogue snapshot that follows every price
and stock write), at most so many per category; an anonymous visitor, who has no home store,
gets only what sells online on every slot.
A unit in a running experiment (`ml_core.experiments.assignment`) gets its arm's rules when the
arm's config sets some (`{"rules": {...}}`, checked when the experiment is created and parsed
once per process while it runs).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, select

from ml_core.experiments.assignment import Assignment, LiveExperiments
from ml_core.recommend.live import LiveEvent, LiveStore
from ml_core.recommend.ranking import RankedItem, RankingRules
from ml_core.recommend.serving import COMPLEMENT_RULES, SIMILAR_RULES, RecommendationService
from ml_core.recommend.session import SessionEvent
from ml_core.ttl_cache import TtlCache
from retail.store.models import Customer, Order, OrderItem

PlacementName = Literal["home", "product", "cart", "post_purchase"]
PLACEMENTS: tuple[PlacementName, ...] = ("home", "product", "cart", "post_purchase")
Device = Literal["phone", "tablet", "desktop"]
# Hours (UTC, the store's clock) at which each part of the day begins.
_DAYPARTS: tuple[tuple[int, str], ...] = (
    (0, "night"),
    (6, "morning"),
    (12, "afternoon"),
    (18, "evening"),
)
_TABLET = re.compile(r"iPad|Tablet|Android(?!.*Mobile)", re.IGNORECASE)
_PHONE = re.compile(r"Mobi|iPhone|Android", re.IGNORECASE)
# How old a shopper's history (read from SQL) may be: orders placed elsewhere reach the grid
# within this long; what they do on the storefront reaches it at once, through the live store.
HISTORY_MAX_AGE_S = 30.0
# How long a product page's lists are reused (a new catalogue snapshot starts new ones).
PRODUCT_PAGE_TTL_S = 60.0
# Purchases this close to the last one belong to the same checkout.
_SAME_CHECKOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who the recommendations are for: `unit_id` is a customer id, or `session:<id>` for an
    anonymous visitor (`customer_id` None)."""

    unit_id: str
    session_id: str
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class Context:
    """What is known of the request besides the visitor: the segment's parts."""

    device: Device
    daypart: str

    @classmethod
    def of(cls, user_agent: str | None, at: dt.datetime) -> Context:
        return cls(device=device_of(user_agent), daypart=daypart_of(at))

    @property
    def segment(self) -> str:
        return f"{self.device}:{self.daypart}"

    @property
    def label(self) -> str:
        """The segment in a reason's words: "phone shoppers in the evening"."""
        when = "at night" if self.daypart == "night" else f"in the {self.daypart}"
        return f"{self.device} shoppers {when}"


def device_of(user_agent: str | None) -> Device:
    """The kind of device a User-Agent header describes (a desktop when it says nothing)."""
    agent = user_agent or ""
    if _TABLET.search(agent):
        return "tablet"
    if _PHONE.search(agent):
        return "phone"
    return "desktop"


def daypart_of(at: dt.datetime) -> str:
    return [name for start, name in _DAYPARTS if at.hour >= start][-1]


def rules_for(arm: Assignment | None) -> RankingRules | None:
    """The arm's rules when its config sets some (parsed once per experiment, by
    `LiveExperiments`); else None (the placement's defaults)."""
    return arm.rules if arm is not None else None


class Placements:
    """Answers placements from a `RecommendationService` and a `LiveStore`."""

    def __init__(self, service: RecommendationService, live: LiveStore, engine: Engine) -> None:
        self.service = service
        self.live = live
        self.engine = engine
        self.experiments = LiveExperiments(engine)
        self._home_store: dict[str, str | None] = {}
        # A product page's lists are the same for every visitor at one location: kept briefly.
        self._product_pages: TtlCache[list[RankedItem]] = TtlCache(PRODUCT_PAGE_TTL_S)

    def home_store(self, customer_id: str | None) -> str | None:
        """The customer's home store (None: online only, and for anonymous visitors); read once
        per customer and process."""
        if customer_id is None:
            return None
        if customer_id not in self._home_store:
            with self.engine.connect() as conn:
                found = conn.execute(
                    select(Customer.home_store_id).where(Customer.id == customer_id)
                ).scalar_one_or_none()
            self._home_store[customer_id] = found
        return self._home_store[customer_id]

    def recommend(
        self,
        visitor: Visitor,
        placement: PlacementName,
        context: Context,
        *,
        product_id: str | None = None,
        k: int = 10,
        rules: RankingRules | None = None,
    ) -> list[RankedItem]:
        """The placement's top `k` for the visitor (fewer, or none, when too few qualify: an
        empty cart has no add-ons). An unknown `product_id` raises `NotFoundError`."""
        service = self.service
        location = self.home_store(visitor.customer_id)
        recent = self.live.recent(visitor.unit_id)  # newest first
        if product_id is not None:
            service.item(product_id)
        if placement == "product":
            assert product_id is not None
            # Keyed by the model and catalogue versions too: a promoted champion's lists, and
            # a price or stock change, show at once.
            return self._product_pages.get(
                (product_id, location, k, rules, service.model_version, service.catalog_version),
                lambda: self._product_page(product_id, location, k, rules),
            )
        if placement == "cart":
            cart = _since_last_purchase(recent, "add_to_cart")
            if not cart:
                return []
            return service.complements(
                cart, k, location_id=location, rules=rules or COMPLEMENT_RULES
            )
        if placement == "post_purchase":
            bought = self._last_purchase(visitor, recent)
            if not bought:
                return []
            return service.complements(
                bought, k, location_id=location, rules=rules or COMPLEMENT_RULES
            )
        session = [
            SessionEvent(e.product_id, e.kind, e.at)
            for e in reversed(recent)
            if e.kind != "purchase"
        ]
        if product_id is not None:
            session.append(SessionEvent(product_id, "view", dt.datetime.now(dt.UTC).timestamp()))
        bought_now = {e.product_id for e in recent if e.kind == "purchase"}
        if visitor.customer_id is None and not session:
            return service.popular_in_segment(
                self.live.segment_popularity(context.segment),
                context.label,
                k,
                location_id=location,
                rules=rules,
                exclude=bought_now,
            )
        return service.for_shopper(
            visitor.unit_id,
            location,
            k,
            rules,
            session=session,
            with_history=visitor.customer_id is not None,
            history_max_age_s=HISTORY_MAX_AGE_S,
            exclude=bought_now,
        )

    def _product_page(
        self, product_id: str, location: str | None, k: int, rules: RankingRules | None
    ) -> list[RankedItem]:
        service = self.service
        # Half the list at most: the page shows both what goes with it and what is like it.
        look = service.complete_the_look(
            product_id, max(1, k // 2), location_id=location, rules=rules or COMPLEMENT_RULES
        )
        like = service.similar(product_id, k, location_id=location, rules=rules or SIMILAR_RULES)
        shown = {r.item_id for r in look}
        return (look + [r for r in like if r.item_id not in shown])[:k]

    def _last_purchase(self, visitor: Visitor, recent: Sequence[LiveEvent]) -> list[str]:
        """The products of the visitor's last checkout: this session's, else the last order's."""
        bought = _since_last_purchase(recent, "purchase")
        if bought or visitor.customer_id is None:
            return bought
        with self.engine.connect() as conn:
            last = conn.execute(
                select(Order.id)
                .where(Order.customer_id == visitor.customer_id, Order.status != "cancelled")
                .order_by(Order.created_at.desc(), Order.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if last is None:
                return []
            products = conn.execute(
                select(OrderItem.product_id).where(OrderItem.order_id == last).distinct()
            ).scalars()
            return [p for p in products if p in self.service.catalog]


def _since_last_purchase(recent: Sequence[LiveEvent], kind: str) -> list[str]:
    """Products of `kind` events (newest first, once each): for `add_to_cart`, those after the
    last purchase (the cart); for `purchase`, the last checkout's."""
    found: list[str] = []
    last_purchase: float | None = None
    for event in recent:
        if event.kind == "purchase":
            if kind != "purchase":
                break
            if last_purchase is None:
                last_purchase = event.at
            elif last_purchase - event.at > _SAME_CHECKOUT_S:
                break
        if event.kind == kind and event.product_id not in found:
            found.append(event.product_id)
    return found
