"""A labelled query set for the RAG index, derived from the store's own data.

The queries are generated, not hand-labelled: each is built from one product's or one policy
section's facts, and its relevant ids are the store's ids that the same facts select. So it works
on any store (the generated world, the tau2 and DummyJSON imports) and is deterministic for a
given store and `seed`; it is rebuilt at evaluation time rather than committed, because product
ids and sections follow whatever was seeded or imported. What it implies: the labels are only as
good as the rules below (a product the rules do not see as matching, e.g. one whose description
but not its attributes mention a feature, counts as irrelevant), and the wording is templated, so
the figures measure retrieval on shopper-like questions, not on real shoppers' phrasing.

Kinds:
- `attributes`: a product's category, gender, colour, features and material in plain words,
  never its title ("men's leggings & activewear in teal with built-in liner"); relevant: every
  generated product with all those facts (at most `MAX_RELEVANT`).
- `exact`: a brand with a model number or SKU, or the exact product title; relevant: that
  product (or every product of that exact title).
- `policy`: a question paraphrased from a policy or FAQ section's heading and its rarest body
  words; relevant: that section's document.
- `size_guide`: "what size should I get" for a brand's gendered category; relevant: the size
  guides of the products it names.

`build_heldout` adds a fifth kind, `review` (a product's title with the words that set one of its
reviews apart from its others; relevant: the review chunks whose text holds that review), and
splits the queries of several seeds into a development half and a held-out test half by a hash
of each query's text: a rule fixed before anything was tuned on it, that does not depend on how
documents are chunked or embedded. Tune on `dev`; read `test` to report.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select

from rag.documents import RagDocument, build_documents
from retail.store.models import Brand, Category, Product, Review, Variant

KINDS = ("attributes", "exact", "policy", "size_guide")
MAX_RELEVANT = 3
# Queries per product kind, sampled so the set stays balanced whatever the catalogue size.
PER_KIND = 60
_WORD = re.compile(r"[a-z][a-z'-]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "may",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "out",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "up",
        "us",
        "we",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "within",
        "without",
        "you",
        "your",
        "yes",
        "any",
        "all",
        "also",
        "other",
        "more",
        "must",
        "only",
        "per",
        "than",
        "should",
        "after",
        "before",
        "been",
        "being",
        "into",
        "each",
        "such",
        "would",
        "one",
        "two",
    ]
)
# Shopper words for policy vocabulary, so a policy question is a paraphrase and not the
# heading's own words (which would hand it to the sparse side for free).
_PARAPHRASE = {
    "return": "send back",
    "returns": "sending back",
    "refund": "money back",
    "refunds": "money back",
    "exchange": "swap",
    "exchanges": "swaps",
    "shipping": "delivery",
    "ship": "deliver",
    "cancel": "call off",
    "cancelling": "calling off",
    "cancelled": "called off",
    "order": "purchase",
    "orders": "purchases",
    "pending": "not yet shipped",
    "modify": "change",
    "warranty": "guarantee",
    "claim": "request",
    "privacy": "personal data",
    "loyalty": "rewards club",
    "tiers": "levels",
    "price": "cost",
    "match": "beat",
    "costs": "fees",
    "speeds": "how fast",
    "pickup": "collect in store",
    "tracking": "where is my parcel",
    "missing": "lost",
    "condition": "state",
    "payment": "card",
    "delivered": "arrived",
    "sizing": "fit",
    "faq": "question",
}
_POLICY_STEMS = (
    "what is the rule on {words}?",
    "can you tell me about {words}",
    "how does it work with {words}?",
    "question about {words}",
)
_REVIEW_STEMS = (
    "what do reviews of the {title} say about {words}?",
    "{title} reviews mentioning {words}",
    "did anyone who bought the {title} mention {words}?",
)
_SIZE_STEMS = (
    "what size should I get in the {what}?",
    "how does the {what} fit, does it run small?",
    "size chart for the {what}",
)


@dataclass(frozen=True, slots=True)
class EvalQuery:
    """One labelled question: its kind, its text, and the ids a hit must carry to count."""

    query_id: str
    kind: str
    text: str
    relevant: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Item:
    """A product's facts the queries are made of."""

    product_id: str
    title: str
    source: str
    brand: str | None
    leaf: str | None
    gender: str | None
    colours: frozenset[str]
    facets: frozenset[str]  # features, material and yes/no attributes, lower-cased
    model: str | None
    skus: tuple[str, ...]
    has_size_guide: bool


def build_evalset(
    engine: Engine, docs: Sequence[RagDocument] | None = None, *, seed: int = 7
) -> list[EvalQuery]:
    """The labelled queries over the store behind `engine` (its documents passed in when the
    caller has built them already)."""
    docs = build_documents(engine) if docs is None else docs
    items = _items(engine)
    rng = random.Random(seed)
    queries = [
        *_sample(rng, _attribute_queries(items, rng)),
        *_sample(rng, _exact_queries(items, rng)),
        *_policy_queries(docs, rng),
        *_sample(rng, _size_queries(items, rng)),
    ]
    return [
        EvalQuery(f"{q.kind}-{n:03d}", q.kind, q.text, q.relevant)
        for n, q in enumerate(queries, start=1)
    ]


def _sample(rng: random.Random, queries: list[EvalQuery]) -> list[EvalQuery]:
    return queries if len(queries) <= PER_KIND else rng.sample(queries, PER_KIND)


def _items(engine: Engine) -> list[_Item]:
    with engine.connect() as conn:
        leaves = {c.id: c.name for c in conn.execute(select(Category.id, Category.name))}
        brands = {b.id: b.name for b in conn.execute(select(Brand.id, Brand.name))}
        skus: dict[str, list[str]] = defaultdict(list)
        colours: dict[str, set[str]] = defaultdict(set)
        for v in conn.execute(
            select(Variant.id, Variant.product_id, Variant.options).order_by(Variant.id)
        ):
            skus[v.product_id].append(v.id)
            if "color" in v.options:
                colours[v.product_id].add(str(v.options["color"]).lower())
        rows = conn.execute(
            select(
                Product.id,
                Product.name,
                Product.source,
                Product.brand_id,
                Product.category_id,
                Product.attributes,
                Product.size_guide,
            ).order_by(Product.id)
        ).all()
    items = []
    for row in rows:
        attrs = row.attributes or {}
        model = attrs.get("model") or attrs.get("sku")
        items.append(
            _Item(
                product_id=row.id,
                title=row.name,
                source=row.source,
                brand=brands.get(row.brand_id or ""),
                leaf=leaves.get(row.category_id or "", "").lower() or None,
                gender=str(attrs["gender"]).lower() if "gender" in attrs else None,
                colours=frozenset(colours[row.id]),
                facets=_facets(attrs),
                model=str(model) if model else None,
                skus=tuple(skus[row.id]),
                has_size_guide=bool(row.size_guide),
            )
        )
    return items


def _facets(attrs: dict[str, Any]) -> frozenset[str]:
    found = {str(f).lower() for f in attrs.get("features", []) if isinstance(f, str)}
    if isinstance(attrs.get("material"), str):
        found.add(attrs["material"].lower())
    found |= {key.lower() for key, value in attrs.items() if value == "yes"}
    return frozenset(found)


def _attribute_queries(items: Sequence[_Item], rng: random.Random) -> list[EvalQuery]:
    """Facets added one by one (in a random order) until they single out the product, or at
    most a few products, which are then all relevant."""
    generated = [i for i in items if i.source == "generated" and i.leaf]
    queries = []
    for item in generated:
        pool = [i for i in generated if i.leaf == item.leaf and i.gender == item.gender]
        colour = rng.choice(sorted(item.colours)) if item.colours else None
        if colour:
            pool = [i for i in pool if colour in i.colours]
        chosen: list[str] = []
        for facet in rng.sample(sorted(item.facets), len(item.facets)):
            if len(pool) == 1 or len(chosen) == 3:
                break
            narrower = [i for i in pool if facet in i.facets]
            if len(narrower) < len(pool):
                chosen.append(facet)
                pool = narrower
        if len(pool) > MAX_RELEVANT:
            continue
        text = " ".join(filter(None, (item.gender, item.leaf)))
        text += f" in {colour}" if colour else ""
        text += f" with {' and '.join(chosen)}" if chosen else ""
        queries.append(_query("attributes", text, [i.product_id for i in pool]))
    return queries


def _exact_queries(items: Sequence[_Item], rng: random.Random) -> list[EvalQuery]:
    by_title: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_title[item.title.lower()].append(item.product_id)
    queries = []
    for item in items:
        forms: list[tuple[str, list[str]]] = [(item.title, by_title[item.title.lower()])]
        if item.model:
            forms.append((f"{item.brand or ''} {item.model}".strip(), [item.product_id]))
        if item.skus and item.source != "generated":
            # Imported SKUs are opaque codes (a tau2 item id, a DummyJSON SKU): exact terms only.
            forms.append((rng.choice(item.skus), [item.product_id]))
        text, relevant = rng.choice(forms)
        queries.append(_query("exact", text, relevant))
    return queries


def _policy_queries(docs: Sequence[RagDocument], rng: random.Random) -> list[EvalQuery]:
    sections = [d for d in docs if d.metadata.get("doc_type") in ("policy", "faq")]
    words = {d.doc_id: _content_words(d.text) for d in sections}
    # Document frequency over the sections: the rarest words of a section are its own.
    df = Counter(w for ws in words.values() for w in set(ws))
    queries = []
    for doc in sections:
        meta = doc.metadata
        heading = _content_words(f"{meta.get('title', '')} {meta.get('section', '')}")
        body = [w for w in dict.fromkeys(words[doc.doc_id]) if w not in heading]
        rare = sorted(body, key=lambda w: (df[w], w))[:2]
        phrase = " ".join(_PARAPHRASE.get(w, w) for w in [*dict.fromkeys(heading), *rare])
        text = rng.choice(_POLICY_STEMS).format(words=phrase)
        queries.append(_query("policy", text, [doc.doc_id]))
    return queries


def _size_queries(items: Sequence[_Item], rng: random.Random) -> list[EvalQuery]:
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for item in items:
        if item.has_size_guide and item.brand and item.leaf:
            groups[(item.brand, item.gender or "", item.leaf)].append(item.product_id)
    queries = []
    for (brand, gender, leaf), ids in sorted(groups.items()):
        if len(ids) > MAX_RELEVANT:
            continue
        what = " ".join(filter(None, (brand, gender, leaf)))
        text = rng.choice(_SIZE_STEMS).format(what=what)
        queries.append(_query("size_guide", text, [f"size_guide:{p}" for p in ids]))
    return queries


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2]


def _query(kind: str, text: str, relevant: Iterable[str]) -> EvalQuery:
    return EvalQuery("", kind, text, tuple(sorted(set(relevant))))


@dataclass(frozen=True, slots=True)
class HeldOut:
    """The queries of `build_heldout`, split in two by `is_test`."""

    dev: list[EvalQuery]
    test: list[EvalQuery]

    @property
    def test_digest(self) -> str:
        """A fingerprint of the test half (texts and relevant ids): equal digests, same test."""
        digest = hashlib.sha256()
        for q in sorted(self.test, key=lambda q: q.text):
            digest.update(f"{q.kind}|{q.text}|{','.join(q.relevant)}\n".encode())
        return digest.hexdigest()[:16]


def is_test(query: EvalQuery) -> bool:
    """The held-out half: half the queries, chosen by their text alone."""
    return hashlib.sha256(query.text.encode()).digest()[0] % 2 == 1


def build_heldout(
    engine: Engine,
    docs: Sequence[RagDocument] | None = None,
    *,
    seeds: Sequence[int] = (7, 42, 123),
) -> HeldOut:
    """The queries of `build_evalset` and `review_queries` for each of `seeds` (a text asked
    twice kept once), split into development and test halves by `is_test`. `docs` are the
    documents as indexed: review queries are labelled with the chunks that hold the review."""
    # In id order, however they were read: the queries drawn follow the documents' order.
    docs = sorted(build_documents(engine) if docs is None else docs, key=lambda d: d.doc_id)
    queries: dict[str, EvalQuery] = {}
    for seed in seeds:
        made = [*build_evalset(engine, docs, seed=seed), *review_queries(engine, docs, seed=seed)]
        for q in made:
            queries.setdefault(q.text, q)
    numbered = [
        EvalQuery(f"{q.kind}-{n:04d}", q.kind, q.text, q.relevant)
        for n, q in enumerate(queries.values(), start=1)
    ]
    return HeldOut(
        dev=[q for q in numbered if not is_test(q)], test=[q for q in numbered if is_test(q)]
    )


def review_queries(
    engine: Engine, docs: Sequence[RagDocument], *, seed: int = 7
) -> list[EvalQuery]:
    """A product's title with up to three words of one of its reviews that none of its other
    reviews use (the rarest across all reviews first); relevant: the product's review documents
    whose text holds the review. At most `PER_KIND` queries, sampled."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        titles = {r.id: r.name for r in conn.execute(select(Product.id, Product.name))}
        rows = conn.execute(
            select(Review.product_id, Review.title, Review.body).order_by(
                Review.product_id, Review.id
            )
        ).all()
    by_product: dict[str, list[tuple[str, set[str]]]] = defaultdict(list)
    for row in rows:
        words = set(_content_words(f"{row.title or ''} {row.body}"))
        by_product[row.product_id].append((row.body, words))
    df = Counter(w for reviews in by_product.values() for _, words in reviews for w in words)
    chunks: dict[str, list[RagDocument]] = defaultdict(list)
    for doc in docs:
        if doc.metadata.get("doc_type") == "review":
            chunks[doc.metadata["product_id"]].append(doc)
    queries = []
    for product_id, reviews in sorted(by_product.items()):
        for n, (body, words) in enumerate(reviews):
            others = set().union(*(w for m, (_, w) in enumerate(reviews) if m != n))
            own = sorted(words - others - set(_content_words(titles[product_id])))
            if not own:
                continue  # a review no word of which sets it apart
            picked = sorted(own, key=lambda w: (df[w], w))[:3]
            text = rng.choice(_REVIEW_STEMS).format(
                title=titles[product_id], words=" and ".join(picked)
            )
            # Its words are its own among the product's reviews, so one chunk holds it,
            # however the reviews are chunked.
            holding = [d.doc_id for d in chunks[product_id] if body in d.text]
            if not holding:
                continue
            queries.append(_query("review", text, holding))
    return _sample(rng, queries)
