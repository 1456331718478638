"""From a shopper's words to a typed `ProductQuery`, learned from whatever catalogue is loaded.

Product types come from the catalogue itself: its category names ("Hiking Boots", "Travel Mugs &
Tumblers", "Womens Dresses"), their head nouns ("boots" names every category of boots), and the
endings of its product names ("rain jacket", "sport bottle", "lipstick"), each in singular and
plural. Words that name no type exactly are matched with rapidfuzz against those phrases (typos:
"backpak", "lipstik"), and a request that names none at all ("something to keep my water cold on
hikes") is compared with each category's MiniLM embedding (its name and its products' type
phrases). Colours, sizes, brands and features are the catalogue's own values; price words,
sorts, counts, gender and negations are English, read here once.

`read` turns one message into a `QueryReading` (what the message says); `apply` folds it into the
conversation's current query: a new product type starts a new query, anything else edits the one
in force ("in blue", "for women", "under 100", "the cheapest one").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from retail.product_query import (
    Gender,
    ProductQuery,
    Sort,
    colour_families,
    gender_of_word,
    is_colour_word,
    size_forms,
    words,
)
from tools.vocabulary import Vocabulary

_AMOUNT = r"\$?\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d{1,2})?)\s?(k\b)?\s?(?:\$|dollars?|bucks|usd)?"
_MAX = re.compile(
    r"\b(?:under|below|less than|cheaper than|no more than|not more than|at most|max(?:imum)?"
    r"|up to|within|tops|no higher than|not over|no pricier than|budget (?:of|is)|for less than)"
    rf"\s*(?:a\s+)?{_AMOUNT}"
    rf"|{_AMOUNT}\s*(?:or less|or under|or below|max|maximum|tops|at most)\b",
    re.I,
)
_MIN = re.compile(
    rf"\b(?:over|above|more than|at least|starting at|min(?:imum)?|upwards of)\s*{_AMOUNT}"
    rf"|{_AMOUNT}\s*(?:or more|and up|plus|\+)",
    re.I,
)
_BETWEEN = re.compile(
    rf"\bbetween\s*{_AMOUNT}\s*(?:and|-|to)\s*{_AMOUNT}"
    rf"|\$(\d+(?:\.\d{{1,2}})?)\s*(?:-|to)\s*\$?(\d+(?:\.\d{{1,2}})?)"
    rf"|\b(\d+)\s*(?:-|to)\s*(\d+)\s*(?:dollars|bucks|\$)",
    re.I,
)
_AROUND = re.compile(
    rf"\b(?:around|about|approximately|roughly|close to|near|~|in the region of)\s*{_AMOUNT}", re.I
)
# A band around an approximate price: "around $80" takes $64 to $96.
AROUND_BAND = 0.2
_CHEAP = re.compile(r"\b(?:cheap|inexpensive|affordable|budget|low[- ]cost|bargain)\b", re.I)
_CHEAPER = re.compile(
    r"\b(?:cheaper|less expensive|lower price[ds]?|more affordable|less pricey)\b", re.I
)
_PRICIER = re.compile(r"\b(?:more expensive|pricier|higher[- ]end|fancier|nicer)\b", re.I)
_SORTS: tuple[tuple[Sort, re.Pattern[str]], ...] = (
    (
        "price_asc",
        re.compile(
            r"\b(?:cheapest|lowest[- ]priced?|least expensive|most affordable|lowest cost)\b", re.I
        ),
    ),
    (
        "price_desc",
        re.compile(
            r"\b(?:most expensive|priciest|highest[- ]priced?|top of the line|most premium)\b",
            re.I,
        ),
    ),
    (
        "rating",
        re.compile(
            r"\b(?:best[- ]rated|top[- ]rated|highest[- ]rated|best reviewed|best reviews"
            r"|most popular|best ones?|(?:is|are) (?:the )?best|highest rating|best rating)\b",
            re.I,
        ),
    ),
    (
        "newest",
        re.compile(r"\b(?:newest|latest|most recent|new arrivals?|just came out)\b", re.I),
    ),
)
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "a couple": 2}
_COUNT = re.compile(
    r"\b(?:the\s+)?(one|two|three|four|five|six|a couple|[1-9])\s+(?:of the\s+)?"
    r"(?:cheapest|lowest|least|most|best|top|highest|newest|latest|priciest)"
    r"|\b(?:top|first)\s+(two|three|four|five|six|[1-9])\b"
    r"|\b(?:cheapest|priciest|newest|best[- ]rated|top[- ]rated)\s+(one|two|three|four|[1-9])\b",
    re.I,
)
# "the cheapest one", "which is best rated?": one product is asked for.
_ONE = re.compile(
    r"\b(?:cheapest|priciest|newest|best[- ]rated|top[- ]rated|most expensive|least expensive"
    r"|best)\s+one\b|\bwhich (?:[a-z-]+ )?(?:is|has) (?:the )?",
    re.I,
)
_NEGATION = re.compile(
    r"\b(?:not|no|without|non|except|excluding|anything but|other than|but not|nothing)"
    r"[- ]+(?:in\s+|made of\s+|a\s+|an\s+)?([a-z][a-z -]{1,30})",
    re.I,
)
_SIZE_WORD = re.compile(
    r"\b(?:size|sz)\s+([a-z0-9./]{1,6})\b"
    r"|\b(?:in|an?|in an?|in size)\s+(extra[- ]small|x-small|small|medium|large|extra[- ]large"
    r"|x-large|xx-large|xs|xl|xxl|2xl|\d{1,2}(?:\.5)?)\b"
    r"|\b(?:men'?s|women'?s|mens|womens|kids'?)\s+(?:[a-z-]+\s+)?(\d{1,2}(?:\.5)?)\b(?![.,]\d)"
    r"|\b(xxs|xs|xl|xxl|xxxl|2xl|3xl)\b",
    re.I,
)
_CAPACITY = re.compile(r"\b(\d+|one|two|three|four|five|six)[- ]?(person|man|people)\b", re.I)
_POSSESSIVE = re.compile(r"\b(?:my|our|his|her|their)\s+$", re.I)
_GENDER_PHRASES: tuple[tuple[Gender, re.Pattern[str]], ...] = (
    (
        "women's",
        re.compile(
            r"\b(?:for (?:her|my (?:wife|girlfriend|mom|mother|sister|daughter|aunt|grandma))"
            r"|(?:my )?(?:wife|girlfriend|mum|mom)'?s?)\b",
            re.I,
        ),
    ),
    (
        "men's",
        re.compile(
            r"\b(?:for (?:him|my (?:husband|boyfriend|dad|father|brother|son|uncle|grandpa))"
            r"|guys?|(?:my )?(?:husband|boyfriend|dad)'?s?)\b",
            re.I,
        ),
    ),
    (
        "kids",
        re.compile(r"\b(?:for (?:my )?(?:kids?|child|children|toddler|son|daughter))\b", re.I),
    ),
)
# Words that carry no product content in a request: what a refinement may consist of alone.
_FILLER = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "with",
        "by",
        "from",
        "me",
        "my",
        "i",
        "i'm",
        "im",
        "we",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "them",
        "they",
        "one",
        "ones",
        "some",
        "any",
        "something",
        "anything",
        "stuff",
        "thing",
        "things",
        "please",
        "pls",
        "plz",
        "show",
        "see",
        "find",
        "get",
        "want",
        "wanted",
        "need",
        "needed",
        "looking",
        "look",
        "like",
        "would",
        "could",
        "can",
        "do",
        "does",
        "did",
        "have",
        "has",
        "got",
        "is",
        "are",
        "be",
        "was",
        "were",
        "what",
        "which",
        "who",
        "how",
        "about",
        "just",
        "only",
        "also",
        "too",
        "really",
        "very",
        "much",
        "more",
        "less",
        "other",
        "another",
        "else",
        "same",
        "different",
        "then",
        "instead",
        "still",
        "again",
        "available",
        "in",
        "stock",
        "have",
        "you",
        "got",
        "there",
        "here",
        "let's",
        "lets",
        "give",
        "buy",
        "shopping",
        "shop",
        "something",
        "good",
        "nice",
        "great",
        "new",
        "best",
        "top",
        "hi",
        "hey",
        "hello",
        "ok",
        "okay",
        "yes",
        "thanks",
        "thank",
        "cheaper",
        "cheap",
        "budget",
        "price",
        "prices",
        "priced",
        "cost",
        "costs",
        "dollar",
        "dollars",
        "bucks",
        "under",
        "over",
        "below",
        "above",
        "between",
        "around",
        "about",
        "approximately",
        "roughly",
        "max",
        "maximum",
        "least",
        "most",
        "up",
        "than",
        "no",
        "not",
        "without",
        "except",
        "size",
        "sizes",
        "colour",
        "color",
        "colours",
        "colors",
        "brand",
        "option",
        "options",
        "kind",
        "type",
        "sort",
        "list",
        "rated",
        "rating",
        "ratings",
        "reviews",
        "reviewed",
        "expensive",
        "pricey",
        "affordable",
        "inexpensive",
        "cheapest",
        "lowest",
        "highest",
        "priciest",
        "newest",
        "latest",
        "recent",
        "popular",
        "number",
        "first",
        "second",
        "third",
        "last",
        "two",
        "three",
        "four",
        "five",
        "couple",
        "pair",
        "men",
        "women",
        "men's",
        "women's",
        "mens",
        "womens",
        "man",
        "woman",
        "ladies",
        "guys",
        "kids",
        "kid",
        "children",
        "child",
        "boys",
        "girls",
        "him",
        "her",
        "he",
        "she",
        "wife",
        "husband",
        "girlfriend",
        "boyfriend",
        "mom",
        "dad",
        "please",
        "version",
        "model",
        "models",
        "which",
        "rather",
        "prefer",
        "preferably",
        "maybe",
        "possibly",
        "ideally",
        "around",
        "near",
        "close",
        "should",
        "under",
        "within",
        "tops",
        "person",
        "people",
        "any",
        "gift",
        "present",
        "everyday",
    ]
)
_VAGUE_FEATURES = frozenset({"other", "none", "standard", "synthetic", "fabric", "blend"})
# How close a typo must be to a type phrase (rapidfuzz ratio, 0-100) and how long the word.
FUZZY_CUTOFF = 85
FUZZY_MIN_LENGTH = 5


def singular(word: str) -> str:
    """A plural noun's singular, by the common English endings ("boxes", "glasses" stay
    recognisable; "shoes" -> "shoe", "watches" -> "watch")."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _key(text: str) -> str:
    """A phrase as the matcher keys it: lower-case singular words, hyphens as spaces."""
    return " ".join(singular(w) for w in words(text.replace("-", " ").replace("&", " ")))


@dataclass(frozen=True, slots=True)
class ProductType:
    """What a phrase names: categories of the store's taxonomy, and the phrase itself when it
    is narrower than those categories ("rain jacket" is some of Jackets)."""

    categories: frozenset[str]
    kind: str | None = None


@dataclass(slots=True)
class QueryReading:
    """What one message says about the products wanted, before the dialogue's query."""

    types: list[ProductType] = field(default_factory=list)
    type_words: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    gender: Gender | None = None
    features: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    min_price: float | None = None
    max_price: float | None = None
    sort: Sort | None = None
    count: int | None = None
    cheaper: bool = False
    pricier: bool = False
    other_words: list[str] = field(default_factory=list)

    @property
    def constrains(self) -> bool:
        """Whether the message sets any constraint or order (a refinement can be only this)."""
        return bool(
            self.brands
            or self.colours
            or self.sizes
            or self.gender
            or self.features
            or self.exclude
            or self.min_price is not None
            or self.max_price is not None
            or self.sort
            or self.count
            or self.cheaper
            or self.pricier
        )

    @property
    def label(self) -> str:
        """The product type in the shopper's own words ("rain jackets")."""
        return " or ".join(self.type_words)


class QueryParser:
    """Built once from the catalogue's vocabulary; `read` costs regular expressions and, when
    no type is named exactly, a few rapidfuzz look-ups."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.types = _type_phrases(vocabulary)
        self._type_pattern = _alternation(self.types)
        # "tshirts" is "t shirt" written without its hyphen.
        self._compact = {k.replace(" ", ""): k for k in self.types}
        self._fuzzy_keys = [k for k in self.types if len(k) >= FUZZY_MIN_LENGTH]
        self.brands = {b.name.lower(): b.name for b in vocabulary.brands}
        self._brand_pattern = _alternation(self.brands)
        catalogue_colours = set(vocabulary.options.get("color", ())) | set(colour_families())
        self.colours = {c.lower(): c.lower() for c in catalogue_colours if not c.isdigit()}
        self._colour_pattern = _alternation(self.colours)
        self.sizes = {s.lower() for s in vocabulary.options.get("size", ())}
        learned = {
            f.lower()
            for f in vocabulary.features
            if f.lower() not in _VAGUE_FEATURES and len(f) > 2
        } | _name_adjectives(vocabulary, self.types)
        self.features = {f: f for f in learned}
        self._feature_pattern = _alternation(self.features)

    def read(self, text: str) -> QueryReading:
        reading = QueryReading()
        rest = " " + text.lower().replace("’", "'") + " "
        rest = self._prices(rest, reading)
        rest = self._sort(rest, reading)
        rest = self._negations(rest, reading)
        if m := _CAPACITY.search(rest):
            number = m.group(1)
            count = int(number) if number.isdigit() else _NUMBERS[number.lower()]
            reading.features.append(f"{count}-person")
            rest = rest.replace(m.group(0), " ")
        rest = self._sizes(rest, reading)
        rest = self._gender(rest, reading)
        rest = self._named(rest, self._brand_pattern, self.brands, reading.brands)
        rest = self._types(rest, reading)
        rest = self._named(
            rest, self._colour_pattern, {c: c for c in self.colours}, reading.colours
        )
        rest = self._named(
            rest, self._feature_pattern, {f: f for f in self.features}, reading.features
        )
        leftover = [w for w in words(rest) if w not in _FILLER and not w.isdigit()]
        if not reading.types:
            leftover = self._fuzzy_types(leftover, reading)
        reading.other_words = leftover
        return reading

    def apply(
        self,
        reading: QueryReading,
        text: str,
        previous: ProductQuery | None,
        shown_prices: Sequence[float] = (),
    ) -> ProductQuery:
        """The query in force after this message: a new one when it names another product type
        (or there is none yet), else `previous` with this message's constraints added or
        replaced."""
        categories = sorted({c for t in reading.types for c in t.categories})
        # A kind narrows only when every type named has one ("rain jackets", not "rain jackets
        # or parkas" where parkas are the whole category).
        kinds = [t.kind for t in reading.types if t.kind]
        kinds = kinds if len(kinds) == len(reading.types) else []
        new_type = bool(categories) and (
            previous is None or set(categories) != set(previous.categories)
        )
        if previous is None or new_type:
            base = ProductQuery(text=_request_text(text), categories=categories, kinds=kinds)
            features: list[str] = []
        else:
            base = previous
            features = list(previous.features)
        update: dict[str, object] = {}
        if reading.colours:
            update["colours"] = reading.colours
        if reading.sizes:
            update["sizes"] = reading.sizes
        if reading.gender:
            update["gender"] = reading.gender
        if reading.brands:
            update["brands"] = reading.brands
        update["features"] = list(dict.fromkeys([*features, *reading.features]))
        if reading.exclude:
            update["exclude"] = list(dict.fromkeys([*base.exclude, *reading.exclude]))
            colours = reading.colours or base.colours
            update["colours"] = [c for c in colours if c not in reading.exclude]
        if reading.min_price is not None or reading.max_price is not None:
            update["min_price"] = reading.min_price
            update["max_price"] = reading.max_price
        if reading.cheaper and shown_prices:
            update["max_price"] = round(min(shown_prices) - 0.01, 2)
        if reading.pricier and shown_prices:
            update["min_price"] = round(max(shown_prices) + 0.01, 2)
        if reading.sort:
            update["sort"] = reading.sort
        update["limit"] = reading.count or 5
        if base is previous and not reading.sort and (reading.features or reading.other_words):
            update["text"] = _request_text(f"{previous.text} {text}")
        return base.model_copy(update=update)

    # -- the parts of `read` -------------------------------------------------------------

    def _prices(self, rest: str, reading: QueryReading) -> str:
        if m := _BETWEEN.search(rest):
            groups = [g for g in m.groups() if g and g.lower() != "k"]
            low, high = sorted(_money(g) for g in groups[:2])
            reading.min_price, reading.max_price = low, high
            rest = rest.replace(m.group(0), " ")
        elif m := _AROUND.search(rest):
            centre = _money(m.group(1), m.group(2))
            reading.min_price = round(centre * (1 - AROUND_BAND), 2)
            reading.max_price = round(centre * (1 + AROUND_BAND), 2)
            rest = rest.replace(m.group(0), " ")
        else:
            if m := _MAX.search(rest):
                amount, thousands = _amount(m.groups())
                reading.max_price = _money(amount, thousands)
                rest = rest.replace(m.group(0), " ")
            if m := _MIN.search(rest):
                amount, thousands = _amount(m.groups())
                reading.min_price = _money(amount, thousands)
                rest = rest.replace(m.group(0), " ")
        if reading.max_price is None:
            reading.cheaper = bool(_CHEAPER.search(rest))
        if reading.min_price is None:
            reading.pricier = bool(_PRICIER.search(rest))
        return rest

    def _sort(self, rest: str, reading: QueryReading) -> str:
        if m := _COUNT.search(rest):
            word = next(g for g in m.groups() if g)
            reading.count = _NUMBERS.get(word.lower()) or int(word)
        elif _ONE.search(rest):
            reading.count = 1
        for sort, pattern in _SORTS:
            if m := pattern.search(rest):
                reading.sort = sort
                rest = rest.replace(m.group(0), " ")
                break
        if reading.sort is None and reading.max_price is None and _CHEAP.search(rest):
            reading.sort = "price_asc"
        if reading.sort is None:
            reading.count = None
        return rest

    def _negations(self, rest: str, reading: QueryReading) -> str:
        for m in list(_NEGATION.finditer(rest)):
            phrase = m.group(1).strip()
            term = self._known_term(phrase)
            if term is not None:
                reading.exclude.append(term)
                rest = rest.replace(m.group(0), " ")
        return rest

    def _known_term(self, phrase: str) -> str | None:
        """The colour, feature or material a phrase starts with, if any."""
        for candidate in (phrase, " ".join(phrase.split()[:2]), phrase.split()[0]):
            if candidate in self.colours or candidate in self.features:
                return candidate
            if is_colour_word(candidate):
                return candidate
        return None

    def _gender(self, rest: str, reading: QueryReading) -> str:
        for gender, pattern in _GENDER_PHRASES:
            if m := pattern.search(rest):
                reading.gender = gender
                return rest.replace(m.group(0), " ")
        for word in words(rest):
            if (named := gender_of_word(word)) is not None:
                reading.gender = named
                return re.sub(rf"\b{re.escape(word)}\b", " ", rest, count=1)
        return rest

    def _sizes(self, rest: str, reading: QueryReading) -> str:
        for m in _SIZE_WORD.finditer(rest):
            value = next(g for g in m.groups() if g).lower().replace(" ", "-")
            value = value.replace("extra-", "extra ")
            known = size_forms(value) & (self.sizes | {"s", "m", "l", "xl", "xs", "xxl"})
            if known or value in self.sizes or re.fullmatch(r"\d{1,2}(?:\.5)?", value):
                reading.sizes.append(_size_label(value))
                rest = rest.replace(m.group(0), " ")
        return rest

    def _named(
        self,
        rest: str,
        pattern: re.Pattern[str] | None,
        names: dict[str, str],
        into: list[str],
    ) -> str:
        if pattern is None:
            return rest
        for m in pattern.finditer(rest):
            value = names[_lookup(m.group(1))] if _lookup(m.group(1)) in names else m.group(1)
            if value not in into:
                into.append(value)
        return pattern.sub(" ", rest)

    def _types(self, rest: str, reading: QueryReading) -> str:
        if self._type_pattern is None:
            return rest
        found = list(self._type_pattern.finditer(rest))
        for m in found:
            # "keep my water cold": what the shopper already has is not what they look for.
            if _POSSESSIVE.search(rest[: m.start()]):
                continue
            key = _key(m.group(1))
            key = key if key in self.types else self._compact.get(key.replace(" ", ""), key)
            if key in self.types:
                reading.types.append(self.types[key])
                reading.type_words.append(m.group(1).strip())
        for m in reversed(found):
            rest = rest[: m.start()] + " " + rest[m.end() :]
        return rest

    def _fuzzy_types(self, leftover: list[str], reading: QueryReading) -> list[str]:
        """Typos of type phrases ("backpak"): each leftover word, and each pair of them."""
        kept = []
        candidates = [
            *leftover,
            *(f"{a} {b}" for a, b in zip(leftover, leftover[1:], strict=False)),
        ]
        matched_words: set[str] = set()
        for candidate in sorted(candidates, key=len, reverse=True):
            if len(candidate) < FUZZY_MIN_LENGTH or set(candidate.split()) & matched_words:
                continue
            hit = process.extractOne(
                _key(candidate), self._fuzzy_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            if hit is not None:
                reading.types.append(self.types[hit[0]])
                reading.type_words.append(hit[0])
                matched_words.update(candidate.split())
        for word in leftover:
            if word not in matched_words:
                kept.append(word)
        return kept


def _lookup(text: str) -> str:
    return " ".join(text.lower().split())


def _alternation(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression matching any of the phrases (longest first), whole words, with
    plurals and hyphen/space variants of type phrases."""
    forms: set[str] = set()
    for phrase in phrases:
        base = _lookup(phrase)
        if not base:
            continue
        forms.add(re.escape(base))
        words_ = base.replace("-", " ").split()
        if words_:
            stem = [re.escape(w) for w in words_[:-1]]
            last = re.escape(words_[-1])
            plural = (
                rf"(?:{last}(?:e?s)?|{re.escape(words_[-1][:-1])}ies)"
                if words_[-1].endswith("y")
                else rf"{last}(?:e?s)?"
            )
            forms.add(r"[- ]?".join([*stem, plural]))
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(ordered) + r")(?![\w-])", re.I)


def _type_phrases(vocabulary: Vocabulary) -> dict[str, ProductType]:
    """Every phrase that names a product type, keyed as `_key` writes it.

    A category's own name (and each part of "Travel Mugs & Tumblers", without a leading "Mens"
    or "Womens") names that category; its last word names every category ending in that word
    ("boots"); the last one to three words of product names name their categories, narrowed to
    those products unless they cover the categories whole. A category's name wins over product
    endings for the same phrase: "jackets" is the Jackets category, parkas included.
    """
    with_products = {p.category_id for p in vocabulary.products if p.category_id}
    by_category: dict[str, set[str]] = defaultdict(set)
    heads: dict[str, set[str]] = defaultdict(set)
    for category in vocabulary.categories:
        parts = [category.name, *re.split(r"\s*(?:&|,|\band\b|/)\s*", category.name)]
        for part in parts:
            kept = [w for w in words(part) if gender_of_word(w) is None]
            if not kept:
                continue
            by_category[_key(" ".join(kept))].add(category.id)
            if category.id in with_products:
                heads[_key(kept[-1])].add(category.id)
    names: dict[str, set[str]] = defaultdict(set)
    endings: dict[str, set[str]] = defaultdict(set)
    products_in: dict[str, int] = defaultdict(int)
    for product in vocabulary.products:
        if not product.category_id:
            continue
        products_in[product.category_id] += 1
        tokens = [w for w in words(product.name.replace("&", " ")) if not w.isdigit()]
        for n in (1, 2):
            ending = tokens[-n:]
            if len(ending) < n or _not_a_type(ending):
                continue
            key = _key(" ".join(ending))
            names[key].add(product.category_id)
            endings[key].add(product.id)
    phrases: dict[str, ProductType] = {}
    for key, categories in names.items():
        total = sum(products_in[c] for c in categories)
        kind = None if len(endings[key]) >= total else key
        phrases[key] = ProductType(frozenset(categories), kind)
    named = {**heads, **by_category}
    for key, named_categories in named.items():
        # A category named so, and every category all of whose products end so ("running
        # shoes" is the Running Shoes category and all of Trail Running Shoes).
        by_names = phrases.get(key)
        whole = (
            by_names.categories if by_names is not None and by_names.kind is None else frozenset()
        )
        phrases[key] = ProductType(frozenset(named_categories) | whole)
    # "tshirt" and "t shirt" are one phrase; the category's spelling wins.
    compact = {k.replace(" ", ""): k for k in named}
    for key in list(phrases):
        twin = compact.get(key.replace(" ", ""))
        if twin is not None and twin != key:
            phrases[key] = phrases[twin]
    return {k: v for k, v in phrases.items() if k and k not in _FILLER}


def _not_a_type(ending: Sequence[str]) -> bool:
    """Endings that name no kind of product: a colour, a size, a gender or filler last."""
    last = ending[-1]
    return (
        is_colour_word(last)
        or last in _FILLER
        or gender_of_word(last) is not None
        or len(last) < 3
        or any(ch.isdigit() for ch in last)
    )


def _name_adjectives(vocabulary: Vocabulary, types: dict[str, ProductType]) -> set[str]:
    """Descriptive words of product names that several products share and that name no type,
    brand, colour or gender: "waterproof", "packable", "insulated", "wireless"."""
    brand_words = {w for b in vocabulary.brands for w in words(b.name)}
    counts: dict[str, set[str]] = defaultdict(set)
    for product in vocabulary.products:
        for word in set(words(product.name)):
            counts[word].add(product.id)
    return {
        word
        for word, ids in counts.items()
        if len(ids) >= 3
        and len(word) > 3
        and word not in brand_words
        and word not in _FILLER
        and _key(word) not in types
        and not is_colour_word(word)
        and gender_of_word(word) is None
        and not any(ch.isdigit() for ch in word)
    }


def _amount(groups: Sequence[str | None]) -> tuple[str, str | None]:
    """The amount and its thousands marker from a price match's groups."""
    values = list(groups)
    for i in range(0, len(values), 2):
        if values[i]:
            return str(values[i]), values[i + 1] if i + 1 < len(values) else None
    raise ValueError("a price pattern matched without an amount")


def _money(raw: str, thousands: str | None = None) -> float:
    value = float(raw.replace(",", ""))
    return value * 1000 if thousands else value


def _size_label(value: str) -> str:
    letters = {"extra small": "XS", "x-small": "XS", "small": "S", "medium": "M", "large": "L"}
    letters |= {"extra large": "XL", "x-large": "XL", "xx-large": "XXL", "2xl": "XXL"}
    return letters.get(value, value.upper() if value.isalpha() else value)


def _request_text(text: str) -> str:
    """The request as ranking text: at most its first 300 characters, cut at a word."""
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300].rsplit(" ", 1)[0]
