"""Importer for the tau2-bench retail domain: products, users, orders (db.json) and policy.md.

Source identifiers are kept as Aisle's identifiers (product and item ids, `yara_li_8961`,
`#W2611340`), so tasks written against tau2 run unchanged. Child rows get ids derived from their
parent and position: an order may hold the same item twice, and positions keep the two apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints
from sqlalchemy import Engine

from retail.errors import DataFileError
from retail.importers.common import (
    Id,
    Name,
    NonNegative,
    PreparedImport,
    Price,
    SourceFile,
    StrictRecord,
    decode_text,
    load_json,
    one_of,
    read_file,
    require_directory,
    slugify,
    validate,
    write_import,
)
from retail.importers.report import ImportReport
from retail.store.models import ORDER_STATUSES

SOURCE = "tau2"
DEPARTMENT_ID = "tau2"
DEPARTMENT_NAME = "tau2 retail catalogue"
POLICY_ID = "tau2-retail-policy"

Str20 = Annotated[str, StringConstraints(max_length=20)]
Str50 = Annotated[str, StringConstraints(max_length=50)]
Str100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")]
LastFour = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
OptionValue = str | int | float | bool


class Tau2Variant(StrictRecord):
    item_id: Id
    options: dict[str, OptionValue]
    available: bool
    price: Price


class Tau2Product(StrictRecord):
    name: Name
    product_id: Id
    variants: dict[str, Tau2Variant]


class Tau2PersonName(StrictRecord):
    first_name: Str100
    last_name: Str100


class Tau2Address(StrictRecord):
    address1: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    address2: Str200 = ""
    city: Str100
    country: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    state: Str50 = ""
    zip: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class Tau2PaymentMethod(StrictRecord):
    source: Annotated[Str20, one_of("credit_card", "paypal", "gift_card")]
    id: Id
    brand: Annotated[str, StringConstraints(max_length=30)] | None = None
    last_four: LastFour | None = None
    balance: NonNegative | None = None


class Tau2User(StrictRecord):
    user_id: Id
    name: Tau2PersonName
    address: Tau2Address
    email: Email
    payment_methods: dict[str, Tau2PaymentMethod]
    orders: list[str] = []


class Tau2OrderItem(StrictRecord):
    name: Name
    product_id: Id
    item_id: Id
    price: Price
    options: dict[str, OptionValue]


class Tau2Fulfillment(StrictRecord):
    tracking_id: list[str]
    item_ids: list[str]


class Tau2Transaction(StrictRecord):
    transaction_type: Annotated[str, one_of("payment", "refund")]
    amount: Price
    payment_method_id: Id


class Tau2Order(StrictRecord):
    # Keys tau2 adds to orders (timestamps, notes) are kept in `Order.details`, not dropped.
    model_config = ConfigDict(extra="allow")

    order_id: Id
    user_id: Id
    address: Tau2Address
    items: Annotated[list[Tau2OrderItem], Field(min_length=1)]
    status: Annotated[str, one_of(*ORDER_STATUSES)]
    fulfillments: list[Tau2Fulfillment]
    payment_history: list[Tau2Transaction]


class Tau2Database(StrictRecord):
    products: dict[str, Tau2Product]
    users: dict[str, Tau2User]
    orders: dict[str, Tau2Order]


def _check_references(file: SourceFile, db: Tau2Database) -> None:
    """Refuse a file whose records point at records it does not hold.

    The foreign keys would refuse it too, but half-way through the write and in the database's
    words; here the message names the record.
    """
    product_of_item: dict[str, str] = {}
    for key, product in db.products.items():
        if product.product_id != key:
            raise file.error(f"products[{key!r}].product_id", "does not match its key")
        for item_key, variant in product.variants.items():
            where = f"products[{key!r}].variants[{item_key!r}].item_id"
            if variant.item_id != item_key:
                raise file.error(where, "does not match its key")
            if item_key in product_of_item:
                raise file.error(
                    where, f"is also a variant of product {product_of_item[item_key]!r}"
                )
            product_of_item[item_key] = key

    owner_of_method: dict[str, str] = {}
    for key, user in db.users.items():
        if user.user_id != key:
            raise file.error(f"users[{key!r}].user_id", "does not match its key")
        for method_key, method in user.payment_methods.items():
            where = f"users[{key!r}].payment_methods[{method_key!r}].id"
            if method.id != method_key:
                raise file.error(where, "does not match its key")
            if method_key in owner_of_method:
                other = owner_of_method[method_key]
                raise file.error(where, f"is also a payment method of {other!r}")
            owner_of_method[method_key] = key

    for key, order in db.orders.items():
        here = f"orders[{key!r}]"
        if order.order_id != key:
            raise file.error(f"{here}.order_id", "does not match its key")
        if order.user_id not in db.users:
            raise file.error(f"{here}.user_id", f"names no user in the file ({order.user_id!r})")
        for position, item in enumerate(order.items):
            owner = product_of_item.get(item.item_id)
            if owner is None:
                raise file.error(
                    f"{here}.items[{position}].item_id",
                    f"names no variant in the file ({item.item_id!r})",
                )
            if owner != item.product_id:
                raise file.error(
                    f"{here}.items[{position}].product_id",
                    f"is {item.product_id!r} but item {item.item_id!r} belongs to {owner!r}",
                )
        for position, fulfillment in enumerate(order.fulfillments):
            for index, item_id in enumerate(fulfillment.item_ids):
                if item_id not in product_of_item:
                    raise file.error(
                        f"{here}.fulfillments[{position}].item_ids[{index}]",
                        f"names no variant in the file ({item_id!r})",
                    )
        for position, transaction in enumerate(order.payment_history):
            if owner_of_method.get(transaction.payment_method_id) != order.user_id:
                raise file.error(
                    f"{here}.payment_history[{position}].payment_method_id",
                    f"{transaction.payment_method_id!r} is not a payment method of "
                    f"{order.user_id!r}",
                )


def _policy_title(file: SourceFile, body: str) -> str:
    match = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", body, flags=re.MULTILINE)
    if match is None:
        raise DataFileError(f"{file.path} has no markdown heading to take the policy title from.")
    title = match.group(1).strip()
    if len(title) > 200:
        raise file.error("first heading", "is longer than 200 characters")
    return title


def _rows(db: Tau2Database, policy_title: str, policy_body: str) -> dict[str, list[dict[str, Any]]]:
    categories: dict[str, dict[str, Any]] = {
        DEPARTMENT_ID: {
            "id": DEPARTMENT_ID,
            "name": DEPARTMENT_NAME,
            "parent_id": None,
            "source": SOURCE,
        }
    }
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    for product in db.products.values():
        category_id = f"{DEPARTMENT_ID}-{slugify(product.name)}"
        categories.setdefault(
            category_id,
            {"id": category_id, "name": product.name, "parent_id": DEPARTMENT_ID, "source": SOURCE},
        )
        # The vocabulary of each option (sizes, colours, ...), for search filters and slot
        # extraction, without scanning every variant.
        option_values: dict[str, set[str]] = {}
        for variant in product.variants.values():
            for option, value in variant.options.items():
                option_values.setdefault(option, set()).add(str(value))
            variants.append(
                {
                    "id": variant.item_id,
                    "product_id": product.product_id,
                    "options": dict(variant.options),
                    "price": variant.price,
                    "unit_cost": None,
                    "available": variant.available,
                    "source": SOURCE,
                }
            )
        products.append(
            {
                "id": product.product_id,
                "name": product.name,
                "category_id": category_id,
                "brand_id": None,
                "description": "",
                "materials": None,
                "care": None,
                "size_guide": None,
                "attributes": {
                    "options": {name: sorted(values) for name, values in option_values.items()}
                },
                "base_price": None,
                "rating": None,
                "review_count": 0,
                "launched_on": None,
                "source": SOURCE,
            }
        )

    customers: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    methods: list[dict[str, Any]] = []
    for user in db.users.values():
        customers.append(
            {
                "id": user.user_id,
                "first_name": user.name.first_name,
                "last_name": user.name.last_name,
                "email": user.email,
                "loyalty_tier": None,
                "marketing_consent": False,
                "home_store_id": None,
                "created_at": None,
                "source": SOURCE,
            }
        )
        address = user.address
        addresses.append(
            {
                "id": f"{user.user_id}:default",
                "customer_id": user.user_id,
                "is_default": True,
                "address1": address.address1,
                "address2": address.address2 or None,
                "city": address.city,
                "state": address.state or None,
                "country": address.country,
                "zip": address.zip,
            }
        )
        for method in user.payment_methods.values():
            methods.append(
                {
                    "id": method.id,
                    "customer_id": user.user_id,
                    "kind": method.source,
                    "brand": method.brand,
                    "last_four": method.last_four,
                    "balance": method.balance,
                }
            )

    orders: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    fulfillments: list[dict[str, Any]] = []
    for order in db.orders.values():
        oid = order.order_id
        orders.append(
            {
                "id": oid,
                "customer_id": order.user_id,
                "status": order.status,
                "channel": "online",
                "location_id": None,
                "shipping_address": order.address.model_dump(),
                # tau2 orders carry no timestamp; inventing one would be a made-up fact.
                "created_at": None,
                "details": dict(order.model_extra or {}),
                "source": SOURCE,
            }
        )
        for position, item in enumerate(order.items):
            items.append(
                {
                    "id": f"{oid}:{position}",
                    "order_id": oid,
                    "position": position,
                    "variant_id": item.item_id,
                    "product_id": item.product_id,
                    "name": item.name,
                    "price": item.price,
                    "quantity": 1,
                    "options": dict(item.options),
                }
            )
        for position, transaction in enumerate(order.payment_history):
            payments.append(
                {
                    "id": f"{oid}:pay:{position}",
                    "order_id": oid,
                    "position": position,
                    "transaction_type": transaction.transaction_type,
                    "amount": transaction.amount,
                    "payment_method_id": transaction.payment_method_id,
                }
            )
        for position, fulfillment in enumerate(order.fulfillments):
            fulfillments.append(
                {
                    "id": f"{oid}:ful:{position}",
                    "order_id": oid,
                    "position": position,
                    "tracking_ids": list(fulfillment.tracking_id),
                    "variant_ids": list(fulfillment.item_ids),
                }
            )

    policy = {"id": POLICY_ID, "title": policy_title, "body": policy_body, "source": SOURCE}
    return {
        "categories": list(categories.values()),
        "products": products,
        "variants": variants,
        "customers": customers,
        "addresses": addresses,
        "payment_methods": methods,
        "orders": orders,
        "order_items": items,
        "payments": payments,
        "fulfillments": fulfillments,
        "policies": [policy],
    }


def prepare_tau2(directory: Path) -> PreparedImport:
    """Read and validate the whole tau2 retail folder; nothing is written."""
    folder = require_directory(directory, "db.json and policy.md")
    db_file = read_file(folder / "db.json")
    policy_file = read_file(folder / "policy.md")
    db = validate(
        db_file,
        Tau2Database,
        load_json(db_file),
        expected="an object with products, users and orders",
    )
    _check_references(db_file, db)
    policy_body = decode_text(policy_file)
    title = _policy_title(policy_file, policy_body)
    tables = _rows(db, title, policy_body)
    records_read = {
        "products": len(db.products),
        "variants": len(tables["variants"]),
        "customers": len(db.users),
        "addresses": len(tables["addresses"]),
        "payment_methods": len(tables["payment_methods"]),
        "orders": len(db.orders),
        "order_items": len(tables["order_items"]),
        "payments": len(tables["payments"]),
        "fulfillments": len(tables["fulfillments"]),
        "policies": 1,
    }
    return PreparedImport(SOURCE, folder, [db_file, policy_file], records_read, tables)


def import_tau2(engine: Engine, directory: Path) -> ImportReport:
    """Import the tau2-bench retail domain from `directory` (db.json and policy.md).

    The whole folder is validated before anything is written, and everything is written in one
    transaction; re-running it adds nothing and never overwrites rows changed since.
    """
    return write_import(engine, prepare_tau2(directory))
