"""The typed product query: what a shopper asks for, as the NLU, the search tool and the dialogue
state all speak it, and the rules that decide whether a product answers it.

A query holds hard constraints (product types, brands, price bounds, colour families, sizes,
gender, required features, exclusions, stock) and how to order what survives them (relevance to
`text`, price, rating, newest). The matching rules live here once: what a colour word covers
("blue" takes navy and teal), how sizes are written ("a large" is L), when a product is for women,
and when it has a feature ("waterproof": a structured attribute decides where the product has
one, its words elsewhere). The search (`retail.catalog_queries.search_catalogue`) applies them;
the evals score with their own, independent SQL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Sort = Literal["relevance", "price_asc", "price_desc", "rating", "newest"]
Direction = Literal["less", "more"]
Gender = Literal["men's", "women's", "kids"]
COLOUR_FAMILIES_FILE = Path(__file__).with_name("data") / "colour_families.yaml"
# Option keys that hold a colour in one source or another.
COLOUR_KEYS = ("color", "colour", "frame color", "dial color")
# Values of a structured attribute that mean the product does not have it.
_NO = {"no", "none", "false", "n/a", "not", "0"}
_UNITS = {
    **dict.fromkeys(("l", "liter", "liters", "litre", "litres"), "l"),
    **dict.fromkeys(("ml", "milliliter", "milliliters", "millilitre", "millilitres"), "ml"),
    **dict.fromkeys(("oz", "ounce", "ounces"), "oz"),
    **dict.fromkeys(("qt", "quart", "quarts"), "qt"),
}
_AMOUNT_UNIT = re.compile(
    r"\b(\d+(?:\.\d+)?)\s*-?\s*(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")\b",
    re.I,
)
_SQUASHED_AMOUNT = re.compile(r"\d+(?:\.\d+)?(?:" + "|".join(set(_UNITS.values())) + ")")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_LETTER_SIZES = {
    "extra small": "xs",
    "x-small": "xs",
    "small": "s",
    "medium": "m",
    "large": "l",
    "extra large": "xl",
    "x-large": "xl",
    "xx-large": "xxl",
    "2xl": "xxl",
}
_GENDER_WORDS: dict[str, Gender] = {
    "men": "men's",
    "mens": "men's",
    "men's": "men's",
    "man": "men's",
    "male": "men's",
    "women": "women's",
    "womens": "women's",
    "women's": "women's",
    "woman": "women's",
    "female": "women's",
    "ladies": "women's",
    "girl": "kids",
    "boy": "kids",
    "kids": "kids",
    "kid": "kids",
    "children": "kids",
    "child": "kids",
    "toddler": "kids",
    "toddlers": "kids",
    "baby": "kids",
    "infant": "kids",
    "boys": "kids",
    "girls": "kids",
}


class Measure(BaseModel):
    """One way to compare products: `price`, `rating`, or an attribute or option key the
    catalogue writes with a number and unit or a word of degree ("weight": "1.4 kg",
    "temperature rating": "30°F", "cushion": "heavy"), and which way is asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    direction: Direction


class Beyond(BaseModel):
    """A comparative ("lighter", "warmer", "cheaper", "higher rated"): products strictly past the
    ones compared against on the first of `measures` those products state, below their lowest
    value (`less`) or above their highest (`more`)."""

    model_config = ConfigDict(extra="forbid")

    word: Annotated[str, Field(description='The shopper\'s comparative ("lighter").')]
    measures: Annotated[
        list[Measure], Field(min_length=1, description="What it may compare, in order.")
    ]
    than: Annotated[
        list[str], Field(description="Product ids compared against (the ones shown).")
    ] = []
    measure: Annotated[
        str | None, Field(description="The measure compared on; the search fills it.")
    ] = None
    bound: Annotated[
        float | None,
        Field(description="The compared products' extreme value, in the measure's base unit."),
    ] = None
    bound_text: Annotated[
        str | None, Field(description='That value as the catalogue writes it ("1.0 kg").')
    ] = None


class ProductQuery(BaseModel):
    """A shopper's product request as hard constraints plus an order. Empty lists constrain
    nothing; several values in one list are alternatives ("jackets or vests")."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        Field(
            max_length=500,
            description="The request in the shopper's words, for ranking by relevance "
            '("lightweight jacket for hiking"); empty to rank by rating.',
        ),
    ] = ""
    categories: Annotated[
        list[str],
        Field(description="Product types: category names or ids of the store's taxonomy."),
    ] = []
    kinds: Annotated[
        list[str],
        Field(
            description='Kinds narrower than a category, as product names say them ("rain '
            "jacket\" among Jackets): the product's name must contain one."
        ),
    ] = []
    brands: Annotated[list[str], Field(description="Brand names or ids.")] = []
    colours: Annotated[
        list[str],
        Field(description='Colours; a plain colour covers its family ("blue" takes navy).'),
    ] = []
    sizes: Annotated[list[str], Field(description='Sizes, e.g. "M", "L", "10", "9.5".')] = []
    gender: Annotated[Gender | None, Field(description="Who it is for.")] = None
    features: Annotated[
        list[str],
        Field(description='Features or materials it must have: "waterproof", "leather".'),
    ] = []
    prefer: Annotated[
        list[str],
        Field(
            description='Words the shopper would like ("packable", "for camping"): when some '
            "products have them, only those are shown; when none does, they change nothing."
        ),
    ] = []
    exclude: Annotated[
        list[str], Field(description="Features, materials or colours it must not have.")
    ] = []
    min_price: Annotated[float | None, Field(ge=0, description="Lowest price, inclusive.")] = None
    max_price: Annotated[float | None, Field(ge=0, description="Highest price, inclusive.")] = None
    sort: Annotated[
        Sort,
        Field(description="relevance, price_asc (cheapest first), price_desc, rating, newest."),
    ] = "relevance"
    beyond: Annotated[
        Beyond | None,
        Field(description='A comparative of products shown ("lighter", "higher rated").'),
    ] = None
    limit: Annotated[int, Field(ge=1, le=20, description="How many products to show.")] = 5
    in_stock_only: Annotated[
        bool, Field(description="Only SKUs in stock (at the store, when one is given).")
    ] = True
    store_id: Annotated[
        str | None, Field(description="Check stock at this store rather than anywhere.")
    ] = None

    @field_validator("gender", mode="before")
    @classmethod
    def _gender_word(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _GENDER_WORDS.get(value.strip().lower(), value)
        return value

    @field_validator(
        "categories", "kinds", "brands", "colours", "sizes", "features", "prefer", "exclude"
    )
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def name_is_kind(name: str, kind: str) -> bool:
    """Whether a product's name says it is of this kind: the kind's words in order, singular or
    plural ("Waterproof Rain Jacket" is a rain jacket; "Hiking Boots" are a hiking boot)."""
    have = " " + " ".join(w.rstrip("s") for w in words(name.replace("-", " "))) + " "
    want = " " + " ".join(w.rstrip("s") for w in words(kind.replace("-", " "))) + " "
    return want in have


def gender_of_word(word: str) -> Gender | None:
    """The gender a word names ("ladies" -> women's), if it names one."""
    return _GENDER_WORDS.get(word.lower())


def words(text: str) -> list[str]:
    """Lower-case words, hyphens and apostrophes kept inside a word ("quick-dry", "men's")."""
    return _WORD.findall(text.lower().replace("’", "'"))


@functools.cache
def colour_families() -> dict[str, frozenset[str]]:
    """Family name -> the colour names it covers (the family's own name included)."""
    data = yaml.safe_load(COLOUR_FAMILIES_FILE.read_text(encoding="utf-8"))
    return {
        str(family): frozenset({str(family), *(str(c).lower() for c in members)})
        for family, members in data.items()
    }


def colour_covers(wanted: str, colour: str) -> bool:
    """Whether a catalogue `colour` answers the shopper's `wanted` colour: the same name, a name
    containing it ("slate blue" for blue, "midnight navy" for navy), or a member of its family
    ("navy" for blue)."""
    wanted, colour = wanted.strip().lower(), colour.strip().lower()
    if not wanted or not colour:
        return False
    if wanted == colour or wanted in colour.replace("-", " ").split():
        return True
    members = colour_families().get(wanted, frozenset())
    parts = colour.replace("-", " ").split()
    return colour in members or any(part in members for part in parts)


def is_colour_word(word: str) -> bool:
    return any(word in members for members in colour_families().values())


def size_forms(size: str) -> set[str]:
    """The ways one size is written: "large", "l", "L" are one size; "9.5" stays itself."""
    text = size.strip().lower()
    forms = {text}
    if text in _LETTER_SIZES:
        forms.add(_LETTER_SIZES[text])
    forms |= {name for name, letter in _LETTER_SIZES.items() if letter == text}
    return forms


# Letter sizes smallest first; a size of another kind ("One Size", "S/M") sorts after them.
_LETTER_ORDER = ("xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl")


def size_order(size: str) -> tuple[int, float, str]:
    """A key that lists sizes as a shop does: numbers by value (6, 9.5, 10), then letter sizes
    from XS to XXL, then any other size by its text."""
    text = size.strip().lower()
    try:
        return (0, float(text), text)
    except ValueError:
        pass
    letter = _LETTER_SIZES.get(text, text)
    if letter in _LETTER_ORDER:
        return (1, float(_LETTER_ORDER.index(letter)), text)
    return (2, 0.0, text)


def size_covers(wanted: str, size: str) -> bool:
    """Whether a variant's `size` answers `wanted`: the same size in any spelling, or a range
    holding it ("S/M" answers S and M)."""
    have = size.strip().lower()
    wanted_forms = size_forms(wanted)
    if have in wanted_forms or size_forms(have) & wanted_forms:
        return True
    return "/" in have and bool(set(have.split("/")) & wanted_forms)


def is_amount(word: str) -> bool:
    """Whether a word is an amount with its unit as `squash_units` writes it ("55l", "32oz")."""
    return _SQUASHED_AMOUNT.fullmatch(word) is not None


def squash_units(text: str) -> str:
    """Amounts written one way: "55 liter", "55 L" and "55l" are "55l"; "32 ounces" is
    "32oz"."""
    return _AMOUNT_UNIT.sub(lambda m: m.group(1) + _UNITS[m.group(2).lower()], text)


def option_has(options: Mapping[str, Any], feature: str) -> bool:
    """Whether one of a SKU's option values says the feature ("4P" for 4p, "road" for road,
    "32 oz" for 32oz)."""
    want = " " + " ".join(words(squash_units(feature))) + " "
    return any(want in " " + " ".join(words(squash_units(str(v)))) + " " for v in options.values())


def variant_colours(options: Mapping[str, Any]) -> list[str]:
    return [str(options[k]) for k in COLOUR_KEYS if options.get(k) not in (None, "")]


def product_gender(
    attributes: Mapping[str, Any], name: str, category_name: str | None
) -> Gender | Literal["unisex"] | None:
    """Who a product is for, from its attribute, else its name or category's words ("Womens
    Dresses", "Men Check Shirt"); None when nothing says."""
    declared = str(attributes.get("gender") or "").strip().lower()
    if declared:
        return "unisex" if declared == "unisex" else gender_of_word(declared)
    for text in (name, category_name or ""):
        for word in words(text):
            if (gender := gender_of_word(word)) is not None:
                return gender
    return None


def gender_allows(wanted: Gender | None, gender: str | None) -> bool:
    """A product for nobody in particular, or for everyone, suits anyone who asks."""
    return wanted is None or gender in (None, "unisex", wanted)


def _flat_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k} {_flat_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_flat_text(v) for v in value)
    return str(value)


class ProductText:
    """What a product says about itself, for feature checks: structured attributes first."""

    __slots__ = ("attributes", "text")

    def __init__(
        self,
        *,
        name: str,
        description: str,
        materials: str | None,
        attributes: Mapping[str, Any],
        options: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.attributes = {str(k).lower(): v for k, v in attributes.items()}
        kept = {k: v for k, v in self.attributes.items() if k not in _PLUMBING}
        parts = [name, description, materials or "", _flat_text(kept)]
        parts.extend(_flat_text(o) for o in options)
        # Amounts as the parser writes them: "55 L" and "55 liters" are "55l".
        self.text = " " + " ".join(words(squash_units(" ".join(parts)))) + " "

    def has(self, feature: str) -> bool:
        """A structured attribute named like the feature decides ("waterproof": "no" is not
        waterproof, whatever the description says); otherwise the feature's words, in order,
        anywhere in the product's own text."""
        key = " ".join(words(feature))
        for name in (key, key.replace("-", " "), key.replace(" ", "-")):
            if name in self.attributes:
                value = str(self.attributes[name]).strip().lower()
                return value not in _NO
        phrase = " " + " ".join(words(squash_units(key))) + " "
        text = self.text
        if phrase.strip() in _IMITATED:
            # Faux leather is not leather, whatever it is called.
            text = _IMITATION.sub(" ", text)
        if phrase in text or phrase.replace("-", " ") in text.replace("-", " "):
            return True
        # A word of five letters or more inside one written as a compound says it too: "light"
        # of "ultralight" and "lightweight" (not "pet" of "carpet", nor an imitated material).
        word = phrase.strip()
        if len(word) < COMPOUND_PART or not word.isalpha() or word in _IMITATED:
            return False
        return re.search(rf" (?:[a-z]+{word}|{word}[a-z]+) ", text) is not None


COMPOUND_PART = 5
# Materials a product can imitate: "faux leather", "vegan leather", "pu leather" do not have them.
_IMITATED = frozenset({"leather", "suede", "fur", "silk", "wool", "down", "wood", "marble"})
_IMITATION = re.compile(
    r" (?:faux|vegan|fake|imitation|synthetic|pu|artificial) (?:"
    + "|".join(sorted(_IMITATED))
    + r") "
)


# Attributes that are plumbing, not descriptions a shopper's words could match.
_PLUMBING = frozenset(
    {"images", "thumbnail", "sku", "barcode", "dummyjson_id", "model", "meta", "tags", "qr_code"}
)


# Units a catalogue writes measures in: the quantity each measures and its factor to that
# quantity's base unit (grams, litres, millimetres, hours, degrees F, people).
_MEASURE_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(("g", "gram", "grams"), ("mass", 1.0)),
    **dict.fromkeys(("kg", "kilo", "kilos", "kilograms"), ("mass", 1000.0)),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), ("mass", 453.6)),
    "oz": ("mass", 28.35),
    **dict.fromkeys(("ml", "milliliters", "millilitres"), ("volume", 0.001)),
    **dict.fromkeys(("l", "liter", "liters", "litre", "litres"), ("volume", 1.0)),
    **dict.fromkeys(("qt", "quart", "quarts"), ("volume", 0.946)),
    **dict.fromkeys(("gallon", "gallons", "gal"), ("volume", 3.785)),
    "mm": ("length", 1.0),
    "cm": ("length", 10.0),
    **dict.fromkeys(("in", "inch", "inches"), ("length", 25.4)),
    **dict.fromkeys(("ft", "feet", "foot"), ("length", 304.8)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), ("time", 1.0)),
    **dict.fromkeys(("day", "days"), ("time", 24.0)),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), ("time", 1 / 60)),
    **dict.fromkeys(("°f", "f"), ("temperature", 1.0)),
    **dict.fromkeys(("p", "person", "people", "man"), ("people", 1.0)),
}
# Words of degree a catalogue writes instead of numbers ("cushion": light, medium, heavy;
# "weight class": lightweight, midweight, heavyweight), in order.
_DEGREES = {
    "light": 1, "lightweight": 1, "low": 1, "thin": 1,
    "medium": 2, "midweight": 2, "mid": 2, "regular": 2, "standard": 2,
    "heavy": 3, "heavyweight": 3, "high": 3, "thick": 3,
    "x-heavy": 4, "extra heavy": 4, "expedition": 4,
}  # fmt: skip
_QUANTITY = re.compile(r"(-?\d+(?:[.,]\d+)*)\s*-?\s*(°\s?[fc]|[a-z]+)?")


def measure_value(value: Any) -> tuple[float, str] | None:
    """A measure as a number in its quantity's base unit, and the quantity: "1.4 kg (3.0 lb)"
    is (1400, "mass"), "30°F" (30, "temperature"), "45 L" (45, "volume"), "4P" (4, "people"),
    "heavy" (3, "degree"); a unit of its own ("100-weight", "24-can") is its own quantity, and
    a bare number is a "count". Only values of one quantity compare."""
    if isinstance(value, bool | Mapping | list | tuple):
        return None
    if isinstance(value, int | float):
        return float(value), "count"
    text = str(value).strip().lower()
    if text in _DEGREES:
        return float(_DEGREES[text]), "degree"
    m = _QUANTITY.search(text)
    if m is None:
        return None
    number = float(m.group(1).replace(",", ""))
    unit = (m.group(2) or "").replace(" ", "")
    if unit == "°c":
        return number * 9 / 5 + 32, "temperature"
    if not unit:
        return number, "count"
    quantity, factor = _MEASURE_UNITS.get(unit, (f"unit:{unit}", 1.0))
    return number * factor, quantity


def measure_of(
    name: str,
    *,
    price: float,
    rating: float | None,
    options: Mapping[str, Any],
    attributes: Mapping[str, Any],
) -> tuple[float, str, str] | None:
    """One SKU's value on a measure (`Measure.name`), its quantity, and how the catalogue wrote
    it: the price, the product's rating, else the SKU's option of that name, else the
    product's attribute."""
    if name == "price":
        return price, "money", f"${price:,.2f}"
    if name == "rating":
        return None if rating is None else (float(rating), "rating", f"{rating:g}")
    key = name.lower()
    for values in (options, attributes):
        for k, v in values.items():
            if str(k).lower() == key and (measured := measure_value(v)) is not None:
                return measured[0], measured[1], str(v)
    return None


def is_past(direction: Direction, value: float, bound: float) -> bool:
    """Strictly past the bound in the direction asked ("lighter": below the lightest shown)."""
    return value < bound if direction == "less" else value > bound
