"""The Universal Commerce Protocol's catalog tools (`search_catalog`, `lookup_catalog`,
`get_product`) as shapes over Aisle's own catalogue tools, so that a shopping agent written for
another UCP store can search and look up this one over MCP.

Only the shapes live here: the MCP server calls `search_products` and `lookup_products` through
`tools.base.invoke` (grant, validation, audit) and hands their outputs to the functions below.
Prices go out as UCP writes them, integers in minor units with a currency code; a price filter
comes in the same way. The catalogue has one currency.

Lookups take a product's id or a variant's id, which in Aisle is its SKU, as the catalog lookup
capability requires: a SKU resolves to that variant (`match: "exact"`), a product id to a
featured variant (`match: "featured"`), and `get_product` of a SKU puts that variant first with
its own options as the effective selections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

UCP_VERSION = "2026-04-08"
CURRENCY = "USD"
# A search shows at most what `ProductQuery.limit` allows; UCP lets a business clamp a page.
MAX_PAGE = 20
MAX_LOOKUP_IDS = 20
SEARCH = "dev.ucp.shopping.catalog.search"
LOOKUP = "dev.ucp.shopping.catalog.lookup"


class _Request(BaseModel):
    # A misspelt field is said back, not silently ignored; `context` and `meta` stay open.
    model_config = ConfigDict(extra="forbid")


class PriceFilter(_Request):
    min: int | None = Field(default=None, ge=0, description="Lowest price, minor units.")
    max: int | None = Field(default=None, ge=0, description="Highest price, minor units.")


class SearchFilters(_Request):
    categories: list[str] = Field(default_factory=list, description="Category names or ids.")
    price: PriceFilter | None = None


class Pagination(_Request):
    limit: int = Field(default=10, ge=1, description=f"Page size (at most {MAX_PAGE} are shown).")
    cursor: str | None = Field(
        default=None, description="Not used: the first page is the only page this store serves."
    )


class SearchCatalogRequest(_Request):
    query: str | None = Field(default=None, description="Free-text search query.")
    context: dict[str, Any] | None = Field(
        default=None, description="Buyer signals (country, currency, intent); accepted, unused."
    )
    filters: SearchFilters | None = None
    pagination: Pagination | None = None


class SelectedOption(_Request):
    name: str = Field(description='An option\'s name, e.g. "size".')
    label: str = Field(description='Its value, e.g. "M".')


class LookupCatalogRequest(_Request):
    ids: list[str] = Field(
        min_length=1,
        max_length=MAX_LOOKUP_IDS,
        description="Product ids or variant ids (SKUs) to look up.",
    )
    context: dict[str, Any] | None = None


class GetProductRequest(_Request):
    id: str = Field(min_length=1, description="A product's id, or a variant's id (a SKU).")
    selected: list[SelectedOption] = Field(
        default_factory=list,
        description="Option choices narrowing the variants; relaxed when no variant has them "
        "all. Ignored for a variant id, whose own options are the selection.",
    )
    preferences: list[str] = Field(
        default_factory=list,
        description="Option names in relaxation priority order: when no variant has every "
        "selection, options are dropped from the end of this list first (options it does not "
        "name before any it names); without it, from the last selection.",
    )
    context: dict[str, Any] | None = None


_META = Field(default=None, description='UCP request metadata ({"ucp-agent": {"profile": URL}}).')


class SearchCatalogArguments(_Request):
    meta: dict[str, Any] | None = _META
    catalog: SearchCatalogRequest


class LookupCatalogArguments(_Request):
    meta: dict[str, Any] | None = _META
    catalog: LookupCatalogRequest


class GetProductArguments(_Request):
    meta: dict[str, Any] | None = _META
    catalog: GetProductRequest


class Money(BaseModel):
    amount: int = Field(description="Minor currency units (cents).")
    currency: str


class PriceRange(BaseModel):
    min: Money
    max: Money


class Description(BaseModel):
    plain: str


class Availability(BaseModel):
    available: bool


class VariantInput(BaseModel):
    id: str = Field(description="The requested identifier that resolved to this variant.")
    match: Literal["exact", "featured"]


class UcpVariant(BaseModel):
    id: str
    title: str
    price: Money
    availability: Availability
    options: list[SelectedOption]
    inputs: list[VariantInput] | None = None


class UcpProduct(BaseModel):
    id: str
    title: str
    description: Description
    price_range: PriceRange | None
    categories: list[str]
    brand: str | None
    rating: float | None
    variants: list[UcpVariant] = Field(
        description="Search results carry none (their cards name no SKU): look the product up."
    )


class UcpMessage(BaseModel):
    type: Literal["error", "warning", "info"]
    code: str
    content: str
    severity: Literal["recoverable", "unrecoverable"] | None = Field(
        default=None,
        description="An error's: unrecoverable means retrying the same request cannot succeed.",
    )


class UcpMeta(BaseModel):
    version: str = UCP_VERSION
    capabilities: dict[str, list[dict[str, str]]]
    status: Literal["success", "error"] = "success"


class SearchPagination(BaseModel):
    has_next_page: bool


class SearchCatalogResult(BaseModel):
    ucp: UcpMeta
    products: list[UcpProduct]
    pagination: SearchPagination
    messages: list[UcpMessage] = Field(default_factory=list)


class LookupCatalogResult(BaseModel):
    ucp: UcpMeta
    products: list[UcpProduct]
    messages: list[UcpMessage] = Field(default_factory=list)


class UcpDetailProduct(UcpProduct):
    selected: list[SelectedOption] = Field(
        description="The selections in effect: after any relaxation, or a requested variant's "
        "own options."
    )


class GetProductResult(BaseModel):
    ucp: UcpMeta
    product: UcpDetailProduct | None = Field(
        description="None when the id resolves to nothing (`ucp.status` is then error)."
    )
    messages: list[UcpMessage] = Field(default_factory=list)


def _meta(capability: str) -> UcpMeta:
    return UcpMeta(capabilities={capability: [{"version": UCP_VERSION}]})


def _money(price: float) -> Money:
    return Money(amount=round(price * 100), currency=CURRENCY)


def _price_range(low: float | None, high: float | None) -> PriceRange | None:
    if low is None or high is None:
        return None
    return PriceRange(min=_money(low), max=_money(high))


def search_arguments(request: SearchCatalogRequest) -> dict[str, Any]:
    """The `search_products` arguments (a `ProductQuery`, flat) of a UCP search."""
    filters = request.filters or SearchFilters()
    price = filters.price or PriceFilter()
    page = request.pagination or Pagination()
    arguments: dict[str, Any] = {
        "text": request.query or "",
        "categories": filters.categories,
        "limit": min(page.limit, MAX_PAGE),
    }
    if price.min is not None:
        arguments["min_price"] = price.min / 100
    if price.max is not None:
        arguments["max_price"] = price.max / 100
    return arguments


def search_result(output: Mapping[str, Any]) -> SearchCatalogResult:
    """A UCP search result from a `SearchResults` output."""
    products = [
        UcpProduct(
            id=card["product_id"],
            title=card["name"],
            description=Description(plain=card["snippet"]),
            price_range=_price_range(card["price_min"], card["price_max"]),
            categories=[card["category"]] if card["category"] else [],
            brand=card["brand"],
            rating=card["rating"],
            variants=[],
        )
        for card in output["products"]
    ]
    messages = []
    if output["relaxed"]:
        messages.append(
            UcpMessage(
                type="info",
                code="relaxed",
                content="No product meets every filter; these are the closest, leaving out: "
                + ", ".join(output["relaxed"])
                + ".",
            )
        )
    return SearchCatalogResult(
        ucp=_meta(SEARCH),
        products=products,
        # The store serves one page: a UCP cursor would promise pages it cannot give.
        pagination=SearchPagination(has_next_page=False),
        messages=messages,
    )


def _variant(variant: Mapping[str, Any], inputs: list[VariantInput] | None) -> UcpVariant:
    options = [
        SelectedOption(name=str(name), label=str(value))
        for name, value in variant["options"].items()
    ]
    return UcpVariant(
        id=variant["id"],
        title=" / ".join(o.label for o in options) or variant["id"],
        price=_money(variant["price"]),
        availability=Availability(available=variant["in_stock"]),
        options=options,
        inputs=inputs,
    )


def _product(product: Mapping[str, Any], variants: list[UcpVariant]) -> UcpProduct:
    return UcpProduct(
        id=product["id"],
        title=product["name"],
        description=Description(plain=product["description"]),
        price_range=_price_range(product["price_min"], product["price_max"]),
        categories=[product["category_name"]] if product["category_name"] else [],
        brand=product["brand_name"],
        rating=product["rating"],
        variants=variants,
    )


def _featured(product: Mapping[str, Any]) -> str | None:
    """The variant a product id resolves to: the first in stock, else the first."""
    variants = product["variants"]
    chosen = next((v for v in variants if v["in_stock"]), variants[0] if variants else None)
    return None if chosen is None else str(chosen["id"])


def lookup_result(output: Mapping[str, Any]) -> LookupCatalogResult:
    """A UCP lookup from a `lookup_products` output: each product once, with the variants its
    identifiers resolved to, each carrying the identifiers that reached it. A SKU reaches its
    own variant; a product id reaches a featured one: the first of its SKUs also asked for,
    else its first in stock, else its first."""
    named: dict[str, list[tuple[str, str | None]]] = {}
    for match in output["matches"]:
        named.setdefault(match["product_id"], []).append((match["id"], match["sku"]))
    products = []
    for product in output["products"]:
        inputs: dict[str, list[VariantInput]] = {}
        asked = named.get(product["id"], [])
        for identifier, sku in asked:
            if sku is not None:
                inputs.setdefault(sku, []).append(VariantInput(id=identifier, match="exact"))
        for identifier, sku in asked:
            if sku is None and (chosen := next(iter(inputs), None) or _featured(product)):
                inputs.setdefault(chosen, []).append(VariantInput(id=identifier, match="featured"))
        by_id = {v["id"]: v for v in product["variants"]}
        products.append(_product(product, [_variant(by_id[v], i) for v, i in inputs.items()]))
    return LookupCatalogResult(
        ucp=_meta(LOOKUP),
        products=products,
        messages=[
            UcpMessage(
                type="warning",
                code="not_found",
                content=f"No product or variant with id {i!r}.",
            )
            for i in output["missing"]
        ],
    )


def _options(variant: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(str(k).casefold(), str(v).casefold()) for k, v in variant["options"].items()}


def product_not_found(identifier: str) -> GetProductResult:
    """`get_product`'s answer for an id that resolves to nothing: a business outcome, not a
    transport error, and one the agent must not retry (the catalog capability's rule)."""
    return GetProductResult(
        ucp=_meta(LOOKUP).model_copy(update={"status": "error"}),
        product=None,
        messages=[
            UcpMessage(
                type="error",
                code="not_found",
                content=f"No product or variant with id {identifier!r}.",
                severity="unrecoverable",
            )
        ],
    )


def _relaxation_order(
    selected: Sequence[SelectedOption], preferences: Sequence[str]
) -> list[SelectedOption]:
    """The selections ordered so that the one to drop first is last: by `preferences` (highest
    priority first), the options it does not name after those it names, each group in the order
    sent."""
    rank = {name.casefold(): i for i, name in enumerate(preferences)}
    unranked = len(rank)
    return sorted(selected, key=lambda o: rank.get(o.name.casefold(), unranked))


def product_result(
    product: Mapping[str, Any],
    selected: Sequence[SelectedOption],
    sku: str | None = None,
    preferences: Sequence[str] = (),
) -> GetProductResult:
    """`get_product`'s answer. For a product id: the variants having every selection; when none
    has them all, the selections are relaxed (`_relaxation_order`, from the last) until some
    variant has them. For a SKU: that variant first, its own options the selections (whatever
    was sent), then any other variant having them all."""
    if sku is not None:
        variant = next(v for v in product["variants"] if v["id"] == sku)
        chosen = [SelectedOption(name=str(k), label=str(v)) for k, v in variant["options"].items()]
        others = [
            v for v in product["variants"] if v["id"] != sku and _options(variant) <= _options(v)
        ]
        variants = [variant, *others]
    else:
        chosen = _relaxation_order(selected, preferences)
        while True:
            wanted = {(o.name.casefold(), o.label.casefold()) for o in chosen}
            variants = [v for v in product["variants"] if wanted <= _options(v)]
            if variants or not chosen:
                break
            chosen.pop()
    detail = _product(product, [_variant(v, None) for v in variants])
    return GetProductResult(
        ucp=_meta(LOOKUP), product=UcpDetailProduct(**detail.model_dump(), selected=chosen)
    )
