"""The shopper product-search dev set and its independent scorer (issue 17).

Cases live in `evals/devsets/shopper/{dev,test}.yaml`: shopper requests as people type them, and
multi-turn scripts of refinements, each turn with a constraint spec stated as data (categories of
the store's own taxonomy, price bounds, accepted colour and size option values, gender,
keywords, brands, a sort and a count, or the earlier shown positions a reference turn acts on).
The test half is frozen: its sha256 sits beside it, and a test fails when the file changes
without it. `evals/devsets/shopper-fresh/` and `shopper-fresh2/` hold further sets of the same form
(`SHOPPER_SETS`).

The scorer computes each spec's relevant products with its own SQL over the store tables and
the rules below, never through the search code it measures (nothing here imports the tools,
the catalogue queries, the NLU or the index):
- in stock: the variant is available and has no inventory rows or some location with
  on_hand - reserved > 0;
- the product type: a category of the spec's (a department counts its subtree), or a word of
  `named` in the product's name (as a word, or its plural);
- price, colour, size and option constraints hold on one and the same in-stock variant;
- a colour is one of the accepted values of any colour option (`color`, `frame color`, ...); a
  product without a colour option matches when its name holds the value as a word;
- gender comes from the product's or the variant's `gender`, else from a men/women word in the
  product's or its category's name; unisex fits both; a product with no gender stays eligible;
- a comparative (`beyond`) holds when a fitting SKU is strictly past the lowest (less) or
  highest (more) value of the cards the previous turn showed, on price, rating, or an attribute
  or option read as a number in one unit (`measure_value`: grams, litres, mm, hours, people,
  degrees, or a word of degree such as light < medium < heavy);
- a keyword (or any of a list of alternatives) appears, case-insensitive, in the product's name,
  description, materials, attribute values (a yes/no attribute counts by its name when yes) or
  the variant's options; an excluded keyword appears in none of them.

From what the assistant shows (`TurnResult.products`, in order, and `TurnResult.answer`) each
turn gets P@5, success, no-match honesty (the first sentence says plainly that nothing matches),
false no-match (says so while matches exist) and, for sorts, exact-first.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, text

DEVSET_DIR = Path(__file__).with_name("devsets") / "shopper"
# The sets of shopper cases, each split into halves the same way and scored alike: the first set
# (`shopper`), and fresh requests written later by another author before the code they measure
# was changed (`shopper-fresh`, then `shopper-fresh2` by a third author before the changes made
# for the first fresh set were studied), and comparative follow-ups ("cheaper?", "a lighter
# one", "higher rated"; `shopper-compare`), kept apart so that each is reported on its own.
SHOPPER_SETS = {
    name: DEVSET_DIR.with_name(name)
    for name in ("shopper", "shopper-fresh", "shopper-fresh2", "shopper-compare")
}
HALVES = ("dev", "test")
FROZEN_HALF = "test"
TOP_K = 5

Sort = Literal["price_asc", "price_desc", "rating_desc", "newest"]


class Beyond(BaseModel):
    """A comparative follow-up ("cheaper?", "a lighter one", "higher rated"): every product
    must be strictly past what the previous turn showed on one measure, below its lowest value
    (`less`) or above its highest (`more`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: str = Field(
        description="`price` (a fitting SKU's), `rating`, or an attribute or option key "
        "(`weight`, `temperature rating`, `volume`, `thickness`, `cushion`, `capacity`...)."
    )
    direction: Literal["less", "more"]


class Spec(BaseModel):
    """The constraints in force after a turn (the product type carried over from earlier turns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: list[str] = Field(
        default_factory=list, description="Category ids; a department counts its subtree."
    )
    named: list[str] = Field(
        default_factory=list,
        description="Words that make a product of the type wherever it is filed, when its name "
        "holds one (`backpack` also finds a backpack filed under bags).",
    )
    min_price: float | None = None
    max_price: float | None = None
    colours: list[str] = Field(default_factory=list, description="Accepted colour values.")
    sizes: list[str] = Field(default_factory=list, description="Accepted `size` option values.")
    options: dict[str, list[str]] = Field(
        default_factory=dict, description="Other option keys and their accepted values."
    )
    gender: Literal["men", "women", "kids"] | None = None
    keywords: list[str | list[str]] = Field(
        default_factory=list, description="Each must appear; a list is a set of alternatives."
    )
    exclude_keywords: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list, description="Brand names, any of them.")
    sort: Sort | None = None
    count: int | None = Field(default=None, ge=1, description="Exactly this many to show.")
    refers_to: list[int] = Field(
        default_factory=list, description="1-based positions shown by the previous turn."
    )
    beyond: Beyond | None = Field(
        default=None, description="Past the previous turn's cards on one measure."
    )
    expect: Literal["results", "details", "compare"] = "results"

    @model_validator(mode="after")
    def _reference_or_search(self) -> Spec:
        if self.refers_to and self.expect == "results":
            raise ValueError("a reference turn says whether it expects details or compare")
        if self.expect != "results" and not self.refers_to:
            raise ValueError("details and compare turns name the positions they act on")
        return self


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str
    spec: Spec


class Case(BaseModel):
    """A single request (`say` and `spec`) or a script of turns on one thread."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    tags: list[str] = Field(default_factory=list)
    no_match: bool = Field(
        default=False, description="The author's reading: nothing in the demo world matches."
    )
    turns: list[Turn] = Field(min_length=1, max_length=4)

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, dict) and "say" in data:
            data = dict(data)
            data["turns"] = [{"say": data.pop("say"), "spec": data.pop("spec", {})}]
        return data

    @property
    def is_script(self) -> bool:
        return len(self.turns) > 1


def half_of(case_id: str) -> str:
    """The half a case belongs to, fixed by a hash of its id (about one in two is `test`)."""
    return HALVES[int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) % 2]


class DevsetFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    half: Literal["dev", "test"]
    cases: list[Case] = Field(min_length=1)


def load_half(half: str, directory: Path = DEVSET_DIR) -> list[Case]:
    """The cases of one half, checked against the schema."""
    data = yaml.safe_load((directory / f"{half}.yaml").read_text(encoding="utf-8"))
    loaded = DevsetFile.model_validate(data)
    if loaded.half != half:
        raise ValueError(f"{half}.yaml says it is the {loaded.half} half")
    return loaded.cases


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the relevant set ------------------------------------------------------------------------

_IN_STOCK_VARIANTS = text(
    """
    SELECT v.id, v.product_id, v.options, v.price
    FROM variants v
    WHERE v.available
      AND (NOT EXISTS (SELECT 1 FROM inventory i WHERE i.variant_id = v.id)
           OR EXISTS (SELECT 1 FROM inventory i
                      WHERE i.variant_id = v.id AND i.on_hand - i.reserved > 0))
    """
)
_PRODUCTS = text(
    """
    SELECT p.id, p.name, p.description, p.materials, p.attributes, p.rating, p.launched_on,
           p.category_id, c.name AS category_name, b.name AS brand_name
    FROM products p
    LEFT JOIN categories c ON c.id = p.category_id
    LEFT JOIN brands b ON b.id = p.brand_id
    """
)
_CATEGORIES = text("SELECT id, parent_id FROM categories")
_WOMEN = re.compile(r"\b(women|womens|women's|woman|ladies|lady)\b", re.I)
_MEN = re.compile(r"\b(men|mens|men's|man)\b", re.I)
_KIDS = re.compile(r"\b(kids?|kid's|girls?|boys?|children|child)\b", re.I)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})


def _flatten(values: dict[str, Any]) -> str:
    """Attribute or option text for keyword matching: values, and a yes-flag by its name.

    Nested mappings are left out: an import's summary of every variant's options (tau2's
    `options`) or a parcel's dimensions would let a keyword match what no one variant has; so
    are links (image URLs spell product words)."""
    parts: list[str] = []
    for key, value in values.items():
        if value is True or str(value).lower() == "yes":
            parts.append(str(key))
        elif isinstance(value, list):
            parts.extend(str(v) for v in value if _is_text(v))
        elif _is_text(value) and str(value).lower() != "no":
            parts.append(str(value))
    return " | ".join(parts).lower()


def _is_text(value: Any) -> bool:
    return not isinstance(value, (dict, list, bool)) and not str(value).startswith("http")


def _gender(value: Any) -> str | None:
    word = str(value).lower()
    if "unisex" in word:
        return "unisex"
    if _WOMEN.search(word):
        return "women"
    if _MEN.search(word):
        return "men"
    if _KIDS.search(word):
        return "kids"
    return None


@dataclass(frozen=True, slots=True)
class _Variant:
    id: str
    options: dict[str, str]
    price: float
    text: str


@dataclass(slots=True)
class _Product:
    id: str
    name: str
    category_id: str | None
    brand: str
    rating: float | None
    launched_on: str | None
    text: str
    gender: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    variants: list[_Variant] = field(default_factory=list)


class Scorer:
    """The store's products read once; relevant sets computed per spec."""

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            parents = {r.id: r.parent_id for r in conn.execute(_CATEGORIES)}
            products = {r.id: self._product(r) for r in conn.execute(_PRODUCTS)}
            for row in conn.execute(_IN_STOCK_VARIANTS):
                options = {str(k).lower(): str(v) for k, v in _json(row.options).items()}
                products[row.product_id].variants.append(
                    _Variant(row.id, options, float(row.price), _flatten(options))
                )
        self.products = products
        self._children: dict[str, set[str]] = {}
        for child, parent in parents.items():
            if parent is not None:
                self._children.setdefault(parent, set()).add(child)
        self.categories = set(parents)

    @staticmethod
    def _product(row: Any) -> _Product:
        attributes = _json(row.attributes)
        stated = attributes.get("gender")
        gender = _gender(stated) if stated else None
        if gender is None:
            gender = _gender(row.name) or _gender(row.category_name or "")
        body = " | ".join(
            [row.name, row.description or "", row.materials or "", _flatten(attributes)]
        )
        return _Product(
            id=row.id,
            name=row.name,
            category_id=row.category_id,
            brand=(row.brand_name or "").lower(),
            rating=row.rating,
            launched_on=str(row.launched_on) if row.launched_on else None,
            text=body.lower(),
            gender=gender,
            attributes={str(k).lower(): str(v) for k, v in attributes.items() if _is_text(v)},
        )

    def subtree(self, category_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(category_ids)
        while stack:
            node = stack.pop()
            if node not in out:
                out.add(node)
                stack.extend(self._children.get(node, ()))
        return out

    def unknown_categories(self, spec: Spec) -> list[str]:
        return sorted(set(spec.categories) - self.categories)

    def relevant(
        self, spec: Spec, shown_before: Sequence[str] = (), before: Spec | None = None
    ) -> dict[str, list[float]]:
        """Relevant product id -> the prices of its variants that meet the spec; a comparative
        (`spec.beyond`) is measured against the cards `shown_before`, as the previous turn's
        spec (`before`) priced them. With nothing shown before, it constrains nothing."""
        found = self._relevant(spec)
        if spec.beyond is None:
            return found
        bound = self._bound(spec.beyond, shown_before, before)
        if bound is None:
            return found
        out: dict[str, list[float]] = {}
        for product_id in found:
            product = self.products[product_id]
            kept = [
                v.price
                for v in product.variants
                if self._variant_fits(spec, product, v)
                and _past(spec.beyond, self._measure(spec.beyond, product, v), bound)
            ]
            if kept:
                out[product_id] = kept
        return out

    @staticmethod
    def _measure(beyond: Beyond, product: _Product, variant: _Variant) -> float | None:
        if beyond.measure == "price":
            return variant.price
        if beyond.measure == "rating":
            return product.rating
        key = beyond.measure.lower()
        value = variant.options.get(key)
        if value is None:
            value = product.attributes.get(key)
        return None if value is None else measure_value(str(value))

    def _bound(self, beyond: Beyond, shown: Sequence[str], before: Spec | None) -> float | None:
        """The lowest (`less`) or highest (`more`) value among the cards shown before: a card's
        SKUs that met the previous turn's spec, else all its SKUs in stock."""
        earlier = self._relevant(before) if before is not None else {}
        values: list[float] = []
        for product_id in shown:
            product = self.products.get(product_id)
            if product is None:
                continue
            prices = earlier.get(product_id)
            variants = [v for v in product.variants if prices is None or v.price in prices]
            values += [m for v in variants if (m := self._measure(beyond, product, v)) is not None]
        if not values:
            return None
        return min(values) if beyond.direction == "less" else max(values)

    def _relevant(self, spec: Spec) -> dict[str, list[float]]:
        wanted = self.subtree(spec.categories) if spec.categories else None
        brands = {b.lower() for b in spec.brands}
        out: dict[str, list[float]] = {}
        named = [re.compile(rf"\b{re.escape(n)}s?\b", re.I) for n in spec.named]
        for product in self.products.values():
            of_type = wanted is None or product.category_id in wanted
            if named:
                by_name = any(n.search(product.name) for n in named)
                of_type = (of_type and wanted is not None) or by_name
            if not of_type:
                continue
            if brands and product.brand not in brands:
                continue
            prices = [v.price for v in product.variants if self._variant_fits(spec, product, v)]
            if prices:
                out[product.id] = prices
        return out

    def _variant_fits(self, spec: Spec, product: _Product, variant: _Variant) -> bool:
        if spec.min_price is not None and variant.price < spec.min_price:
            return False
        if spec.max_price is not None and variant.price > spec.max_price:
            return False
        if spec.colours and not _colour_fits(spec.colours, product.name, variant.options):
            return False
        if spec.sizes and not _one_of(variant.options.get("size"), spec.sizes):
            return False
        for key, accepted in spec.options.items():
            if not _one_of(variant.options.get(key.lower()), accepted):
                return False
        if spec.gender is not None:
            gender = _gender(variant.options["gender"]) if "gender" in variant.options else None
            gender = gender or product.gender
            if gender not in (None, "unisex", spec.gender):
                return False
        haystack = f"{product.text} | {variant.text}"
        for keyword in spec.keywords:
            alternatives = [keyword] if isinstance(keyword, str) else keyword
            if not any(a.lower() in haystack for a in alternatives):
                return False
        return not any(k.lower() in haystack for k in spec.exclude_keywords)

    def sort_key(self, spec: Spec, product_id: str, prices: Sequence[float]) -> float | str:
        """The value a sort orders by (lower first): the cheapest fitting variant for
        price_asc, the dearest for price_desc; the rating and launch date negated or reversed."""
        product = self.products[product_id]
        if spec.sort == "price_asc":
            return min(prices)
        if spec.sort == "price_desc":
            return -max(prices)
        if spec.sort == "rating_desc":
            return -(product.rating if product.rating is not None else -1.0)
        return "~" if product.launched_on is None else _reverse(product.launched_on)


def _reverse(day: str) -> str:
    """A string that sorts newest first (digits complemented)."""
    return "".join(str(9 - int(c)) if c.isdigit() else c for c in day)


def _one_of(value: str | None, accepted: Sequence[str]) -> bool:
    return value is not None and value.lower() in {a.lower() for a in accepted}


def _colour_fits(accepted: Sequence[str], name: str, options: dict[str, str]) -> bool:
    colours = [v for k, v in options.items() if "colo" in k]
    if colours:
        return any(_one_of(c, accepted) for c in colours)
    return any(re.search(rf"\b{re.escape(a)}\b", name, re.I) for a in accepted)


# Units of one quantity, to its base unit: grams, litres, millimetres, hours, degrees F.
_UNITS = {
    "g": 1.0, "kg": 1000.0, "oz": 28.35, "lb": 453.6, "lbs": 453.6,
    "l": 1.0, "ml": 0.001, "qt": 0.946,
    "mm": 1.0, "cm": 10.0, "in": 25.4,
    "hours": 1.0, "hour": 1.0, "h": 1.0, "days": 24.0, "day": 24.0,
    "°f": 1.0, "f": 1.0,
}  # fmt: skip
# Words of degree, in order ("cushion: light/medium/heavy", "weight class: midweight").
_ORDINALS = {
    "light": 1, "lightweight": 1, "low": 1, "medium": 2, "midweight": 2, "mid": 2,
    "heavy": 3, "heavyweight": 3, "high": 3, "x-heavy": 4,
}  # fmt: skip
_QUANTITY = re.compile(r"(-?\d+(?:[.,]\d+)?)\s*(°f|[a-z]+)?", re.I)


def measure_value(value: str) -> float | None:
    """A measure as a number in its base unit: "1.4 kg (3.0 lb)" -> 1400 (grams), "30°F" ->
    30, "45 L" -> 45, "6 mm" -> 6, "4P" -> 4 (people), "100-weight" -> 100, "heavy" -> 3."""
    text = value.strip().lower()
    if text in _ORDINALS:
        return float(_ORDINALS[text])
    m = _QUANTITY.search(text)
    if m is None:
        return None
    number = float(m.group(1).replace(",", ""))
    unit = (m.group(2) or "").lower()
    return number * _UNITS.get(unit, 1.0)


def _past(beyond: Beyond, value: float | None, bound: float) -> bool:
    if value is None:
        return False
    return value < bound if beyond.direction == "less" else value > bound


# ---- what the answer says ---------------------------------------------------------------------

# A plain "nothing matches" in the first sentence. Echoed price words ("no more than $50") and
# pleasantries ("no problem") are not one; neither is a refusal ("Sorry, I can't help with that")
# or a dialogue reply ("There is nothing waiting for your confirmation"): those are other answers.
_NO_MATCH = re.compile(
    r"\bno\b(?!\s+(?:more|less|problem|worries)\b)|\bnothing\b|\bnone\b|\bnot\s+(?:any|find|"
    r"found|available|in stock|carry|sell|stock)\b|\b(?:couldn't|could not|can't|cannot|"
    r"unable to|didn't|did not)\s+(?:find|locate|see|match)|\b(?:don't|do not|doesn't|does not)"
    r"\s+(?:have|carry|stock|sell|seem)|\bout of stock\b",
    re.I,
)
_NOT_NO_MATCH = re.compile(
    r"\b(?:can't|cannot|can not|not able to|unable to)\s+help\b|\bnothing\s+(?:is\s+)?"
    r"(?:waiting|pending)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[;\n]|\s[-\u2013\u2014]\s")


def first_sentence(answer: str) -> str:
    return _SENTENCE_END.split(answer.strip(), maxsplit=1)[0]


def says_no_match(answer: str) -> bool:
    first = first_sentence(answer)
    return bool(_NO_MATCH.search(first)) and not _NOT_NO_MATCH.search(first)


# ---- scoring a turn ---------------------------------------------------------------------------


class TurnScore(BaseModel):
    """One turn of one case, scored: a line of the JSON output."""

    case: str = ""
    half: str = ""
    turn: int = 1
    kind: Literal["single", "script_start", "follow_up"] = "single"
    tags: list[str] = Field(default_factory=list)
    say: str = ""
    relevant: int
    shown: list[str]
    shown_relevant: list[bool]
    answer: str = ""
    p_at_5: float | None = None
    success: bool = False
    no_match_expected: bool = False
    says_no_match: bool = False
    honest: bool | None = None
    false_no_match: bool = False
    has_sort: bool = False
    exact_first: bool | None = None
    reference: bool = False
    latency_ms: float | None = None
    error: str | None = None


def score_turn(
    scorer: Scorer,
    spec: Spec,
    shown: Sequence[str],
    answer: str,
    *,
    shown_before: Sequence[str] = (),
    before: Spec | None = None,
    **record: Any,
) -> TurnScore:
    """Score what a turn showed and said against its spec (`shown_before`: the previous turn's
    cards, which a reference turn acts on, a follow-up sort may be taken over and a comparative
    is measured against; `before`: the previous turn's spec)."""
    if spec.refers_to:
        return _score_reference(spec, shown, answer, shown_before, record)
    relevant = scorer.relevant(spec, shown_before, before)
    flags = [p in relevant for p in shown]
    no_match = says_no_match(answer)
    score = TurnScore(
        **record,
        relevant=len(relevant),
        shown=list(shown),
        shown_relevant=flags,
        answer=answer,
        no_match_expected=not relevant,
        says_no_match=no_match,
        has_sort=spec.sort is not None,
    )
    if not relevant:
        score.honest = no_match
        score.success = no_match
        return score
    top = flags[:TOP_K]
    score.p_at_5 = sum(top) / len(top) if top else 0.0
    score.false_no_match = no_match
    success = bool(shown) and all(flags) and not no_match
    if spec.count is not None:
        success = success and len(shown) == spec.count
    if spec.sort is not None:
        score.exact_first = _exact_order(scorer, spec, shown, relevant, shown_before)
        success = success and score.exact_first
    score.success = success
    return score


def _exact_order(
    scorer: Scorer,
    spec: Spec,
    shown: Sequence[str],
    relevant: dict[str, list[float]],
    shown_before: Sequence[str],
) -> bool:
    """The first `count` (default 1) cards carry the extreme values of the relevant set in
    order; after earlier cards, the extremes among those cards also count ("which is best
    rated?" asked of a shown list)."""
    want = spec.count or 1
    if len(shown) < want or any(p not in relevant for p in shown[:want]):
        return False
    got = [scorer.sort_key(spec, p, relevant[p]) for p in shown[:want]]
    pools = [list(relevant)]
    earlier = [p for p in shown_before if p in relevant]
    if earlier:
        pools.append(earlier)
    for pool in pools:
        best = sorted(scorer.sort_key(spec, p, relevant[p]) for p in pool)[:want]
        if got == best:
            return True
    return False


def _score_reference(
    spec: Spec,
    shown: Sequence[str],
    answer: str,
    shown_before: Sequence[str],
    record: dict[str, Any],
) -> TurnScore:
    targets = [shown_before[i - 1] for i in spec.refers_to if 0 < i <= len(shown_before)]
    complete = len(targets) == len(spec.refers_to)
    flags = [p in targets for p in shown]
    if spec.expect == "details":
        success = complete and bool(shown) and shown[0] == targets[0]
    else:
        success = complete and set(shown) == set(targets)
    top = flags[:TOP_K]
    return TurnScore(
        **record,
        relevant=len(targets),
        shown=list(shown),
        shown_relevant=flags,
        answer=answer,
        p_at_5=(sum(top) / len(top) if top else 0.0),
        success=success,
        says_no_match=says_no_match(answer),
        reference=True,
    )


# ---- running and summarising --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """What one turn of the assistant showed and said."""

    products: list[str]
    answer: str
    latency_ms: float


Ask = Callable[[str, str | None], tuple[Shown, str]]
"""(message, thread id or None) -> (what the turn showed, the thread id)."""


def run_case(scorer: Scorer, case: Case, ask: Ask, half: str) -> list[TurnScore]:
    """Every turn of `case` on one new thread, each scored on its own spec."""
    thread: str | None = None
    before: list[str] = []
    before_spec: Spec | None = None
    scores: list[TurnScore] = []
    for index, turn in enumerate(case.turns, start=1):
        kind = "single" if not case.is_script else ("script_start" if index == 1 else "follow_up")
        record: dict[str, Any] = {
            "case": case.id,
            "half": half,
            "turn": index,
            "kind": kind,
            "tags": case.tags,
            "say": turn.say,
        }
        try:
            shown, thread = ask(turn.say, thread)
            record["latency_ms"] = shown.latency_ms
        except Exception as exc:
            # A crash is a finding to report; the rest of the set still runs.
            shown = Shown([], "", 0.0)
            record["error"] = f"{type(exc).__name__}: {exc}"
        score = score_turn(
            scorer,
            turn.spec,
            shown.products,
            shown.answer,
            shown_before=before,
            before=before_spec,
            **record,
        )
        scores.append(score)
        if shown.products:
            before, before_spec = shown.products, turn.spec
    return scores


def assistant_ask(assistant: Any, principal: Any, brain: str = "local") -> Ask:
    """An `Ask` over `Assistant.ask` (in process) for one principal."""

    def ask(message: str, thread: str | None) -> tuple[Shown, str]:
        result = assistant.ask(principal, message, thread_id=thread, brain=brain)
        return Shown(result.products, result.answer, result.latency_ms), result.thread_id

    return ask


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _pct(ms: Sequence[float], q: float) -> float | None:
    if not ms:
        return None
    ordered = sorted(ms)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summarise(scores: Sequence[TurnScore]) -> dict[str, Any]:
    """The figures of one half: singles with matches (success, P@5, exact-first), no-match
    honesty, false no-match over every turn with matches, refinement success over follow-ups."""
    singles = [s for s in scores if s.kind == "single" and not s.no_match_expected]
    empties = [s for s in scores if s.kind != "follow_up" and s.no_match_expected]
    follow = [s for s in scores if s.kind == "follow_up"]
    matched = [s for s in scores if not s.no_match_expected and not s.reference]
    sorts = [s for s in scores if s.exact_first is not None]
    latencies = [s.latency_ms for s in scores if s.latency_ms is not None]
    return {
        "cases": len({s.case for s in scores}),
        "turns": len(scores),
        "singles_with_matches": len(singles),
        "success": _rate([s.success for s in singles]),
        "p_at_5": (
            round(statistics.fmean(s.p_at_5 or 0.0 for s in singles), 3) if singles else None
        ),
        "no_match_requests": len(empties),
        "no_match_honesty": _rate([bool(s.honest) for s in empties]),
        "false_no_match": _rate([s.false_no_match for s in matched]),
        "follow_up_turns": len(follow),
        "refinement_success": _rate([s.success for s in follow]),
        "sort_turns": len(sorts),
        "exact_first": _rate([bool(s.exact_first) for s in sorts]),
        "errors": sum(s.error is not None for s in scores),
        "turn_latency_p50_ms": _pct(latencies, 0.5),
        "turn_latency_p95_ms": _pct(latencies, 0.95),
    }


def summarise_by_tag(scores: Sequence[TurnScore]) -> dict[str, dict[str, Any]]:
    """Per tag of the cases (use-case, synonym, no-match, refine...): how many turns, how many
    succeeded (a no-match turn succeeds by saying so, a follow-up by its own spec), and how many
    said nothing matches while something did."""
    tags = sorted({tag for s in scores for tag in s.tags})
    out: dict[str, dict[str, Any]] = {}
    for tag in tags:
        turns = [s for s in scores if tag in s.tags]
        out[tag] = {
            "turns": len(turns),
            "success": _rate([s.success for s in turns]),
            "false_no_match": sum(s.false_no_match for s in turns),
        }
    return out


def spec_problems(scorer: Scorer, cases: Sequence[Case]) -> list[str]:
    """Cases whose specs name unknown categories, or whose author's no-match reading disagrees
    with the relevant set on this world (a single request or a script's first turn)."""
    return [f"{case.id}: {problem}" for case in cases for problem in case_problems(scorer, case)]


def case_problems(scorer: Scorer, case: Case) -> list[str]:
    """Where one case's specs disagree with this world (see `spec_problems`)."""
    problems: list[str] = []
    for turn in case.turns:
        unknown = scorer.unknown_categories(turn.spec)
        if unknown:
            problems.append(f"unknown categories {unknown}")
    first = case.turns[0].spec
    if not first.refers_to:
        matches = len(scorer.relevant(first))
        if (matches == 0) != case.no_match:
            problems.append(f"no_match is {case.no_match} but {matches} products match")
    return problems
