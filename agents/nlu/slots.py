"""Slot extraction for what a message points at, against the catalogue's own vocabulary.

An order id, a customer id, a SKU or product id typed from a label, a store or the online
channel, references to what was shown ("the second one", "it"), and words about stock. What a
message asks of products (types, prices, colours, sizes...) is read by `agents.nlu.query` into a
typed product query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tools.vocabulary import Vocabulary

# An order id as shoppers write it, "#" or not: a letter and seven digits (the generated world
# writes "#A2758073", tau2's orders "#W2611340"). Every reader of order ids in messages uses it.
ORDER_ID = re.compile(r"#?\b([A-Za-z]\d{7})\b")
_CUSTOMER_ID = re.compile(r"\b([a-z]+_[a-z]+_\d{3,5})\b")
# The generated catalogue's ids as a label prints them (product "P00035", SKU "P00035-GRP-L"):
# what a vocabulary that names no shapes of its own ids is read with.
_SKU = re.compile(r"\b([A-Z]\d{5}(?:-[A-Z0-9]{1,4})+)(?![\w-])", re.I)
_PRODUCT_ID = re.compile(r"\b([A-Z]\d{5})\b", re.I)
# An id shape's runs (`tools.vocabulary.id_shape`): letters A, digits 9, anything else.
_SHAPE_RUN = re.compile(r"A+|9+|.")
# A shape that could be a word or a plain number is no id: it has a digit and five characters.
MIN_ID_LENGTH = 5


def _id_pattern(shapes: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for every id of these shapes, any case, not inside a longer word or id;
    None when no shape could be told from words."""
    alternatives = set()
    for shape in shapes:
        if "9" not in shape or len(shape) < MIN_ID_LENGTH:
            continue
        parts = []
        for run in _SHAPE_RUN.findall(shape):
            if run[0] == "A":
                parts.append(f"[A-Za-z]{{{len(run)}}}")
            elif run[0] == "9":
                parts.append(f"\\d{{{len(run)}}}")
            else:
                parts.append(re.escape(run))
        alternatives.add("".join(parts))
    if not alternatives:
        return None
    # Longest first, so that "P00035-GRP-XL" is not read as "P00035-GRP-X".
    ordered = sorted(alternatives, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(ordered) + r")(?![\w-])")


# Stock coming in: a question about purchase orders is one about why an item is short.
_ON_ORDER = re.compile(
    r"\b(?:purchase orders?|POs?|on order|re-?stock\w*|replenish\w*|deliver(?:y|ies)|incoming"
    r"|(?:coming|due) in)\b",
    re.I,
)
# "which stores have it?", "where else can I get one?": stock of a product elsewhere.
_WHERE_ELSE = re.compile(r"\b(?:which|what|other|any) stores?\b|\bwhere else\b", re.I)
_ONLINE = re.compile(r"\b(?:online|on the (?:web|website)|web ?shop)\b", re.I)
# Who the customer in the conversation is: "what should I recommend to him?".
_PERSON = re.compile(
    r"\b(?:him|his|her|hers|he|she|(?:to|for) them|their|this customer|the customer)\b", re.I
)
_IN_STOCK = re.compile(r"\b(?:in stock|available|sold out|availability)\b", re.I)
# A customer named rather than given by id: "look up Olivia Ito", "find customer olivia ito",
# "the client called Ito", an e-mail address; or "what should I recommend to Olivia Ito?".
_CUSTOMER_WORD = r"(?:customers?|clients?|(?:loyalty )?members?|shoppers?)"
_NAME = r"(?P<name>[A-Za-z][\w.'@+-]*(?:\s+[A-Za-z][\w.'@+-]*){0,3})"
_LOOK_UP = (
    r"\b(?:look(?:ing)?\s*up|find|pull up|search(?: for)?|bring up|who is|who's|check on"
    r"|(?:recommend|suggest)\w*(?: \w+)? (?:to|for))\s+"
)
# "find customer olivia ito", "the client called Ito": a customer word after a look-up verb,
# or with "named"/"called" ("do members get free shipping?" names nobody).
_NAMED_CUSTOMER = re.compile(
    rf"(?:{_LOOK_UP}(?:the |a |our )?{_CUSTOMER_WORD}\s+(?:named\s+|called\s+)?"
    rf"|\b{_CUSTOMER_WORD}\s+(?:named|called|by the name(?: of)?)\s+){_NAME}",
    re.I,
)
_LOOKUP = re.compile(_LOOK_UP + _NAME, re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Words that end a name: "look up Olivia Ito please", "find customer ito for me".
_AFTER_NAME = re.compile(
    r"\s+(?:please|for me|now|again|thanks|thank you|here|today|in the system|'s\b).*$", re.I
)
_NOT_NAMES = frozenset(
    {
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "him",
        "her",
        "them",
        "me",
        "my",
        "our",
        "your",
        "their",
        "his",
        "some",
        "any",
        "all",
        "customer",
        "customers",
        "client",
        "clients",
        "member",
        "members",
        "shopper",
        "shoppers",
        "profile",
        "details",
        "id",
        "account",
        "history",
        "who",
        "what",
        "service",
        "services",
        "support",
        "care",
        "review",
        "reviews",
        "favourites",
        "favorites",
        "discount",
        "discounts",
        "number",
        "feedback",
    }
)
_AT_MY_STORE = re.compile(r"\b(?:my store|in store|near me|nearby|pick (?:it )?up)\b", re.I)
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
}
_ORDINAL = re.compile(
    r"\b(?:(" + "|".join(_ORDINALS) + r")(?:\s+one)?|(?:number|no\.?|#|option|item)\s*([1-9]))\b",
    re.I,
)
# "the top two", "the first 3": the leading items of what was shown.
_LEADING = re.compile(r"\b(?:top|first)\s+(two|three|four|2|3|4)\b", re.I)
_COUNTS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}
_PRONOUN = re.compile(r"\b(?:it|this|that|this one|that one|them|these|those)\b", re.I)


def _variants_of(name: str) -> set[str]:
    """A vocabulary name as a shopper may write it: singular or plural, hyphen or space."""
    base = name.strip().lower()
    forms = {base, base.replace("-", " "), base.replace("-", "")}
    out = set()
    for form in forms:
        out.add(form)
        out.add(form[:-1] if form.endswith("s") and len(form) > 3 else form + "s")
        if form.endswith("es") and len(form) > 4:
            out.add(form[:-2])
    return {f for f in out if len(f) >= 2}


class _PhraseMatcher:
    """Longest-first whole-phrase matching of vocabulary names to their ids."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self.by_phrase: dict[str, str] = {}
        for ident, name in entries:
            for form in _variants_of(name):
                self.by_phrase.setdefault(form, ident)
        phrases = sorted(self.by_phrase, key=len, reverse=True)
        self.pattern = (
            re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b", re.I)
            if phrases
            else None
        )

    def find(self, text: str) -> list[tuple[str, str]]:
        """(id, matched text) in order of appearance."""
        if self.pattern is None:
            return []
        return [
            (self.by_phrase[m.group(1).lower()], m.group(1)) for m in self.pattern.finditer(text)
        ]


@dataclass(slots=True)
class Slots:
    """What one message points at, before the dialogue state fills in what it leaves out."""

    order_id: str | None = None
    customer_id: str | None = None
    sku: str | None = None
    product_id: str | None = None
    store_id: str | None = None
    # The store named, or the online channel: where a SKU's stock and demand are asked about.
    location_id: str | None = None
    ordinals: list[int] = field(default_factory=list)
    pronoun: bool = False
    stock_words: bool = False
    on_order_words: bool = False
    where_else: bool = False
    at_my_store: bool = False
    person: bool = False
    # A customer named by their name or e-mail address, to be looked up.
    customer_name: str | None = None


class SlotExtractor:
    """Built once from the vocabulary; `extract` runs a handful of regular expressions."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        store_entries: list[tuple[str, str]] = []
        for store in vocabulary.stores:
            store_entries.append((store.id, store.name))
            if store.kind == "store" and store.city:
                store_entries.append((store.id, f"{store.city} store"))
                # "in stock in Denver", "at Boulder": a city with a preposition is a store;
                # alone it may be part of a product's name.
                store_entries.extend((store.id, f"{at} {store.city}") for at in ("in", "at"))
            # A store's id from the store list ("S003") names it too.
            store_entries.append((store.id, store.id))
        self.stores = _PhraseMatcher(store_entries)
        self.online = next((s.id for s in vocabulary.stores if s.kind == "online"), None)
        # SKUs and product ids as the catalogue writes them (one rule: `sku_shapes`); a typed
        # id of a shape both have is a product when the catalogue has such a product.
        self.sku = _id_pattern(vocabulary.sku_shapes) or _SKU
        self.product = _id_pattern(vocabulary.product_id_shapes) or _PRODUCT_ID
        self.product_ids = frozenset(p.id.upper() for p in vocabulary.products)
        # A capitalised phrase made only of these names products, brands or places, not a
        # person ("find Trail Runner Shoes").
        self.catalogue_words = frozenset(
            w
            for ref in [*vocabulary.products, *vocabulary.categories, *vocabulary.brands]
            for w in re.findall(r"[a-z]+", ref.name.lower())
        ) | {w for s in vocabulary.stores for w in re.findall(r"[a-z]+", (s.city or "").lower())}

    def extract(self, text: str) -> Slots:
        slots = Slots()
        # Ids first, and blanked out, so that "W2378156" or "mia_garcia_4516" never reads as words.
        if m := ORDER_ID.search(text):
            slots.order_id = f"#{m.group(1).upper()}"
        if m := _CUSTOMER_ID.search(text):
            slots.customer_id = m.group(1)
        rest = _CUSTOMER_ID.sub(" ", ORDER_ID.sub(" ", text))
        for m in self.sku.finditer(rest):
            typed = m.group(1).upper()
            if typed in self.product_ids:
                slots.product_id = slots.product_id or typed
            elif slots.sku is None:
                slots.sku = typed
        if slots.sku is None and slots.product_id is None and (m := self.product.search(rest)):
            slots.product_id = m.group(1).upper()
        rest = self.without_ids(text)
        if found := self.stores.find(rest):
            slots.store_id = found[0][0]
            rest = rest.replace(found[0][1], " ")
        # Online is a location with stock and forecasts, though no store to walk into.
        online = self.online if _ONLINE.search(rest) else None
        slots.location_id = slots.store_id or online
        if m := _LEADING.search(rest):
            slots.ordinals.extend(range(1, _COUNTS[m.group(1).lower()] + 1))
        for m in _ORDINAL.finditer(_LEADING.sub(" ", rest)):
            word, digit = m.group(1), m.group(2)
            slots.ordinals.append(_ORDINALS[word.lower()] if word else int(digit))
        slots.pronoun = bool(_PRONOUN.search(rest))
        slots.stock_words = bool(_IN_STOCK.search(rest))
        slots.on_order_words = bool(_ON_ORDER.search(rest))
        slots.where_else = bool(_WHERE_ELSE.search(rest))
        slots.person = bool(_PERSON.search(rest))
        slots.at_my_store = bool(_AT_MY_STORE.search(rest))
        if slots.customer_id is None:
            slots.customer_name = self.customer_name(text)
        return slots

    def without_ids(self, text: str) -> str:
        """The message with every id in it blanked: what is left is words ("P00017-BLK-XL" holds
        no size XL for the product query to read)."""
        rest = _CUSTOMER_ID.sub(" ", ORDER_ID.sub(" ", text))
        return " ".join(self.product.sub(" ", self.sku.sub(" ", rest)).split())

    def customer_name(self, text: str) -> str | None:
        """The name (or e-mail address) of a customer the message asks to look up: after a
        word for a customer ("customer olivia ito"), or as a person's name in capitals after a
        look-up verb ("look up Olivia Ito"), never a phrase of the catalogue's own words."""
        if m := _EMAIL.search(text):
            return m.group(0)
        if m := _NAMED_CUSTOMER.search(text):
            name = _clean_name(m.group("name"))
            if name:
                return name
        for m in _LOOKUP.finditer(text):
            name = _clean_name(m.group("name"))
            words = name.split() if name else []
            capitalised = words and all(w[0].isupper() for w in words)
            catalogue = all(w.lower().strip(".'") in self.catalogue_words for w in words)
            if capitalised and not catalogue:
                return name
        return None


def _clean_name(raw: str) -> str | None:
    """The name without what follows it ("please", "for me") or leading pronouns; None when
    nothing of a name is left ("look up this customer")."""
    name = _AFTER_NAME.sub("", raw).strip(" .,!?'")
    words = name.split()
    while words and words[0].lower() in _NOT_NAMES:
        words.pop(0)
    kept: list[str] = []
    for word in words:
        if word.lower() in _NOT_NAMES:
            break
        kept.append(word)
    return " ".join(kept) if kept and len(" ".join(kept)) >= 2 else None
