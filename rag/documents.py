"""The documents the RAG index answers from, built from the store's database.

One builder per document type, all reading the same tables whichever source filled them (the
generated world, the tau2 and DummyJSON imports):
- `product`: the product page (name, brand, category, description, materials, care,
  attributes, per-variant options and prices) as one chunk; a product with many variants puts
  its variant list in further chunks, each repeating the product's header.
- `review`: a product's reviews, a few per chunk.
- `size_guide`: a product's size guide.
- `policy` / `faq`: store policy pages split at their `##` / `###` headings, one chunk per
  section.

Each document has a stable id (`product:P00001`, `policy:returns#condition`), a content hash
over its text and payload (incremental ingestion re-embeds only what changed), and the payload
the retrieval filters read. Keyword payload values are lower-cased so a filter matches whatever
case the shopper typed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from retail.store.models import (
    Brand,
    Category,
    InventoryPosition,
    Policy,
    Product,
    Review,
    Variant,
)

DOC_TYPES = ("product", "review", "size_guide", "policy", "faq")
# A product page past this many characters moves its variant list into chunks of its own: the
# embedding model reads only the first 256 word pieces, and the page's words should be those.
MAX_PAGE_CHARS = 1_800
VARIANTS_PER_CHUNK = 25
REVIEWS_PER_CHUNK = 5
# Attribute keys that are plumbing (image URLs, source ids), not something a shopper asks about.
SKIPPED_ATTRIBUTES = frozenset({"images", "thumbnail", "dummyjson_id", "dimensions", "options"})
_SEE_ALSO = re.compile(r"^See also: (.+)$", re.MULTILINE)
_HEADING = re.compile(r"^(#{2,3})\s+(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RagDocument:
    """One chunk to index: its id, text, and the payload stored beside its vectors."""

    doc_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Changes when the text or any payload field (price, stock, ...) changes."""
        digest = hashlib.sha256(self.text.encode())
        digest.update(json.dumps(self.metadata, sort_keys=True, default=str).encode())
        return digest.hexdigest()


@dataclass(slots=True)
class _ProductFacts:
    """What the product-level documents share: header text and filterable payload."""

    header: str
    payload: dict[str, Any]


def build_documents(engine: Engine) -> list[RagDocument]:
    """Every document of the catalogue and the policies, sorted by id."""
    docs = list(product_documents(engine)) + list(policy_documents(engine))
    return sorted(docs, key=lambda d: d.doc_id)


def product_documents(
    engine: Engine, product_ids: Collection[str] | None = None
) -> Iterator[RagDocument]:
    """Product pages, review chunks and size guides of every product (of `product_ids` only,
    when given: the pages as they read now, which a quoted passage is rebuilt from).

    A page names the SKUs that are sold (`Variant.available`) and their prices, the same rule
    as a product's card (`retail.catalog_queries.price_range`): a SKU not for sale has no price
    a shopper can pay, nor a colour or size they can buy."""
    with engine.connect() as conn:
        categories = {c.id: c for c in conn.execute(select(Category)).all()}
        brands = {b.id: b.name for b in conn.execute(select(Brand.id, Brand.name)).all()}
        variants: dict[str, list[Any]] = defaultdict(list)
        for v in conn.execute(
            select(Variant.id, Variant.product_id, Variant.options, Variant.price)
            .where(Variant.available.is_(True), *_of(Variant.product_id, product_ids))
            .order_by(Variant.id)
        ):
            variants[v.product_id].append(v)
        stocked: dict[str, set[str]] = defaultdict(set)
        for row in conn.execute(
            select(Variant.product_id, InventoryPosition.location_id)
            .join(InventoryPosition, InventoryPosition.variant_id == Variant.id)
            .where(
                InventoryPosition.on_hand - InventoryPosition.reserved > 0,
                *_of(Variant.product_id, product_ids),
            )
            .distinct()
        ):
            stocked[row.product_id].add(row.location_id.lower())
        reviews: dict[str, list[Any]] = defaultdict(list)
        for r in conn.execute(
            select(Review.product_id, Review.rating, Review.title, Review.body)
            .where(*_of(Review.product_id, product_ids))
            .order_by(Review.product_id, Review.id)
        ):
            reviews[r.product_id].append(r)
        products = conn.execute(
            select(*Product.__table__.columns)
            .where(*_of(Product.id, product_ids))
            .order_by(Product.id)
        ).all()
        for product in products:
            facts = _product_facts(
                product,
                _category_path(product.category_id, categories),
                brands.get(product.brand_id or ""),
                variants[product.id],
                stocked[product.id],
            )
            yield from _product_pages(product, facts, variants[product.id])
            for n, start in enumerate(range(0, len(reviews[product.id]), REVIEWS_PER_CHUNK)):
                chunk = reviews[product.id][start : start + REVIEWS_PER_CHUNK]
                lines = [f"{r.rating}/5 {r.title + ': ' if r.title else ''}{r.body}" for r in chunk]
                yield _doc(
                    f"review:{product.id}:{n}",
                    f"Reviews of {facts.header}\n" + "\n".join(lines),
                    facts,
                    doc_type="review",
                )
            if product.size_guide:
                yield _doc(
                    f"size_guide:{product.id}",
                    f"Size guide for {facts.header}\n{product.size_guide}",
                    facts,
                    doc_type="size_guide",
                )


def _of(column: Any, product_ids: Collection[str] | None) -> list[Any]:
    """The condition keeping rows of `product_ids` (none: every product's)."""
    return [] if product_ids is None else [column.in_(list(product_ids))]


def policy_documents(engine: Engine) -> Iterator[RagDocument]:
    """One document per section of every policy page (FAQs are policies whose id says so)."""
    with engine.connect() as conn:
        policies = conn.execute(select(*Policy.__table__.columns).order_by(Policy.id)).all()
        for policy in policies:
            doc_type = "faq" if policy.id.startswith("faq") else "policy"
            for section, body in split_sections(policy.body):
                yield RagDocument(
                    section_doc_id(policy.id, section),
                    f"{policy.title} - {section}\n{body}".strip(),
                    {
                        "doc_type": doc_type,
                        "policy_id": policy.id,
                        "section": section,
                        "title": policy.title,
                        "source": policy.source,
                    },
                )


def section_doc_id(policy_id: str, section: str) -> str:
    """The document id of one section of a policy page: `policy:returns#condition`."""
    return f"policy:{policy_id}#{_slug(section) or 'overview'}"


def see_also(body: str) -> list[str]:
    """The sections a policy section names on a "See also: A, B." line: the ones that must be
    read with it (what is final sale only makes sense with the conditions of a return)."""
    return [
        name.strip()
        for line in _SEE_ALSO.findall(body)
        for name in line.rstrip(".").split(", ")
        if name.strip()
    ]


def split_sections(markdown: str) -> list[tuple[str, str]]:
    """(section heading, body) per `##` / `###` heading; a `###` section is named with its
    `##` parent ("Modify pending order / Modify payment"). Text before the first heading is the
    "Overview" when it says more than the page title."""
    sections: list[tuple[str, str]] = []
    matches = list(_HEADING.finditer(markdown))
    intro = markdown[: matches[0].start()] if matches else markdown
    intro = "\n".join(line for line in intro.splitlines() if not line.startswith("# ")).strip()
    if intro:
        sections.append(("Overview", intro))
    parent = ""
    for i, match in enumerate(matches):
        level, heading = match.group(1), match.group(2).strip()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(markdown)
        body = markdown[match.end() : end].strip()
        if level == "##":
            parent = heading
            name = heading
        else:
            name = f"{parent} / {heading}" if parent else heading
        if body:
            sections.append((name, body))
    return sections


def _product_facts(
    product: Any,
    category_path: list[Any],
    brand: str | None,
    variants: list[Any],
    stocked: set[str],
) -> _ProductFacts:
    colours = sorted({str(v.options["color"]).lower() for v in variants if "color" in v.options})
    sizes = sorted({str(v.options["size"]).lower() for v in variants if "size" in v.options})
    prices = [float(v.price) for v in variants] or (
        [float(product.base_price)] if product.base_price is not None else []
    )
    category = " > ".join(c.name for c in category_path)
    header = (
        product.name + (f" by {brand}" if brand else "") + (f" ({category})" if category else "")
    )
    payload: dict[str, Any] = {
        "product_id": product.id,
        "title": product.name,
        "variant_ids": [v.id for v in variants],
        "category": sorted(
            {c.id.lower() for c in category_path} | {c.name.lower() for c in category_path}
        ),
        "brand": sorted({x.lower() for x in (product.brand_id, brand) if x}),
        "colour": colours,
        "size": sizes,
        "in_stock": sorted(stocked),
        "available": int(bool(stocked)),
        "source": product.source,
    }
    if prices:
        payload["price_min"] = min(prices)
        payload["price_max"] = max(prices)
    return _ProductFacts(header, payload)


def _product_pages(
    product: Any, facts: _ProductFacts, variants: list[Any]
) -> Iterator[RagDocument]:
    lines = [facts.header]
    if product.description:
        lines.append(product.description)
    if product.materials:
        lines.append(f"Materials: {product.materials}")
    if product.care:
        lines.append(f"Care: {product.care}")
    attributes = _attribute_text(product.attributes)
    if attributes:
        lines.append(f"Details: {attributes}")
    payload = facts.payload
    if payload["colour"]:
        lines.append("Colours: " + ", ".join(payload["colour"]))
    if payload["size"]:
        lines.append("Sizes: " + ", ".join(payload["size"]))
    if "price_min" in payload:
        low, high = payload["price_min"], payload["price_max"]
        lines.append(f"Price: ${low:.2f}" + (f" to ${high:.2f}" if high > low else ""))
    variant_lines = [_variant_line(v) for v in variants]
    page = "\n".join(lines + (["Variants:", *variant_lines] if variant_lines else []))
    if len(page) <= MAX_PAGE_CHARS:
        yield _doc(f"product:{product.id}", page, facts, doc_type="product")
        return
    yield _doc(f"product:{product.id}", "\n".join(lines), facts, doc_type="product")
    for n, start in enumerate(range(0, len(variant_lines), VARIANTS_PER_CHUNK)):
        chunk = variants[start : start + VARIANTS_PER_CHUNK]
        yield _doc(
            f"product:{product.id}:variants:{n}",
            f"Variants of {facts.header}\n" + "\n".join(variant_lines[start : start + len(chunk)]),
            facts,
            doc_type="product",
            variant_ids=[v.id for v in chunk],
        )


def _variant_line(variant: Any) -> str:
    options = ", ".join(f"{k} {v}" for k, v in variant.options.items())
    return f"SKU {variant.id}" + (f" ({options})" if options else "") + f": ${variant.price:.2f}"


def _attribute_text(attributes: Mapping[str, Any]) -> str:
    parts = []
    for key, value in attributes.items():
        if key in SKIPPED_ATTRIBUTES or value in (None, "", []):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)


def _doc(
    doc_id: str, text: str, facts: _ProductFacts, *, doc_type: str, **overrides: Any
) -> RagDocument:
    return RagDocument(doc_id, text, {**facts.payload, "doc_type": doc_type, **overrides})


def _category_path(category_id: str | None, categories: Mapping[str, Any]) -> list[Any]:
    """The category and its ancestors, department first (cycles cut)."""
    path: list[Any] = []
    seen: set[str] = set()
    while category_id and category_id in categories and category_id not in seen:
        seen.add(category_id)
        path.append(categories[category_id])
        category_id = categories[category_id].parent_id
    return path[::-1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
