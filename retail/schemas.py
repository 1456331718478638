"""Read models of the retail domain: what the API returns and what tools will hand to agents.

These are plain pydantic models with no web framework in them, so that `api/` serves them as
response models and `tools/` reuses them as tool outputs; both then describe a product the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# What a page or an answer says about stock, decided once (`catalog_queries.stock_status`): a
# SKU no location keeps stock records for is "not_tracked", never "in_stock"; one tracked
# elsewhere but not stocked by the asked store at all is "not_carried", never "out_of_stock".
StockStatus = Literal["in_stock", "out_of_stock", "not_tracked", "not_carried"]


def review_rating(ratings: Sequence[float]) -> float | None:
    """A product's rating, one rule for every source: the mean of the reviews the store holds
    (two places), None without any. A card then shows "Rated 2.67 from 3 reviews" beside the
    3 reviews it can list; a source's own overall figure (DummyJSON's, of reviews it does not
    ship) is kept in the product's attributes as `source_rating`, never shown as the rating.
    Migration 0014 applied the same rule to products stored before it."""
    return round(sum(ratings) / len(ratings), 2) if ratings else None


class _ReadModel(BaseModel):
    # Read models are snapshots: immutable, and a typo in a field name is an error, not a new field.
    model_config = ConfigDict(frozen=True, extra="forbid")


class StockAtLocation(_ReadModel):
    """The stock of one variant at one location."""

    location_id: str
    location_name: str
    on_hand: int = Field(description="Units physically at the location.")
    available_to_sell: int = Field(
        description="On hand less units reserved for open orders, never below zero."
    )


class VariantPublic(_ReadModel):
    """A sellable SKU of a product."""

    id: str
    options: dict[str, Any] = Field(description="Size, colour, material, ... of this SKU.")
    price: float
    available: bool = Field(description="Whether the SKU is offered for sale at all.")
    in_stock: bool = Field(
        description=(
            "Available, and, where stock is tracked for the SKU, some location (the requested "
            "store when one is given) has units available to sell. An untracked SKU passes "
            "this test (it is offered, and nothing says it is sold out); `stock_status` says which."
        )
    )
    stock_status: StockStatus = Field(
        description="What to tell a person: in_stock, out_of_stock, not_tracked when no "
        "location keeps stock records for the SKU, or not_carried when the requested store "
        "keeps none for it (it does not stock the SKU)."
    )


class VariantDetail(VariantPublic):
    """A variant with its stock at every location that tracks it."""

    stock: list[StockAtLocation] = Field(
        default_factory=list,
        description="One entry per location holding an inventory record; empty when untracked.",
    )
    list_price: float | None = Field(
        default=None,
        description="When the SKU is on sale (a markdown is in force today): its list price "
        "before the markdown; None when it sells at its list price.",
    )


class ProductSummary(_ReadModel):
    """A product as it appears in a listing."""

    id: str
    name: str
    category_id: str | None
    category_name: str | None
    brand_id: str | None
    brand_name: str | None
    price_min: float | None = Field(description="Lowest variant price; null without variants.")
    price_max: float | None = Field(description="Highest variant price; null without variants.")
    rating: float | None = Field(
        description="Mean of the product's reviews held here (review_count of them); null "
        "without reviews."
    )
    review_count: int
    in_stock: bool = Field(description="Whether any variant is in stock.")
    stock_status: StockStatus = Field(
        description="in_stock when a variant is; not_tracked when no variant's stock is "
        "tracked; not_carried when the requested store stocks none of them; else out_of_stock."
    )
    source: str = Field(description="The data set the product came from.")


class ReviewPublic(_ReadModel):
    id: str
    rating: int
    title: str | None
    body: str
    author: str | None
    created_at: dt.datetime | None


class ReviewsSummary(_ReadModel):
    """What the reviews stored for a product say, in aggregate, with the latest few."""

    count: int
    average_rating: float | None
    distribution: dict[str, int] = Field(
        description='Number of reviews per star rating, keys "1" to "5".'
    )
    recent: list[ReviewPublic] = Field(description="The most recent reviews, newest first.")


class ProductPublic(ProductSummary):
    """Everything a shopper may be told about a product."""

    description: str
    materials: str | None
    care: str | None
    size_guide: str | None
    attributes: dict[str, Any]
    launched_on: dt.date | None
    variants: list[VariantDetail]
    reviews: ReviewsSummary


class PolicyPage(_ReadModel):
    """A store policy or FAQ page, as the store publishes it (markdown)."""

    id: str
    title: str
    body: str


class Page(_ReadModel, Generic[T]):
    """One page of a listing and where the next one starts."""

    items: list[T]
    total: int = Field(description="Number of items matching the query across all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")

    @classmethod
    def of(cls, items: Sequence[T], *, total: int, limit: int, offset: int) -> Page[T]:
        end = offset + len(items)
        return cls(
            items=list(items),
            total=total,
            limit=limit,
            offset=offset,
            next_offset=end if end < total else None,
        )


class FeedBatchPublic(BaseModel):
    """One feed file received (`aisle data load`): accepted and applied, or quarantined."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["sales", "inventory", "catalog"]
    status: Literal["accepted", "quarantined"]
    reason: str | None = Field(description="Why it was quarantined, in one sentence.")
    file_name: str
    content_hash: str = Field(description="SHA-256 of the file's bytes.")
    rows_read: int
    rows_applied: int = Field(description="Rows written to the store (0 when quarantined).")
    first_day: dt.date | None = Field(description="The earliest date its rows carry.")
    last_day: dt.date | None
    received_at: dt.datetime
    loaded_by: str
    kept_at: str | None = Field(description="Where a quarantined file is kept, as it arrived.")
