"""Catalogue tools for shoppers and associates: search, one product in full, a comparison.

Search takes a typed `ProductQuery`: its constraints filter (product type, brand, price, colour
family, size, gender, features, exclusions, stock; price, colour, size and stock on one and the
same SKU), the RAG index (dense MiniLM + BM25 over product pages, pre-filtered on the types)
ranks the survivors by relevance to the query's text unless a sort is asked, and the result
says how many products match exactly. When none does, it offers the closest products of the
same type and names the constraints it left out: it never pads a list with another product type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from rag.documents import SKIPPED_ATTRIBUTES
from rag.retrieve import parse_filters
from retail.catalog_queries import (
    CatalogueSearch,
    ProductMatch,
    category_and_descendants,
    find_products,
    first_image,
    get_product,
    price_range,
    resolve_categories,
    resolve_identifiers,
    search_catalogue,
)
from retail.product_query import ProductQuery, size_order
from retail.schemas import ProductPublic, StockStatus, VariantPublic
from retail.store.models import Category, Product
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
    stock_status: StockStatus = Field(
        description="in_stock, out_of_stock, not_tracked when no SKU's stock is recorded, or "
        "not_carried when the store asked about stocks none of its SKUs."
    )
    snippet: str = Field(description="The start of the product's description.")
    image: str | None = Field(
        default=None,
        description="The product's first image URL, on the cards a page shows (`product_cards`); "
        "tool results leave it out, since a model reading them has no use for URLs.",
    )


class SearchResults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: ProductQuery = Field(description="The query as applied (product types as ids).")
    total_matches: int = Field(description="How many products meet every constraint.")
    relaxed: list[str] = Field(
        description="Empty when the products shown meet every constraint. When none does: "
        "the constraints left out to find the closest products shown (colours, sizes, "
        "features, exclude, gender, brands, price, in_stock_only)."
    )
    misses: dict[str, list[str]] = Field(
        default_factory=dict,
        description="With `relaxed`: for each product shown, the constraints of `relaxed` it "
        "does not meet (a product may meet some of them).",
    )
    retrieval: Literal["hybrid", "filters"] = Field(
        description="hybrid: ranked by relevance to the text; filters: by the sort asked."
    )
    products: list[ProductCard]
    nearest_kinds: list[str] = Field(
        default_factory=list,
        description="When the request is near no product type enough to search: the names of "
        "the categories nearest it in meaning, to offer rather than guess.",
    )
    uncompared: str | None = Field(
        default=None,
        description='A comparative asked ("lighter") that the products compared against state '
        "no measure for: the products are not compared.",
    )
    retyped: bool = Field(
        default=False,
        description="True when the product types searched are not the ones asked for: a long "
        "message's named types were words in passing, and its meaning chose others.",
    )


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


def card(match: ProductMatch, *, narrowed: bool = False, **extra: Any) -> dict[str, Any]:
    """The fields of a `ProductCard` for one search match (plus `extra` for a subclass).
    `narrowed`: the request asked for SKUs by price, colour or size, and the card describes the
    SKUs that answer it; else every SKU sold, so that a product's price range is the same
    wherever it is shown."""
    summary = match.summary
    chosen = (match.matching if narrowed else None) or [v for v in match.variants if v.available]
    low, high = price_range(chosen)
    return {
        "product_id": summary.id,
        "name": summary.name,
        "brand": summary.brand_name,
        "category": summary.category_name,
        "price_min": low,
        "price_max": high,
        "colours": _option_values(chosen, "color"),
        "sizes": _option_values(chosen, "size"),
        "rating": summary.rating,
        "review_count": summary.review_count,
        "in_stock": summary.in_stock,
        "stock_status": summary.stock_status,
        "snippet": snippet(match.description),
        **extra,
    }


def listed_cards(output: Mapping[str, Any]) -> list[ProductCard]:
    """The product cards a tool's output lists: the items of its top-level lists that are a
    `ProductCard` or a subclass of one (search results, a comparison, recommendations)."""
    fields = ProductCard.model_fields.keys()
    return [
        ProductCard.model_validate({k: v for k, v in item.items() if k in fields})
        for value in output.values()
        if isinstance(value, list)
        for item in value
        if isinstance(item, dict) and fields - {"image"} <= item.keys()
    ]


def product_cards(
    engine: Engine, product_ids: Sequence[str], *, listed: Iterable[ProductCard] = ()
) -> list[ProductCard]:
    """The cards a page shows for these products, in the order given (unknown ids left out),
    with their images. A product a tool `listed` keeps that card's prices, colours, sizes and
    stock, which are what the answer quoted; the others are read whole. At most three SQL
    statements."""
    if not product_ids:
        return []
    shown: dict[str, ProductCard] = {}
    for listed_card in listed:
        shown.setdefault(listed_card.product_id, listed_card)
    wanted = list(dict.fromkeys(product_ids))
    unlisted = [p for p in wanted if p not in shown]
    with Session(engine) as session:
        if unlisted:
            found = find_products(session, ids=unlisted, limit=len(unlisted))
            shown.update((m.summary.id, ProductCard(**card(m))) for m in found)
        attributes = {
            row.id: row.attributes
            for row in session.execute(
                select(Product.id, Product.attributes).where(Product.id.in_(wanted))
            )
        }
    return [
        shown[p].model_copy(update={"image": first_image(attributes.get(p) or {})})
        for p in wanted
        if p in shown
    ]


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
    values = list(
        dict.fromkeys(str(v.options[key]) for v in variants if v.options.get(key) not in (None, ""))
    )
    return sorted(values, key=size_order) if key == "size" else values


# A request naming no product type takes the type nearest it in meaning (MiniLM cosine): the
# nearest product page or review must be at least this close (unrelated requests score
# 0.29-0.36 on the demo world, the descriptive ones that name a type in other words 0.40-0.63).
# Each category then scores the mean of its best few pages and reviews among the nearest, so
# that one page close by chance outvotes no category whose products and reviews say the use
# ("keep the drinks icy at the beach": reviews of coolers); those within the margin of the best
# count too. On the dev halves' requests that name no type, 40 of 47 types right against 37
# for the nearest page alone.
TYPE_NEIGHBOURS = 30
TYPE_VOTES = 3
TYPE_SIMILARITY = 0.38
TYPE_MARGIN = 0.005
# Categories whose names are this close in meaning (MiniLM cosine) sell the same kind of thing
# in two catalogues, and one is searched with the other: Sunglasses and Sunglasses 1.0, Electric
# Kettle and Tea Kettle 0.81, Fragrances and Perfume 0.79, Fleece & Midlayers and Fleece Jacket
# 0.76 on the demo world; Laptop and Notebook 0.74, Hiking Pants and Hiking Boots 0.73 stay apart.
SAME_KIND = 0.75
# Kinds offered when a request is near none enough to search.
NEAREST_KINDS = 3
# A message this long says more than a type, and its type words are checked against its
# meaning: they stand when one of their categories' votes is within this margin of the best
# ("kit for working out in my living room": makeup kit 0.30, resistance bands 0.37).
LONG_REQUEST_WORDS = 8
FOCUS_MARGIN = 0.05
# What a search leaves out, one at a time in this order, to find the closest products when
# none meets every constraint: the details first, who it is for late (boots for a husband are
# not closest in a women's cut), the product type never.
RELAXATIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("colours", {"colours": []}),
    ("sizes", {"sizes": []}),
    ("features", {"features": []}),
    ("exclude", {"exclude": []}),
    ("brands", {"brands": []}),
    ("price", {"min_price": None, "max_price": None}),
    ("gender", {"gender": None}),
    ("in_stock_only", {"in_stock_only": False}),
)


@tool(roles=CATALOG_ROLES)
def search_products(ctx: ToolContext, *, query: ProductQuery) -> SearchResults:
    """Search the catalogue: product types (categories), brands, colours, sizes, gender,
    features, exclusions, a price range, stock at a store, and a sort (cheapest, best rated,
    newest); returns how many products match exactly and their cards. When none does, the
    closest products of the same type and which constraints were left out. Use it whenever the
    shopper looks for products."""
    if (
        query.min_price is not None
        and query.max_price is not None
        and query.min_price > query.max_price
    ):
        raise invalid(
            f"The lowest price ({query.min_price:g}) is above the highest ({query.max_price:g})."
        )
    text = query.text.strip()
    with Session(ctx.engine) as session:
        if query.store_id is not None:
            check_store(session, query.store_id)
        category_ids = resolve_categories(session, *query.categories)
        unplaced = retyped = False
        if not category_ids and not query.brands and not query.kinds and text:
            category_ids = _closest_types(ctx, session, text)
            # Nothing in the catalogue is near what was asked ("a kayak" in an outdoor and
            # gadget shop): listing every product under its price or size would pass other
            # products off as an answer.
            unplaced = not category_ids
        elif category_ids and len(text.split()) >= LONG_REQUEST_WORDS:
            named, category_ids = category_ids, _types_in_focus(ctx, session, text, category_ids)
            retyped = category_ids != named
        applied = query.model_copy(update={"text": text, "categories": category_ids})
        if unplaced:
            return SearchResults(
                query=applied,
                total_matches=0,
                relaxed=[],
                retrieval="hybrid",
                products=[],
                nearest_kinds=_nearest_kinds(ctx, session, text),
            )
        ranked: list[str] | None = None
        if text:
            where = {"doc_type": "product", "category": ",".join(category_ids)}
            hits = rag_retriever(ctx).search(
                text, k=CANDIDATES, filters=parse_filters({k: v for k, v in where.items() if v})
            )
            ranked = [h.product_id for h in hits if h.product_id]
        found = search_catalogue(session, applied, ranked=ranked)
        uncompared = None
        if applied.beyond is not None:
            # The measure compared on and the bound, for the answer ("lighter than 1.0 kg");
            # products that state none of its measures cannot be compared, and the answer says.
            uncompared = None if found.beyond is not None else applied.beyond.word
            applied = applied.model_copy(update={"beyond": found.beyond})
        relaxed: list[str] = []
        misses: dict[str, list[str]] = {}
        # A comparative with nothing past it ("cheaper" than the cheapest tent) is answered as
        # such: the closest products would be the ones just shown, or dearer, heavier ones.
        if not found.total and category_ids and found.beyond is None:
            found, relaxed = _closest(session, applied, ranked)
            shown = [m.summary.id for m in found.matches]
            misses = _misses(session, applied, relaxed, shown) if relaxed else {}
    return SearchResults(
        query=applied,
        uncompared=uncompared,
        retyped=retyped,
        total_matches=0 if relaxed else found.total,
        relaxed=relaxed,
        misses=misses,
        retrieval="hybrid" if text and applied.sort == "relevance" else "filters",
        products=[ProductCard(**card(m, narrowed=_narrows_skus(applied))) for m in found.matches],
    )


def _narrows_skus(query: ProductQuery) -> bool:
    """Whether a query asks for some SKUs of a product rather than others: by price, colour or
    size, or by a feature or exclusion that some SKU holds as an option ("2p" of a tent sold as
    1P and 2P: the card's prices are the 2P's)."""
    return bool(
        query.colours
        or query.sizes
        or query.features
        or query.exclude
        or query.min_price is not None
        or query.max_price is not None
    )


def _closest_types(ctx: ToolContext, session: Session, text: str) -> list[str]:
    """The product types a request that names none means ("something to sleep in when
    camping"): the category its products and their reviews put nearest in meaning, and any
    nearly as near; none when nothing is close (a pogo stick in an outdoor shop)."""
    votes = _type_votes(ctx, session, text)
    if not votes or max(nearest for _, _, nearest in votes) < TYPE_SIMILARITY:
        return []
    best = votes[0][1]
    return _with_twins(ctx, session, [c for c, v, _ in votes if v >= best - TYPE_MARGIN])


def _nearest_kinds(ctx: ToolContext, session: Session, text: str) -> list[str]:
    """The names of the few categories nearest a request that is near none enough to search
    ("esky for a road trip"): what the shopper may have meant, offered instead of a guess."""
    top = [c for c, _, _ in _type_votes(ctx, session, text)[:NEAREST_KINDS]]
    names = dict(
        session.execute(select(Category.id, Category.name).where(Category.id.in_(top))).all()
    )
    return [names[c] for c in top if c in names]


@dataclass(frozen=True, slots=True)
class _CategoryNames:
    """The names of the categories that hold products, embedded (unit rows, in `ids` order)."""

    ids: tuple[str, ...]
    vectors: np.ndarray


def _category_names(ctx: ToolContext, session: Session) -> _CategoryNames:
    """The catalogue's category names, embedded once per process for each set of names (an
    import or a new category makes a new set)."""
    rows = session.execute(
        select(Category.id, Category.name)
        .where(Category.id.in_(select(Product.category_id).distinct()))
        .order_by(Category.id)
    ).all()
    digest = hashlib.sha256("\n".join(f"{i}\t{n}" for i, n in rows).encode()).hexdigest()

    def build() -> _CategoryNames:
        vectors = (
            rag_retriever(ctx).encode([name for _, name in rows]) if rows else np.zeros((0, 1))
        )
        return _CategoryNames(tuple(i for i, _ in rows), _unit_rows(vectors))

    names: _CategoryNames = ctx.services.cached(f"catalog.category_names:{digest}", build)
    return names


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float32))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _with_twins(ctx: ToolContext, session: Session, category_ids: list[str]) -> list[str]:
    """`category_ids` and the categories that sell the same kind of thing under a name as
    close in meaning (`SAME_KIND`), in another catalogue's taxonomy."""
    names = _category_names(ctx, session)
    rows = [names.ids.index(c) for c in category_ids if c in names.ids]
    if not rows:
        return category_ids
    close = (names.vectors[rows] @ names.vectors.T).max(axis=0) >= SAME_KIND
    twins = [c for c, near in zip(names.ids, close, strict=True) if near]
    return list(dict.fromkeys([*category_ids, *twins]))


def _type_votes(ctx: ToolContext, session: Session, text: str) -> list[tuple[str, float, float]]:
    """Categories by their vote for `text`, best first: (id, the mean of its best few pages and
    reviews among the nearest, its best one)."""
    retriever = rag_retriever(ctx)
    vector = retriever.encode([text])[0]
    hits = [
        hit
        for doc_type in ("product", "review")
        for hit in retriever.search(
            text,
            k=TYPE_NEIGHBOURS,
            mode="dense",
            filters=parse_filters({"doc_type": doc_type}),
            query_vector=vector,
        )
        if hit.product_id
    ]
    ids = {h.product_id for h in hits if h.product_id}
    category_of = dict(
        session.execute(select(Product.id, Product.category_id).where(Product.id.in_(ids))).all()
    )
    scores: dict[str, list[float]] = {}
    for hit in sorted(hits, key=lambda h: -h.score):
        category = category_of.get(hit.product_id) if hit.product_id else None
        if category is not None:
            scores.setdefault(category, []).append(hit.score)
    votes = [(c, sum(s[:TYPE_VOTES]) / len(s[:TYPE_VOTES]), s[0]) for c, s in scores.items()]
    return sorted(votes, key=lambda vote: -vote[1])


def _types_in_focus(
    ctx: ToolContext, session: Session, text: str, category_ids: list[str]
) -> list[str]:
    """The types a message that says more than a type is about. A story names things in
    passing ("he doesn't care about fashion" is no skin care; "kit for working out in my living
    room" is no makeup kit): when the whole message's meaning votes for none of the named types
    nearly as much as for another, that one is what it asks for."""
    votes = _type_votes(ctx, session, text)
    if not votes or max(nearest for _, _, nearest in votes) < TYPE_SIMILARITY:
        return category_ids
    named = set(session.scalars(category_and_descendants(*category_ids)))
    twins = set(_with_twins(ctx, session, sorted(named)))
    best = votes[0][1]
    if any(v >= best - FOCUS_MARGIN for c, v, _ in votes if c in twins):
        # The named type stands, with its twins the message's meaning puts first ("men's navy
        # fleece in a large, under 100": Fleece Jacket's page is the nearest of all).
        top = [c for c, v, _ in votes if v >= best - TYPE_MARGIN and c in twins - named]
        return list(dict.fromkeys([*category_ids, *top]))
    return [c for c, v, _ in votes if v >= best - TYPE_MARGIN]


def _closest(
    session: Session, query: ProductQuery, ranked: list[str] | None
) -> tuple[CatalogueSearch, list[str]]:
    """The closest products of the query's own types: leave out one constraint, in the order of
    `RELAXATIONS`, then all of them; nothing of another type is ever offered."""
    for name, change in RELAXATIONS:
        if all(getattr(query, k) == v for k, v in change.items()):
            continue
        if name == "price" and query.sort == "relevance":
            # The closest to a budget are the cheapest above it (the dearest below a floor).
            change = {
                **change,
                "sort": "price_asc" if query.max_price is not None else "price_desc",
            }
        found = search_catalogue(session, query.model_copy(update=change), ranked=ranked)
        if found.total:
            return found, [name]
    # Then all of them but the budget, and only then the budget too: a shopper who said "under
    # $400" is shown what fits it before anything dearer, and the cheapest above it first.
    for kept in (("price",), ()):
        if kept and query.min_price is None and query.max_price is None:
            continue
        relaxations = [(n, c) for n, c in RELAXATIONS if n not in kept]
        everything = {k: v for _, change in relaxations for k, v in change.items()}
        if not kept and query.max_price is not None and query.sort == "relevance":
            everything["sort"] = "price_asc"
        dropped = [
            name
            for name, change in relaxations
            if any(getattr(query, k) != v for k, v in change.items())
        ]
        found = search_catalogue(session, query.model_copy(update=everything), ranked=ranked)
        if found.total:
            return found, dropped
    return found, []


def _misses(
    session: Session, query: ProductQuery, relaxed: list[str], shown: list[str]
) -> dict[str, list[str]]:
    """Which of the `relaxed` constraints each shown product fails: a product shown once every
    constraint was left out may still meet some of them (the size asked, in stock)."""
    if len(relaxed) < 2:
        return {pid: list(relaxed) for pid in shown}
    changes = dict(RELAXATIONS)
    misses: dict[str, list[str]] = {pid: [] for pid in shown}
    for name in relaxed:
        others = {k: v for r in relaxed if r != name for k, v in changes[r].items()}
        # The shown products ranked first, so that the page holds every one that meets it.
        alone = query.model_copy(update={**others, "sort": "relevance", "limit": len(shown)})
        meets = {m.summary.id for m in search_catalogue(session, alone, ranked=shown).matches}
        for pid in shown:
            if pid not in meets:
                misses[pid].append(name)
    return misses


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


MAX_LOOKUP_IDS = 20


class IdentifierMatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="An identifier as asked.")
    product_id: str
    sku: str | None = Field(description="The SKU it named, when it named one; null: the product.")


class ProductLookup(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    products: list[ProductPublic] = Field(description="Each product named, once, in full.")
    matches: list[IdentifierMatch] = Field(description="What each identifier found named.")
    missing: list[str] = Field(description="Identifiers that name no product and no SKU.")


@tool(roles=CATALOG_ROLES)
def lookup_products(
    ctx: ToolContext,
    *,
    ids: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=MAX_LOOKUP_IDS,
            description=f"Product ids or SKUs, 1 to {MAX_LOOKUP_IDS}.",
        ),
    ],
) -> ProductLookup:
    """Look products up by product id or by SKU (a variant's id): each product once, in full,
    with what each identifier named (the product, or one of its SKUs); identifiers that name
    nothing are listed as missing."""
    with Session(ctx.engine) as session:
        named = resolve_identifiers(session, ids)
        products = [get_product(session, p) for p in dict.fromkeys(p for p, _ in named.values())]
    return ProductLookup(
        products=products,
        matches=[IdentifierMatch(id=i, product_id=p, sku=sku) for i, (p, sku) in named.items()],
        missing=[i for i in dict.fromkeys(ids) if i not in named],
    )


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
