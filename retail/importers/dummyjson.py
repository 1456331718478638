"""Importer for DummyJSON's products.json: products with descriptions, brands and reviews.

The catalogue is small but text-rich (descriptions, warranty, shipping and return terms, reviews),
which is what the RAG index and product-question evals need. DummyJSON ids are small integers that
would collide with other sources, so products are namespaced (`dj-1`); the SKU is the variant id.
Reviewer e-mail addresses are personal data and are never stored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import Engine

from retail.importers.common import (
    Id,
    Name,
    NonNegative,
    PreparedImport,
    Price,
    SourceFile,
    StrictRecord,
    load_json,
    read_file,
    slugify,
    validate,
    write_import,
)
from retail.importers.report import ImportReport
from retail.schemas import review_rating

SOURCE = "dummyjson"
DEPARTMENT_ID = "dummyjson"
DEPARTMENT_NAME = "DummyJSON catalogue"
PREFIX = "dj-"

Str200 = Annotated[str, StringConstraints(max_length=200)]
Rating = Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)]


class DummyReview(StrictRecord):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: str
    date: Annotated[dt.datetime, Field(strict=False)]  # ISO 8601 text in JSON
    reviewerName: Str200 | None = None


class DummyDimensions(StrictRecord):
    width: NonNegative
    height: NonNegative
    depth: NonNegative


class DummyMeta(StrictRecord):
    barcode: str | None = None


class DummyProduct(StrictRecord):
    # Fields are named as in the file (camelCase), so an error names the key a person sees.

    id: Annotated[int, Field(ge=1, lt=10**15)]
    title: Name
    description: str
    category: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    price: Price
    discountPercentage: Annotated[float, Field(ge=0, le=100)] = 0.0
    rating: Rating | None = None
    stock: Annotated[int, Field(ge=0)]
    tags: list[str] = []
    brand: Name | None = None
    sku: Id
    weight: NonNegative | None = None
    dimensions: DummyDimensions | None = None
    warrantyInformation: str | None = None
    shippingInformation: str | None = None
    availabilityStatus: str | None = None
    reviews: list[DummyReview] = []
    returnPolicy: str | None = None
    minimumOrderQuantity: Annotated[int, Field(ge=1)] | None = None
    meta: DummyMeta | None = None
    images: list[str] = []
    thumbnail: str | None = None


def _check_unique(file: SourceFile, products: list[DummyProduct]) -> None:
    # A repeated id or SKU would silently lose a record to insert-if-absent.
    seen_ids: dict[int, int] = {}
    seen_skus: dict[str, int] = {}
    for index, product in enumerate(products):
        if product.id in seen_ids:
            raise file.error(
                f"products[{index}].id", f"repeats the id of products[{seen_ids[product.id]}]"
            )
        if product.sku in seen_skus:
            raise file.error(
                f"products[{index}].sku", f"repeats the SKU of products[{seen_skus[product.sku]}]"
            )
        seen_ids[product.id] = index
        seen_skus[product.sku] = index


def _rows(products: list[DummyProduct]) -> dict[str, list[dict[str, Any]]]:
    categories: dict[str, dict[str, Any]] = {
        DEPARTMENT_ID: {
            "id": DEPARTMENT_ID,
            "name": DEPARTMENT_NAME,
            "parent_id": None,
            "source": SOURCE,
        }
    }
    brands: dict[str, dict[str, Any]] = {}
    product_rows: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    for product in products:
        pid = f"{PREFIX}{product.id}"
        category_id = f"{PREFIX}{slugify(product.category)}"
        categories.setdefault(
            category_id,
            {
                "id": category_id,
                "name": product.category.replace("-", " ").title(),
                "parent_id": DEPARTMENT_ID,
                "source": SOURCE,
            },
        )
        brand_id = None
        if product.brand:
            brand_id = f"{PREFIX}{slugify(product.brand)}" if slugify(product.brand) else None
            if brand_id:
                brands.setdefault(
                    brand_id,
                    {"id": brand_id, "name": product.brand, "tier": None, "source": SOURCE},
                )
        attributes = {
            "dummyjson_id": product.id,
            "sku": product.sku,
            "tags": list(product.tags),
            "stock": product.stock,
            "availability_status": product.availabilityStatus,
            "discount_percentage": product.discountPercentage,
            "minimum_order_quantity": product.minimumOrderQuantity,
            "weight": product.weight,
            "dimensions": product.dimensions.model_dump() if product.dimensions else None,
            "warranty": product.warrantyInformation,
            "shipping": product.shippingInformation,
            "return_policy": product.returnPolicy,
            "barcode": product.meta.barcode if product.meta else None,
            # DummyJSON's overall rating is not the mean of the reviews it ships (schemas.
            # review_rating): kept for reference, not shown as the product's rating.
            "source_rating": product.rating,
            "images": list(product.images),
            "thumbnail": product.thumbnail,
        }
        product_rows.append(
            {
                "id": pid,
                "name": product.title,
                "category_id": category_id,
                "brand_id": brand_id,
                "description": product.description,
                "materials": None,
                "care": None,
                "size_guide": None,
                "attributes": attributes,
                "base_price": product.price,
                "rating": review_rating([r.rating for r in product.reviews]),
                "review_count": len(product.reviews),
                "launched_on": None,
                "source": SOURCE,
            }
        )
        variants.append(
            {
                "id": product.sku,
                "product_id": pid,
                "options": {},
                "price": product.price,
                "unit_cost": None,
                "available": product.stock > 0,
                "source": SOURCE,
            }
        )
        for position, review in enumerate(product.reviews):
            reviews.append(
                {
                    "id": f"{pid}:review:{position}",
                    "product_id": pid,
                    "rating": review.rating,
                    "title": None,
                    "body": review.comment,
                    "author": review.reviewerName,
                    "created_at": review.date,
                    "source": SOURCE,
                }
            )
    return {
        "categories": list(categories.values()),
        "brands": list(brands.values()),
        "products": product_rows,
        "variants": variants,
        "reviews": reviews,
    }


def prepare_dummyjson(file: Path) -> PreparedImport:
    """Read and validate the whole products.json; nothing is written."""
    source = read_file(file)
    products = validate(
        source,
        list[DummyProduct],
        load_json(source),
        expected="a list of products",
        label="products",
    )
    _check_unique(source, products)
    tables = _rows(products)
    records_read = {
        "products": len(products),
        "variants": len(tables["variants"]),
        "reviews": len(tables["reviews"]),
        "categories": len({product.category for product in products}),
        "brands": len({product.brand for product in products if product.brand}),
    }
    return PreparedImport(SOURCE, source.path, [source], records_read, tables)


def import_dummyjson(engine: Engine, file: Path) -> ImportReport:
    """Import DummyJSON products (one variant each, with reviews) from `file`.

    The whole file is validated before anything is written, and everything is written in one
    transaction; re-running it adds nothing and never overwrites rows changed since.
    """
    return write_import(engine, prepare_dummyjson(file))
