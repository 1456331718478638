"""Stock tools for associates and shoppers: a SKU's stock here and at the nearest stores, and
substitutes in stock here when it is sold out.

"Here" is the store named, else the associate's own store, else the shopper's home store: who is
asking decides the default, never an argument a model filled in for someone else. Stock is read
live from the inventory table (sellable = on hand minus reserved); the knowledge graph, shared
through `ctx.services`, says what may stand in for what.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.graph import KnowledgeGraph, PathEdge, node_id, sellable_at
from retail.catalog_queries import stock_status, variant_stock_tracked
from retail.errors import AisleError
from retail.product_query import colour_covers, size_covers
from retail.schemas import StockStatus
from retail.store.models import Customer, InventoryPosition, Location, Product, Variant
from retail.world.geography import haversine_km
from tools.base import Role, ToolContext, ToolError, invalid, not_found, tool

STOCK_ROLES: list[Role] = ["shopper", "associate", "planner", "evaluator"]
# SKUs read from the graph when a whole product's substitutes are asked: each product counts once.
PRODUCT_CANDIDATES = 100


# ---------------------------------------------------------------------------------------------
# Shared by the tools that take a store or read the knowledge graph


def check_store(session: Session, store_id: str) -> Location:
    """The physical store `store_id`; `not_found` for anything else (unknown, online, a DC)."""
    location = session.get(Location, store_id)
    if location is None or location.kind != "store":
        raise not_found(f"No store with id {store_id!r}.")
    return location


def resolve_store(ctx: ToolContext, session: Session, store_id: str | None) -> Location:
    """The store asked for, else the associate's store, else the shopper's home store."""
    store_id = store_id or ctx.principal.store_id
    if store_id is None and ctx.principal.customer_id is not None:
        store_id = session.scalar(
            select(Customer.home_store_id).where(Customer.id == ctx.principal.customer_id)
        )
    if store_id is None:
        raise _which_store(session)
    return check_store(session, store_id)


def stores_by_name(session: Session) -> list[Location]:
    """Every store (not the online channel), by name: where stock can be looked up."""
    return list(
        session.scalars(
            select(Location).where(Location.kind == "store").order_by(Location.name, Location.id)
        )
    )


def _which_store(session: Session) -> ToolError:
    """The question for someone with no store of their own (a shopper with no home store): in
    plain words, naming the stores and how to ask again, since the answer shows a shopper this
    sentence as written; the ids an LLM brain passes as `store_id` are in the details."""
    stores = stores_by_name(session)
    if not stores:
        return invalid("Which store? No home store of yours is on record, and we have no stores.")
    names = [s.name for s in stores]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    example = stores[0].city or stores[0].name
    return ToolError(
        "invalid",
        f"Which store? No home store of yours is on record: ask again with the store in the "
        f"question (“is it in stock in {example}?”); our stores are {listed}.",
        details={"stores": {s.id: s.name for s in stores}},
    )


def knowledge_graph(ctx: ToolContext) -> KnowledgeGraph:
    """The active knowledge graph, loaded once per process; `not_found` when none was built."""
    try:
        graph: KnowledgeGraph = ctx.services.cached(
            "rag.knowledge_graph", lambda: KnowledgeGraph.load(ctx.engine, ctx.settings)
        )
    except AisleError:
        raise ToolError(
            "not_found",
            "The knowledge graph has not been built yet; run `aisle kg build` first.",
            details={"missing": "knowledge_graph"},
        ) from None
    return graph


def path_text(path: list[PathEdge]) -> list[str]:
    """A graph path as short lines an answer can quote: "sku:A -IS_A-> product:B"."""
    return [f"{e.source} -{e.relation}-> {e.target}" for e in path]


# ---------------------------------------------------------------------------------------------
# stock_nearby


class NearbyStock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    store_id: str
    store_name: str
    city: str | None
    distance_km: float = Field(description="From the asked store, great-circle.")
    available_to_sell: int


class VariantStock(BaseModel):
    """One SKU's stock at the asked store, online, and at the nearest stores that have it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: str
    options: dict[str, Any]
    price: float
    offered: bool = Field(description="Whether the SKU is for sale at all.")
    stock_status: StockStatus = Field(
        description="At the asked store: in_stock, out_of_stock, not_tracked when no "
        "location keeps stock records for the SKU (its figures below are then 0 and say "
        "nothing about the shelves), or not_carried when the store does not stock it (other "
        "stores and online may)."
    )
    at_store: int = Field(description="Units available to sell at the asked store.")
    online: int = Field(description="Units available to sell online.")
    nearby: list[NearbyStock] = Field(
        description="The nearest other stores within `nearby_within_km` with units available "
        "to sell, nearest first."
    )
    more_stores: int = Field(
        default=0,
        description="Other stores with units available to sell that `nearby` does not list: "
        "beyond the `limit` within `nearby_within_km`, or farther away (`farther_stores`).",
    )
    farther_stores: int = Field(
        default=0,
        description="Of `more_stores`, those farther than `nearby_within_km` (or of unknown "
        "distance).",
    )


class StockNearby(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str
    product_name: str
    store_id: str
    store_name: str
    tracked: bool = Field(
        description="False when no location keeps stock records for these SKUs (imported "
        "catalogues): the figures then say nothing about the shelves."
    )
    nearby_within_km: float = Field(
        description="How far a store may be to count as nearby (the `nearby_store_km` setting)."
    )
    sku_count: int = Field(
        description="How many SKUs the product has; `variants` holds those of the colour and "
        "size asked for."
    )
    variants: list[VariantStock]


@tool(roles=STOCK_ROLES)
def stock_nearby(
    ctx: ToolContext,
    *,
    product_id: Annotated[
        str | None, Field(description="The product: every one of its SKUs is reported.")
    ] = None,
    variant_id: Annotated[str | None, Field(description="One SKU (variant id).")] = None,
    store_id: Annotated[
        str | None, Field(description="The store; default: your store or home store.")
    ] = None,
    colour: Annotated[
        str | None, Field(description="Only the SKUs of this colour (a family: blue, navy).")
    ] = None,
    size: Annotated[str | None, Field(description="Only the SKUs of this size (L, large).")] = None,
    limit: Annotated[
        int, Field(ge=1, le=10, description="Nearby stores listed per SKU, at most.")
    ] = 5,
) -> StockNearby:
    """Stock of a product's SKUs (or one SKU) at a store, online, and at the nearest other
    stores that have it, with distances; use it for "do you have this in store" and "where
    else can I get it"."""
    if product_id is None and variant_id is None:
        raise invalid("Name a product_id or a variant_id.")
    with Session(ctx.engine) as session:
        store = resolve_store(ctx, session, store_id)
        every = _variants(session, product_id, variant_id)
        variants = [v for v in every if _answers(v.options or {}, colour, size)]
        if not variants:
            asked = " ".join(w for w in (colour, size) if w)
            raise not_found(f"{every[0].name} has no SKU in {asked}.")
        locations = session.execute(
            select(
                Location.id,
                Location.name,
                Location.kind,
                Location.city,
                Location.latitude,
                Location.longitude,
            ).where(Location.kind.in_(["store", "online"]))
        ).all()
        stock_rows = session.execute(
            select(
                InventoryPosition.variant_id,
                InventoryPosition.location_id,
                InventoryPosition.on_hand - InventoryPosition.reserved,
            ).where(
                InventoryPosition.variant_id.in_([v.id for v in variants]),
                InventoryPosition.location_id.in_([loc.id for loc in locations]),
            )
        ).all()
        tracked = set(
            session.scalars(
                select(Variant.id).where(
                    Variant.id.in_([v.id for v in variants]), variant_stock_tracked()
                )
            )
        )
    stock = {(v, loc): max(int(n), 0) for v, loc, n in stock_rows}
    # A store without coordinates has no known distance, so it cannot be promised as nearby.
    within_km = ctx.settings.nearby_store_km
    distances = ((_distance(store, loc), loc) for loc in locations)
    stores = [(km, loc) for km, loc in distances if loc.kind == "store" and loc.id != store.id]
    others = sorted(
        ((km, loc) for km, loc in stores if km is not None and km <= within_km),
        key=lambda pair: (pair[0], pair[1].id),
    )
    far = [loc.id for km, loc in stores if km is None or km > within_km]
    online = [loc.id for loc in locations if loc.kind == "online"]
    return StockNearby(
        product_id=variants[0].product_id,
        product_name=variants[0].name,
        store_id=store.id,
        store_name=store.name,
        tracked=bool(tracked),
        nearby_within_km=within_km,
        sku_count=len(every),
        variants=[
            _variant_stock(v, store.id, stock, tracked, online, others, far, limit)
            for v in variants
        ],
    )


def _variant_stock(
    v: Any,
    store_id: str,
    stock: dict[tuple[str, str], int],
    tracked: set[str],
    online: list[str],
    others: list[tuple[float, Any]],
    far: list[str],
    limit: int,
) -> VariantStock:
    """One SKU's row: here, online, the nearest `limit` stores in range that have it, and how
    many more stores have it (in range past the limit, or farther), so none is left out
    silently."""
    having = [(km, loc) for km, loc in others if v.available and stock.get((v.id, loc.id), 0) > 0]
    farther = sum(1 for loc in far if v.available and stock.get((v.id, loc), 0) > 0)
    return VariantStock(
        variant_id=v.id,
        options=v.options or {},
        price=float(v.price),
        offered=bool(v.available),
        stock_status=stock_status(
            available=bool(v.available),
            in_stock=stock.get((v.id, store_id), 0) > 0,
            tracked=v.id in tracked,
            carried=(v.id, store_id) in stock,
        ),
        at_store=stock.get((v.id, store_id), 0) if v.available else 0,
        online=sum(stock.get((v.id, o), 0) for o in online) if v.available else 0,
        nearby=[
            NearbyStock(
                store_id=loc.id,
                store_name=loc.name,
                city=loc.city,
                distance_km=round(km, 1),
                available_to_sell=stock[(v.id, loc.id)],
            )
            for km, loc in having[:limit]
        ],
        more_stores=max(len(having) - limit, 0) + farther,
        farther_stores=farther,
    )


def _variants(session: Session, product_id: str | None, variant_id: str | None) -> list[Any]:
    """The SKUs asked about, with their product's name; typed errors for unknown ids."""
    rows = session.execute(
        select(
            Variant.id,
            Variant.product_id,
            Variant.options,
            Variant.price,
            Variant.available,
            Product.name,
        )
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.id == variant_id if variant_id is not None else Variant.product_id == product_id
        )
        .order_by(Variant.id)
    ).all()
    if variant_id is not None:
        if not rows:
            raise not_found(f"No SKU with id {variant_id!r}.")
        if product_id is not None and rows[0].product_id != product_id:
            raise invalid(f"SKU {variant_id!r} is not a variant of product {product_id!r}.")
    elif not rows:
        if session.get(Product, product_id) is None:
            raise not_found(f"No product with id {product_id!r}.")
        raise not_found(f"Product {product_id!r} has no SKUs.")
    return list(rows)


def _answers(options: dict[str, Any], colour: str | None, size: str | None) -> bool:
    """Whether a SKU's options are of the colour and the size asked for (either may be None)."""
    have_colour = str(options.get("color") or options.get("colour") or "")
    have_size = str(options.get("size") or "")
    return (colour is None or colour_covers(colour, have_colour)) and (
        size is None or size_covers(size, have_size)
    )


def _distance(origin: Location, other: Any) -> float | None:
    lat, lon = origin.latitude, origin.longitude
    if lat is None or lon is None or other.latitude is None or other.longitude is None:
        return None
    return haversine_km(lat, lon, other.latitude, other.longitude)


# ---------------------------------------------------------------------------------------------
# in_stock_substitutes


class Substitute(BaseModel):
    """A SKU that can stand in for the asked one, in stock at the store, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: str
    product_id: str
    name: str
    options: dict[str, Any]
    price: float
    available_to_sell: int = Field(description="Units available to sell at the store now.")
    kind: str = Field(description="same_product (another size or colour) or same_category.")
    score: float
    reason: str
    path: list[str] = Field(description="The knowledge-graph edges that explain the match.")


class Substitutes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: str = Field(description="The SKU substitutes were sought for.")
    product_id: str
    name: str
    store_id: str
    store_name: str
    available_to_sell: int = Field(description="Units of the asked SKU available at the store.")
    graph_version: str
    substitutes: list[Substitute]


@tool(roles=STOCK_ROLES)
def in_stock_substitutes(
    ctx: ToolContext,
    *,
    variant_id: Annotated[
        str | None, Field(description="The SKU that is sold out (another size or colour fits).")
    ] = None,
    product_id: Annotated[
        str | None,
        Field(description="Or the product: other products are suggested, one SKU each."),
    ] = None,
    store_id: Annotated[
        str | None, Field(description="The store; default: your store or home store.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=10, description="How many substitutes.")] = 5,
) -> Substitutes:
    """Items in stock at a store now that can replace a sold-out SKU or product (other sizes
    or colours of it, and similar products of its category, best match first), each with the
    reason and the knowledge-graph path that explains it."""
    if product_id is None and variant_id is None:
        raise invalid("Name a variant_id or a product_id.")
    with Session(ctx.engine) as session:
        store = resolve_store(ctx, session, store_id)
        skus = _variants(session, product_id, variant_id)
    graph = knowledge_graph(ctx)
    # Its first SKU on sale stands for a product. Asked for a whole product, the answer is
    # other products, one line each (its best SKU here), so the graph is asked for a deep list.
    source = next((v for v in skus if v.available), skus[0])
    if variant_id is None:
        found = []
        seen = {source.product_id}
        for n in graph.substitutes(source.id, store=store.id, k=PRODUCT_CANDIDATES):
            if n.product_id not in seen:
                seen.add(n.product_id)
                found.append(n)
    else:
        found = graph.substitutes(source.id, store=store.id, k=limit)
    return Substitutes(
        variant_id=source.id,
        product_id=source.product_id,
        name=source.name,
        store_id=store.id,
        store_name=store.name,
        available_to_sell=sellable_at(ctx.engine, [source.id], store.id).get(source.id, 0),
        graph_version=graph.version,
        substitutes=[
            Substitute(
                variant_id=n.sku,
                product_id=n.product_id,
                name=n.name,
                options=graph.graph.nodes[node_id("sku", n.sku)].get("options", {}),
                price=n.price,
                available_to_sell=n.on_hand or 0,
                kind=n.source,
                score=n.score,
                reason=n.reason,
                path=path_text(n.path),
            )
            for n in found[:limit]
        ],
    )
