"""Documents built from the store: ids, chunking per type, payloads, content hashes."""

from __future__ import annotations

from sqlalchemy import Engine, update

from rag.documents import build_documents, split_sections
from retail.store.db import transaction
from retail.store.models import Policy, Variant
from tests.factories import Catalogue, seed_catalogue

POLICY = """# Returns

Intro words about returns.

## Return windows

30 days for members.

## Condition

Unworn, with tags.

### Opened items

Opened coffee is final sale.
"""


def _seed(engine: Engine) -> Catalogue:
    catalogue = seed_catalogue(engine)
    with transaction(engine) as session:
        session.add(Policy(id="returns", title="Returns", body=POLICY, source="generated"))
    return catalogue


def test_each_product_has_a_page_with_its_facts_and_payload(engine: Engine) -> None:
    c = _seed(engine)
    docs = {d.doc_id: d for d in build_documents(engine)}
    page = docs[f"product:{c.alpine}"]
    assert page.metadata["doc_type"] == "product"
    assert "Summit Gear" in page.text and "recycled nylon" in page.text
    assert f"SKU {c.alpine}-v1" in page.text  # exact SKUs are searchable terms
    meta = page.metadata
    assert meta["product_id"] == c.alpine
    assert meta["variant_ids"] == [f"{c.alpine}-v1", f"{c.alpine}-v2"]
    assert meta["price_min"] == 129.0 and meta["price_max"] == 139.0
    assert meta["colour"] == ["blue"] and meta["size"] == ["m", "s"]
    # The category and its ancestors, ids and names, lower-cased for filters.
    assert {c.jackets, c.outdoor, "jackets", "outdoor"} <= set(meta["category"])
    assert meta["brand"] == [c.summit, "summit gear"]
    assert meta["in_stock"] == [c.downtown] and meta["available"] == 1
    assert docs[f"size_guide:{c.alpine}"].metadata["doc_type"] == "size_guide"
    assert docs[f"review:{c.alpine}:0"].metadata["product_id"] == c.alpine


def test_policies_split_by_section_with_stable_ids(engine: Engine) -> None:
    _seed(engine)
    docs = {d.doc_id: d for d in build_documents(engine) if d.metadata["doc_type"] == "policy"}
    assert sorted(docs) == [
        "policy:returns#condition",
        "policy:returns#condition-opened-items",
        "policy:returns#overview",
        "policy:returns#return-windows",
    ]
    opened = docs["policy:returns#condition-opened-items"]
    assert opened.metadata["section"] == "Condition / Opened items"
    assert opened.metadata["policy_id"] == "returns"
    assert "final sale" in opened.text


def test_content_hash_follows_text_and_payload(engine: Engine) -> None:
    c = _seed(engine)
    before = {d.doc_id: d.content_hash for d in build_documents(engine)}
    assert before == {d.doc_id: d.content_hash for d in build_documents(engine)}
    with transaction(engine) as session:
        session.execute(update(Variant).where(Variant.id == f"{c.alpine}-v1").values(price=99.0))
    after = {d.doc_id: d.content_hash for d in build_documents(engine)}
    changed = {d for d in before if before[d] != after[d]}
    # The price is on the page and in every product document's payload; nothing else moved.
    assert changed and all(c.alpine in d for d in changed)


def test_split_sections_without_headings_is_one_overview() -> None:
    assert split_sections("# Title\n\nJust text.") == [("Overview", "Just text.")]
