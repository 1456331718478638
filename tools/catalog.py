"""Catalogue tools for shoppers and associates: search, one product in full, a comparison.

Search is hybrid: the RAG index (dense MiniLM + BM25 over product pages, pre-filtered on
category, brand, colour and size) ranks the candidates, and one SQL statement keeps those that
meet every filter exactly, on one and the same variant and against live prices and stock ("blue,
size M, under $150, in stock at S001" is one SKU that is all four). Without a query the filters
alone list products, best rated first. A search costs one query embedding, one index lookup and
a fixed handful of SQL statements whatever `limit` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.documents import SKIPPED_ATTRIBUTES
from rag.retrieve import parse_filters
from retail.catalog_queries import (
    ProductMatch,
    find_products,
    get_product,
    resolve_brands,
    resolve_categories,
)
from retail.schemas import ProductPublic, VariantPublic
from retail.store.models import Product
from tools.base import Role, ToolContext, invalid, not_found, tool
from tools.inventory import check_store
from tools.knowledge import rag_retriever

CATALOG_ROLES: list[Role] = ["shopper", "associate", "evaluator"]
# Product documents the index hands to the exact filters: deep enough that a page of results
# survives the price and stock checks, small enough to hydrate in one statement.
CANDIDATES = 50
SNIPPET_CHARS = 160


class ProductCard(BaseModel):
    """A product as a result list shows it. Prices, colours and sizes describe the SKUs that
    answer the request (all its SKUs when nothing narrowed them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str
    name: str
    brand: str | None
    category: str | None
    price_min: float | None
    price_max: float | None
    colours: list[str]
    sizes: list[str]
    rating: float | None
    review_count: int
    in_stock: bool = Field(description="Some SKU is in stock (at the store, when one was given).")
    snippet: str = Field(description="The start of the product's description.")


class SearchResults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    filters: dict[str, Any] = Field(description="The filters applied, as given.")
    store_id: str | None
    retrieval: Literal["hybrid", "filters"] = Field(
        description="hybrid: ranked by relevance to the query; filters: best rated first."
    )
    products: list[ProductCard]


class ComparedProduct(ProductCard):
    materials: str | None
    attributes: dict[str, Any] = Field(description="Descriptive attributes (waterproof, fit...).")
    variant_count: int


class Comparison(BaseModel):
    """Products side by side, in the order asked, with the plain facts a comparison leads with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    products: list[ComparedProduct]
    cheapest: str = Field(description="Product id with the lowest price.")
    best_rated: str | None = Field(description="Product id with the highest rating, if rated.")
    shared_attributes: dict[str, Any] = Field(
        description="Attributes all the products have with the same value."
    )


def card(match: ProductMatch, **extra: Any) -> dict[str, Any]:
    """The fields of a `ProductCard` for one search match (plus `extra` for a subclass)."""
    summary = match.summary
    chosen = match.matching or match.variants
    prices = [v.price for v in chosen]
    return {
        "product_id": summary.id,
        "name": summary.name,
        "brand": summary.brand_name,
        "category": summary.category_name,
        "price_min": min(prices) if prices else None,
        "price_max": max(prices) if prices else None,
        "colours": _option_values(chosen, "color"),
        "sizes": _option_values(chosen, "size"),
        "rating": summary.rating,
        "review_count": summary.review_count,
        "in_stock": summary.in_stock,
        "snippet": snippet(match.description),
        **extra,
    }


def product_cards(
    session: Session, product_ids: Sequence[str], *, store_id: str | None = None
) -> dict[str, ProductCard]:
    """Cards of the products that exist among `product_ids` (two SQL statements)."""
    found = find_products(session, ids=product_ids, store_id=store_id, limit=len(product_ids))
    return {m.summary.id: ProductCard(**card(m)) for m in found}


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first sentence of `text`, or its first `limit` characters cut at a word."""
    text = " ".join(text.split())
    end = text.find(". ")
    if 0 < end < limit:
        return text[: end + 1]
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _option_values(variants: Sequence[VariantPublic], key: str) -> list[str]:
    values = (str(v.options[key]) for v in variants if v.options.get(key) not in (None, ""))
    return list(dict.fromkeys(values))


@tool(roles=CATALOG_ROLES)
def search_products(
    ctx: ToolContext,
    *,
    query: Annotated[
        str,
        Field(
            max_length=300,
            description='What the shopper wants, in their words ("waterproof hiking jacket"); '
            "empty to list by the filters alone.",
        ),
    ] = "",
    category: Annotated[
        str | None, Field(description="A category name or id; its subcategories count.")
    ] = None,
    brand: Annotated[str | None, Field(description="A brand name or id.")] = None,
    colour: Annotated[str | None, Field(description="A colour, e.g. blue.")] = None,
    size: Annotated[str | None, Field(description="A size, e.g. M or 9.5.")] = None,
    min_price: Annotated[float | None, Field(ge=0, description="Lowest price, inclusive.")] = None,
    max_price: Annotated[float | None, Field(ge=0, description="Highest price, inclusive.")] = None,
    in_stock_only: Annotated[
        bool, Field(description="Only SKUs in stock (at the store, when one is given).")
    ] = True,
    store_id: Annotated[
        str | None, Field(description="Check stock at this store rather than anywhere.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=20, description="How many products.")] = 5,
) -> SearchResults:
    """Search the catalogue by a free-text query and/or filters (category, brand, colour,
    size, price range, in stock at a store); returns product cards with price range, colours,
    sizes, rating and stock. Use it whenever the shopper looks for products."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise invalid(f"min_price {min_price:g} is above max_price {max_price:g}.")
    filters = {
        "category": category,
        "brand": brand,
        "colour": colour,
        "size": size,
        "min_price": min_price,
        "max_price": max_price,
        "in_stock_only": in_stock_only,
    }
    text = query.strip()
    with Session(ctx.engine) as session:
        if store_id is not None:
            check_store(session, store_id)
        category_ids = resolve_categories(session, category) if category else None
        brand_ids = resolve_brands(session, brand) if brand else None
        ranked: list[str] | None = None
        if text:
            where = {
                "doc_type": "product",
                "category": ",".join(category_ids or ()),
                "brand": ",".join(brand_ids or ()),
                "colour": colour or "",
                "size": size or "",
            }
            hits = rag_retriever(ctx).search(
                text, k=CANDIDATES, filters=parse_filters({k: v for k, v in where.items() if v})
            )
            ranked = [h.product_id for h in hits if h.product_id]
        matches = find_products(
            session,
            ids=ranked,
            category_ids=category_ids,
            brand_ids=brand_ids,
            colour=colour,
            size=size,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock_only or None,
            store_id=store_id,
            limit=limit,
        )
    return SearchResults(
        query=text,
        filters={k: v for k, v in filters.items() if v is not None},
        store_id=store_id,
        retrieval="hybrid" if text else "filters",
        products=[ProductCard(**card(m)) for m in matches],
    )


@tool(roles=CATALOG_ROLES)
def product_details(
    ctx: ToolContext,
    *,
    product_id: Annotated[str, Field(min_length=1, description="The product's id.")],
) -> ProductPublic:
    """Everything about one product: its SKUs with options, prices and stock per location,
    description, materials, care, size guide, attributes, rating and the latest reviews."""
    with Session(ctx.engine) as session:
        return get_product(session, product_id)


@tool(roles=CATALOG_ROLES)
def compare_products(
    ctx: ToolContext,
    *,
    product_ids: Annotated[
        list[str], Field(min_length=2, max_length=4, description="2 to 4 product ids to compare.")
    ],
) -> Comparison:
    """Compare 2 to 4 products side by side: price range, rating, colours, sizes, materials and
    attributes, with the cheapest, the best rated and what they have in common."""
    if len(set(product_ids)) != len(product_ids):
        raise invalid("product_ids names a product twice.")
    with Session(ctx.engine) as session:
        matches = {
            m.summary.id: m for m in find_products(session, ids=product_ids, limit=len(product_ids))
        }
        missing = [p for p in product_ids if p not in matches]
        if missing:
            raise not_found(f"No product with id {', '.join(map(repr, missing))}.")
        extra = {
            row.id: row
            for row in session.execute(
                select(Product.id, Product.materials, Product.attributes).where(
                    Product.id.in_(product_ids)
                )
            )
        }
    products = [
        ComparedProduct(
            **card(
                matches[p],
                materials=extra[p].materials,
                attributes=_descriptive(extra[p].attributes or {}),
                variant_count=len(matches[p].variants),
            )
        )
        for p in product_ids
    ]
    priced = [p for p in products if p.price_min is not None]
    rated = [p for p in products if p.rating is not None]
    first, *rest = [p.attributes for p in products]
    return Comparison(
        products=products,
        cheapest=min(priced or products, key=lambda p: p.price_min or 0.0).product_id,
        best_rated=max(rated, key=lambda p: p.rating or 0.0).product_id if rated else None,
        shared_attributes={
            k: v for k, v in first.items() if all(other.get(k) == v for other in rest)
        },
    )


def _descriptive(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes a shopper compares on: plain values, none of the plumbing (image URLs, ids)."""
    return {
        k: v
        for k, v in attributes.items()
        if k not in SKIPPED_ATTRIBUTES and isinstance(v, str | int | float | bool)
    }
