"""Slot extraction against the catalogue's own vocabulary.

What a retail message constrains: category, brand, colour, size, material, a price range, an
order id, a customer id, a store, references to what was shown ("the second one", "it"). Every
match is a whole word (or phrase) of the vocabulary the `catalogue_vocabulary` tool returned, so a
slot is always a value the catalogue really has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tools.vocabulary import Vocabulary

_NUMBER = r"\$?\s?(\d+(?:[.,]\d{1,2})?)"
_MAX_PRICE = re.compile(
    rf"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|within)\s*{_NUMBER}",
    re.I,
)
_MIN_PRICE = re.compile(rf"\b(?:over|above|more than|at least|from)\s*{_NUMBER}", re.I)
_BETWEEN = re.compile(rf"\bbetween\s*{_NUMBER}\s*(?:and|-|to)\s*{_NUMBER}", re.I)
_RANGE = re.compile(r"\$(\d+(?:\.\d{1,2})?)\s*(?:-|to)\s*\$?(\d+(?:\.\d{1,2})?)")
_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower price|more affordable|budget)\b", re.I)
_PRICIER = re.compile(r"\b(?:more expensive|pricier|premium|higher end|fancier)\b", re.I)
_ORDER_ID = re.compile(r"#?\b([A-Za-z]\d{7})\b")
_CUSTOMER_ID = re.compile(r"\b([a-z]+_[a-z]+_\d{3,5})\b")
_IN_STOCK = re.compile(r"\b(?:in stock|available|sold out|availability)\b", re.I)
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
# Sizes written as letters are only sizes where nothing else could be meant.
_LETTER_SIZES = {"xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl"}


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
    """What one message says, before the dialogue state fills in what it leaves out."""

    category: str | None = None
    brand: str | None = None
    colour: str | None = None
    size: str | None = None
    material: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    cheaper: bool = False
    pricier: bool = False
    order_id: str | None = None
    customer_id: str | None = None
    store_id: str | None = None
    ordinals: list[int] = field(default_factory=list)
    pronoun: bool = False
    stock_words: bool = False
    at_my_store: bool = False
    matched: list[str] = field(default_factory=list)

    def filters(self) -> dict[str, object]:
        """The product filters this message sets, by the search tool's argument names.

        The category stays in the query rather than becoming a filter: shoppers name product
        types loosely ("jackets" for a fleece jacket filed elsewhere), and retrieval ranks by
        them well, while a filter would silently drop what another catalogue files differently.
        """
        values = {
            "brand": self.brand,
            "colour": self.colour,
            "size": self.size,
            "min_price": self.min_price,
            "max_price": self.max_price,
        }
        return {k: v for k, v in values.items() if v is not None}


class SlotExtractor:
    """Built once from the vocabulary; `extract` runs a handful of regular expressions."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        # Slots hold names, not ids: the same name may be a category of two catalogues (the
        # generated world's "Hiking Boots" and tau2's), and the search tool takes either.
        self.categories = _PhraseMatcher((c.name, c.name) for c in vocabulary.categories)
        self.brands = _PhraseMatcher((b.name, b.name) for b in vocabulary.brands)
        colours = vocabulary.options.get("color", [])
        self.colours = _PhraseMatcher((c, c) for c in colours)
        self.materials = _PhraseMatcher((m, m) for m in vocabulary.options.get("material", []))
        self.sizes = {s.lower() for s in vocabulary.options.get("size", [])}
        size_alternatives = "|".join(
            re.escape(s) for s in sorted(self.sizes, key=len, reverse=True)
        )
        self.size_pattern = (
            re.compile(rf"\bsize\s+({size_alternatives})(?![\w/])", re.I) if self.sizes else None
        )
        store_entries: list[tuple[str, str]] = []
        for store in vocabulary.stores:
            store_entries.append((store.id, store.name))
            if store.kind == "store" and store.city:
                store_entries.append((store.id, f"{store.city} store"))
        self.stores = _PhraseMatcher(store_entries)

    def extract(self, text: str) -> Slots:
        slots = Slots()
        # Ids first, and blanked out, so that "W2378156" or "mia_garcia_4516" never reads as words.
        if m := _ORDER_ID.search(text):
            slots.order_id = f"#{m.group(1).upper()}"
        if m := _CUSTOMER_ID.search(text):
            slots.customer_id = m.group(1)
        rest = _CUSTOMER_ID.sub(" ", _ORDER_ID.sub(" ", text))
        self._prices(rest, slots)
        if found := self.stores.find(rest):
            slots.store_id = found[0][0]
            rest = rest.replace(found[0][1], " ")
        for attr, matcher in (
            ("brand", self.brands),
            ("category", self.categories),
            ("colour", self.colours),
            ("material", self.materials),
        ):
            found = matcher.find(rest)
            slots.matched.extend(text for _, text in found)
            # "jackets or boots" names two values: no single filter says that, the query does.
            if len({value for value, _ in found}) == 1:
                setattr(slots, attr, found[0][0])
        slots.size = self._size(rest)
        if m := _LEADING.search(rest):
            slots.ordinals.extend(range(1, _COUNTS[m.group(1).lower()] + 1))
        for m in _ORDINAL.finditer(_LEADING.sub(" ", rest)):
            word, digit = m.group(1), m.group(2)
            slots.ordinals.append(_ORDINALS[word.lower()] if word else int(digit))
        slots.pronoun = bool(_PRONOUN.search(rest))
        slots.stock_words = bool(_IN_STOCK.search(rest))
        slots.at_my_store = bool(_AT_MY_STORE.search(rest))
        return slots

    def _prices(self, text: str, slots: Slots) -> None:
        if m := _BETWEEN.search(text) or _RANGE.search(text):
            low, high = sorted(_money(g) for g in m.groups())
            slots.min_price, slots.max_price = low, high
        else:
            if m := _MAX_PRICE.search(text):
                slots.max_price = _money(m.group(1))
            if m := _MIN_PRICE.search(text):
                slots.min_price = _money(m.group(1))
        slots.cheaper = slots.max_price is None and bool(_CHEAPER.search(text))
        slots.pricier = slots.min_price is None and bool(_PRICIER.search(text))

    def _size(self, text: str) -> str | None:
        if self.size_pattern is not None and (m := self.size_pattern.search(text)):
            return m.group(1).lower()
        for token in re.findall(r"\b[0-9A-Za-z]{2,4}\b", text):
            if token.lower() in _LETTER_SIZES and token.lower() in self.sizes:
                return token.lower()
        return None


def _money(raw: str) -> float:
    return float(raw.replace(",", "."))
