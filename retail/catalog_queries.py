"""Read queries over the catalogue: product listings with filters, and one product in full.

The API's product routes and, later, the shopper tools call these functions, so the rules of what
"in stock" or "in this category" mean live here once. Each call runs a fixed number of SQL
statements whatever the page size, and every statement runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from retail.clock import today
from retail.errors import NotFoundError
from retail.product_query import (
    Beyond,
    Direction,
    ProductQuery,
    ProductText,
    colour_covers,
    gender_allows,
    is_colour_word,
    is_past,
    measure_of,
    name_is_kind,
    option_has,
    product_gender,
    size_covers,
    variant_colours,
    words,
)
from retail.schemas import (
    PolicyPage,
    ProductPublic,
    ProductSummary,
    ReviewPublic,
    ReviewsSummary,
    StockAtLocation,
    StockStatus,
    VariantDetail,
    VariantPublic,
)
from retail.store.models import (
    MARKDOWN,
    Brand,
    Category,
    InventoryPosition,
    Location,
    Policy,
    PriceChange,
    Product,
    Review,
    Variant,
)

RECENT_REVIEWS = 3


def position_sellable() -> ColumnElement[bool]:
    """SQL truth of "this stock record (the `InventoryPosition` row in scope) has units of its
    variant (the `Variant` row in scope) to sell": the variant is offered (`available`) and the
    location has units on hand beyond those reserved. The one "in stock" rule: at a location,
    and (`variant_in_stock`) anywhere."""
    inv = InventoryPosition
    return and_(
        inv.variant_id == Variant.id, Variant.available.is_(True), inv.on_hand - inv.reserved > 0
    )


def variant_in_stock(store_id: str | None = None) -> ColumnElement[bool]:
    """SQL truth of "this variant (the `Variant` row in scope) is in stock".

    A variant is in stock when it is offered (`available`) and, if stock is tracked for it, some
    location has units to sell (`position_sellable`). A variant with no inventory rows is treated
    as in stock: sources such as tau2 only say whether a SKU is available. At a given store the
    store's own inventory row is required, since an untracked SKU cannot be promised there.
    """
    inv = InventoryPosition
    if store_id is not None:
        return exists().where(position_sellable(), inv.location_id == store_id)
    return and_(
        Variant.available.is_(True),
        or_(
            not_(exists().where(inv.variant_id == Variant.id)),
            exists().where(position_sellable()),
        ),
    )


def variant_carried(store_id: str) -> ColumnElement[bool]:
    """SQL truth of "store `store_id` stocks this variant (the `Variant` row in scope)": it keeps
    a stock record for it, whatever the count."""
    inv = InventoryPosition
    return exists().where(inv.variant_id == Variant.id, inv.location_id == store_id)


def variant_stock_tracked() -> ColumnElement[bool]:
    """SQL truth of "some location keeps stock records for this variant" (the `Variant` row in
    scope); imported catalogues such as tau2's keep none."""
    return exists().where(InventoryPosition.variant_id == Variant.id)


def stock_status(
    *, available: bool, in_stock: bool, tracked: bool, carried: bool = True
) -> StockStatus:
    """What a person is told about one SKU's stock (at a store, when one is asked about): a SKU
    not offered is out of stock, one whose stock nobody records is "not tracked" (never "in
    stock"), one the store keeps no stock record for is "not carried" there (it never had it, so
    it did not sell out), else what the records say."""
    if not available:
        return "out_of_stock"
    if not tracked:
        return "not_tracked"
    if not carried:
        return "not_carried"
    return "in_stock" if in_stock else "out_of_stock"


def product_stock_status(variants: Sequence[VariantPublic]) -> StockStatus:
    """A product's stock from its SKUs': in stock when one is, not tracked when none of its
    offered SKUs is tracked, not carried when the store stocks none of them, else out of
    stock."""
    states = {v.stock_status for v in variants}
    if "in_stock" in states:
        return "in_stock"
    offered = {v.stock_status for v in variants if v.available}
    if offered in ({"not_tracked"}, {"not_carried"}):
        return next(iter(offered))
    return "out_of_stock"


def first_image(attributes: Mapping[str, Any]) -> str | None:
    """A product's picture for a card: its first image URL, else its thumbnail, if any."""
    images = attributes.get("images") or []
    image = images[0] if isinstance(images, list) and images else attributes.get("thumbnail")
    return image if isinstance(image, str) else None


def product_images(session: Session) -> dict[str, str]:
    """Product id -> picture (`first_image`), for the products that have one."""
    rows = session.execute(select(Product.id, Product.attributes))
    return {
        product_id: image
        for product_id, attributes in rows
        if (image := first_image(attributes or {})) is not None
    }


def category_and_descendants(*category_ids: str) -> Select[Any]:
    """Ids of the categories and of every category below them (a department yields its
    leaves)."""
    tree = (
        select(Category.id)
        .where(Category.id.in_(category_ids))
        .cte("category_tree", recursive=True)
    )
    # UNION rather than UNION ALL: a cycle in bad data then ends the recursion instead of looping.
    tree = tree.union(select(Category.id).where(Category.parent_id == tree.c.id))
    return select(tree.c.id)


def _require(session: Session, model: Any, record_id: str, what: str) -> None:
    if session.get(model, record_id) is None:
        raise NotFoundError(f"No {what} with id {record_id!r}.")


def _product_conditions(
    *,
    category_id: str | None,
    brand_id: str | None,
    min_price: float | None,
    max_price: float | None,
    in_stock: bool | None,
    store_id: str | None,
    q: str | None,
    colour: str | None = None,
    size: str | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if category_id is not None:
        conditions.append(Product.category_id.in_(category_and_descendants(category_id)))
    if brand_id is not None:
        conditions.append(Product.brand_id == brand_id)
    if q:
        conditions.append(or_(_is_product_or_sku(q), _has_words(q)))

    # Conditions on variants hold for one and the same variant: "in stock under $150" means a
    # variant that is both, not one cheap variant and another in stock.
    variant_conditions = _variant_conditions(
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        store_id=store_id,
        colour=colour,
        size=size,
    )
    if variant_conditions:
        conditions.append(exists().where(Variant.product_id == Product.id, *variant_conditions))
    if in_stock is False:
        conditions.append(
            not_(exists().where(Variant.product_id == Product.id, variant_in_stock(store_id)))
        )
    return conditions


def option_is(key: str, value: str) -> ColumnElement[bool]:
    """SQL truth of "the variant's option `key` is `value`", ignoring case (a JSON string or
    number alike: "M", "9.5")."""
    return func.lower(Variant.options[key].as_string()) == value.strip().lower()


def _variant_conditions(
    *,
    min_price: float | None,
    max_price: float | None,
    in_stock: bool | None,
    store_id: str | None,
    colour: str | None,
    size: str | None,
) -> list[ColumnElement[bool]]:
    """What one variant must satisfy: price bounds, in stock (at `store_id`), colour, size."""
    conditions: list[ColumnElement[bool]] = []
    # As floats, prices bind as double precision: an integer too large for BIGINT cannot fail.
    if min_price is not None:
        conditions.append(Variant.price >= float(min_price))
    if max_price is not None:
        conditions.append(Variant.price <= float(max_price))
    if in_stock:
        conditions.append(variant_in_stock(store_id))
    if colour:
        conditions.append(option_is("color", colour))
    if size:
        conditions.append(option_is("size", size))
    return conditions


def _variants_of(
    session: Session,
    product_ids: Sequence[str],
    store_id: str | None,
    conditions: Sequence[ColumnElement[bool]] = (),
) -> tuple[dict[str, list[VariantPublic]], set[str]]:
    """The products' variants ("in stock" at `store_id` when given), and the ids of those that
    meet every one of `conditions`."""
    by_product: dict[str, list[VariantPublic]] = defaultdict(list)
    matching: set[str] = set()
    if not product_ids:
        return by_product, matching
    rows = session.execute(
        select(
            Variant.id,
            Variant.product_id,
            Variant.options,
            Variant.price,
            Variant.available,
            variant_in_stock(store_id).label("in_stock"),
            variant_stock_tracked().label("tracked"),
            (variant_carried(store_id) if store_id is not None else true()).label("carried"),
            (and_(*conditions) if conditions else true()).label("matches"),
        )
        .where(Variant.product_id.in_(product_ids))
        .order_by(Variant.product_id, Variant.id)
    )
    for row in rows:
        by_product[row.product_id].append(
            VariantPublic(
                id=row.id,
                options=row.options or {},
                price=float(row.price),
                available=bool(row.available),
                in_stock=bool(row.in_stock),
                stock_status=stock_status(
                    available=bool(row.available),
                    in_stock=bool(row.in_stock),
                    tracked=bool(row.tracked),
                    carried=bool(row.carried),
                ),
            )
        )
        if row.matches:
            matching.add(row.id)
    return by_product, matching


# The columns of a product summary that come from the product row and its joined names.
_SUMMARY_COLUMNS = (
    select(
        Product.id,
        Product.name,
        Product.category_id,
        Category.name.label("category_name"),
        Product.brand_id,
        Brand.name.label("brand_name"),
        Product.rating,
        Product.review_count,
        Product.source,
    )
    .outerjoin(Category, Category.id == Product.category_id)
    .outerjoin(Brand, Brand.id == Product.brand_id)
)


def price_range(variants: Sequence[VariantPublic]) -> tuple[float | None, float | None]:
    """The lowest and highest price of the SKUs of `variants` that are sold (`available`); a SKU
    not for sale has no price a shopper can pay. (None, None) when none is sold."""
    prices = [v.price for v in variants if v.available]
    return (min(prices), max(prices)) if prices else (None, None)


def _summary_fields(row: Any, variants: Sequence[VariantPublic]) -> dict[str, Any]:
    low, high = price_range(variants)
    return {
        "id": row.id,
        "name": row.name,
        "category_id": row.category_id,
        "category_name": row.category_name,
        "brand_id": row.brand_id,
        "brand_name": row.brand_name,
        "price_min": low,
        "price_max": high,
        "rating": row.rating,
        "review_count": row.review_count or 0,
        "in_stock": any(v.in_stock for v in variants),
        "stock_status": product_stock_status(variants),
        "source": row.source,
    }


def list_products(
    session: Session,
    *,
    category_id: str | None = None,
    brand_id: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: bool | None = None,
    store_id: str | None = None,
    q: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[ProductSummary], int]:
    """One page of the products matching every given filter, ordered by name then id.

    `category_id` matches the category and everything below it; `min_price` and `max_price` are
    inclusive and match a product when one of its variants is in range (in stock too, with
    `in_stock=True`); `in_stock=False` matches products none of whose variants is in stock;
    `store_id` makes "in stock" mean in stock at that store, for the filter and the flags returned;
    `q`: every word of it in the name or the category name, case-insensitive. Returns the page
    and the total match count.

    Raises NotFoundError when the category, brand or store does not exist, so that a typo reads
    as one rather than as an empty catalogue.
    """
    if category_id is not None:
        _require(session, Category, category_id, "category")
    if brand_id is not None:
        _require(session, Brand, brand_id, "brand")
    if store_id is not None:
        _require(session, Location, store_id, "location")

    conditions = _product_conditions(
        category_id=category_id,
        brand_id=brand_id,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        store_id=store_id,
        q=q,
    )
    total = session.scalar(select(func.count()).select_from(Product).where(*conditions)) or 0
    rows = session.execute(
        _SUMMARY_COLUMNS.where(*conditions)
        .order_by(Product.name, Product.id)
        .limit(limit)
        .offset(offset)
    ).all()
    variants, _ = _variants_of(session, [row.id for row in rows], store_id)
    items = [ProductSummary(**_summary_fields(row, variants.get(row.id, []))) for row in rows]
    return items, total


def _stock_by_variant(session: Session, product_id: str) -> dict[str, list[StockAtLocation]]:
    inv = InventoryPosition
    rows = session.execute(
        select(inv.variant_id, inv.location_id, Location.name, inv.on_hand, inv.reserved)
        .join(Location, Location.id == inv.location_id)
        .join(Variant, Variant.id == inv.variant_id)
        .where(Variant.product_id == product_id)
        .order_by(inv.variant_id, Location.name, inv.location_id)
    )
    stock: dict[str, list[StockAtLocation]] = defaultdict(list)
    for variant_id, location_id, location_name, on_hand, reserved in rows:
        stock[variant_id].append(
            StockAtLocation(
                location_id=location_id,
                location_name=location_name,
                on_hand=on_hand,
                available_to_sell=max(on_hand - reserved, 0),
            )
        )
    return stock


def _reviews_summary(session: Session, product_id: str) -> ReviewsSummary:
    counts = session.execute(
        select(Review.rating, func.count())
        .where(Review.product_id == product_id)
        .group_by(Review.rating)
    ).all()
    distribution = {str(stars): 0 for stars in range(1, 6)}
    total = 0
    stars_sum = 0
    for stars, n in counts:
        total += n
        stars_sum += stars * n
        # Ratings outside 1-5 still count towards the average; they get a key of their own.
        distribution[str(stars)] = distribution.get(str(stars), 0) + n
    recent = session.scalars(
        select(Review)
        .where(Review.product_id == product_id)
        .order_by(Review.created_at.desc().nulls_last(), Review.id)
        .limit(RECENT_REVIEWS)
    )
    return ReviewsSummary(
        count=total,
        average_rating=round(stars_sum / total, 2) if total else None,
        distribution=distribution,
        recent=[
            ReviewPublic(
                id=r.id,
                rating=r.rating,
                title=r.title,
                body=r.body,
                author=r.author,
                created_at=r.created_at,
            )
            for r in recent
        ],
    )


def resolve_identifiers(session: Session, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """What each of `ids` names: (product id, None) for a product's id, (its product's id, the
    SKU) for a SKU (a variant's id); ids that name neither are left out. An id that is both a
    product's and a SKU's names the product. Two statements, whatever the number of ids."""
    wanted = list(dict.fromkeys(ids))
    products = set(session.scalars(select(Product.id).where(Product.id.in_(wanted))))
    rest = [i for i in wanted if i not in products]
    skus = dict(
        session.execute(select(Variant.id, Variant.product_id).where(Variant.id.in_(rest))).all()
        if rest
        else []
    )
    named: dict[str, tuple[str, str | None]] = {}
    for identifier in wanted:
        if identifier in products:
            named[identifier] = (identifier, None)
        elif identifier in skus:
            named[identifier] = (skus[identifier], identifier)
    return named


def get_product(session: Session, product_id: str) -> ProductPublic:
    """A product with its variants, their stock per location, and a summary of its reviews.

    Raises NotFoundError when no product has this id.
    """
    row = session.execute(
        _SUMMARY_COLUMNS.add_columns(
            Product.description,
            Product.materials,
            Product.care,
            Product.size_guide,
            Product.attributes,
            Product.launched_on,
        ).where(Product.id == product_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"No product with id {product_id!r}.")
    variants = _variants_of(session, [product_id], None)[0].get(product_id, [])
    stock = _stock_by_variant(session, product_id)
    list_prices = _list_prices_on_sale(session, [v.id for v in variants])
    return ProductPublic(
        **_summary_fields(row, variants),
        description=row.description or "",
        materials=row.materials,
        care=row.care,
        size_guide=row.size_guide,
        attributes=row.attributes or {},
        launched_on=row.launched_on,
        variants=[
            VariantDetail(
                **variant.model_dump(),
                stock=stock.get(variant.id, []),
                list_price=list_prices.get(variant.id),
            )
            for variant in variants
        ],
        reviews=_reviews_summary(session, product_id),
    )


def _list_prices_on_sale(session: Session, variant_ids: Sequence[str]) -> dict[str, float]:
    """The list price of each SKU on sale: one whose latest price change in force today is a
    markdown, priced at the latest change before it that was not one (its launch or list
    price)."""
    if not variant_ids:
        return {}
    rows = session.execute(
        select(PriceChange.variant_id, PriceChange.price, PriceChange.reason)
        .where(PriceChange.variant_id.in_(variant_ids), PriceChange.effective_on <= today(session))
        .order_by(PriceChange.variant_id, PriceChange.effective_on, PriceChange.id)
    ).all()
    history: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        history[row.variant_id].append(row)
    prices: dict[str, float] = {}
    for variant_id, changes in history.items():
        if changes[-1].reason != MARKDOWN:
            continue
        listed = [c.price for c in changes if c.reason != MARKDOWN]
        if listed and float(listed[-1]) > float(changes[-1].price):
            prices[variant_id] = float(listed[-1])
    return prices


def list_policies(session: Session) -> list[PolicyPage]:
    """The store's policy and FAQ pages, by id."""
    rows = session.scalars(select(Policy).order_by(Policy.id))
    return [PolicyPage(id=row.id, title=row.title, body=row.body) for row in rows]


def get_policy(session: Session, policy_id: str) -> PolicyPage:
    """One policy page; NotFoundError when no page has this id."""
    row = session.get(Policy, policy_id)
    if row is None:
        raise NotFoundError(f"No policy page with id {policy_id!r}.")
    return PolicyPage(id=row.id, title=row.title, body=row.body)


def resolve_categories(session: Session, *texts: str) -> list[str]:
    """Ids of the categories the texts name, each an id or a name in any case, singular or
    plural ("jacket" finds "Jackets"), in one statement (a taxonomy is a few hundred rows).
    Raises NotFoundError for the first text that names none."""
    rows = session.execute(select(Category.id, Category.name).order_by(Category.id)).all()
    found: list[str] = []
    for text in texts:
        wanted = text.strip().lower()
        names = {wanted, wanted.removesuffix("s"), f"{wanted}s"}
        ids = [r.id for r in rows if r.id.lower() == wanted or r.name.lower() in names]
        if not ids:
            raise NotFoundError(f"No category called {text!r}.")
        found.extend(ids)
    return list(dict.fromkeys(found))


def resolve_brands(session: Session, text: str) -> list[str]:
    """Ids of the brands `text` names (an id or a name, any case). Raises NotFoundError when
    none does."""
    wanted = text.strip().lower()
    found = list(
        session.scalars(
            select(Brand.id)
            .where(or_(func.lower(Brand.id) == wanted, func.lower(Brand.name) == wanted))
            .order_by(Brand.id)
        )
    )
    if not found:
        raise NotFoundError(f"No brand called {text!r}.")
    return found


@dataclass(frozen=True, slots=True)
class ProductMatch:
    """A product that answers a search: its summary (over all its variants, "in stock" at the
    asked store), its description, and which of its variants meet every variant filter."""

    summary: ProductSummary
    description: str
    variants: list[VariantPublic]
    matching_ids: frozenset[str]

    @property
    def matching(self) -> list[VariantPublic]:
        return [v for v in self.variants if v.id in self.matching_ids]


def _is_product_or_sku(q: str) -> ColumnElement[bool]:
    """The product whose id, or one of whose SKUs' ids, is `q` (any case): an associate types
    the SKU from a shelf label."""
    typed = q.strip().upper()
    return or_(
        func.upper(Product.id) == typed,
        Product.id.in_(select(Variant.product_id).where(func.upper(Variant.id) == typed)),
    )


def _has_words(q: str) -> ColumnElement[bool]:
    """Every word of the look-up, singular or plural ("hiking boots" finds "Hiking Boot"), in
    the product's name or its category's ("hiking boots" finds the "Alpine Trek Boot" of Hiking
    Boots too). A short word is inside too many names ("or" in "Jordan", "1" in "10"): one of
    two characters must begin a word of the name ("iron sk" finds "Skillet"), one of one
    character be a whole word. A look-up of punctuation alone has no word and matches nothing."""
    terms = [_singular_stem(t) for t in words(q)]
    if not terms:
        return false()
    return and_(
        *(
            or_(
                _name_has(Product.name, t),
                Product.category_id.in_(select(Category.id).where(_name_has(Category.name, t))),
            )
            for t in terms
        )
    )


def _name_has(column: Any, term: str) -> ColumnElement[bool]:
    if len(term) > 2:
        return column.icontains(term, autoescape=True)
    padded = func.lower(" " + column + " ")
    return padded.contains(" " + term + (" " if len(term) == 1 else ""), autoescape=True)


def _singular_stem(word: str) -> str:
    """A word as a product's name may hold it in the singular: "boots" -> "boot"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def find_products(
    session: Session,
    *,
    ids: Sequence[str] | None = None,
    category_ids: Sequence[str] | None = None,
    brand_ids: Sequence[str] | None = None,
    colour: str | None = None,
    size: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: bool | None = None,
    store_id: str | None = None,
    limit: int = 20,
) -> list[ProductMatch]:
    """Up to `limit` products meeting every filter: one of its variants has the colour and the
    size and meets the price bounds and, with `in_stock`, is in stock (at `store_id` when
    given); `category_ids` match their whole subtrees. Among `ids` (in their order) when
    given, else the best rated first. Two statements, whatever `limit` is."""
    conditions = _product_conditions(
        category_id=None,
        brand_id=None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        store_id=store_id,
        q=None,
        colour=colour,
        size=size,
    )
    if category_ids is not None:
        conditions.append(Product.category_id.in_(category_and_descendants(*category_ids)))
    if brand_ids is not None:
        conditions.append(Product.brand_id.in_(list(brand_ids)))
    query = _SUMMARY_COLUMNS.add_columns(Product.description).where(*conditions)
    rows: Sequence[Any]
    if ids is not None:
        order = {product_id: n for n, product_id in enumerate(dict.fromkeys(ids))}
        found = session.execute(query.where(Product.id.in_(list(order)))).all()
        rows = sorted(found, key=lambda row: order[row.id])[:limit]
    else:
        rows = session.execute(
            query.order_by(
                Product.rating.desc().nulls_last(),
                Product.review_count.desc(),
                Product.name,
                Product.id,
            ).limit(limit)
        ).all()
    if not rows:
        return []
    variants, matching = _variants_of(
        session,
        [row.id for row in rows],
        store_id,
        _variant_conditions(
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            store_id=store_id,
            colour=colour,
            size=size,
        ),
    )
    return [
        ProductMatch(
            summary=ProductSummary(**_summary_fields(row, variants[row.id])),
            description=row.description or "",
            variants=variants[row.id],
            matching_ids=frozenset(v.id for v in variants[row.id] if v.id in matching),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class CatalogueSearch:
    """What a typed product query finds: how many products meet every constraint, and the
    page asked for, in the asked order."""

    total: int
    matches: list[ProductMatch]
    beyond: Beyond | None = None
    """The query's comparative with the measure it compared on and the bound filled in; None
    when it has none, or when the products compared against state none of its measures."""


@dataclass(frozen=True, slots=True)
class _Bound:
    """A comparative made concrete: the measure, the extreme value of the products compared
    against, and its quantity (only values of the same quantity compare)."""

    name: str
    direction: Direction
    value: float
    quantity: str


# The measures whose bound the dialogue may give as a number (the prices it showed).
_GIVEN_QUANTITIES = {"price": "money", "rating": "rating"}


def _compared(session: Session, beyond: Beyond) -> tuple[Beyond, _Bound] | None:
    """The first of the comparative's measures that the products compared against state, and
    their extreme value on it (the lowest for `less`, the highest for `more`): "lighter" than
    tents of 1.0 and 3.4 kg is under 1.0 kg. A price or rating bound already given (the prices
    the cards showed) is taken as it is; any other is measured again (a comparative carried to
    the next turn, "in blue" after "lighter")."""
    quantity = _GIVEN_QUANTITIES.get(beyond.measure or "")
    direction = next((m.direction for m in beyond.measures if m.name == beyond.measure), None)
    if beyond.bound is not None and quantity is not None and direction is not None:
        return beyond, _Bound(str(beyond.measure), direction, beyond.bound, quantity)
    if not beyond.than:
        return None
    rows = session.execute(
        select(Product.id, Product.rating, Product.attributes).where(
            Product.id.in_(list(beyond.than))
        )
    ).all()
    variants, _ = _variants_of(session, [r.id for r in rows], None)
    for measure in beyond.measures:
        values = [
            found
            for row in rows
            for v in variants.get(row.id, [])
            if (found := _sku_measure(measure.name, row, v)) is not None
        ]
        quantities = Counter(q for _, q, _ in values)
        if not quantities:
            continue
        quantity = quantities.most_common(1)[0][0]
        same = [(value, text) for value, q, text in values if q == quantity]
        pick = min if measure.direction == "less" else max
        value, text = pick(same, key=lambda item: item[0])
        filled = beyond.model_copy(
            update={"measure": measure.name, "bound": value, "bound_text": text}
        )
        return filled, _Bound(measure.name, measure.direction, value, quantity)
    return None


def _sku_measure(name: str, row: Any, variant: VariantPublic) -> tuple[float, str, str] | None:
    """A SKU's value on a measure, its product's row giving the rating and attributes."""
    return measure_of(
        name,
        price=variant.price,
        rating=row.rating,
        options=variant.options,
        attributes=row.attributes or {},
    )


def _past_bound(bound: _Bound, row: Any, variant: VariantPublic) -> bool:
    found = _sku_measure(bound.name, row, variant)
    if found is None or found[1] != bound.quantity:
        return False
    return is_past(bound.direction, found[0], bound.value)


def _variant_answers(query: ProductQuery, variant: VariantPublic, named_colour: bool) -> bool:
    """Whether one SKU meets the query's SKU-level constraints: price, stock, colour, size.
    `named_colour`: the product's name carries its colour (no SKU has a colour option)."""
    if query.min_price is not None and variant.price < query.min_price:
        return False
    if query.max_price is not None and variant.price > query.max_price:
        return False
    if query.in_stock_only and not variant.in_stock:
        return False
    colours = variant_colours(variant.options)
    excluded = [c for c in query.exclude if is_colour_word(c.lower())]
    if colours and any(colour_covers(x, c) for x in excluded for c in colours):
        return False
    if (
        query.colours
        and colours
        and not any(colour_covers(w, c) for w in query.colours for c in colours)
    ):
        return False
    if query.colours and not colours and not named_colour:
        return False
    size = variant.options.get("size")
    return not query.sizes or (
        size not in (None, "") and any(size_covers(w, str(size)) for w in query.sizes)
    )


def search_catalogue(
    session: Session, query: ProductQuery, *, ranked: Sequence[str] | None = None
) -> CatalogueSearch:
    """The products that meet every constraint of `query`, counted, and a page of them.

    Product types, brands and the SKU's price and stock are filtered in SQL; colour families,
    sizes, gender, features and exclusions by `retail.product_query`'s rules over the
    candidates (a few hundred rows at most for a typed query). Price, colour, size and stock
    hold on one and the same SKU. Order: `query.sort`, or for relevance the `ranked` ids first
    (the search index's order for `query.text`), then the best rated.
    Raises NotFoundError for a category, brand or store that does not exist.
    """
    if query.store_id is not None:
        _require(session, Location, query.store_id, "location")
    conditions: list[ColumnElement[bool]] = []
    if query.categories:
        category_ids = resolve_categories(session, *query.categories)
        conditions.append(Product.category_id.in_(category_and_descendants(*category_ids)))
    if query.brands:
        brand_ids = [b for text in query.brands for b in resolve_brands(session, text)]
        conditions.append(Product.brand_id.in_(brand_ids))
    sku_conditions = _variant_conditions(
        min_price=query.min_price,
        max_price=query.max_price,
        in_stock=query.in_stock_only,
        store_id=query.store_id,
        colour=None,
        size=None,
    )
    if sku_conditions:
        conditions.append(exists().where(Variant.product_id == Product.id, *sku_conditions))
    rows = session.execute(
        _SUMMARY_COLUMNS.add_columns(
            Product.description, Product.materials, Product.attributes, Product.launched_on
        ).where(*conditions)
    ).all()
    variants, _ = _variants_of(session, [row.id for row in rows], query.store_id)
    compared = _compared(session, query.beyond) if query.beyond is not None else None
    wanted_features = [f for f in query.features if f.strip()]
    excluded_features = [x for x in query.exclude if not is_colour_word(x.lower())]
    survivors: list[tuple[Any, list[VariantPublic], frozenset[str]]] = []
    preferred: dict[str, int] = {}
    for row in rows:
        attributes = row.attributes or {}
        if not gender_allows(query.gender, product_gender(attributes, row.name, row.category_name)):
            continue
        if query.kinds and not any(name_is_kind(row.name, k) for k in query.kinds):
            continue
        own = variants.get(row.id, [])
        # An excluded option ("not leather" of a chair sold in leather and mesh) leaves out the
        # SKUs that have it; an excluded word of the product itself leaves out the product.
        by_option_out = [x for x in excluded_features if any(option_has(v.options, x) for v in own)]
        if wanted_features or excluded_features or query.prefer:
            text = ProductText(
                name=row.name,
                description=row.description or "",
                materials=row.materials,
                attributes=attributes,
                options=[v.options for v in own],
            )
            if not all(text.has(f) for f in wanted_features) or any(
                text.has(x) for x in excluded_features if x not in by_option_out
            ):
                continue
            preferred[row.id] = sum(text.has(w) for w in query.prefer)
        named_colour = not any(variant_colours(v.options) for v in own) and any(
            colour_covers(w, word) for w in query.colours for word in words(row.name)
        )
        # A feature some SKU has as an option ("4P", "glass") must hold on the SKU shown.
        by_option = [f for f in wanted_features if any(option_has(v.options, f) for v in own)]
        matching = frozenset(
            v.id
            for v in own
            if _variant_answers(query, v, named_colour)
            and all(option_has(v.options, f) for f in by_option)
            and not any(option_has(v.options, x) for x in by_option_out)
        )
        if matching:
            survivors.append((row, own, matching))
    # Wishes narrow to the products that say the most of them, when any says one: "fits my
    # laptop" keeps the packs that mention a laptop, and a wish none says changes nothing.
    most = max((preferred.get(row.id, 0) for row, _, _ in survivors), default=0)
    if query.prefer and most:
        survivors = [item for item in survivors if preferred.get(item[0].id, 0) == most]
    if compared is not None:
        # "Cheaper", "lighter": past the products compared against, on the SKU shown, among the
        # products the wishes narrowed to ("a cooler with wheels", then "cheaper?": cheaper
        # wheeled coolers, not soft ones because they are cheap).
        bound = compared[1]
        survivors = [
            (row, own, past)
            for row, own, matching in survivors
            if (
                past := frozenset(
                    v.id for v in own if v.id in matching and _past_bound(bound, row, v)
                )
            )
        ]
    survivors = _ordered(survivors, query, ranked)
    page = survivors[: query.limit]
    return CatalogueSearch(
        beyond=None if compared is None else compared[0],
        total=len(survivors),
        matches=[
            ProductMatch(
                summary=ProductSummary(**_summary_fields(row, own)),
                description=row.description or "",
                variants=own,
                matching_ids=matching,
            )
            for row, own, matching in page
        ],
    )


def _ordered(
    survivors: list[tuple[Any, list[VariantPublic], frozenset[str]]],
    query: ProductQuery,
    ranked: Sequence[str] | None,
) -> list[tuple[Any, list[VariantPublic], frozenset[str]]]:
    def lowest(item: tuple[Any, list[VariantPublic], frozenset[str]]) -> float:
        _, own, matching = item
        return min(v.price for v in own if v.id in matching)

    def best_rated(item: tuple[Any, list[VariantPublic], frozenset[str]]) -> tuple[Any, ...]:
        row = item[0]
        return (-(row.rating or 0.0), -(row.review_count or 0), row.name, row.id)

    by_rating = sorted(survivors, key=best_rated)
    if query.sort == "price_asc":
        return sorted(by_rating, key=lowest)
    if query.sort == "price_desc":
        return sorted(by_rating, key=lambda item: -max(v.price for v in item[1] if v.id in item[2]))
    if query.sort == "rating":
        return by_rating
    if query.sort == "newest":
        return sorted(by_rating, key=lambda item: item[0].launched_on or dt.date.min, reverse=True)
    if not ranked:
        return by_rating
    position = {pid: n for n, pid in enumerate(dict.fromkeys(ranked))}
    return sorted(by_rating, key=lambda item: position.get(item[0].id, len(position)))
