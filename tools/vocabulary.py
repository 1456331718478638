"""The catalogue's own vocabulary, for the local brain's slot extraction.

Categories, brands, products, option values (colours, sizes, materials, ...) and stores, as the
shopper would write them. The local brain reads it once through this tool, so the NLU matches
exactly the words the catalogue uses, the grounding guard knows a product name when an answer
mentions one, and neither reaches the store itself.
"""

from __future__ import annotations

import re
from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retail.store.models import Brand, Category, Location, Product, Review, Variant
from tools.base import ROLES, ToolContext, tool

# Option keys that mean the same thing in different sources.
OPTION_ALIASES = {"colour": "color", "frame color": "color", "dial color": "color"}
# Option values too vague to be a slot on their own ("yes" is a value of `waterproof`).
_YES_NO = {"yes", "no", "true", "false"}
_PARTS = re.compile(r",| and |/")
_VAGUE = {"yes", "no", "none", "standard", "high", "low", "medium", "large", "small"}
# A word of the descriptions and reviews: three letters or more.
_WORD = re.compile(r"[a-z]{3,}")


class NamedRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str


class CategoryRef(NamedRef):
    parent_id: str | None = None


class ProductRef(NamedRef):
    category_id: str | None = None
    brand_id: str | None = None


class StoreRef(NamedRef):
    city: str | None = None
    kind: str


class Vocabulary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: list[CategoryRef] = Field(description="Every category, leaves and departments.")
    products: list[ProductRef] = Field(description="Every product's name and category.")
    brands: list[NamedRef]
    options: dict[str, list[str]] = Field(
        description="Option values by option name (color, size, material, ...), lower case."
    )
    stores: list[StoreRef]
    category_options: dict[str, list[str]] = Field(
        default_factory=dict,
        description="By category id, the option values other than colour and size its SKUs "
        'have ("4p", "road", "glass").',
    )
    features: list[str] = Field(
        default_factory=list,
        description="Features a product can have or lack, as its attributes name them "
        "(waterproof, insulated, noise cancelling), and the materials it is made of.",
    )
    text_words: list[str] = Field(
        default_factory=list,
        description="The words of the products' descriptions and reviews, lower case: the "
        "language the catalogue itself writes in (cosy, festival, exercise).",
    )
    sku_shapes: list[str] = Field(
        default_factory=list,
        description="The shapes of the catalogue's SKU ids, each letter written A and each "
        "digit 9 ('A99999-AAA-AA' for P00035-GRP-XL, '9999999999' for a ten-digit item id): "
        "how a SKU typed from a label is told from words, whatever the catalogue.",
    )
    product_id_shapes: list[str] = Field(
        default_factory=list, description="The shapes of the product ids, written the same way."
    )


def id_shape(ident: str) -> str:
    """An id's shape: each letter A, each digit 9, anything else as it is ("P00035-GRP-L" is
    "A99999-AAA-A")."""
    return "".join("A" if c.isalpha() else "9" if c.isdigit() else c for c in ident)


@tool(roles=ROLES)
def catalogue_vocabulary(ctx: ToolContext) -> Vocabulary:
    """The words the catalogue uses: category and brand names, option values (colours, sizes,
    materials) and stores. Use it to understand what a shopper's words refer to."""
    with Session(ctx.engine) as session:
        categories = session.execute(
            select(Category.id, Category.name, Category.parent_id)
            .where(
                Category.id.in_(select(Product.category_id).distinct())
                | Category.parent_id.is_(None)
            )
            .order_by(Category.id)
        ).all()
        brands = session.execute(select(Brand.id, Brand.name).order_by(Brand.id)).all()
        products = session.execute(
            select(
                Product.id, Product.name, Product.category_id, Product.brand_id, Product.attributes
            ).order_by(Product.id)
        ).all()
        options: dict[str, set[str]] = defaultdict(set)
        by_category: dict[str, set[str]] = defaultdict(set)
        sku_shapes: set[str] = set()
        for sku, opts, category_id in session.execute(
            select(Variant.id, Variant.options, Product.category_id).join(
                Product, Product.id == Variant.product_id
            )
        ):
            sku_shapes.add(id_shape(sku))
            for key, value in (opts or {}).items():
                text = str(value).strip().lower()
                if text and text not in _VAGUE:
                    name = OPTION_ALIASES.get(key.lower(), key.lower())
                    options[name].add(text)
                    if category_id and name not in ("color", "size"):
                        by_category[category_id].add(text)
        stores = session.execute(
            select(Location.id, Location.name, Location.city, Location.kind).order_by(Location.id)
        ).all()
        text_words: set[str] = set()
        said = select(Product.description).union_all(select(Review.body))
        for (text,) in session.execute(said):
            text_words.update(_WORD.findall((text or "").lower()))
    features: set[str] = set(options.get("material", ()))
    for product in products:
        for key, value in (product.attributes or {}).items():
            text = str(value).strip().lower()
            # A yes/no attribute is a feature a shopper asks for by its name ("waterproof").
            if text in _YES_NO:
                features.add(key.lower())
            elif key.lower() == "material":
                features.update(part.strip() for part in _PARTS.split(text) if part.strip())
    return Vocabulary(
        categories=[CategoryRef(id=c.id, name=c.name, parent_id=c.parent_id) for c in categories],
        brands=[NamedRef(id=b.id, name=b.name) for b in brands],
        products=[
            ProductRef(id=p.id, name=p.name, category_id=p.category_id, brand_id=p.brand_id)
            for p in products
        ],
        features=sorted(features),
        text_words=sorted(text_words),
        sku_shapes=sorted(sku_shapes),
        product_id_shapes=sorted({id_shape(p.id) for p in products}),
        options={k: sorted(v) for k, v in sorted(options.items())},
        category_options={k: sorted(v) for k, v in sorted(by_category.items())},
        stores=[StoreRef(id=s.id, name=s.name, city=s.city, kind=s.kind) for s in stores],
    )
