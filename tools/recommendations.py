"""Recommendation tools: for the signed-in shopper, like a product, and what goes with it.

They answer from `ml_core.recommend.serving.RecommendationService` over the active recommender
version (loaded once per process through `ctx.services`) and from the knowledge graph's
complements. When no recommender has been trained, they say so in `source` and fall back to
what they can honestly offer: best sellers, or the graph's substitutes for "similar". The
shopper is always `ctx.principal.customer_id`, never an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from ml_core.recommend.serving import RecommendationService
from rag.graph import KnowledgeGraph, node_id
from retail.catalog_queries import find_products
from retail.errors import AisleError
from retail.store.models import Customer, Order, OrderItem, Product, Variant
from tools.base import Role, ToolContext, invalid, not_found, tool
from tools.catalog import ProductCard, card
from tools.inventory import check_store, knowledge_graph

RECOMMEND_ROLES: list[Role] = ["shopper", "associate", "evaluator"]
# Candidates asked of the recommender per recommendation wanted, so that those sold out since
# its catalogue snapshot was read can be dropped without leaving the list short.
STOCK_SPARE = 3
FALLBACK_NOTE = "No recommender has been trained yet: these are the best sellers."


class RecommendedProduct(ProductCard):
    reason: str = Field(description="Why it is suggested, in a few words.")
    source: str = Field(
        description="What suggested it: vector, item_item, popular, bought_together (the "
        "recommender), co_purchase, category_rule, accessory, same_category (the knowledge "
        "graph) or best_seller (the fallback)."
    )


class Recommendations(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(
        description="recommender, knowledge_graph, recommender+knowledge_graph, or "
        "popularity_fallback when no recommender has been trained."
    )
    model_version: str | None = Field(description="The recommender version used, if any.")
    product_id: str | None = Field(description="The product the suggestions relate to, if any.")
    customer_id: str | None = Field(
        default=None, description="The customer the suggestions are for, if any."
    )
    store_id: str | None = Field(description="Stock is that store's (or online), if given.")
    note: str | None = None
    items: list[RecommendedProduct]


def recommender(ctx: ToolContext) -> RecommendationService | None:
    """The process's recommendation service, or None while no recommender has been trained
    (not cached then, so a model trained later is picked up). It serves the registry's champion
    of the moment (a promote or rollback reaches it on the next call) over the catalogue as it
    stands (a price or stock write reaches it within `Settings.catalog_check_s`)."""
    try:
        service: RecommendationService = ctx.services.cached(
            "ml.recommender", lambda: RecommendationService(ctx.engine, ctx.settings)
        )
    except AisleError:
        return None
    service.follow_champion()
    service.follow_catalog()
    return service


# (product id, reason, source) in the order to show them.
Suggestion = tuple[str, str, str]


def _items(
    session: Session,
    suggestions: Sequence[Suggestion],
    store_id: str | None,
    limit: int,
    *,
    in_stock: bool | None = None,
) -> list[RecommendedProduct]:
    """Cards for the suggestions, first of each product kept, the first `limit` of those in
    stock now (at `store_id`) with `in_stock` (two SQL statements)."""
    first: dict[str, tuple[str, str]] = {}
    for product_id, reason, source in suggestions:
        first.setdefault(product_id, (reason, source))
    found = find_products(
        session, ids=list(first), in_stock=in_stock, store_id=store_id, limit=limit
    )
    return [
        RecommendedProduct(**card(m, reason=first[m.summary.id][0], source=first[m.summary.id][1]))
        for m in found
    ]


def recommend_for_customer(
    ctx: ToolContext, customer_id: str, store_id: str | None, limit: int, *, about: bool = False
) -> Recommendations:
    """Top picks for `customer_id` (the caller has checked who may ask), for a shopper at
    `store_id` or, when None, at their home store (online only without one). With `about`,
    the list is for someone serving the customer, and its reasons say what the customer did
    ("Olivia viewed ...") instead of speaking to them ("because you viewed ...")."""
    with Session(ctx.engine) as session:
        home = session.execute(
            select(Customer.id, Customer.home_store_id, Customer.first_name).where(
                Customer.id == customer_id
            )
        ).one_or_none()
        if home is None:
            raise not_found(f"No customer with id {customer_id!r}.")
        store = check_store(session, store_id).id if store_id else home.home_store_id
    service = recommender(ctx)
    if service is None:
        return _best_sellers(ctx, customer_id, limit)
    # The service ranks from a catalogue snapshot up to `catalog_check_s` old; the cards are
    # checked against the stock now, and the extra candidates stand in for what sold out since.
    who = (home.first_name or "the customer") if about else None
    ranked = service.for_shopper(customer_id, store, k=STOCK_SPARE * limit, about=who)
    suggestions = [(r.item_id, r.reason, r.source) for r in ranked]
    with Session(ctx.engine) as session:
        items = _items(session, suggestions, store, limit, in_stock=True)
    return Recommendations(
        source="recommender",
        model_version=service.model_version,
        product_id=None,
        customer_id=customer_id,
        store_id=store,
        items=items,
    )


def _best_sellers(ctx: ToolContext, customer_id: str, limit: int) -> Recommendations:
    """Products bought by the most customers, in stock somewhere, none the customer bought."""
    with Session(ctx.engine) as session:
        bought = (
            select(OrderItem.product_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.customer_id == customer_id)
        )
        buyers = func.count(distinct(Order.customer_id))
        popular = session.scalars(
            select(OrderItem.product_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status != "cancelled", OrderItem.product_id.not_in(bought))
            .group_by(OrderItem.product_id)
            .order_by(buyers.desc(), OrderItem.product_id)
            .limit(4 * limit)
        ).all()
        found = find_products(session, ids=popular, in_stock=True, limit=limit)
        items = [
            RecommendedProduct(**card(m, reason="a best seller", source="best_seller"))
            for m in found
        ]
    return Recommendations(
        source="popularity_fallback",
        model_version=None,
        product_id=None,
        customer_id=customer_id,
        store_id=None,
        note=FALLBACK_NOTE,
        items=items,
    )


def _require_product(session: Session, product_id: str) -> None:
    if session.get(Product, product_id) is None:
        raise not_found(f"No product with id {product_id!r}.")


@tool(roles=RECOMMEND_ROLES)
def recommend_for_me(
    ctx: ToolContext,
    *,
    limit: Annotated[int, Field(ge=1, le=20, description="How many products.")] = 5,
    store_id: Annotated[
        str | None,
        Field(description="Only what is in stock at this store or online; default: home store."),
    ] = None,
) -> Recommendations:
    """Personal picks for the signed-in shopper from their history and this session, each with
    a short reason; leaves out what they just bought. Use it for "what would I like"."""
    customer_id = ctx.principal.customer_id
    if customer_id is None:
        raise invalid(
            "recommend_for_me needs a signed-in shopper; for a customer you serve, use "
            "customer_recommendations."
        )
    return recommend_for_customer(ctx, customer_id, store_id, limit)


@tool(roles=RECOMMEND_ROLES)
def similar_products(
    ctx: ToolContext,
    *,
    product_id: Annotated[str, Field(min_length=1, description="The product to match.")],
    limit: Annotated[int, Field(ge=1, le=20, description="How many products.")] = 5,
) -> Recommendations:
    """Products like this one (close in description, or looked at by the same shoppers), each
    with a short reason. Use it for "show me something like this"."""
    with Session(ctx.engine) as session:
        _require_product(session, product_id)
    service = recommender(ctx)
    if service is not None:
        ranked = service.similar(product_id, k=limit)
        suggestions: list[Suggestion] = [(r.item_id, r.reason, r.source) for r in ranked]
        source, note = "recommender", None
    else:
        graph = knowledge_graph(ctx)
        sku = _graph_sku(ctx, graph, product_id)
        found = graph.substitutes(sku, k=4 * limit) if sku else []
        suggestions = [
            (n.product_id, n.reason, n.source) for n in found if n.product_id != product_id
        ]
        source = "knowledge_graph"
        note = (
            "No recommender has been trained yet: these are the products the knowledge graph "
            "holds as substitutes."
        )
    with Session(ctx.engine) as session:
        items = _items(session, suggestions, None, limit)
    return Recommendations(
        source=source,
        model_version=service.model_version if service else None,
        product_id=product_id,
        store_id=None,
        note=note,
        items=items,
    )


@tool(roles=RECOMMEND_ROLES)
def complete_the_look(
    ctx: ToolContext,
    *,
    product_id: Annotated[str, Field(min_length=1, description="The product to build on.")],
    limit: Annotated[int, Field(ge=1, le=20, description="How many products.")] = 5,
) -> Recommendations:
    """Products from other categories that go with this one: bought in the same orders, bought
    by the same customers, or its accessories; each with a short reason. Use it for "what goes
    with this"."""
    with Session(ctx.engine) as session:
        _require_product(session, product_id)
    graph = knowledge_graph(ctx)
    sku = _graph_sku(ctx, graph, product_id)
    complements = graph.complements(sku, k=limit) if sku else []
    together = [(n.product_id, n.reason, n.source) for n in complements]
    co_purchase = [s for s in together if s[2] == "co_purchase"]
    by_rule = [s for s in together if s[2] != "co_purchase"]
    service = recommender(ctx)
    bought: list[Suggestion] = []
    if service is not None:
        bought = [
            (r.item_id, r.reason, r.source) for r in service.complete_the_look(product_id, k=limit)
        ]
    # Orders that held both are the strongest evidence, customers who bought both the next,
    # category rules the fill.
    suggestions = co_purchase + bought + by_rule
    with Session(ctx.engine) as session:
        items = _items(session, suggestions, None, limit)
    from_model = any(i.source == "bought_together" for i in items)
    sources = ["recommender"] if from_model else []
    if not from_model or any(i.source != "bought_together" for i in items):
        sources.append("knowledge_graph")
    return Recommendations(
        source="+".join(sources),
        model_version=service.model_version if service and from_model else None,
        product_id=product_id,
        store_id=None,
        items=items,
    )


def _graph_sku(ctx: ToolContext, graph: KnowledgeGraph, product_id: str) -> str | None:
    """The product's first SKU on sale that the knowledge graph holds, if any."""
    with Session(ctx.engine) as session:
        skus = session.scalars(
            select(Variant.id)
            .where(Variant.product_id == product_id, Variant.available.is_(True))
            .order_by(Variant.id)
        ).all()
    return next((s for s in skus if node_id("sku", s) in graph.graph), None)
