"""The relational schema of the retail domain (SQLAlchemy 2 typed ORM).

Identifiers are strings so that imported records keep their source identifiers (tau2 user ids such
as `yara_li_8961`, order ids such as `#W3400144`) as the ids every layer accepts. Child rows of
imported records get deterministic ids derived from their parent so re-importing is idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
Money = Numeric(12, 2, asdecimal=False)
Id = String(64)

ORDER_STATUSES = (
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "return requested",
    "exchange requested",
)
SOURCES = ("generated", "tau2", "dummyjson", "walmart")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType}


class Category(Base):
    """A node of the category hierarchy; departments have no parent."""

    __tablename__ = "categories"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), index=True)


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), index=True)


class Product(Base):
    """A product type; what is sold and stocked is one of its variants."""

    __tablename__ = "products"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), index=True)
    brand_id: Mapped[str | None] = mapped_column(ForeignKey("brands.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    materials: Mapped[str | None] = mapped_column(Text)
    care: Mapped[str | None] = mapped_column(Text)
    size_guide: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_price: Mapped[float | None] = mapped_column(Money)
    rating: Mapped[float | None] = mapped_column(Float)
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    launched_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), index=True)

    variants: Mapped[list[Variant]] = relationship(back_populates="product", order_by="Variant.id")
    category: Mapped[Category | None] = relationship()
    brand: Mapped[Brand | None] = relationship()


class Variant(Base):
    """A sellable SKU: a product with its options (size, colour, material, ...)."""

    __tablename__ = "variants"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    price: Mapped[float] = mapped_column(Money)
    unit_cost: Mapped[float | None] = mapped_column(Money)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16), index=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16), index=True)


class Location(Base):
    """A store, the distribution centre, or the online channel."""

    __tablename__ = "locations"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # store | dc | online
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(50))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    size_factor: Mapped[float] = mapped_column(Float, default=1.0)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), index=True)


class Supplier(Base):
    """A vendor; lead times are a distribution (mean and spread in days), not a constant."""

    __tablename__ = "suppliers"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lead_time_mean_days: Mapped[float] = mapped_column(Float)
    lead_time_sd_days: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), index=True)


class SupplierItem(Base):
    """What a supplier charges for a SKU and how it must be ordered."""

    __tablename__ = "supplier_items"
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    unit_cost: Mapped[float] = mapped_column(Money)
    case_pack: Mapped[int] = mapped_column(Integer, default=1)
    moq: Mapped[int] = mapped_column(Integer, default=1)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)


class InventoryPosition(Base):
    __tablename__ = "inventory"
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    on_order: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    shelf_capacity: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    loyalty_tier: Mapped[str | None] = mapped_column(String(16))  # member | silver | gold
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    home_store_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16), index=True)

    addresses: Mapped[list[Address]] = relationship(order_by="Address.id")
    payment_methods: Mapped[list[PaymentMethod]] = relationship(order_by="PaymentMethod.id")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=True)
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str] = mapped_column(String(50))
    zip: Mapped[str] = mapped_column(String(20))


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # credit_card | paypal | gift_card
    brand: Mapped[str | None] = mapped_column(String(30))
    last_four: Mapped[str | None] = mapped_column(String(4))
    balance: Mapped[float | None] = mapped_column(Money)


class Order(Base):
    """A customer order; statuses and payment history follow the tau2 retail domain."""

    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="online")
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(16), index=True)

    items: Mapped[list[OrderItem]] = relationship(order_by="OrderItem.position")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.position")
    fulfillments: Mapped[list[Fulfillment]] = relationship(order_by="Fulfillment.position")


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(300))
    price: Mapped[float] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    transaction_type: Mapped[str] = mapped_column(String(16))  # payment | refund
    amount: Mapped[float] = mapped_column(Money)
    payment_method_id: Mapped[str] = mapped_column(String(64))


class Fulfillment(Base):
    __tablename__ = "fulfillments"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[Any]] = mapped_column(default=list)
    variant_ids: Mapped[list[Any]] = mapped_column(default=list)


class PurchaseOrder(Base):
    """An order to a supplier; created only from an approved proposal (later issues)."""

    __tablename__ = "purchase_orders"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | received | cancelled
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expected_on: Mapped[dt.date | None] = mapped_column(Date)
    # Executing a proposal is idempotent on its id: at most one PO per proposal.
    proposal_id: Mapped[str | None] = mapped_column(Id, unique=True)
    source: Mapped[str] = mapped_column(String(16), index=True)

    lines: Mapped[list[PurchaseOrderLine]] = relationship(order_by="PurchaseOrderLine.variant_id")


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    purchase_order_id: Mapped[str] = mapped_column(
        ForeignKey("purchase_orders.id"), primary_key=True
    )
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[float] = mapped_column(Money)


# The reason of a price change that marks a SKU down from its list price.
MARKDOWN = "markdown"
LIST_CHANGE = "list_change"


class PriceChange(Base):
    """Price history: the list price of a SKU from a date on (markdowns included)."""

    __tablename__ = "price_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    price: Mapped[float] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(32))  # launch | list_change | markdown
    # The approved price_change proposal a row executes (none for launches and the world's own
    # history); the unique key also finds a proposal's rows, so executing it twice writes none.
    proposal_id: Mapped[str | None] = mapped_column(Id)
    __table_args__ = (
        Index("ix_price_history_variant_date", "variant_id", "effective_on"),
        UniqueConstraint(
            "proposal_id", "variant_id", "effective_on", name="uq_price_history_proposal_step"
        ),
    )


class Promotion(Base):
    __tablename__ = "promotions"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    discount_pct: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), index=True)


class PromotionItem(Base):
    __tablename__ = "promotion_items"
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)


class DailySales(Base):
    """Units sold per SKU, location and day. Days with no sale and no stock-out have no row.

    No foreign keys here or on shopper events: these are the bulk fact tables (millions of rows at
    the medium scale), loaded with COPY after their dimensions, and key checks would double the
    load time for no protection the loader does not already give.
    """

    __tablename__ = "daily_sales"
    variant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    location_id: Mapped[str] = mapped_column(Id, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Money)
    price: Mapped[float] = mapped_column(Money)
    on_promo: Mapped[bool] = mapped_column(Boolean, default=False)
    # A stock-out censors the day's sales: demand was at least `units`, maybe more.
    stockout: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_daily_sales_location_day", "location_id", "day"),)


class ShopperEvent(Base):
    __tablename__ = "shopper_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[str | None] = mapped_column(Id, index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # view | click | add_to_cart | purchase | search
    event_type: Mapped[str] = mapped_column(String(16))
    variant_id: Mapped[str | None] = mapped_column(Id)
    product_id: Mapped[str | None] = mapped_column(Id, index=True)
    query: Mapped[str | None] = mapped_column(String(300))
    # The served recommendation a click, cart add or purchase came from (attribution).
    recommendation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # A purchase's revenue in the store's currency.
    value: Mapped[float | None] = mapped_column(Money)


class RecommendationServed(Base):
    """One recommendation response: the exposure that attribution, experiments and off-policy
    evaluation read. `unit_id` is what experiments assign: the customer id of a signed-in shopper,
    or `session:<session id>` for an anonymous visitor."""

    __tablename__ = "recommendations_served"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the recommendation_id
    served_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    placement: Mapped[str] = mapped_column(String(16))  # home | product | cart | post_purchase
    unit_id: Mapped[str] = mapped_column(String(100), index=True)
    customer_id: Mapped[str | None] = mapped_column(Id)
    session_id: Mapped[str | None] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    arm: Mapped[str | None] = mapped_column(String(64))
    # The probability the logging policy had of choosing this arm (off-policy evaluation).
    propensity: Mapped[float | None] = mapped_column(Float)
    items: Mapped[list[Any]] = mapped_column(default=list)  # product ids, best first
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)  # device, product viewed, ...


class RecommendationShadow(Base):
    """The list a shadow recommender version computed for a served request: never shown, kept
    apart from `recommendations_served` so exposures, experiments and attribution never count
    it; compared with the served list on the clicks and purchases that request got."""

    __tablename__ = "recommendations_shadow"
    recommendation_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    placement: Mapped[str] = mapped_column(String(16))
    items: Mapped[list[Any]] = mapped_column(default=list)  # product ids, best first


class Experiment(Base):
    """An experiment over recommendation strategies. Units hash (with `salt`) into one of a
    layer's buckets; experiments in one layer own disjoint bucket ranges, so they never share a
    unit. `arms` is a list of {name, weight, config}; a config chooses a model, rules or weights."""

    __tablename__ = "experiments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    layer: Mapped[str] = mapped_column(String(64), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft | running | stopped
    # live: the storefront's visitors; simulated: only `aisle simulate traffic` enrols units.
    audience: Mapped[str] = mapped_column(String(16), server_default="live")
    traffic: Mapped[float] = mapped_column(Float)  # share of the layer's units, 0-1
    arms: Mapped[list[Any]] = mapped_column()
    primary_metric: Mapped[str] = mapped_column(String(32))
    planned_units: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MonitorAlert(Base):
    """A drift, supply or forecast-performance alert of the monitor (`ml_core.monitoring`), one per
    check, feature, segment and as-of day: a re-run of the same day replaces it. `segment` is the
    segment's key ({"category": "Tents", "location": "S003"}); `retrain_kind` names the model
    kind a retraining job should train a challenger of, when one would help."""

    __tablename__ = "monitor_alerts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # drift | supply | forecast | ctr | elasticity
    feature: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(32))
    segment: Mapped[dict[str, Any]] = mapped_column()
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    since: Mapped[dt.date] = mapped_column(Date)
    effect: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    retrain_kind: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Policy(Base):
    """A store policy or FAQ page (markdown)."""

    __tablename__ = "policies"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), index=True)


class DepartmentWeeklySales(Base):
    """Weekly sales of a store department with its covariates (the Walmart data's shape)."""

    __tablename__ = "department_weekly_sales"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sales: Mapped[float] = mapped_column(Float)
    is_holiday: Mapped[bool] = mapped_column(Boolean)
    covariates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(16), index=True)


class DatasetLoad(Base):
    """One row per generated world or imported file: what was loaded, from where, when."""

    __tablename__ = "dataset_loads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16), index=True)
    location: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("source", "content_hash", name="uq_dataset_loads_source_hash"),
    )


class CatalogVersion(Base):
    """The catalogue's version: one row whose counter every write of what a shopper can buy or
    pay (stock, prices, whether a SKU is offered) moves in its own transaction
    (`retail.catalog_version`), so a process holding a snapshot of the catalogue can tell with
    one primary-key read that it is stale."""

    __tablename__ = "catalog_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class FeedBatch(Base):
    """One daily feed file (sales, an inventory snapshot, a catalogue update) and what became of
    it: accepted (its rows were applied in the same transaction as this row) or quarantined
    (nothing applied; the file is kept under the var dir and `reason` says why in one sentence).

    The models read only the tables accepted batches write to, so a quarantined batch never
    reaches one. A file is accepted at most once (the partial unique index); a quarantined one
    may be sent again, corrected or once what it was missing has arrived.
    """

    __tablename__ = "feed_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # sales | inventory | catalog
    status: Mapped[str] = mapped_column(String(16), index=True)  # accepted | quarantined
    reason: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    last_day: Mapped[dt.date | None] = mapped_column(Date)
    # The checks' figures (units per store-day against their history, stock totals, ...).
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kept_at: Mapped[str | None] = mapped_column(Text)  # a quarantined file's copy
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    loaded_by: Mapped[str] = mapped_column(String(100))
    __table_args__ = (
        Index(
            "uq_feed_batches_accepted_content",
            "kind",
            "content_hash",
            unique=True,
            sqlite_where=text("status = 'accepted'"),
            postgresql_where=text("status = 'accepted'"),
        ),
    )


class Proposal(Base):
    """What an operations agent wants to write (a purchase order, a price change).

    Nothing is written until a person approves; approval is bound to `content_hash`, so a proposal
    whose content changed after it was read cannot be approved, and executing is idempotent on
    the proposal id (`executed_ref` names what it created).
    """

    __tablename__ = "proposals"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # purchase_order | price_change
    status: Mapped[str] = mapped_column(String(16), index=True)
    # proposed | approved | edited | rejected | executed | expired
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str | None] = mapped_column(Id, index=True)
    proposer: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    executed_ref: Mapped[str | None] = mapped_column(Id)
    # Versions of the models and data the proposal was computed from, for tracing and rollback.
    model_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # At most one open proposal per content: two planners running at once cannot both write it.
    __table_args__ = (
        Index(
            "uq_proposals_open_content",
            "kind",
            "location_id",
            "content_hash",
            unique=True,
            sqlite_where=text("status = 'proposed'"),
            postgresql_where=text("status = 'proposed'"),
        ),
    )


class ForecastRun(Base):
    """One `aisle forecast run`: which model version forecast what, and when."""

    __tablename__ = "forecast_runs"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    first_day: Mapped[dt.date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ForecastValue(Base):
    """Daily forecast of one SKU at one location, with its quantiles."""

    __tablename__ = "forecasts"
    run_id: Mapped[str] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    variant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    location_id: Mapped[str] = mapped_column(Id, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    mean: Mapped[float] = mapped_column(Float)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)


class ForecastAggregate(Base):
    """A reconciled forecast of one node above SKU x location (a category in a region, the
    chain, ...): the sum of its SKU-location forecasts in the same run, with its own quantiles."""

    __tablename__ = "forecast_aggregates"
    run_id: Mapped[str] = mapped_column(ForeignKey("forecast_runs.id"), primary_key=True)
    node: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(64), index=True)
    mean: Mapped[float] = mapped_column(Float)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)


class JobRun(Base):
    """One run of a batch job (`aisle jobs run`): what started it, how it ended, the model
    versions it produced and the promotion gate's decision on them."""

    __tablename__ = "job_runs"
    __table_args__ = (
        # One running run per model kind: the claim that makes two schedulers racing for the
        # same retrain run it once (`evals.jobs`).
        Index(
            "uq_job_runs_running_kind",
            "kind",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(200))  # schedule | manual | drift: ... | ...
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | died
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Who runs it (host, process id, process start) and when it last said it was alive: a run
    # whose process is gone, or whose heartbeat stopped for longer than its lease, died.
    holder: Mapped[dict[str, Any]] = mapped_column(default=dict)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    versions: Mapped[list[Any]] = mapped_column(default=list)
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    """One audited action: a tool call, a grounding-guard decision, an approval or an execution.

    Append-only and hash-chained: `hash` is the SHA-256 of the event's canonical JSON, which
    includes `prev_hash`, so editing, deleting or reordering any event breaks every later link.
    Column names follow OpenTelemetry's GenAI semantic conventions where one exists
    (`gen_ai.conversation.id` is `conversation_id`, and so on). `occurred_at` is ISO-8601 text so
    that it hashes the same after a round trip through either database.
    """

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    occurred_at: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(32), index=True)
    principal_id: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(100), index=True)
    agent_name: Mapped[str | None] = mapped_column(String(64))
    tool_name: Mapped[str | None] = mapped_column(String(64), index=True)
    tool_call_id: Mapped[str | None] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result_digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    brain: Mapped[str | None] = mapped_column(String(32))
    model_version: Mapped[str | None] = mapped_column(String(100))
    approval_id: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's tip (one row): appends serialise on it, and it exposes a truncated tail."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """A key that authenticates API requests as one principal.

    Only the SHA-256 of the key is stored, so a leaked table does not leak working keys; the
    key itself is shown once, when it is issued (demo keys are derived from the secret key and
    can be shown again by `aisle users keys`).
    """

    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(Id)
    store_id: Mapped[str | None] = mapped_column(Id)
    label: Mapped[str] = mapped_column(String(100), index=True)  # e.g. "demo", "bench"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class IdempotencyRecord(Base):
    """One `Idempotency-Key` a principal used on a write: the request it named (a fingerprint
    of method, path and body) and, once answered, the response to replay.

    The primary key makes the first request with a key the only one that runs, whichever API
    worker receives it; the others see the record (in flight or answered) and do not run.
    """

    __tablename__ = "idempotency_keys"
    principal_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | done
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WriteConfirmation(Base):
    """A write a principal was asked to confirm, named by its action digest (the tool and its
    exact arguments), and whether that confirmation was used.

    Asked and used by whichever process serves the principal (`retail.confirmations`): the
    question may come from one MCP server process and the yes reach another, and the write
    claims the row in its own transaction, so one confirmation writes at most once.
    """

    __tablename__ = "write_confirmations"
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)  # ROLE:ID[@STORE]
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
