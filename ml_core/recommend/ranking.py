"""Ranking: blend the candidate generators, then apply the rules a retailer sets, with reasons.

Generators (vector retrieval, item-item neighbours, popularity, bought-together) each propose
items with a score on their own scale. Each generator's scores are min-max scaled to [0, 1]
(its best candidate scores 1), multiplied by the generator's weight and summed per item, so no
generator dominates just because its raw scores are larger. The rules then run, in this order:
- drop what may not be shown: unknown to the catalogue, excluded by the caller (what the customer
  bought recently, what they are looking at), in an excluded category, or, with
  `in_stock_only`, out of stock both at the shopper's store and online;
- add the boosts: `margin_boost` x margin rate (0-1) and `clearance_boost` for clearance items,
  on the same scale as one generator's range;
- sort by score (ties by item id, so equal inputs give equal lists), and keep at most
  `max_per_category` items of one category while filling the top k.
Every item keeps the reason of the generator that contributed most to its score, with
"on clearance" added when the clearance boost counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["vector", "item_item", "popular", "bought_together"]

# What a shopper's action says in a reason; the keys are the store's event kinds.
_ACTION_PHRASES: dict[str, str] = {
    "view": "because you viewed {}",
    "add_to_cart": "because you added {} to your cart",
    "purchase": "because you bought {}",
    # An order not yet processed is not bought yet.
    "order": "because you ordered {}",
}
# The same actions told to a person serving the customer, an associate: about the customer,
# not addressed to them ("Olivia viewed ..." where the shopper reads "because you viewed ...").
_ABOUT_PHRASES: dict[str, str] = {
    "view": "{who} viewed {item}",
    "add_to_cart": "{who} added {item} to the cart",
    "purchase": "{who} bought {item}",
    "order": "{who} ordered {item}",
}
ORDERED = "order"
# The reason of a personalised pick that names no product: none of the shopper's actions is on
# a product related to it (`RecommendationService._related`).
PICKED = "picked for you"


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """What ranking and the index need to know about one product, as the store has it now.

    `price` is the lowest price of the variants on sale (0 when none is), `price_range` their
    lowest and highest (None when none is). `in_stock` holds the physical stores with sellable
    units (on hand minus reserved); `online` says the online channel has some. `margin` is the
    mean margin rate of the variants with a known cost, 0 when none is known; `clearance` is
    true when a variant's latest price change is a markdown.
    """

    item_id: str
    name: str
    category_id: str | None
    category: str
    brand: str | None
    price: float
    margin: float
    clearance: bool
    in_stock: frozenset[str]
    online: bool
    description: str = ""
    price_range: tuple[float, float] | None = None

    def available(self, location_id: str | None) -> bool:
        """Buyable by a shopper at `location_id` (a store) or online."""
        return self.online or (location_id is not None and location_id in self.in_stock)

    @property
    def text(self) -> str:
        """What a text embedding of the item reads: name, category and description."""
        return f"{self.name}. {self.category}. {self.description}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generator's proposal: an item, the generator's own score, and why."""

    item_id: str
    score: float
    source: Source
    reason: str


class GeneratorWeights(BaseModel):
    """How much each candidate generator counts in the blend (0 switches one off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vector: float = Field(
        default=1.0, ge=0, description="Vector retrieval on the shopper's profile."
    )
    item_item: float = Field(
        default=1.0, ge=0, description="Neighbours of the items just looked at."
    )
    popular: float = Field(default=0.3, ge=0, description="Popular items: the fill.")
    bought_together: float = Field(
        default=1.0, ge=0, description="Bought with the item (complete the look)."
    )


class RankingRules(BaseModel):
    """The business rules a retailer sets for one list of recommendations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: GeneratorWeights = GeneratorWeights()
    in_stock_only: bool = Field(
        default=True, description="Only items in stock at the shopper's store or online."
    )
    max_per_category: int | None = Field(
        default=3,
        ge=1,
        description="At most this many items of one category in the list; None: no cap.",
    )
    margin_boost: float = Field(
        default=0.0, ge=0, description="Added per unit of margin rate (0-1)."
    )
    clearance_boost: float = Field(default=0.0, ge=0, description="Added to items on clearance.")
    exclude_purchased_days: int = Field(
        default=30,
        ge=0,
        description="Leave out what the customer bought in this many days; 0: keep.",
    )
    exclude_categories: frozenset[str] = Field(
        default=frozenset(), description="Category ids never to recommend."
    )


class RankedItem(BaseModel):
    """One recommended item: its blended score, a short reason, and the generator behind it."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    score: float
    reason: str
    source: Source


def because(
    kind: str, name: str, *, about: str | None = None, age_days: float | None = None
) -> str:
    """The reason an action on the item `name` gives: "because you viewed ..." to the shopper;
    told `about` a customer to someone serving them, "Olivia viewed ... last week" (with the
    action's age in days, when known)."""
    if about is None:
        return _ACTION_PHRASES.get(kind, "because you looked at {}").format(name)
    said = _ABOUT_PHRASES.get(kind, "{who} looked at {item}").format(who=about, item=name)
    when = ago(age_days)
    return f"{said} {when}" if when else said


def picked(about: str | None = None) -> str:
    """The reason of a personal pick that names no product (`PICKED`), to whom it is told."""
    return PICKED if about is None else f"picked for {about}"


def ago(age_days: float | None) -> str:
    """How long ago, as a person says it: "today", "3 days ago", "last month"; "" unknown."""
    if age_days is None:
        return ""
    days = int(max(age_days, 0.0))
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    if days < 14:
        return "last week"
    if days < 31:
        return f"{days // 7} weeks ago"
    if days < 62:
        return "last month"
    if days < 365:
        return f"{days // 30} months ago"
    return "over a year ago"


def popular_reason(item: CatalogItem) -> str:
    return f"popular in {item.category}"


def rank(
    candidates: Iterable[Candidate],
    catalog: Mapping[str, CatalogItem],
    rules: RankingRules,
    *,
    k: int,
    location_id: str | None,
    exclude: Collection[str] = (),
) -> list[RankedItem]:
    """The top `k` items by the rules in the module docstring (fewer when too few qualify)."""
    by_source: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_source[candidate.source].append(candidate)
    blended: dict[str, float] = defaultdict(float)
    best: dict[str, tuple[float, Candidate]] = {}
    for source, group in by_source.items():
        weight = getattr(rules.weights, source)
        low = min(c.score for c in group)
        span = max(c.score for c in group) - low
        for candidate in group:
            scaled = (candidate.score - low) / span if span > 0 else 1.0
            contribution = weight * scaled
            blended[candidate.item_id] += contribution
            held = best.get(candidate.item_id)
            if held is None or contribution > held[0]:
                best[candidate.item_id] = (contribution, candidate)

    scored: list[tuple[float, str]] = []
    for item_id, score in blended.items():
        item = catalog.get(item_id)
        if (
            item is None
            or item_id in exclude
            or item.category_id in rules.exclude_categories
            or (rules.in_stock_only and not item.available(location_id))
        ):
            continue
        score += rules.margin_boost * item.margin
        if item.clearance:
            score += rules.clearance_boost
        scored.append((score, item_id))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))

    ranked: list[RankedItem] = []
    per_category: Counter[str | None] = Counter()
    for score, item_id in scored:
        item = catalog[item_id]
        if rules.max_per_category is not None:
            if per_category[item.category_id] >= rules.max_per_category:
                continue
            per_category[item.category_id] += 1
        winner = best[item_id][1]
        reason = winner.reason
        if item.clearance and rules.clearance_boost > 0:
            reason = f"{reason}; on clearance"
        ranked.append(
            RankedItem(item_id=item_id, score=round(score, 6), reason=reason, source=winner.source)
        )
        if len(ranked) == k:
            break
    return ranked
