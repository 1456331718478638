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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from retail.product_query import (
    Beyond,
    Gender,
    Measure,
    ProductQuery,
    Sort,
    colour_families,
    gender_of_word,
    is_amount,
    is_colour_word,
    size_forms,
    squash_units,
    words,
)
from tools.vocabulary import Vocabulary

Encoder = Callable[[Sequence[str]], np.ndarray]

# Any currency sign or word reads as the store's own: "40 quid" is a budget of 40 ("pounds"
# stays out: "a 10 pound dumbbell" is a weight).
# A number followed by a measure is not a price: "at least 800 lumens", "under 2 pounds".
_MEASURE = (
    r"(?!\d|[.,]\d|\s?-?\s?(?:lumens?|lm|oz|ounces?|degrees?|°|deg|inch(?:es)?|cm|mm|m\b"
    r"|l\b|lit(?:re|er)s?|ml|gb|tb|mb|mah|w\b|watts?|volts?|v\b|kg|g\b|grams?|lbs?|pounds?"
    r"|persons?|people|pcs|pieces?|pack|ft|feet|foot|hours?|hrs?|h\b|mins?|minutes?|%|percent"
    r"|mph|km|miles?|years?|yrs?|months?|x\b|seater|seats?))"
)
_AMOUNT = (
    r"[$£€]?\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d{1,2})?)\s?(k\b)?\s?"
    rf"(?:[$£€]|dollars?|bucks|usd|quid|euros?|gbp|eur)?{_MEASURE}"
)
# A bound stays a bound when hedged: "not more than about 150" is at most 150, not a band.
_ROUGHLY = r"(?:(?:about|around|roughly|approximately|maybe|say)\s+)?"
_MAX = re.compile(
    r"\b(?:under|sub|below|less than|cheaper than|no more than|not more than|at most|max(?:imum)?"
    r"|up to|within|tops|no higher than|not over|no pricier than|budget (?:of|is)|for less than"
    r"|(?:nothing|none|no)\s+(?:over|above|pricier than|dearer than|more expensive than)"
    # "I don't want to spend more than $40", "can't go over 50": a ceiling, said as a refusal.
    r"|(?:don'?t|do not|can'?t|cannot|won'?t|not|rather not)\s+(?:want to\s+|wanna\s+)?"
    r"(?:spend|pay|go|be)\s+(?:much\s+)?(?:more than|over|above|beyond))"
    rf"\s*{_ROUGHLY}(?:a\s+)?{_AMOUNT}"
    rf"|{_AMOUNT}\s*(?:or less|or under|or below|max|maximum|tops|at most)\b",
    re.I,
)
_MIN = re.compile(
    r"\b(?:over|above|more than|at least|starting at|min(?:imum)?|upwards of)"
    rf"\s*{_ROUGHLY}{_AMOUNT}"
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
# Amounts in words: "ten bucks", "fifty dollars", "a hundred bucks".
_TENS = {
    "five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "a hundred": 100,
    "one hundred": 100, "hundred": 100, "two hundred": 200, "a thousand": 1000,
}  # fmt: skip
_TENS_WORDS = "|".join(sorted(_TENS, key=len, reverse=True))
_MONEY_WORDS = re.compile(rf"\b({_TENS_WORDS})\s+(dollars?|bucks|quid)\b", re.I)
# After a word that bounds a price the amount needs no unit: "under a hundred", "around fifty".
_BOUNDED_MONEY_WORDS = re.compile(
    r"\b(under|below|less than|no more than|at most|up to|around|about|over|above|between"
    rf"|and|to)\s+({_TENS_WORDS})\b"
    r"(?!\s*(?:-|\s)(?:person|people|man|year|yr|piece|pack|percent|%))",
    re.I,
)
# A bound on a price below zero ("under $-5", "over minus 10"): no price meets it, so it is
# no budget; the answer says it was left out rather than drop it unsaid.
_NEGATIVE = re.compile(
    r"\b(under|sub|below|less than|cheaper than|no more than|not more than|at most|max(?:imum)?"
    r"|up to|within|over|above|more than|at least|starting at|min(?:imum)?|around|about"
    r"|budget (?:of|is)|between)\s*(?:-\s?[$£€]?|[$£€]\s?-|minus\s+[$£€]?)\s?(\d+(?:\.\d{1,2})?)"
    r"(?:\s?(?:dollars?|bucks|usd))?",
    re.I,
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
    r"|\b(xxs|xs|xl|xxl|xxxl|2xl|3xl)\b"
    # "mens large", "ladies medium please": a cut then a size, the request's last words.
    r"|\b(?:men'?s|women'?s|mens|womens|ladies|kids'?)\s+(extra[- ]small|x-small|small|medium"
    r"|large|extra[- ]large|x-large|xx-large)(?=\s*(?:$|[,.!?;]|please|thanks|if|and|or)\b|\s*$)",
    re.I,
)
_CAPACITY = re.compile(
    r"\b(\d+|one|two|three|four|five|six)[- ]?(?:person|man|people)\b"
    r"|\bsleeps (\d+|one|two|three|four|five|six)\b",
    re.I,
)
# "a 10 inch skillet", "10-in", '10"': sizes the catalogue writes "10 in".
_INCHES = re.compile(
    r"\b(\d{1,3}(?:\.\d)?)\s*(?:-\s*)?(?:inch(?:es)?\b|\"|in\b(?=\s*(?:$|[,.!?])))"
)
# "for a 10 year old", "my 7-year-old": an age, not a size; a child's up to twelve.
_AGE = re.compile(r"\b(\d{1,2})[- ](?:years?|yrs?)[- ]old\b", re.I)
CHILD_AGE = 12
_WITH = re.compile(r"\s+(?:with|for)\s+", re.I)
# A name followed by a model number: "iphone 15", "galaxy s21", "pixel 8a".
_MODEL = re.compile(r"\b([a-z]{3,})\s+([a-z]?\d{1,4}[a-z]?)\b(?![.,]\d)")
_POSSESSIVES = frozenset({"my", "our", "his", "her", "their"})
_DETERMINERS = _POSSESSIVES | {"the", "a", "an", "your"}
# Where a thing goes, said before "the": a type named there is a place, not the thing wanted.
_PLACES = frozenset({"in", "into", "inside", "on", "onto", "under", "through"})
# Verbs after "to" whose object is still the thing wanted ("I'd like to buy a tent").
_SEEKING_VERBS = frozenset(
    {"buy", "get", "find", "order", "have", "try", "see", "purchase", "replace", "upgrade",
     "gift", "give", "add", "compare", "pick", "grab", "choose", "show", "browse", "know",
     "ask", "check", "look", "shop", "rent", "swap", "exchange", "return"}
)  # fmt: skip
# How far after such a verb its object's type may stand ("to keep the cold drinks icy").
PURPOSE_OBJECT_WORDS = 3
_JOINING = frozenset({"for", "with", "and", "or", "to", "of", "that", "which", "is", "are"})
# Words before "for" that make what follows the thing sought ("looking for a tent").
_SEEKING = frozenset({"looking", "searching", "shopping", "hunting", "after", "out", "in", "go"})
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
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
        re.compile(
            r"\b(?:for (?:(?:my|our|a|an)\s+)?(?:little\s+)?(?:kids?|child|children|toddlers?"
            r"|baby|babies|infants?|son|daughter|boys?|girls?))\b",
            re.I,
        ),
    ),
)
# Words that carry no product content in a request (agents/nlu/request_words.yaml).
_REQUEST_WORDS = yaml.safe_load(
    Path(__file__).with_name("request_words.yaml").read_text(encoding="utf-8")
)
_FILLER = frozenset(_REQUEST_WORDS["filler"].split())
_SOFT_DESCRIBING = frozenset(_REQUEST_WORDS["soft_describing"].split())
_CLAUSE = re.compile(r"[,.;:!?()]|\s-\s")
_MODEL_SUFFIXES = frozenset(_REQUEST_WORDS["model_suffixes"].split())
# "a lighter one", "warmer?", "any roomier ones?": what each comparative may compare, in order.
_COMPARATIVES: dict[str, tuple[Measure, ...]] = {
    " ".join(phrase.lower().split()): tuple(Measure(name=n, direction=d) for n, d in measures)
    for phrase, measures in _REQUEST_WORDS["comparatives"].items()
}
_COMPARATIVE = re.compile(
    r"(?<![\w-])("
    + "|".join(r"\s+".join(map(re.escape, p.split())) for p in sorted(_COMPARATIVES, key=len)[::-1])
    + r")(?![\w-])",
    re.I,
)


class _PhraseMap:
    """One of request_words.yaml's maps from what shoppers say to the words the store uses:
    whole phrases replaced, longest first, whatever their case and spacing."""

    def __init__(self, phrases: dict[str, str]) -> None:
        self._phrases = {" ".join(k.lower().split()): v for k, v in phrases.items()}
        ordered = sorted(self._phrases, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<![\w-])(" + "|".join(re.escape(k) for k in ordered) + r")(?![\w-])", re.I
        )

    def __call__(self, text: str) -> str:
        def plain(match: re.Match[str]) -> str:
            return self._phrases[" ".join(match.group(0).lower().split())]

        return self._pattern.sub(plain, text)


_COLLOQUIAL = _PhraseMap(_REQUEST_WORDS["colloquial"])
_POLICY_PHRASES = _PhraseMap(_REQUEST_WORDS["policy_phrases"])
_VAGUE_FEATURES = frozenset({"other", "none", "standard", "synthetic", "fabric", "blend"})
# Synonyms: at most this many leftover words are embedded, and a word names a type when its
# MiniLM cosine to one of the type phrases is at least this (couch/sofa 0.86, car/vehicle 0.87,
# phone/smartphone 0.75; hikes/hiking boot 0.74 and mattress/bed 0.69 stay out).
SYNONYM_WORDS = 4
WORD_VECTORS = 20_000  # words remembered with their embedding (about 30 MB at most)
SYNONYM_SIMILARITY = 0.75
# How close a typo must be to a known word (normalised Damerau-Levenshtein similarity): one
# edit in five letters or more ("jakcet", "hikng"), one in four ("tnet", "matt").
SPELLING_SIMILARITY = 0.8
# Category names this close in meaning (MiniLM cosine) name the same type: fragrance/perfume
# 0.82, electric/tea kettle 0.81; laptop/notebook 0.73 and backpack/bag 0.70 stay apart.
SAME_TYPE = 0.8
# A word in the names of at most this many products names them rather than describes them.
NAMING_PRODUCTS = 2
# ... or in the names of products this share of which is one brand's: its product line.
PRODUCT_LINE_SHARE = 0.75
SPELLING_SHORT = 0.75
# A request of at most this many unplaced words can be the name of a thing ("queen mattress");
# more tell a use or a story, and the search reads their meaning.
UNSOLD_WORDS = 3
# Below SYNONYM_SIMILARITY but this close to a type phrase, a word may still loosely name that
# type (MiniLM on the demo world: purse/handbag 0.700, fruit/strawberry 0.720, phone/smartphone
# 0.747); further off, it names something else (mattress/bed 0.686, hoodie 0.616, veggies 0.601,
# kayak 0.495). The line between purse and mattress is thin: a boundary, not a proof.
UNSOLD_SIMILARITY = 0.69
# Words said of a named type that narrow where products say them: at most this many, of at
# least this many letters ("snow", "nonstick"; not "day", "use").
SAID_OF_WORDS = 3
SAID_OF_LETTERS = 4
# The shortest stem a clipped pet name is read from ("lip" of "lippy").
CLIPPED_STEM_LETTERS = 3


def plain_words(text: str) -> str:
    """`text` with the informal names of things ("sunnies", "a bbq") in the plain words a
    catalogue uses (request_words.yaml `colloquial`)."""
    return _COLLOQUIAL(text)


def policy_words(question: str) -> str:
    """A question about the store's rules in the words its policies use (request_words.yaml
    `policy_phrases`): "can I send it back?" as "can I return it?"."""
    return _POLICY_PHRASES(question)


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


def phrase_key(text: str) -> str:
    """A phrase as the matcher keys it: lower-case singular words, hyphens as spaces."""
    return " ".join(singular(w) for w in words(text.replace("-", " ").replace("&", " ")))


@dataclass(frozen=True, slots=True)
class ProductType:
    """What a phrase names: categories of the store's taxonomy, and the phrase itself when it
    is narrower than those categories ("rain jacket" is some of Jackets)."""

    categories: frozenset[str]
    kind: str | None = None
    weak: bool = False
    """Named only by a word describing a category ("kitchen" of "Kitchen Accessories"): a wish
    that products say so, never a type by itself."""


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
    described: list[str] = field(default_factory=list)
    """Words right before the type that are no name of it ("heated" jacket, "electric" bike):
    features the products must state, whichever types' SKUs have them as options."""
    prefer: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    min_price: float | None = None
    max_price: float | None = None
    sort: Sort | None = None
    count: int | None = None
    negative_prices: list[str] = field(default_factory=list)
    """Bounds said below zero ("under $-5"): no budget, left out of the query and said so."""
    cheaper: bool = False
    pricier: bool = False
    comparative: str | None = None
    """A comparative said of the products shown ("lighter", "higher rated"), other than of
    price (`cheaper`, `pricier`)."""
    other_words: list[str] = field(default_factory=list)
    guessed: bool = False
    """The type was taken from a word's meaning ("couch"), not from the catalogue's words."""
    in_passing: bool = False
    """Some type was named but not as the thing wanted ("keep my coffee hot", "for the sofa")."""
    verbs: list[str] = field(default_factory=list)
    """Words said as verbs after "to" ("drink" of "a way to drink stream water"): no types."""
    passing: list[str] = field(default_factory=list)
    """The words of types named in passing ("laptop" of "needs to fit my laptop"): what a
    refinement asks the products to go with, a wish where they say so."""
    unsold: bool = False
    """The thing asked for is named only in words the catalogue never uses ("kayak"): they are
    features the products must state."""

    @property
    def constrains(self) -> bool:
        """Whether the message sets any constraint or order (a refinement can be only this)."""
        return bool(
            self.brands
            or self.colours
            or self.sizes
            or self.gender
            or self.features
            or self.described
            or self.prefer
            or self.exclude
            or self.min_price is not None
            or self.max_price is not None
            or self.sort
            or self.count
            or self.cheaper
            or self.pricier
            or self.comparative is not None
        )

    @property
    def label(self) -> str:
        """The product type in the shopper's own words ("rain jackets"); for a thing the
        catalogue has no word for, the words that name it ("inflatable kayak")."""
        if self.unsold:
            return " ".join(self.features)
        return " or ".join(self.type_words)


class QueryParser:
    """Built once from the catalogue's vocabulary; `read` costs regular expressions and, when
    no type is named exactly, a few rapidfuzz look-ups."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        encode: Encoder | None = None,
        encode_many: Encoder | None = None,
        english: frozenset[str] = frozenset(),
    ) -> None:
        """`english`: words spelled right though the catalogue never uses them ("based")."""
        self.types = _type_phrases(vocabulary)
        # "tshirts" is "t shirt" written without its hyphen.
        self._compact = {k.replace(" ", ""): k for k in self.types}
        self.brands = {b.name.lower(): b.name for b in vocabulary.brands}
        self._brand_pattern = _alternation(self.brands)
        catalogue_colours = set(vocabulary.options.get("color", ())) | set(colour_families())
        self.colours = {c.lower(): c.lower() for c in catalogue_colours if not c.isdigit()}
        self._colour_pattern = _alternation(self.colours)
        self.sizes = {s.lower() for s in vocabulary.options.get("size", ())}
        # Sizes written as a code of letters and digits ("A5" paper, "30ml") are sizes wherever
        # they stand; a bare "10" or "large" needs "size" or "in a" before it.
        self._coded_sizes = {
            s for s in self.sizes if re.fullmatch(r"(?=.*[a-z])(?=.*\d)[a-z0-9.%]+", s)
        }
        # Options other than colour and size ("capacity": "4P", "type": "road", "processor":
        # "i9") are features a SKU has; so are materials and yes/no attributes.
        self.option_values = {
            str(value).lower()
            for key, values in vocabulary.options.items()
            if key not in ("color", "size")
            for value in values
        }
        # Which option each value is of ("2p" of capacity): a comparative on that option
        # ("roomier") replaces the value asked before.
        self._option_of: dict[str, set[str]] = defaultdict(set)
        for key, values in vocabulary.options.items():
            for value in values:
                self._option_of[squash_units(str(value).lower())].add(key.lower())
        self.attribute_terms = {f.lower() for f in vocabulary.features}
        # An option value is a constraint only for the types whose SKUs have it ("light" is a
        # roast of coffee, not something a chair can lack).
        children: dict[str, set[str]] = defaultdict(set)
        for category in vocabulary.categories:
            if category.parent_id:
                children[category.parent_id].add(category.id)
        self._children = dict(children)
        self._category_options = {k: set(v) for k, v in vocabulary.category_options.items()}
        learned = self.attribute_terms | self.option_values
        learned = {
            f for f in learned if f not in _VAGUE_FEATURES and len(f) > 1 and not f.isdigit()
        }
        # Keyed as amounts are squashed ("32 oz" -> "32oz"), so "32oz" and "32 ounces" find it.
        self.features = {squash_units(f): f for f in learned if f not in _FILLER}
        self._feature_pattern = _alternation(self.features)
        # Read before the colours: "stainless steel" is a material, not a steel-coloured SKU.
        self._coloured_features = {
            k: v
            for k, v in self.features.items()
            if n_words(k) > 1 and any(w in self.colours for w in k.split())
        }
        self._coloured_feature_pattern = _alternation(self._coloured_features)
        # A word that names a product or two ("bikini", "ipad") shows those when the type has
        # them, and changes nothing when it has none.
        soft = _naming_words(vocabulary, self.types) - set(self.features)
        self.preferences = {w: w for w in soft}
        self._product_name_words = frozenset(
            w for p in vocabulary.products for w in words(p.name.lower()) if w not in _FILLER
        )
        self._preference_pattern = _alternation(self.preferences)
        known = set(_FILLER) | set(self.colours) | self.sizes
        for phrase in [
            *self.types,
            *self.features,
            *self.brands,
            *(c.name for c in vocabulary.categories),
            *(p.name for p in vocabulary.products),
        ]:
            known.update(words(phrase.lower().replace("-", " ")))
            known.update(words(phrase.lower()))
        self._feature_words = frozenset(
            w for f in [*self.features, *self.option_values] for w in words(f.replace("-", " "))
        )
        # The catalogue's own words, without the English ones a request may also use: a thing
        # named only by words outside it is something the store does not sell.
        self._catalogue_words = frozenset(known)
        # The words its descriptions and reviews write ("cosy", "festival", "exercise"): a word
        # of the store's own language describes, where one it never writes may be a demand.
        self._text_words = frozenset(vocabulary.text_words) | {
            singular(w) for w in vocabulary.text_words
        }
        self._written = self._catalogue_words | self._text_words
        # A shade the store sells under no name and never writes ("maroon", "aqua") is read as
        # its colour family ("red", "blue") when it belongs to one family only: a shade of two
        # (khaki, teal, rust) names no one colour, and a word the store writes ("snow",
        # "coffee") is not said as a colour.
        for shade, family in _lone_shades().items():
            if shade not in self.colours and shade not in self._written:
                self.colours[shade] = family
        self._colour_pattern = _alternation(self.colours)

        self._known = frozenset(known) | english
        by_letter: dict[str, list[str]] = defaultdict(list)
        for word in sorted(known):
            if word.isalpha() and len(word) >= 3:
                by_letter[word[0]].append(word)
        self._known_by_letter = dict(by_letter)
        # Synonyms the catalogue never spells ("couch" for a sofa, "car" for a vehicle): a word
        # whose MiniLM embedding is this close to a type phrase's names that type.
        self.encode = encode
        embed_many = encode_many or encode
        if embed_many is not None:
            _merge_synonym_categories(self.types, vocabulary, embed_many)
        # Synonyms name strong types only: a word of a category's name is no type on its own.
        self._type_keys = sorted(k for k, t in self.types.items() if not t.weak)
        self._type_vectors = _unit(embed_many(self._type_keys)) if embed_many is not None else None
        self._word_vectors: dict[str, np.ndarray] = {}
        # The words that name each category: of its name and of every phrase naming it ("pet",
        # "bed" for Pet Bed; "camp", "photo", "rain" where products are so called).
        name_words: dict[str, set[str]] = defaultdict(set)
        for key, product_type in self.types.items():
            for category_id in product_type.categories:
                name_words[category_id].update(key.split())
        for ref in vocabulary.categories:
            name_words[ref.id].update(phrase_key(ref.name).split())
        self._name_words = {c: frozenset(w - _FILLER) for c, w in name_words.items()}
        every_name_word = sorted(set().union(*self._name_words.values()))
        if embed_many is not None and every_name_word:
            vectors = _unit(embed_many(every_name_word))
            self._word_vectors.update(zip(every_name_word, vectors, strict=True))

    def read(self, text: str, *, in_force: bool = False) -> QueryReading:
        """What `text` says about the products wanted; `in_force`: a query is in force, so
        words may refine it."""
        reading = QueryReading()
        # Comparatives first: "roomier" is no typo of a catalogue word.
        said = self._comparative(text.lower().replace("’", "'"), reading)
        spelled = self._spelled(said)
        rest = " " + squash_units(spelled) + " "
        rest = self._prices(rest, reading)
        rest, superlative = self._sort(rest, reading)
        rest = self._negations(rest, reading)
        if m := _CAPACITY.search(rest):
            number = next(g for g in m.groups() if g)
            count = int(number) if number.isdigit() else _NUMBERS[number.lower()]
            # Catalogues write a tent for four as "4P" (an option) or "4-person" (its words).
            short = f"{count}p"
            reading.features.append(short if short in self.option_values else f"{count}-person")
            rest = rest.replace(m.group(0), " ")
        if m := _AGE.search(rest):
            if int(m.group(1)) <= CHILD_AGE:
                reading.gender = "kids"
            rest = rest.replace(m.group(0), " ")
        rest = self._sizes(rest, reading)
        rest = self._gender(rest, reading) if reading.gender is None else rest
        rest = self._named(rest, self._brand_pattern, self.brands, reading.brands)
        rest = self._models(rest, reading)
        rest = self._types(rest, reading, in_force)
        rest = self._named(
            rest, self._coloured_feature_pattern, self._coloured_features, reading.features
        )
        rest = self._named(rest, self._colour_pattern, self.colours, reading.colours)
        rest = self._named(rest, self._feature_pattern, self.features, reading.features)
        rest = self._named(rest, self._preference_pattern, self.preferences, reading.prefer)
        leftover = [w for w in words(rest) if w not in _FILLER and not w.isdigit()]
        if not reading.types:
            leftover = self._synonym_types(leftover, reading)
            leftover = self._unsold(leftover, reading, in_force)
        leftover = self._describing(spelled, leftover, reading)
        self._said_of(leftover, reading)
        # "a 55 liter pack": an amount is a feature the product's own words must state.
        reading.features.extend(w for w in leftover if is_amount(w))
        leftover = [w for w in leftover if not is_amount(w)]
        if reading.sort and reading.count is None and superlative and not _plural(reading):
            # "the cheapest water bottle", "cheapest?": one product is asked for.
            reading.count = 1
        reading.other_words = leftover
        return reading

    def _models(self, rest: str, reading: QueryReading) -> str:
        """A model asked by its number after a word of the products' names ("iphone 15",
        "galaxy s21"): the products must say that model, so a model the store does not sell finds
        none of the others passed off as it."""
        for m in _MODEL.finditer(rest):
            name = m.group(1)
            number = m.group(2)
            describes = name in self._feature_words or number in self.option_values
            if name in self._product_name_words and self._type_key(name) is None and not describes:
                reading.features.append(f"{name} {m.group(2)}")
                rest = rest.replace(m.group(0), f" {name} ", 1)
        return rest

    def _describing(self, spelled: str, leftover: list[str], reading: QueryReading) -> list[str]:
        """Words right before the type the shopper named: another name of it ("camping chair",
        "dog bed") is a wish that ranks and, when some products say it, narrows; what the
        shopper asks of it ("heated jacket") is a feature it must state. `spelled`: the
        request, spelled right."""
        said = words(spelled)
        content = [w for w in said if w not in _FILLER and not w.isdigit()]
        if (
            len(reading.type_words) == 1
            and len(content) == 2
            and content[1] in leftover
            and phrase_key(content[0]) == phrase_key(reading.type_words[0])
            and " ".join(content) in " ".join(said)
        ):
            # "home decor", "kitchen utensils": the last word is what is wanted, and the type
            # named before it only describes it; the search finds the type from the meaning.
            reading.prefer.append(reading.type_words.pop())
            reading.types.clear()
            return leftover
        kept = []
        describing = self._before_type(spelled, [*leftover, *reading.prefer], reading)
        for word in [w for w in reading.prefer if w in describing]:
            # A word of a category's or a product's name before the type ("electric" bike,
            # "merino" base layer) is read as any other describing word.
            reading.prefer.remove(word)
            leftover = [*leftover, word]
        for word in leftover:
            if word in describing and self._demands(word, reading):
                # "heated jacket", "electric bike", "merino socks": what the shopper asks of the
                # thing, not another name of it; a product that does not say so is no match.
                reading.described.append(word)
            elif word in describing and word in self._known:
                # "dog bed", "bike helmet", "camping chair": another name of the type, or of a
                # part of it; it ranks and narrows where products say it.
                reading.prefer.append(word)
                self._narrow_types(word, reading)
            else:
                kept.append(word)
        return kept

    def _narrow_types(self, word: str, reading: QueryReading) -> None:
        """A word before a type that names some of its categories and not the others picks
        those out: "camping chair" is a Camp Chair, not an Office Chair, though "chair" names
        both; a word naming all or none of them leaves the type as it is."""
        for n, product_type in enumerate(reading.types):
            named = frozenset(c for c in product_type.categories if self._names_category(word, c))
            if named and named != product_type.categories:
                reading.types[n] = replace(product_type, categories=named)

    def _names_category(self, word: str, category_id: str) -> bool:
        """Whether `word` is one of the category's name words, or as close to one in meaning
        as a loose name of a type is (`UNSOLD_SIMILARITY`)."""
        names = self._name_words.get(category_id, frozenset())
        if phrase_key(word) in names or word in names:
            return True
        if self.encode is None or not names:
            return False
        vector = self._word_vector(word)
        return max(float(vector @ self._word_vector(n)) for n in names) >= UNSOLD_SIMILARITY

    def _said_of(self, leftover: list[str], reading: QueryReading) -> None:
        """Words said of the type named that the store's own descriptions and reviews use ("a
        tent that can cope with snow", "a nonstick to fry eggs in"): wishes that narrow to the
        products saying the most of them, never a demand; none saying any changes nothing. Not
        under a sort, which orders every product of the type."""
        if not reading.types or reading.sort or reading.count:
            return
        said = [
            w
            for w in leftover
            if len(w) >= SAID_OF_LETTERS
            and w not in reading.verbs
            and w not in reading.prefer
            and (w in self._text_words or singular(w) in self._text_words)
        ]
        reading.prefer.extend(said[:SAID_OF_WORDS])

    def _before_type(self, spelled: str, content: list[str], reading: QueryReading) -> set[str]:
        """The `content` words the shopper put right before the type they named ("solar
        powered" of "solar powered speaker"), as far back as they run unbroken within the
        clause; a word after a number is its unit ("50 ft hose"), not a description."""
        heads = {phrase_key(t.split()[0]) for t in reading.type_words}
        content_words = set(content)
        run: set[str] = set()
        for clause in _CLAUSE.split(spelled):
            said = words(clause)
            for i, word in enumerate(said):
                if phrase_key(word) not in heads:
                    continue
                j = i - 1
                while j >= 0 and said[j] in content_words and not is_amount(said[j]):
                    if j > 0 and said[j - 1].isdigit():
                        break
                    # "high waisted", "long sleeved": a shape said with a word of degree is
                    # described, not named, and ranks as its first word does.
                    degree = j > 0 and said[j - 1] in _SOFT_DESCRIBING
                    if "'" not in said[j] and not degree:  # "he doesn't" is no description
                        run.add(said[j])
                    j -= 1
        return run

    def _demands(self, word: str, reading: QueryReading) -> bool:
        """Whether a word right before the type asks something of the product that it states
        or lacks: a word the catalogue's names never use or a word of its features ("heated",
        "merino", "electric"), which is no name of the type; not a word of how big, how good
        or what for ("big", "comfy", "walking"), which products seldom say in so many words."""
        if word in _SOFT_DESCRIBING or word.endswith("ing"):
            return False
        of_a_feature = word in self._feature_words
        known = word in self._catalogue_words or word in self._text_words
        if known and not of_a_feature:
            # "exercise" mat, "cosy" fleece: a word of the store's own language (its names,
            # descriptions and reviews) that names no feature describes; it ranks and narrows.
            return False
        return not self._names_type(word, reading)

    def _names_type(self, word: str, reading: QueryReading) -> bool:
        """Whether `word` names the types read (or a part of them) rather than describing
        them: one of their name words, or as close in meaning to one as a loose name of a type
        is (dog/pet 0.80, picture/photo 0.85, camping/camp 0.83; heated/jacket 0.47,
        electric/bicycle 0.37, merino/base layer 0.09). Without an encoder, every word does."""
        categories = {c for t in reading.types for c in t.categories}
        if self.encode is None or not any(self._name_words.get(c) for c in categories):
            return True
        return any(self._names_category(word, c) for c in categories)

    def _unsold(self, leftover: list[str], reading: QueryReading, in_force: bool) -> list[str]:
        """A new request that names its thing only in words the catalogue never uses ("an
        inflatable kayak", "a grey hoodie") and near no type in meaning: those words are what
        the products must state, so a search that guesses the type from the meaning says
        nothing matches instead of passing its nearest products off as the thing."""
        if in_force or reading.in_passing or not leftover:
            return leftover
        if reading.verbs:
            return leftover  # "something to film myself surfing": a use, told by its verb
        if reading.brands or reading.prefer or reading.features:
            return leftover  # the catalogue's own words place the request
        if len(leftover) > UNSOLD_WORDS:
            return leftover  # a story or a use ("something to keep my water cold on hikes")
        known = self._written
        if any(w in known or phrase_key(w) in known for w in leftover):
            return leftover  # "for swimming laps at the pool": the store writes of these
        if self._type_vectors is not None and self.encode is not None:
            vectors = np.vstack([self._word_vector(w) for w in leftover])
            if float((vectors @ self._type_vectors.T).max()) >= UNSOLD_SIMILARITY:
                return leftover  # a loose name of a type the store has ("purse", "phone")
        reading.features.extend(w for w in leftover if not is_amount(w))
        reading.unsold = True
        return []

    def _spelled(self, text: str) -> str:
        """`text` with its typos of the catalogue's own words put right ("hikng boots", "waterprof
        jakcet", "backpak", "yoga matt"): a word the catalogue and the request words do not know
        becomes the known word closest to it by Damerau-Levenshtein (a swap of two letters is one
        edit) with the same first letter. Words shorter than four letters are left alone."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            if len(word) < 4 or word in self._known or not word.isalpha():
                return word
            candidates = self._known_by_letter.get(word[0], ())
            cutoff = SPELLING_SHORT if len(word) < 6 else SPELLING_SIMILARITY
            hit = process.extractOne(
                word, candidates, scorer=DamerauLevenshtein.normalized_similarity,
                score_cutoff=cutoff,
            )  # fmt: skip
            return str(hit[0]) if hit is not None else word

        return _TOKEN.sub(fix, text)

    def _word_vector(self, word: str) -> np.ndarray:
        vector = self._word_vectors.get(word)
        if vector is None:
            assert self.encode is not None
            vector = _unit(self.encode([word]))[0]
            if len(self._word_vectors) < WORD_VECTORS:
                self._word_vectors[word] = vector
        return vector

    def _synonym_types(self, leftover: list[str], reading: QueryReading) -> list[str]:
        """Words that name a type in other words ("couch", "car"): the type phrase nearest in
        meaning, when it is near enough."""
        if self.encode is None or self._type_vectors is None or not leftover:
            return leftover
        candidates = [w for w in leftover if w not in reading.verbs][:SYNONYM_WORDS]
        if not candidates:
            return leftover
        clipped = {w: key for w in candidates if (key := self._clipped(w)) is not None}
        for word, key in clipped.items():
            reading.types.append(self.types[key])
            reading.type_words.append(word)
            reading.guessed = True
        candidates = [w for w in candidates if w not in clipped]
        leftover = [w for w in leftover if w not in clipped]
        if not candidates:
            return leftover
        # One word at a time: a single text takes the fast ONNX path (~5 ms), where a batch
        # goes through torch (~500 ms on a busy box); words recur, so they are remembered.
        vectors = np.vstack([self._word_vector(w) for w in candidates])
        scores = vectors @ self._type_vectors.T
        kept = []
        for word, row in zip(candidates, scores, strict=True):
            best = int(row.argmax())
            if row[best] >= SYNONYM_SIMILARITY:
                key = self._type_keys[best]
                reading.types.append(self.types[key])
                reading.type_words.append(word)
                reading.guessed = True
                # "iphone" names smartphones and, among them, the ones that say iphone; a
                # "couch" narrows nothing, since no sofa says couch.
                reading.prefer.append(word)
            else:
                kept.append(word)
        return kept + [w for w in leftover if w not in candidates]

    def _clipped(self, word: str) -> str | None:
        """The type a pet name clipped from one of its words names ("lippy" of lipstick): a
        word neither the store nor the text model's English knows ("sunny" is a word of the
        weather, not of sunglasses), ending in -y or -ie, whose stem (its doubled last
        consonant undone) starts the words of one type phrase only."""
        if word in self._written or word in self._known:
            return None
        stem = re.sub(r"(?:ies|ie|ys|y)$", "", word)
        if stem == word:
            return None
        if len(stem) > 1 and stem[-1] == stem[-2]:
            stem = stem[:-1]
        if len(stem) < CLIPPED_STEM_LETTERS:
            return None
        keys = [
            key
            for key in self._type_keys
            if any(w.startswith(stem) and w != stem for w in key.split())
        ]
        # "lipstick" and "red lipstick" are one type.
        if len({self.types[k].categories for k in keys}) != 1:
            return None
        return min(keys, key=len)

    def apply(
        self,
        reading: QueryReading,
        text: str,
        previous: ProductQuery | None,
        shown_prices: Sequence[float] = (),
        shown: Sequence[str] = (),
    ) -> ProductQuery:
        """The query in force after this message: a new one when it names another product type
        (or there is none yet), else `previous` with this message's constraints added or
        replaced. `shown_prices` and `shown`: the prices and ids of the products the last
        answer showed, which a comparative ("cheaper", "lighter") is measured against."""
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
        hard, wishes = self._constraints(reading.features, categories or base.categories)
        in_force = list(dict.fromkeys([*features, *hard, *reading.described]))
        update["features"] = in_force
        kept = base.prefer if base is previous else []
        # A refinement's thing to go with ("needs to fit my laptop") narrows where products
        # say it; a new request's ("keep my coffee hot") only tells the search its meaning.
        going_with = [w for p in reading.passing for w in p.split()] if base is previous else []
        update["prefer"] = list(dict.fromkeys([*kept, *reading.prefer, *wishes, *going_with]))
        if reading.exclude:
            update["exclude"] = list(dict.fromkeys([*base.exclude, *reading.exclude]))
            colours = reading.colours or base.colours
            update["colours"] = [c for c in colours if c not in reading.exclude]
        if reading.min_price is not None or reading.max_price is not None:
            update["min_price"] = reading.min_price
            update["max_price"] = reading.max_price
        # "Cheaper", "lighter": past the products shown, after the wishes in force narrowed
        # them (the search applies it); a budget in force stays.
        # A comparative is of the products shown only while the query they answered is in
        # force: "a lighter tent?" after jackets is a new search, compared with nothing.
        refining = base is previous
        beyond = self._beyond(reading, shown_prices, shown) if refining else None
        update["beyond"] = beyond or (base.beyond if refining else None)
        if beyond is not None:
            # "2 person tent", then "a roomier one": the capacity asked before gives way to
            # the comparative on it.
            compared = {m.name for m in beyond.measures}
            update["features"] = [
                f for f in in_force if not self._option_of.get(f, set()) & compared
            ]
        if reading.sort:
            update["sort"] = reading.sort
        update["limit"] = reading.count or 5
        edits_text = reading.features or reading.described or reading.other_words or reading.passing
        if base is previous and not reading.sort and edits_text:
            update["text"] = _request_text(f"{previous.text} {text}")
        return base.model_copy(update=update)

    @staticmethod
    def _beyond(
        reading: QueryReading, shown_prices: Sequence[float], shown: Sequence[str]
    ) -> Beyond | None:
        """The comparative of this message, measured against the products shown: a price one
        against the prices shown (exactly as the cards gave them), any other against what the
        catalogue states of those products (the search reads it)."""
        if reading.cheaper or reading.pricier:
            price = Measure(name="price", direction="less" if reading.cheaper else "more")
            word = "cheaper" if reading.cheaper else "more expensive"
            if shown_prices:
                bound = min(shown_prices) if reading.cheaper else max(shown_prices)
                return Beyond(
                    word=word, measures=[price], than=list(shown), measure="price", bound=bound,
                    bound_text=f"${bound:,.2f}",
                )  # fmt: skip
            if shown:
                # Of products whose shown prices are not at hand: the search reads them.
                return Beyond(word=word, measures=[price], than=list(shown))
        if reading.comparative is not None and shown:
            measures = _COMPARATIVES[reading.comparative]
            return Beyond(word=reading.comparative, measures=list(measures), than=list(shown))
        return None

    def _comparative(self, rest: str, reading: QueryReading) -> str:
        """A comparative of the products shown ("a lighter one", "any roomier ones?", "one with
        a higher rating"); one of price is read by `_prices` as cheaper or pricier."""
        m = _COMPARATIVE.search(rest)
        if m is None:
            return rest
        phrase = " ".join(m.group(1).lower().split())
        measures = _COMPARATIVES[phrase]
        if measures[0].name == "price":
            reading.cheaper = measures[0].direction == "less"
            reading.pricier = measures[0].direction == "more"
        else:
            reading.comparative = phrase
        return rest[: m.start()] + " " + rest[m.end() :]

    def _constraints(
        self, features: Sequence[str], categories: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """The features the types can have or lack (their SKUs' options, any attribute or
        material), and the rest, which are only wishes for these types (for no type named, an
        option is only a wish: which types have it is not known yet)."""
        values: set[str] = set()
        for category in self._subtree(categories):
            values |= self._category_options.get(category, set())
        hard: list[str] = []
        wishes: list[str] = []
        for feature in features:
            only_an_option = feature in self.option_values and feature not in self.attribute_terms
            (wishes if only_an_option and feature not in values else hard).append(feature)
        return hard, wishes

    def _subtree(self, categories: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(categories)
        while todo:
            category = todo.pop()
            if category not in seen:
                seen.add(category)
                todo.extend(self._children.get(category, ()))
        return seen

    # -- the parts of `read` -------------------------------------------------------------

    def _prices(self, rest: str, reading: QueryReading) -> str:
        for negative in _NEGATIVE.finditer(rest):
            # Said back without a currency sign, which would read as a price of the catalogue.
            reading.negative_prices.append(f"{negative.group(1)} -{negative.group(2)}")
        rest = _NEGATIVE.sub(" ", rest)
        rest = _MONEY_WORDS.sub(lambda m: f"{_TENS[m.group(1).lower()]} {m.group(2)}", rest)
        rest = _BOUNDED_MONEY_WORDS.sub(lambda m: f"{m.group(1)} {_TENS[m.group(2).lower()]}", rest)
        if m := _BETWEEN.search(rest):
            groups = [g for g in m.groups() if g and g.lower() != "k"]
            low, high = sorted(_money(g) for g in groups[:2])
            reading.min_price, reading.max_price = low, high
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
            unbounded = reading.min_price is None and reading.max_price is None
            if unbounded and (m := _AROUND.search(rest)):
                centre = _money(m.group(1), m.group(2))
                reading.min_price = round(centre * (1 - AROUND_BAND), 2)
                reading.max_price = round(centre * (1 + AROUND_BAND), 2)
                rest = rest.replace(m.group(0), " ")
        # A bound said with the comparative ("cheaper, under 100") is the bound.
        reading.cheaper = reading.max_price is None and (
            reading.cheaper or bool(_CHEAPER.search(rest))
        )
        reading.pricier = reading.min_price is None and (
            reading.pricier or bool(_PRICIER.search(rest))
        )
        return rest

    def _sort(self, rest: str, reading: QueryReading) -> tuple[str, bool]:
        """The sort and count asked for; True when a superlative asked it ("cheapest", not
        "cheap")."""
        if m := _COUNT.search(rest):
            word = next(g for g in m.groups() if g)
            reading.count = _NUMBERS.get(word.lower()) or int(word)
        elif _ONE.search(rest):
            reading.count = 1
        superlative = False
        for sort, pattern in _SORTS:
            if m := pattern.search(rest):
                reading.sort = sort
                superlative = True
                rest = rest.replace(m.group(0), " ")
                break
        if reading.sort is None and reading.max_price is None and _CHEAP.search(rest):
            reading.sort = "price_asc"
        if reading.sort is None:
            reading.count = None
        return rest, superlative

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
            if self._describes_a_thing(rest, m):
                continue
            value = next(g for g in m.groups() if g).lower().replace(" ", "-")
            value = value.replace("extra-", "extra ")
            known = size_forms(value) & (self.sizes | {"s", "m", "l", "xl", "xs", "xxl"})
            if known or value in self.sizes or re.fullmatch(r"\d{1,2}(?:\.5)?", value):
                reading.sizes.append(_size_label(value))
                # "men's size 9" asks a cut as well as a size: the cut stays to be read.
                cut = words(m.group(0))[0]
                kept = f" {cut} " if gender_of_word(cut) is not None else " "
                rest = rest.replace(m.group(0), kept)
        for m in _INCHES.finditer(rest):
            size = f"{m.group(1)} in"
            if size in self.sizes:
                reading.sizes.append(size)
                rest = rest.replace(m.group(0), " ")
        for word in words(rest):
            if word in self._coded_sizes and word.upper() not in reading.sizes:
                reading.sizes.append(word.upper())
                rest = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", rest)
        return rest

    def _describes_a_thing(self, rest: str, m: re.Match[str]) -> bool:
        """Whether "a small"/"a large" describes the next word rather than asking a size: "for
        a small bedroom" is about the room; "a large jacket" and "a large please" ask a size."""
        if not re.match(r"an?\s", m.group(0), re.I):
            return False
        following = words(rest[m.end() :])[:1]
        if not following or following[0] in _FILLER or not following[0].isalpha():
            return False
        return self._type_key(following[0]) is None

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
            said = _lookup(m.group(1))
            # The pattern takes plurals ("heels"); the catalogue's word is the singular.
            value = names.get(said) or names.get(phrase_key(said)) or m.group(1)
            if value not in into:
                into.append(value)
        return pattern.sub(" ", rest)

    def _types(self, rest: str, reading: QueryReading, in_force: bool) -> str:
        """Type phrases, longest first ("dumbbell set" before "dumbbell"). Of two named side by
        side, the last is the type and the first describes it ("glass kettle", "kitchen
        knife"); a type after "my" is what the shopper has, not what they want ("keep my water
        cold"); with a query in force, a word that is both a type and a feature is the feature
        ("glass" for kettles)."""
        tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(rest)]
        # "to keep the drinks icy", "a way to drink stream water": the word after "to" is a
        # verb, not a type, and what it acts on is what the product is for, not the product;
        # after "to buy", "to find" the thing named is still the one wanted.
        verbs = [
            j
            for j in range(1, len(tokens))
            if tokens[j - 1][2] == "to"
            and tokens[j][2].isalpha()
            and tokens[j][2] not in _SEEKING_VERBS
            and tokens[j][2] not in _DETERMINERS
            and tokens[j][2] not in _FILLER
        ]
        taken = [j in verbs for j in range(len(tokens))]
        reading.verbs.extend(tokens[j][2] for j in verbs)

        def acted_on(i: int) -> bool:
            return any(
                0 < i - v <= PURPOSE_OBJECT_WORDS
                and not any(tokens[k][2] in _JOINING for k in range(v + 1, i))
                for v in verbs
            )

        found: list[tuple[int, int, str]] = []
        owned: list[tuple[int, int, str]] = []
        for n in (4, 3, 2, 1):
            # Right to left: English puts the head last ("adjustable dumbbell set" is a set).
            for i in reversed(range(len(tokens) - n + 1)):
                if any(taken[i : i + n]):
                    continue
                key = self._type_key(" ".join(t[2] for t in tokens[i : i + n]))
                if key is None:
                    continue
                start = self._mine(tokens, i)
                if start is None and acted_on(i):
                    start = i
                for j in range(i if start is None else start, i + n):
                    taken[j] = True
                if start is None:
                    found.append((i, i + n, key))
                else:  # with its describing words: "the washing machine" is one thing
                    owned.append((start, i + n, key))
        found.sort()
        # A type named after "with" another one ("a coffee machine with a grinder", "a jacket
        # with a battery pack") is a part the product asked for must have, not a second product.
        with_at = [i for i, t in enumerate(tokens) if t[2] == "with"]
        parts = [
            f
            for f in found
            if any(g[1] <= w < f[0] for w in with_at for g in found if not self.types[g[2]].weak)
        ]
        reading.features.extend(" ".join(t[2] for t in tokens[s:e]) for s, e, _ in parts)
        found = [f for f in found if f not in parts]
        # "a jacket for hiking", "kitchen utensils": a word describing a category is a wish;
        # with no type named, the search takes the type from the request's meaning.
        wishes = [f for f in found if self.types[f[2]].weak]
        reading.prefer.extend(" ".join(t[2] for t in tokens[s:e]) for s, e, _ in wishes)
        found = [f for f in found if not self.types[f[2]].weak]
        # "a little home gym, need some weights": a department named beside a product type
        # describes where it goes; the type is what is wanted.
        departments = [f for f in found if self._is_department(self.types[f[2]])]
        if departments and len(departments) < len(found):
            found = [f for f in found if f not in departments]
            owned += departments
        reading.passing.extend(
            " ".join(t[2] for t in tokens[s:e]) for s, e, k in owned if not self.types[k].weak
        )
        owned += wishes + parts
        reading.in_passing = bool(owned)
        for index, (start, end, key) in enumerate(found):
            text = " ".join(t[2] for t in tokens[start:end])
            head = index + 1 < len(found) and found[index + 1][0] == end
            if in_force and n_words(key) == 1 and key in self.features:
                reading.features.append(text)
                continue
            if head:
                # The describing word of "glass kettle" is a feature; of "kitchen knife", a wish.
                (reading.features if key in self.features else reading.prefer).append(text)
                continue
            if self.types[key] not in reading.types:  # "a tent ... the tent" names one type
                reading.types.append(self.types[key])
                reading.type_words.append(text)
        for start, end, _ in sorted(found + owned, reverse=True):
            rest = rest[: tokens[start][0]] + " " + rest[tokens[end - 1][1] :]
        return rest

    def _mine(self, tokens: Sequence[tuple[int, int, str]], i: int) -> int | None:
        """Where the thing named by the type at token `i` starts, when it is something the
        shopper has or a place, not what they want: after "my" ("keep my coffee hot", "in my
        own kitchen"), what a thing is for ("a wool throw for the sofa", when something
        precedes "for"), or where it goes ("chuck it in the washing machine", "hang it on the
        wall"); a describing word or two may stand between. None: it is what they want."""
        said = [t[2] for t in tokens]
        before = i - 1
        # Up to two describing words back to the determiner ("my own", "the washing").
        while before >= 0 and i - before <= 2 and said[before] not in _DETERMINERS:
            if said[before] in _JOINING or self._type_key(said[before]) is not None:
                break
            before -= 1
        if before < 0 or said[before] not in _DETERMINERS:
            return None
        if said[before] in _POSSESSIVES:
            return before + 1
        if before == 0:
            return None
        preposition = said[before - 1]
        if preposition in _PLACES and said[before] == "the":
            return before + 1
        purpose = (
            before == i - 1
            and said[before] in ("the", "a", "an", "your")
            and preposition == "for"
            and before >= 2
            and said[before - 2] not in _SEEKING
        )
        return before + 1 if purpose else None

    def _is_department(self, product_type: ProductType) -> bool:
        return all(c in self._children for c in product_type.categories)

    def _type_key(self, phrase: str) -> str | None:
        key = phrase_key(phrase)
        if key in self.types:
            return key
        return self._compact.get(key.replace(" ", ""))


def _lone_shades() -> dict[str, str]:
    """Each colour-family member that belongs to one family only, with that family's name."""
    families = colour_families()
    homes: dict[str, list[str]] = defaultdict(list)
    for family, members in families.items():
        for member in members - {family}:
            homes[member].append(family)
    return {m: f[0] for m, f in homes.items() if len(f) == 1 and m not in families}


def _plural(reading: QueryReading) -> bool:
    """Whether the shopper wrote a type in the plural ("cheapest tents" asks for a list)."""
    return any(phrase_key(w) != " ".join(words(w.replace("-", " "))) for w in reading.type_words)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms == 0, 1.0, norms), dtype=np.float32)


def n_words(phrase: str) -> int:
    return len(phrase.split())


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
    """Every phrase that names a product type, keyed as `_key` writes it, strongest first:

    1. a category's whole name, without a leading "Mens" or "Womens" ("jackets": Jackets,
       parkas included), with every category all of whose products end in it too ("running
       shoes" takes all of Trail Running Shoes);
    2. the last word of category names ("boots": Hiking Boots and Winter Boots);
    3. the last one or two words of product names, narrowed to those products unless they
       cover their categories whole ("rain jacket", "leggings" among Leggings & Activewear);
    4. a part of a category's name ("fleece" of "Fleece & Midlayers");
    5. a word describing a category's name ("kitchen" of "Kitchen Accessories", "hiking" of
       "Hiking Boots"): weak, a wish rather than a type.
    """
    with_products = {p.category_id for p in vocabulary.products if p.category_id}
    colours = {c.lower() for c in vocabulary.options.get("color", ())}
    materials = {f.lower() for f in vocabulary.features}
    whole: dict[str, set[str]] = defaultdict(set)
    heads: dict[str, set[str]] = defaultdict(set)
    parts: dict[str, set[str]] = defaultdict(set)
    parts_of: dict[str, set[str]] = defaultdict(set)
    modifiers: dict[str, set[str]] = defaultdict(set)
    for category in vocabulary.categories:
        kept = [w for w in words(category.name) if gender_of_word(w) is None]
        if not kept:
            continue
        whole[phrase_key(" ".join(kept))].add(category.id)
        if category.id in with_products:
            heads[phrase_key(kept[-1])].add(category.id)
            # "T-Shirts" is a kind of shirt too.
            heads[phrase_key(kept[-1].split("-")[-1])].add(category.id)
        for part in re.split(r"\s*(?:&|,|\band\b|/)\s*", category.name):
            part_words = [w for w in words(part) if gender_of_word(w) is None]
            if part_words and len(part_words) < len(kept):
                parts[phrase_key(" ".join(part_words))].add(category.id)
                parts[phrase_key(part_words[-1])].add(category.id)
                parts_of[category.id].add(phrase_key(part_words[-1]))
        if category.id in with_products:
            for modifier in kept[:-1]:
                modifiers[phrase_key(modifier)].add(category.id)
    names: dict[str, set[str]] = defaultdict(set)
    endings: dict[str, set[str]] = defaultdict(set)
    ids_in: dict[str, set[str]] = defaultdict(set)
    for product in vocabulary.products:
        if not product.category_id:
            continue
        ids_in[product.category_id].add(product.id)
        # "Selfie Lamp with iPhone" is a lamp: what follows "with" or "for" is not its kind.
        tokens = words(_WITH.split(product.name.replace("&", " "))[0])
        if not tokens or any(ch.isdigit() for ch in tokens[-1]):
            continue  # "Lenovo Yoga 920" ends in a model, not a kind of product
        for n in (1, 2):
            ending = tokens[-n:]
            if len(ending) < n or _not_a_type(ending, colours, materials):
                continue
            key = phrase_key(" ".join(ending))
            names[key].add(product.category_id)
            endings[key].add(product.id)
    by_names: dict[str, ProductType] = {}
    for key, categories in names.items():
        total = sum(len(ids_in[c]) for c in categories)
        kind = None if len(endings[key]) >= total else key
        by_names[key] = ProductType(frozenset(categories), kind)

    def named_apart(part: str, category: str) -> bool:
        """Whether the category's products are told apart by name: some are called by
        another part of its name ("Headlamps & Lanterns" holds lanterns, so a headlamp is
        only what is called one; of "GPS Watches & Trackers", a watch)."""
        head = part.split()[-1]
        return any(category in names.get(other, ()) for other in parts_of[category] - {head})

    phrases = {k: ProductType(frozenset(v), weak=True) for k, v in modifiers.items()}
    phrases |= {
        k: ProductType(frozenset(v), k.split()[-1] if all(named_apart(k, c) for c in v) else None)
        for k, v in parts.items()
    }
    phrases |= by_names
    phrases |= {k: ProductType(frozenset(v)) for k, v in heads.items()}
    for key, categories in whole.items():
        named = by_names.get(key)
        if named is not None and named.kind is None:
            phrases[key] = ProductType(frozenset(categories) | named.categories)
        elif named is not None and all(ids_in[c] <= endings[key] for c in categories):
            # A category named "Fleece Jacket" whose products are all called so, and fleece
            # jackets among Fleece & Midlayers: one kind across both.
            phrases[key] = ProductType(frozenset(categories) | named.categories, key)
        else:
            phrases[key] = ProductType(frozenset(categories))
    # "tshirt" and "t shirt" are one phrase; the category's spelling wins.
    compact = {k.replace(" ", ""): k for k in whole}
    for key in list(phrases):
        twin = compact.get(key.replace(" ", ""))
        if twin is not None and twin != key:
            phrases[key] = phrases[twin]
    return {k: v for k, v in phrases.items() if k and k not in _FILLER}


def _merge_synonym_categories(
    types: dict[str, ProductType], vocabulary: Vocabulary, encode: Encoder
) -> None:
    """Categories two catalogues name differently ("Perfume" and "Fragrances", "Electric
    Kettle" and "Tea Kettle") answer each other's names: a category's name takes in the
    categories whose names are this close in meaning."""
    named: dict[str, set[str]] = defaultdict(set)
    for category in vocabulary.categories:
        kept = [w for w in words(category.name) if gender_of_word(w) is None]
        key = phrase_key(" ".join(kept))
        if kept and key in types and not types[key].weak:
            named[key].add(category.id)
    keys = sorted(named)
    if len(keys) < 2:
        return
    vectors = _unit(encode(keys))
    similar = vectors @ vectors.T
    for i, key in enumerate(keys):
        # A name takes in the categories of names as close that are the same kind of thing:
        # names with no word in common ("perfume", "fragrance"), or a narrower name of the same
        # head ("shirt" takes t-shirts; "t shirt" does not take all shirts, nor "coffee" coffee
        # makers).
        own = key.split()
        others = {
            c
            for j, other in enumerate(keys)
            if j != i and similar[i, j] >= SAME_TYPE and _same_kind(own, other.split())
            for c in named[other]
        }
        if others:
            current = types[key]
            types[key] = ProductType(current.categories | others, current.kind, current.weak)


def _same_kind(name: Sequence[str], other: Sequence[str]) -> bool:
    """Whether `other` names the same kind of thing as `name`, or a narrower one."""
    if not set(name) & set(other):
        return True
    return name[-1] == other[-1] and not set(other) < set(name)


def _not_a_type(ending: Sequence[str], colours: set[str], materials: set[str]) -> bool:
    """Endings that name no kind of product: a colour ("Citrus Squeezer Yellow"; only a colour
    the catalogue sells or a family's own name, so "Light Roast Coffee" is coffee), a material
    ("Corset Leather"), a size, a gender, a model's suffix ("13 Pro") or filler last; a
    feature first ("Insulated Jacket" is a jacket that is insulated: a kind of it would miss
    the parkas whose attributes say insulated)."""
    last = ending[-1]
    return (
        (len(ending) > 1 and ending[0] in materials)
        or last in colours
        or last in materials
        or last in colour_families()
        or last in _FILLER
        or last in _MODEL_SUFFIXES
        or gender_of_word(last) is not None
        or len(last) < 3
        or any(ch.isdigit() for ch in last)
    )


def _naming_words(vocabulary: Vocabulary, types: dict[str, ProductType]) -> set[str]:
    """Words that pick out a product or two by name ("bikini", "jordan", "ipad", "kettlebell"),
    or a brand's product line ("iphone"): in the names of at most `NAMING_PRODUCTS` products or
    of one brand's only, and no type, brand, colour or gender.
    Words many names share ("warm", "packable", "classic") describe rather than name: they only
    rank, through the request's text."""
    brand_words = {w for b in vocabulary.brands for w in words(b.name)}
    counts: dict[str, set[str]] = defaultdict(set)
    makers: dict[str, Counter[str | None]] = defaultdict(Counter)
    for product in vocabulary.products:
        for word in set(words(product.name)):
            counts[word].add(product.id)
            makers[word][product.brand_id] += 1

    def product_line(word: str) -> bool:
        # A word in the names of products nearly all of one brand is its product line
        # ("iphone": 6 Apple products and a lamp that goes "with iPhone"), which names them as a
        # model name does; "warm" is in the names of five brands' products.
        (maker, made), *_ = makers[word].most_common(1)
        return maker is not None and made >= PRODUCT_LINE_SHARE * len(counts[word])

    return {
        word
        for word, ids in counts.items()
        if (len(ids) <= NAMING_PRODUCTS or product_line(word))
        and len(word) > 2
        and word not in brand_words
        and word not in _FILLER
        and phrase_key(word) not in types
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
