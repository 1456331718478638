"""Synthetic catalogue for the Aisle demo world.

`aisle data seed` calls `generate_catalog` to build the store's department / category tree,
brands, products with variants (colour, size, capacity ...) and the product text (names,
descriptions, materials, care, size guides) that the RAG index and the local NLU are built on,
and `generate_reviews` to write review text for a product. The demand parameters on each leaf
category (seasonal peak, amplitude, weekend lift, price elasticity, base rate) and the per-product
popularity and elasticity are the *true* values of the generating process: the sales simulator
uses them, and the evals compare fitted models against them.

Everything is a pure function of the numpy Generator passed in: the same seed gives the same
catalogue, byte for byte, in any process (no set iteration, no `hash()`, no global RNG).
"""

from __future__ import annotations

import math
import string
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

__all__ = [
    "APPAREL_SIZES",
    "APPAREL_SIZE_CHART",
    "PACK_SIZE_CHART",
    "REVIEW_TITLES",
    "SLEEPING_BAG_LENGTHS",
    "SOCK_SIZE_CHART",
    "BrandSpec",
    "Catalog",
    "CategorySpec",
    "ProductSpec",
    "ReviewSpec",
    "VariantSpec",
    "footwear_size_row",
    "generate_catalog",
    "generate_reviews",
    "sentiment_of",
]


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """A department (parent_id None) or a leaf category with its true demand parameters."""

    id: str
    name: str
    parent_id: str | None
    season_peak_doy: int
    season_amplitude: float
    weekend_lift: float
    elasticity_mean: float
    base_daily_units: float


@dataclass(frozen=True, slots=True)
class BrandSpec:
    """A brand and its price tier: "value", "core" or "premium"."""

    id: str
    name: str
    tier: str
    code: str = ""  # two-letter prefix of the brand's model numbers, e.g. "NP" in "NP-4471"


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One sellable SKU of a product."""

    sku: str
    options: dict[str, str]
    price: float
    unit_cost: float
    size_share: float


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A product: its text, attributes, true demand parameters and its variants."""

    id: str
    name: str
    category_id: str
    brand_id: str
    description: str
    materials: str
    care: str
    size_guide: str | None
    features: tuple[str, ...]
    attributes: dict[str, str]
    base_price: float
    popularity: float
    elasticity: float
    variants: tuple[VariantSpec, ...]
    # The product type inside its category ("Rain Jacket", "Hard Cooler"); useful for facets.
    product_type: str = ""


@dataclass(frozen=True, slots=True)
class ReviewSpec:
    """One customer review."""

    rating: int
    title: str
    body: str
    author: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """The whole generated catalogue."""

    departments: tuple[CategorySpec, ...]
    categories: tuple[CategorySpec, ...]
    brands: tuple[BrandSpec, ...]
    products: tuple[ProductSpec, ...]


# --------------------------------------------------------------------------------------------
# Buffered random draws
# --------------------------------------------------------------------------------------------


class _Draws:
    """Scalar draws served from blocks of `rng.random`.

    One vectorised call per block is far cheaper than thousands of scalar Generator calls, and it
    stays a pure function of the Generator's state, so determinism is kept.
    """

    __slots__ = ("_block", "_buf", "_i", "_rng")

    def __init__(self, rng: np.random.Generator, block: int = 4096) -> None:
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value

    def chance(self, p: float) -> bool:
        return self.u() < p

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi], both ends included."""
        return lo + min(int(self.u() * (hi - lo + 1)), hi - lo)

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[min(int(self.u() * len(seq)), len(seq) - 1)]

    def pick_weighted(self, seq: Sequence[_T], weights: Sequence[float]) -> _T:
        cum = list(accumulate(weights))
        i = bisect_right(cum, self.u() * cum[-1])
        return seq[min(i, len(seq) - 1)]

    def sample(self, seq: Sequence[_T], k: int) -> list[_T]:
        """k distinct items in random order (partial Fisher-Yates)."""
        pool = list(seq)
        k = min(k, len(pool))
        for i in range(k):
            j = i + min(int(self.u() * (len(pool) - i)), len(pool) - i - 1)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def normal(self) -> float:
        # Box-Muller; 1 - u keeps the log argument in (0, 1].
        return math.sqrt(-2.0 * math.log(1.0 - self.u())) * math.cos(2.0 * math.pi * self.u())


# --------------------------------------------------------------------------------------------
# Brands
# --------------------------------------------------------------------------------------------

# (id, name, tier, model-number code)
_BRANDS: tuple[tuple[str, str, str, str], ...] = (
    ("northpeak", "Northpeak", "premium", "NP"),
    ("alpenglow", "Alpenglow", "premium", "AG"),
    ("fjellvik", "Fjellvik", "premium", "FV"),
    ("cascadia", "Cascadia Outfitters", "core", "CO"),
    ("ridgeline", "Ridgeline", "core", "RL"),
    ("kestrel", "Kestrel Gear", "core", "KG"),
    ("basecamp", "Basecamp Basics", "value", "BB"),
    ("timberjack", "Timberjack", "core", "TJ"),
    ("stridewell", "Stridewell", "core", "SW"),
    ("granite-trail", "Granite Trail", "premium", "GT"),
    ("wavecrest", "Wavecrest", "core", "WC"),
    ("sol-and-sand", "Sol & Sand", "value", "SS"),
    ("driftwood", "Driftwood", "core", "DW"),
    ("woolridge", "Woolridge", "premium", "WR"),
    ("lumenpeak", "Lumenpeak", "core", "LP"),
    ("frostbox", "Frostbox", "premium", "FB"),
    ("chillwell", "Chillwell", "value", "CW"),
    ("hydrafin", "Hydrafin", "core", "HF"),
    ("ember-and-oak", "Ember & Oak", "premium", "EO"),
    ("copper-kettle", "Copper Kettle", "core", "CK"),
    ("ironside", "Ironside", "value", "IS"),
    ("highland-roasters", "Highland Roasters", "core", "HR"),
    ("daybreak", "Daybreak Coffee Co.", "value", "DB"),
    ("hearthloom", "Hearthloom", "core", "HL"),
    ("sonora-audio", "Sonora Audio", "premium", "SA"),
    ("halcyon", "Halcyon", "core", "HC"),
    ("pulsewave", "Pulsewave", "core", "PW"),
    ("voltbay", "Voltbay", "value", "VB"),
    ("trailpulse", "Trailpulse", "premium", "TP"),
    ("cadence", "Cadence", "core", "CD"),
    ("flowform", "Flowform", "core", "FF"),
    ("solace-studio", "Solace Studio", "premium", "SO"),
    ("zenith-active", "Zenith Active", "premium", "ZA"),
    ("ironclad-fitness", "Ironclad Fitness", "premium", "IC"),
    ("aisle-essentials", "Aisle Essentials", "value", "AE"),
)

# Where in the category's log-price range each tier sits (fractions of the range).
_TIER_BAND = {"value": (0.0, 0.42), "core": (0.25, 0.72), "premium": (0.58, 1.0)}
# Value brands run thinner margins; premium brands fatter ones.
_TIER_COST = {"value": (0.52, 0.62), "core": (0.44, 0.55), "premium": (0.37, 0.48)}
# Premium shoppers are less price sensitive (elasticity closer to zero).
_TIER_ELASTICITY_SHIFT = {"value": -0.2, "core": 0.0, "premium": 0.25}


# --------------------------------------------------------------------------------------------
# Category content
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Num:
    """A numeric attribute drawn on a grid: lo..hi by step, rendered with fmt."""

    lo: float
    hi: float
    step: float
    fmt: str


_AttrSource = str | tuple[str, ...] | _Num


@dataclass(frozen=True, slots=True)
class _Subtype:
    """A product type within a leaf category; its fixed attributes keep the text consistent."""

    noun: str
    adjectives: tuple[str, ...]
    features: tuple[str, ...] = ()  # always present
    extras: tuple[str, ...] = ()  # sampled
    attrs: dict[str, _AttrSource] = field(default_factory=dict)
    materials: tuple[tuple[str, str], ...] = ()  # (keyword, full text); overrides the category's
    care: tuple[str, ...] = ()
    axes: str = ""
    price: tuple[float, float] | None = None
    weight_g: tuple[int, int] | None = None
    short: str = ""
    family: str = ""
    genders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Leaf:
    id: str
    name: str
    dept: str
    peak: int
    amplitude: float
    weekend: float
    elasticity: float
    units: float
    weight: float  # share of the catalogue's products
    short: str  # what reviewers call it: "jacket"
    axes: str
    price: tuple[float, float]
    brands: tuple[str, ...]
    subtypes: tuple[_Subtype, ...]
    materials: tuple[tuple[str, str], ...]
    care: tuple[str, ...]
    uses: tuple[str, ...]
    family: str
    palette: str = "gear"
    attrs: dict[str, _AttrSource] = field(default_factory=dict)
    weight_g: tuple[int, int] | None = None
    genders: tuple[str, ...] = ()
    attr_lines: tuple[str, ...] = ()
    material_lines: tuple[str, ...] = ()


_DEPARTMENTS: tuple[tuple[str, str, int, float, float, float, float], ...] = (
    # id, name, peak doy, amplitude, weekend lift, elasticity mean, base units (defaults only)
    ("outdoor", "Outdoor", 180, 0.5, 1.35, -1.8, 0.8),
    ("apparel", "Apparel", 320, 0.4, 1.3, -2.0, 2.0),
    ("footwear", "Footwear", 300, 0.4, 1.3, -1.9, 1.5),
    ("home-kitchen", "Home & Kitchen", 340, 0.3, 1.2, -1.9, 2.5),
    ("electronics", "Electronics", 345, 0.4, 1.3, -2.2, 1.0),
    ("fitness", "Fitness", 10, 0.5, 1.2, -2.0, 1.5),
)

_FIT = ("regular", "regular", "relaxed", "slim", "athletic")
_SIZING = ("true to size", "runs small", "runs large")
_SIZING_W = (0.62, 0.24, 0.14)

_APPAREL_CARE_SYNTH = (
    "Machine wash cold with like colors; tumble dry low. Do not use fabric softener, bleach or "
    "dry cleaning.",
    "Machine wash cold on a gentle cycle and hang to dry. Do not iron or dry clean.",
)

_LEAVES: tuple[_Leaf, ...] = (
    # ---------------------------------------------------------------- Outdoor
    _Leaf(
        id="outdoor-tents",
        name="Tents",
        dept="outdoor",
        peak=160,
        amplitude=0.6,
        weekend=1.35,
        elasticity=-1.6,
        units=0.6,
        weight=3.0,
        short="tent",
        axes="color",
        price=(120, 650),
        family="tent",
        brands=("fjellvik", "northpeak", "cascadia", "ridgeline", "kestrel", "basecamp"),
        subtypes=(
            _Subtype(
                "Backpacking Tent",
                ("Ultralight", "Waterproof", "Freestanding", "Lightweight"),
                features=("full-coverage rainfly", "taped seams"),
                extras=(
                    "two doors and two vestibules",
                    "color-coded poles",
                    "mesh inner for ventilation",
                    "interior gear pockets",
                    "ultralight",
                ),
                attrs={"season": "3-season", "waterproof": "yes", "freestanding": "yes"},
                axes="tent_bp",
                weight_g=(950, 2300),
            ),
            _Subtype(
                "Family Camping Tent",
                ("Spacious", "Roomy", "Easy-Pitch", "Waterproof"),
                features=("full-coverage rainfly", "taped seams"),
                extras=(
                    "room divider",
                    "near-vertical walls",
                    "large D-shaped door",
                    "gear loft",
                    "color-coded poles",
                    "interior gear pockets",
                ),
                attrs={"season": "3-season", "waterproof": "yes", "freestanding": "yes"},
                axes="tent_family",
                weight_g=(5200, 11800),
                price=(180, 650),
            ),
            _Subtype(
                "Four-Season Tent",
                ("Expedition", "Alpine", "Storm-Rated"),
                features=("snow-load pole geometry", "taped seams"),
                extras=(
                    "snow flaps",
                    "reinforced guy-out points",
                    "two doors and two vestibules",
                    "interior gear pockets",
                ),
                attrs={"season": "4-season", "waterproof": "yes", "freestanding": "yes"},
                axes="tent_4s",
                weight_g=(2600, 4400),
                price=(320, 650),
            ),
            _Subtype(
                "Trekking Pole Tent",
                ("Ultralight", "Minimalist"),
                features=("pitches with trekking poles", "taped seams"),
                extras=("single-wall design", "mesh inner for ventilation", "ultralight"),
                attrs={"season": "3-season", "waterproof": "yes", "freestanding": "no"},
                axes="tent_bp",
                weight_g=(620, 1150),
                price=(160, 520),
            ),
            _Subtype(
                "Pop-Up Tent",
                ("Instant", "Quick-Setup"),
                features=("sets up in 60 seconds", "water-resistant coated fly"),
                extras=("mesh windows", "carry bag included", "interior gear pockets"),
                attrs={"season": "3-season", "waterproof": "no", "freestanding": "yes"},
                axes="tent_popup",
                weight_g=(2500, 5200),
                price=(120, 260),
            ),
        ),
        materials=(
            (
                "ripstop nylon",
                "Fly: 20D ripstop nylon, silicone/PU coated; floor: 30D nylon; "
                "poles: aluminum alloy",
            ),
            (
                "ripstop polyester",
                "Fly: 40D ripstop polyester with PU coating; floor: 70D "
                "polyester; poles: aluminum alloy",
            ),
            (
                "polyester",
                "Fly: 68D polyester with PU coating; floor: 150D polyester; poles: fiberglass",
            ),
        ),
        care=(
            "Dry completely before storing to prevent mildew. Spot clean with a damp sponge and "
            "mild soap; never machine wash. Store loosely in a cool, dry place.",
            "Set up and air out after every trip. Clean with water only, since detergents strip "
            "the coating. Wipe grit off poles and zippers before packing.",
        ),
        uses=(
            "backpacking trips",
            "car camping weekends",
            "family campouts",
            "festival weekends",
            "lakeside camping",
            "multi-day treks",
        ),
        attr_lines=(
            "Packed weight is {weight}.",
            "It is a {season} design.",
            "Trail weight comes in at {weight}.",
        ),
    ),
    _Leaf(
        id="outdoor-sleeping-bags",
        name="Sleeping Bags",
        dept="outdoor",
        peak=190,
        amplitude=0.45,
        weekend=1.3,
        elasticity=-1.5,
        units=0.5,
        weight=2.0,
        short="sleeping bag",
        axes="sleepingbag",
        price=(60, 480),
        family="sleeping_bag",
        brands=("fjellvik", "northpeak", "alpenglow", "cascadia", "basecamp"),
        subtypes=(
            _Subtype(
                "Down Sleeping Bag",
                ("Ultralight", "Lofty", "Packable"),
                features=("water-resistant down", "draft collar"),
                extras=(
                    "contoured hood",
                    "full-length zipper",
                    "compression sack included",
                    "anti-snag zipper",
                ),
                attrs={"insulation": "down", "temperature rating": ("15°F", "20°F", "30°F")},
                materials=(
                    (
                        "800-fill down",
                        "Shell: 15D ripstop nylon with DWR finish; insulation: "
                        "800-fill-power responsibly sourced duck down; lining: 20D nylon taffeta",
                    ),
                    (
                        "650-fill down",
                        "Shell: 20D polyester ripstop with DWR finish; insulation: "
                        "650-fill-power responsibly sourced duck down; lining: polyester taffeta",
                    ),
                ),
                care=(
                    "Store uncompressed in the included storage sack. Wash rarely, in a "
                    "front-loading machine with down-specific soap, then tumble dry low with "
                    "clean tennis balls to restore loft.",
                ),
                price=(180, 480),
                weight_g=(650, 1400),
            ),
            _Subtype(
                "Synthetic Sleeping Bag",
                ("Three-Season", "Warm", "Packable"),
                features=("insulates when damp",),
                extras=("draft tube", "contoured hood", "two-way zipper", "stuff sack included"),
                attrs={"insulation": "synthetic", "temperature rating": ("20°F", "30°F", "40°F")},
                price=(70, 240),
                weight_g=(1100, 2000),
            ),
            _Subtype(
                "Camping Sleeping Bag",
                ("Roomy", "Cozy"),
                features=("rectangular cut with room to move",),
                extras=(
                    "zips together with a second bag",
                    "flannel lining",
                    "stuff sack included",
                    "two-way zipper",
                ),
                attrs={"insulation": "synthetic", "temperature rating": ("40°F", "50°F")},
                price=(60, 150),
                weight_g=(1600, 2600),
            ),
        ),
        materials=(
            (
                "synthetic insulation",
                "Shell: 40D polyester ripstop; insulation: hollow-fiber "
                "synthetic; lining: brushed polyester",
            ),
            (
                "recycled polyester",
                "Shell: 50D recycled polyester; insulation: recycled synthetic "
                "fill; lining: polyester taffeta",
            ),
        ),
        care=(
            "Machine wash cold on gentle in a front-loading machine; tumble dry low. Store "
            "uncompressed in a large cotton sack.",
        ),
        uses=(
            "backpacking in the shoulder seasons",
            "summer car camping",
            "hut-to-hut trips",
            "chilly desert nights",
            "sleepovers at the campground",
        ),
        attr_lines=(
            "It carries a {temperature_rating} temperature rating.",
            "The bag weighs {weight} with {insulation} fill.",
        ),
    ),
    _Leaf(
        id="outdoor-backpacks",
        name="Backpacks",
        dept="outdoor",
        peak=215,
        amplitude=0.35,
        weekend=1.3,
        elasticity=-1.7,
        units=1.0,
        weight=4.0,
        short="pack",
        axes="color",
        price=(35, 380),
        family="pack",
        brands=("fjellvik", "northpeak", "kestrel", "cascadia", "ridgeline", "basecamp"),
        subtypes=(
            _Subtype(
                "Daypack",
                ("Lightweight", "Everyday", "Trail"),
                extras=(
                    "hydration sleeve",
                    "padded laptop sleeve",
                    "ventilated back panel",
                    "hip belt pockets",
                    "stretch side pockets",
                    "rain cover included",
                ),
                attrs={"volume": ("18 L", "22 L", "26 L", "30 L"), "waterproof": "no"},
                price=(35, 160),
                weight_g=(450, 1000),
            ),
            _Subtype(
                "Backpacking Pack",
                ("Trekking", "Expedition", "Adjustable"),
                features=("adjustable torso length", "padded hip belt"),
                extras=(
                    "load lifters",
                    "removable lid",
                    "rain cover included",
                    "sleeping bag compartment",
                    "trekking pole attachment",
                    "hip belt pockets",
                    "hydration sleeve",
                ),
                attrs={"volume": ("45 L", "55 L", "65 L"), "waterproof": "no"},
                axes="pack",
                price=(140, 380),
                weight_g=(1100, 2300),
            ),
            _Subtype(
                "Dry Pack",
                ("Waterproof", "Roll-Top"),
                features=("welded seams", "roll-top closure"),
                extras=("padded shoulder straps", "external daisy chain", "reflective details"),
                attrs={"volume": ("20 L", "30 L"), "waterproof": "yes"},
                materials=(
                    (
                        "TPU-laminated polyester",
                        "Body: 500D TPU-laminated polyester with "
                        "welded seams; straps: nylon webbing",
                    ),
                ),
                price=(50, 170),
                weight_g=(600, 1100),
            ),
            _Subtype(
                "Travel Backpack",
                ("Carry-On", "Clamshell"),
                features=("clamshell opening",),
                extras=(
                    "lockable zippers",
                    "stowaway harness",
                    "padded laptop sleeve",
                    "hip belt pockets",
                ),
                attrs={"volume": ("35 L", "40 L"), "waterproof": "no"},
                price=(80, 260),
                weight_g=(1100, 1700),
            ),
        ),
        materials=(
            (
                "recycled nylon",
                "Body: 210D recycled nylon ripstop with PU coating; base: 420D "
                "nylon; back panel: spacer mesh",
            ),
            ("polyester", "Body: 600D polyester; lining: 210D polyester; back panel: EVA foam"),
            ("nylon canvas", "Body: 500D nylon canvas with DWR finish; lining: 150D polyester"),
        ),
        care=(
            "Spot clean with mild soap and lukewarm water; do not machine wash. Hang to dry out "
            "of direct sunlight and empty all pockets before storing.",
        ),
        uses=(
            "day hikes",
            "daily commutes",
            "overnight trips",
            "travel days",
            "multi-day treks",
            "weekend getaways",
        ),
        attr_lines=(
            "Capacity is {volume}.",
            "It weighs {weight} empty.",
            "With {volume} of space, it swallows a full day's kit.",
        ),
    ),
    _Leaf(
        id="outdoor-coolers",
        name="Coolers",
        dept="outdoor",
        peak=178,
        amplitude=0.7,
        weekend=1.45,
        elasticity=-1.9,
        units=0.7,
        weight=2.0,
        short="cooler",
        axes="color",
        price=(30, 400),
        family="cooler",
        brands=("frostbox", "chillwell", "kestrel", "cascadia", "basecamp"),
        subtypes=(
            _Subtype(
                "Hard Cooler",
                ("Rotomolded", "Heavy-Duty", "Long-Haul"),
                features=("rotomolded body", "freezer-grade gasket"),
                extras=(
                    "bear-resistant latches",
                    "drain plug",
                    "non-slip feet",
                    "integrated bottle opener",
                ),
                attrs={"ice retention": ("up to 3 days", "up to 5 days", "up to 7 days")},
                materials=(
                    (
                        "polyethylene",
                        "Body: rotomolded polyethylene; insulation: up to 2 "
                        "in. of pressure-injected polyurethane foam; gasket: freezer-grade "
                        "rubber",
                    ),
                ),
                axes="cooler_hard",
                price=(120, 400),
                weight_g=(7000, 15000),
            ),
            _Subtype(
                "Soft Cooler",
                ("Leakproof", "Portable", "Packable"),
                features=("leakproof zipper", "closed-cell foam insulation"),
                extras=("shoulder strap", "front zip pocket", "wipe-clean liner"),
                attrs={"ice retention": ("up to 24 hours", "up to 2 days")},
                materials=(
                    (
                        "TPU-coated nylon",
                        "Shell: 840D TPU-coated nylon; insulation: "
                        "closed-cell foam; liner: food-grade, antimicrobial",
                    ),
                ),
                axes="cooler_soft",
                price=(30, 250),
                weight_g=(900, 2200),
            ),
            _Subtype(
                "Wheeled Cooler",
                ("Rolling", "Heavy-Duty"),
                features=("all-terrain wheels", "telescoping handle"),
                extras=("drain plug", "cup holders in the lid", "integrated bottle opener"),
                attrs={"ice retention": ("up to 3 days", "up to 4 days")},
                materials=(
                    (
                        "polypropylene",
                        "Body: polypropylene; insulation: polyurethane foam; wheels: rubber tread",
                    ),
                ),
                axes="cooler_wheeled",
                price=(70, 380),
                weight_g=(8000, 16000),
            ),
        ),
        materials=(("polyethylene", "Body: polyethylene; insulation: polyurethane foam"),),
        care=(
            "Rinse with warm water and mild soap after each use and leave the lid open to air "
            "dry. For stubborn odors, wipe with a baking soda solution. Not dishwasher safe.",
        ),
        uses=(
            "beach days",
            "tailgates",
            "weekend camping trips",
            "fishing trips",
            "backyard barbecues",
            "road trips",
        ),
        attr_lines=("Ice retention is rated {ice_retention}.", "It weighs {weight} empty."),
    ),
    _Leaf(
        id="outdoor-lighting",
        name="Headlamps & Lanterns",
        dept="outdoor",
        peak=300,
        amplitude=0.25,
        weekend=1.25,
        elasticity=-1.8,
        units=1.2,
        weight=2.0,
        short="light",
        axes="color",
        price=(15, 140),
        family="light",
        brands=("lumenpeak", "kestrel", "northpeak", "basecamp", "voltbay"),
        subtypes=(
            _Subtype(
                "Headlamp",
                ("Compact", "Bright", "Lightweight"),
                features=("red night-vision mode",),
                extras=(
                    "lock-out mode",
                    "tilting beam",
                    "battery level indicator",
                    "reactive lighting",
                    "moisture-wicking headband",
                ),
                attrs={"water rating": "IPX4", "waterproof": "no"},
                weight_g=(60, 130),
                short="headlamp",
            ),
            _Subtype(
                "Headlamp",
                ("Waterproof", "Bright"),
                features=("red night-vision mode", "sealed battery compartment"),
                extras=(
                    "lock-out mode",
                    "tilting beam",
                    "battery level indicator",
                    "reactive lighting",
                ),
                attrs={"water rating": "IPX7", "waterproof": "yes"},
                weight_g=(70, 150),
                short="headlamp",
            ),
            _Subtype(
                "Camp Lantern",
                ("Dimmable", "Bright"),
                features=("dimmable output",),
                extras=("hanging hook", "collapsible design", "USB power-out", "warm white light"),
                attrs={
                    "water rating": "IPX4",
                    "waterproof": "no",
                    "brightness": _Num(150, 1000, 50, "{:.0f} lumens"),
                },
                weight_g=(180, 650),
                short="lantern",
            ),
        ),
        attrs={
            "brightness": _Num(200, 1200, 50, "{:.0f} lumens"),
            "battery": ("rechargeable (USB-C)", "3x AAA", "hybrid: rechargeable or 3x AAA"),
            "run time": _Num(8, 120, 4, "up to {:.0f} hours on low"),
        },
        materials=(
            (
                "aluminum",
                "Housing: anodized aluminum; lens: polycarbonate; strap: elastic polyester",
            ),
            (
                "polycarbonate",
                "Housing: impact-resistant polycarbonate; lens: PMMA; strap: recycled polyester",
            ),
        ),
        care=(
            "Wipe clean with a damp cloth. Remove disposable batteries before long-term storage "
            "and recharge lithium cells every 3 months.",
        ),
        uses=(
            "night hikes",
            "pre-dawn starts",
            "campsite chores",
            "power outages",
            "trail runs after dark",
        ),
        attr_lines=(
            "Maximum output is {brightness}, with a run time of {run_time}.",
            "Power: {battery}.",
            "It is rated {water_rating} for water protection.",
        ),
    ),
    _Leaf(
        id="outdoor-camp-chairs",
        name="Camp Chairs",
        dept="outdoor",
        peak=165,
        amplitude=0.55,
        weekend=1.5,
        elasticity=-2.1,
        units=0.9,
        weight=2.0,
        short="chair",
        axes="color",
        price=(25, 180),
        family="chair",
        brands=("kestrel", "basecamp", "cascadia", "ridgeline", "fjellvik", "driftwood"),
        subtypes=(
            _Subtype(
                "Camp Chair",
                ("Folding", "Oversized", "Classic"),
                features=("cup holder",),
                extras=("side pocket", "padded armrests", "carry bag included", "high back"),
                attrs={"weight capacity": ("250 lb", "300 lb", "350 lb")},
                weight_g=(3000, 6500),
                price=(25, 110),
            ),
            _Subtype(
                "Backpacking Chair",
                ("Ultralight", "Packable"),
                features=("packs to water-bottle size",),
                extras=("shock-corded aluminum frame", "mesh seat panels", "carry bag included"),
                attrs={"weight capacity": ("250 lb", "300 lb")},
                materials=(
                    (
                        "ripstop polyester",
                        "Seat: ripstop polyester and mesh; frame: 7000-series aluminum",
                    ),
                ),
                weight_g=(800, 1300),
                price=(70, 180),
            ),
            _Subtype(
                "Rocking Camp Chair",
                ("Folding", "Classic"),
                features=("rocking base",),
                extras=("padded armrests", "cup holder", "side pocket"),
                attrs={"weight capacity": ("250 lb", "300 lb")},
                weight_g=(5500, 8000),
                price=(60, 160),
            ),
        ),
        materials=(("polyester", "Seat: 600D polyester; frame: powder-coated steel"),),
        care=(
            "Wipe the seat fabric with mild soap and water and let it air dry before folding. "
            "Store indoors to extend fabric life.",
        ),
        uses=(
            "campfire evenings",
            "soccer sidelines",
            "beach days",
            "outdoor concerts",
            "backyard hangouts",
        ),
        attr_lines=("It supports up to {weight_capacity}.", "It weighs {weight}."),
    ),
    # ---------------------------------------------------------------- Apparel
    _Leaf(
        id="apparel-jackets",
        name="Jackets",
        dept="apparel",
        peak=330,
        amplitude=0.6,
        weekend=1.35,
        elasticity=-1.8,
        units=1.5,
        weight=5.0,
        short="jacket",
        axes="apparel",
        price=(70, 380),
        family="jacket",
        palette="outdoor_apparel",
        genders=("men's", "women's"),
        brands=("northpeak", "alpenglow", "cascadia", "ridgeline", "timberjack", "basecamp"),
        subtypes=(
            _Subtype(
                "Rain Jacket",
                ("Waterproof", "Packable", "Lightweight", "Breathable"),
                features=("waterproof-breathable membrane", "fully taped seams"),
                extras=(
                    "adjustable hood",
                    "pit zips",
                    "packable into its own pocket",
                    "hem drawcord",
                    "zippered hand pockets",
                ),
                attrs={"waterproof": "yes", "insulated": "no"},
                materials=(
                    (
                        "recycled nylon",
                        "Shell: 100% recycled nylon with DWR finish; "
                        "membrane: 2.5-layer waterproof-breathable PU; lining: printed "
                        "polyester",
                    ),
                ),
                weight_g=(250, 450),
                price=(70, 260),
            ),
            _Subtype(
                "Hiking Jacket",
                ("Waterproof", "Breathable", "Trail"),
                features=("waterproof-breathable membrane", "fully taped seams"),
                extras=(
                    "helmet-compatible hood",
                    "two-way front zip",
                    "pit zips",
                    "chest pocket",
                    "adjustable hood",
                ),
                attrs={"waterproof": "yes", "insulated": "no"},
                materials=(
                    (
                        "recycled nylon",
                        "Shell: 3-layer recycled nylon with DWR finish and "
                        "a waterproof-breathable ePTFE-free membrane",
                    ),
                ),
                weight_g=(350, 600),
                price=(120, 380),
            ),
            _Subtype(
                "Softshell Jacket",
                ("Stretch", "Windproof", "Breathable"),
                features=("water-resistant DWR finish", "four-way stretch"),
                extras=(
                    "wind-resistant",
                    "brushed fleece backer",
                    "zippered hand pockets",
                    "chest pocket",
                ),
                attrs={"waterproof": "no", "insulated": "no"},
                materials=(
                    (
                        "nylon-elastane",
                        "Shell: 88% nylon, 12% elastane with DWR finish; backer: brushed polyester",
                    ),
                ),
                weight_g=(400, 650),
                price=(80, 240),
            ),
            _Subtype(
                "Insulated Jacket",
                ("Packable", "Warm", "Lightweight"),
                features=("synthetic insulation", "water-resistant DWR finish"),
                extras=(
                    "packable into its own pocket",
                    "elastic cuffs",
                    "zippered hand pockets",
                    "insulated hood",
                ),
                attrs={"waterproof": "no", "insulated": "yes", "insulation": "synthetic"},
                materials=(
                    (
                        "recycled polyester",
                        "Shell: 100% recycled polyester ripstop with DWR "
                        "finish; insulation: 100 g/m² synthetic; lining: nylon taffeta",
                    ),
                ),
                weight_g=(350, 600),
                price=(90, 260),
            ),
            _Subtype(
                "Down Jacket",
                ("Packable", "Lightweight", "Warm"),
                features=("700-fill down", "baffled construction"),
                extras=(
                    "water-resistant DWR finish",
                    "packable into its own pocket",
                    "insulated hood",
                    "zippered hand pockets",
                ),
                attrs={"waterproof": "no", "insulated": "yes", "insulation": "down"},
                materials=(
                    (
                        "nylon ripstop and down",
                        "Shell: 20D nylon ripstop with DWR finish; "
                        "insulation: 700-fill-power responsibly sourced goose down",
                    ),
                ),
                weight_g=(300, 700),
                price=(140, 380),
            ),
            _Subtype(
                "Winter Parka",
                ("Waterproof", "Insulated", "Warm"),
                features=("waterproof-breathable membrane", "synthetic insulation"),
                extras=(
                    "removable hood",
                    "fleece-lined hand pockets",
                    "two-way front zip",
                    "fully taped seams",
                ),
                attrs={
                    "waterproof": "yes",
                    "insulated": "yes",
                    "insulation": "synthetic",
                    "length": "thigh length",
                },
                materials=(
                    (
                        "polyester and synthetic fill",
                        "Shell: 2-layer polyester with "
                        "waterproof-breathable laminate; insulation: 200 g/m² synthetic; "
                        "lining: brushed tricot",
                    ),
                ),
                weight_g=(900, 1600),
                price=(160, 380),
            ),
        ),
        materials=(("recycled nylon", "Shell: 100% recycled nylon with DWR finish"),),
        care=_APPAREL_CARE_SYNTH
        + (
            "Machine wash cold with a technical wash; tumble dry low for 20 minutes to reactivate "
            "the DWR finish. Do not dry clean.",
        ),
        uses=(
            "rainy commutes",
            "day hikes",
            "alpine scrambles",
            "city walks",
            "cold-weather travel",
            "weekend trips",
        ),
        attr_lines=("The fit is {fit}.", "It weighs {weight}."),
    ),
    _Leaf(
        id="apparel-fleece",
        name="Fleece & Midlayers",
        dept="apparel",
        peak=310,
        amplitude=0.5,
        weekend=1.3,
        elasticity=-1.9,
        units=1.6,
        weight=3.0,
        short="fleece",
        axes="apparel",
        price=(30, 160),
        family="jacket",
        palette="outdoor_apparel",
        genders=("men's", "women's"),
        brands=("northpeak", "alpenglow", "cascadia", "woolridge", "basecamp", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Fleece Jacket",
                ("Cozy", "Warm", "Classic"),
                features=("full-zip front",),
                extras=(
                    "zippered hand pockets",
                    "anti-pill finish",
                    "stand-up collar",
                    "thumb loops",
                ),
                attrs={
                    "insulated": "no",
                    "weight class": ("100-weight", "200-weight", "300-weight"),
                },
            ),
            _Subtype(
                "Quarter-Zip Pullover",
                ("Breathable", "Lightweight", "Classic"),
                features=("quarter-zip neck",),
                extras=(
                    "grid fleece for breathability",
                    "thumb loops",
                    "anti-pill finish",
                    "kangaroo pocket",
                ),
                attrs={"insulated": "no", "weight class": ("100-weight", "200-weight")},
                materials=(("polyester grid fleece", "94% polyester, 6% elastane grid fleece"),),
                short="pullover",
            ),
            _Subtype(
                "Sherpa Fleece Jacket",
                ("Cozy", "Warm"),
                features=("high-pile sherpa fleece",),
                extras=("zippered hand pockets", "stand-up collar", "nylon trim"),
                attrs={"insulated": "no", "weight class": "300-weight"},
                materials=(
                    ("sherpa fleece", "Body: 100% recycled polyester sherpa fleece; trim: nylon"),
                ),
            ),
            _Subtype(
                "Fleece Vest",
                ("Lightweight", "Classic"),
                features=("full-zip front",),
                extras=("zippered hand pockets", "anti-pill finish", "stand-up collar"),
                attrs={"insulated": "no", "weight class": ("100-weight", "200-weight")},
                price=(30, 110),
                short="vest",
            ),
        ),
        materials=(("recycled polyester fleece", "100% recycled polyester fleece, 200 g/m²"),),
        care=(
            "Machine wash cold with like colors, inside out. Tumble dry low. Skip fabric "
            "softener, which flattens the fleece.",
        ),
        weight_g=(250, 600),
        uses=(
            "chilly mornings in camp",
            "layering under a shell",
            "weekend errands",
            "autumn hikes",
            "après-ski evenings",
        ),
        attr_lines=("It is a {weight_class} fleece; the fit is {fit}.", "The fit is {fit}."),
    ),
    _Leaf(
        id="apparel-tshirts",
        name="T-Shirts",
        dept="apparel",
        peak=170,
        amplitude=0.3,
        weekend=1.3,
        elasticity=-2.6,
        units=4.0,
        weight=5.0,
        short="shirt",
        axes="apparel",
        price=(12, 45),
        family="apparel",
        palette="casual",
        genders=("men's", "women's", "unisex"),
        brands=(
            "aisle-essentials",
            "driftwood",
            "basecamp",
            "cascadia",
            "zenith-active",
            "northpeak",
            "woolridge",
        ),
        subtypes=(
            _Subtype(
                "Graphic Tee",
                ("Soft", "Vintage", "Relaxed"),
                features=("screen-printed graphic",),
                extras=("soft-washed", "tagless neck", "side-seamed construction"),
                materials=(
                    ("organic cotton", "100% organic cotton jersey, 160 g/m²"),
                    ("cotton-poly blend", "60% cotton, 40% recycled polyester jersey"),
                ),
                care=(
                    "Machine wash cold inside out to protect the print; tumble dry low. Expect "
                    "about 3% shrinkage if dried on high heat.",
                ),
                short="tee",
            ),
            _Subtype(
                "Crew Neck T-Shirt",
                ("Everyday", "Classic", "Soft"),
                extras=(
                    "soft-washed",
                    "tagless neck",
                    "side-seamed construction",
                    "reinforced shoulder seams",
                ),
                materials=(
                    ("organic cotton", "100% organic cotton jersey, 180 g/m²"),
                    ("cotton-poly blend", "60% cotton, 40% recycled polyester jersey"),
                ),
                care=(
                    "Machine wash cold, tumble dry low. Expect about 3% shrinkage if dried on "
                    "high heat.",
                ),
            ),
            _Subtype(
                "Performance Tee",
                ("Quick-Dry", "Breathable", "Lightweight"),
                features=("moisture-wicking", "quick-dry"),
                extras=(
                    "UPF 30 sun protection",
                    "flatlock seams",
                    "odor control",
                    "reflective details",
                ),
                attrs={"quick-dry": "yes"},
                materials=(("recycled polyester", "100% recycled polyester jersey, 120 g/m²"),),
                care=_APPAREL_CARE_SYNTH,
                short="tee",
            ),
            _Subtype(
                "Merino T-Shirt",
                ("Lightweight", "Breathable"),
                features=("naturally odor-resistant",),
                extras=("temperature regulating", "flatlock seams", "tagless neck"),
                materials=(
                    ("merino wool", "87% merino wool, 13% nylon core-spun jersey, 150 g/m²"),
                ),
                care=(
                    "Machine wash cold on the wool cycle and lay flat to dry. No bleach or "
                    "fabric softener.",
                ),
                price=(35, 45),
            ),
        ),
        materials=(("organic cotton", "100% organic cotton jersey"),),
        care=("Machine wash cold, tumble dry low.",),
        weight_g=(120, 220),
        uses=("weekend errands", "summer hikes", "gym sessions", "travel days", "everyday wear"),
        attr_lines=("The fit is {fit}.", "The cut is {fit}, with a hem that stays tucked."),
    ),
    _Leaf(
        id="apparel-pants",
        name="Hiking Pants",
        dept="apparel",
        peak=150,
        amplitude=0.3,
        weekend=1.25,
        elasticity=-2.0,
        units=1.5,
        weight=3.0,
        short="pants",
        axes="apparel",
        price=(35, 150),
        family="apparel",
        palette="outdoor_apparel",
        genders=("men's", "women's"),
        brands=("northpeak", "cascadia", "ridgeline", "timberjack", "alpenglow", "basecamp"),
        subtypes=(
            _Subtype(
                "Hiking Pants",
                ("Stretch", "Lightweight", "Trail"),
                features=("four-way stretch", "water-resistant DWR finish"),
                extras=(
                    "zippered thigh pocket",
                    "articulated knees",
                    "UPF 50 sun protection",
                    "gusseted crotch",
                ),
                attrs={"waterproof": "no"},
            ),
            _Subtype(
                "Convertible Hiking Pants",
                ("Quick-Dry", "Lightweight"),
                features=("zip-off legs", "quick-dry"),
                extras=("zippered thigh pocket", "UPF 50 sun protection", "gusseted crotch"),
                attrs={"waterproof": "no", "quick-dry": "yes"},
                materials=(
                    ("recycled polyester", "100% recycled polyester ripstop with DWR finish"),
                ),
            ),
            _Subtype(
                "Rain Pants",
                ("Waterproof", "Packable"),
                features=("waterproof-breathable membrane", "fully taped seams"),
                extras=(
                    "full-length side zips",
                    "packable into its own pocket",
                    "elastic waist with drawcord",
                ),
                attrs={"waterproof": "yes"},
                materials=(
                    (
                        "recycled nylon",
                        "Shell: 100% recycled nylon, 2.5-layer waterproof-breathable laminate",
                    ),
                ),
            ),
            _Subtype(
                "Trail Joggers",
                ("Stretch", "Relaxed"),
                features=("four-way stretch",),
                extras=("elastic cuffs", "drawcord waist", "zippered thigh pocket"),
                attrs={"waterproof": "no"},
                short="joggers",
            ),
        ),
        attrs={"inseam": ("30 in", "32 in", "34 in")},
        materials=(("nylon-spandex", "90% nylon, 10% spandex with DWR finish"),),
        care=(
            "Machine wash cold and tumble dry low to reactivate the DWR finish. Do not iron "
            "or dry clean.",
        ),
        weight_g=(250, 450),
        uses=("day hikes", "desert scrambles", "travel days", "rainy walks", "weekend trips"),
        attr_lines=("The inseam is {inseam}.", "The fit is {fit} through the seat and thigh."),
    ),
    _Leaf(
        id="apparel-base-layers",
        name="Base Layers",
        dept="apparel",
        peak=345,
        amplitude=0.65,
        weekend=1.25,
        elasticity=-1.7,
        units=1.1,
        weight=2.0,
        short="base layer",
        axes="apparel",
        price=(25, 120),
        family="apparel",
        palette="outdoor_apparel",
        genders=("men's", "women's"),
        brands=("woolridge", "alpenglow", "northpeak", "basecamp", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Merino Base Layer Top",
                ("Warm", "Breathable", "Odor-Resistant"),
                features=("naturally odor-resistant", "temperature regulating"),
                extras=("flatlock seams", "thumb loops", "crew neck"),
                materials=(
                    ("merino wool", "100% merino wool, 200 g/m²"),
                    ("merino-nylon blend", "87% merino wool, 13% nylon core-spun, 180 g/m²"),
                ),
                care=(
                    "Machine wash cold on the wool cycle and lay flat to dry. No bleach or "
                    "fabric softener.",
                ),
                price=(60, 120),
            ),
            _Subtype(
                "Thermal Base Layer Top",
                ("Warm", "Quick-Dry"),
                features=("moisture-wicking",),
                extras=("flatlock seams", "thumb loops", "odor control", "brushed interior"),
                attrs={"quick-dry": "yes"},
                materials=(("polyester", "92% polyester, 8% spandex with brushed interior"),),
                care=_APPAREL_CARE_SYNTH,
                price=(25, 70),
            ),
            _Subtype(
                "Base Layer Bottoms",
                ("Warm", "Breathable"),
                features=("moisture-wicking",),
                extras=(
                    "flatlock seams",
                    "gusseted crotch",
                    "brushed interior",
                    "elastic waistband",
                ),
                materials=(
                    ("polyester", "92% polyester, 8% spandex with brushed interior"),
                    ("merino wool", "100% merino wool, 200 g/m²"),
                ),
                care=("Machine wash cold and lay flat to dry.",),
                short="base layer bottoms",
            ),
        ),
        attrs={"weight class": ("lightweight", "midweight", "heavyweight")},
        materials=(("polyester", "92% polyester, 8% spandex"),),
        care=("Machine wash cold and lay flat to dry.",),
        weight_g=(140, 280),
        uses=("ski days", "winter hikes", "cold-weather running", "ice fishing", "frosty mornings"),
        attr_lines=("This is a {weight_class} layer.", "The fit is {fit}."),
    ),
    _Leaf(
        id="apparel-swimwear",
        name="Swimwear",
        dept="apparel",
        peak=180,
        amplitude=0.85,
        weekend=1.5,
        elasticity=-2.3,
        units=1.8,
        weight=3.0,
        short="swimsuit",
        axes="apparel",
        price=(20, 110),
        family="apparel",
        palette="swim",
        genders=("men's", "women's"),
        brands=("wavecrest", "sol-and-sand", "driftwood", "aisle-essentials", "zenith-active"),
        subtypes=(
            _Subtype(
                "Board Shorts",
                ("Quick-Dry", "Stretch", "Classic"),
                features=("quick-dry",),
                extras=(
                    "four-way stretch",
                    "zippered back pocket",
                    "lace-up fly",
                    "UPF 50 sun protection",
                ),
                attrs={"quick-dry": "yes", "inseam": ("7 in", "9 in")},
                genders=("men's",),
                short="board shorts",
            ),
            _Subtype(
                "Swim Trunks",
                ("Quick-Dry", "Classic"),
                features=("mesh liner", "elastic waist"),
                extras=("quick-dry", "zippered back pocket", "drawcord waist"),
                attrs={"inseam": ("5 in", "7 in")},
                genders=("men's",),
                short="trunks",
            ),
            _Subtype(
                "One-Piece Swimsuit",
                ("Chlorine-Resistant", "Classic", "Sporty"),
                features=("chlorine-resistant fabric",),
                extras=(
                    "removable cups",
                    "adjustable straps",
                    "UPF 50 sun protection",
                    "full lining",
                ),
                materials=(
                    (
                        "chlorine-resistant polyester",
                        "100% PBT polyester, chlorine-resistant; lining: 100% polyester",
                    ),
                ),
                genders=("women's",),
            ),
            _Subtype(
                "Bikini Set",
                ("Classic", "Sporty"),
                extras=("removable cups", "adjustable straps", "full lining", "tie sides"),
                genders=("women's",),
                short="bikini",
            ),
            _Subtype(
                "Rash Guard",
                ("Long-Sleeve", "Quick-Dry"),
                features=("UPF 50 sun protection",),
                extras=("flatlock seams", "quick-dry", "thumb loops"),
                short="rash guard",
            ),
        ),
        materials=(
            ("recycled polyester", "88% recycled polyester, 12% spandex"),
            ("nylon-spandex", "80% nylon, 20% spandex; lining: 100% polyester"),
        ),
        care=(
            "Rinse in cool fresh water after each swim. Hand wash and lay flat to dry in the "
            "shade. Hot tubs break down spandex, so avoid them.",
        ),
        weight_g=(90, 260),
        uses=("beach days", "lap swimming", "pool parties", "surf sessions", "lake weekends"),
        attr_lines=("The fit is {fit}.",),
    ),
    # ---------------------------------------------------------------- Footwear
    _Leaf(
        id="footwear-hiking-boots",
        name="Hiking Boots",
        dept="footwear",
        peak=290,
        amplitude=0.35,
        weekend=1.35,
        elasticity=-1.6,
        units=0.9,
        weight=3.0,
        short="boots",
        axes="footwear",
        price=(70, 280),
        family="footwear",
        palette="footwear",
        genders=("men's", "women's"),
        brands=("northpeak", "granite-trail", "timberjack", "cascadia", "stridewell", "basecamp"),
        subtypes=(
            _Subtype(
                "Hiking Boot",
                ("Waterproof", "Mid", "Trail"),
                features=("waterproof-breathable membrane", "lugged rubber outsole"),
                extras=(
                    "gusseted tongue",
                    "TPU shank",
                    "rubber toe cap",
                    "EVA midsole",
                    "speed-lace hooks",
                ),
                attrs={"waterproof": "yes"},
                materials=(
                    (
                        "full-grain leather",
                        "Upper: full-grain leather; lining: "
                        "waterproof-breathable membrane; midsole: EVA; outsole: high-traction "
                        "rubber",
                    ),
                    (
                        "nubuck leather",
                        "Upper: nubuck leather and nylon; lining: "
                        "waterproof-breathable membrane; midsole: EVA; outsole: rubber",
                    ),
                ),
            ),
            _Subtype(
                "Hiking Boot",
                ("Breathable", "Lightweight", "Mid"),
                features=("breathable mesh upper", "lugged rubber outsole"),
                extras=("gusseted tongue", "rubber toe cap", "EVA midsole", "speed-lace hooks"),
                attrs={"waterproof": "no"},
                materials=(
                    (
                        "suede and mesh",
                        "Upper: suede and breathable nylon mesh; lining: "
                        "polyester mesh; midsole: EVA; outsole: rubber",
                    ),
                ),
            ),
            _Subtype(
                "Backpacking Boot",
                ("Waterproof", "Rugged", "Supportive"),
                features=("waterproof-breathable membrane", "TPU shank"),
                extras=(
                    "rubber toe cap",
                    "lugged rubber outsole",
                    "gusseted tongue",
                    "speed-lace hooks",
                ),
                attrs={"waterproof": "yes"},
                materials=(
                    (
                        "full-grain leather",
                        "Upper: full-grain leather; lining: "
                        "waterproof-breathable membrane; midsole: PU; outsole: high-traction "
                        "rubber",
                    ),
                ),
                price=(150, 280),
            ),
            _Subtype(
                "Hiking Shoe",
                ("Lightweight", "Breathable", "Trail"),
                features=("lugged rubber outsole",),
                extras=(
                    "breathable mesh upper",
                    "EVA midsole",
                    "rubber toe cap",
                    "gusseted tongue",
                ),
                attrs={"waterproof": "no"},
                materials=(
                    (
                        "synthetic mesh",
                        "Upper: synthetic mesh with TPU overlays; midsole: EVA; outsole: rubber",
                    ),
                ),
                price=(70, 170),
                short="shoes",
            ),
        ),
        attrs={"width": ("medium", "medium", "wide")},
        materials=(
            ("full-grain leather", "Upper: full-grain leather; midsole: EVA; outsole: rubber"),
        ),
        care=(
            "Brush off dirt after each hike and rinse with clean water. Let them air dry away "
            "from direct heat, and condition leather uppers twice a season.",
        ),
        weight_g=(700, 1500),
        uses=(
            "rocky trails",
            "multi-day treks",
            "muddy spring hikes",
            "peak bagging",
            "weekend hikes",
        ),
        attr_lines=("A pair weighs {weight}.", "It comes in a {width} width."),
    ),
    _Leaf(
        id="footwear-trail-running",
        name="Trail Running Shoes",
        dept="footwear",
        peak=110,
        amplitude=0.25,
        weekend=1.2,
        elasticity=-2.0,
        units=1.3,
        weight=3.0,
        short="shoes",
        axes="footwear",
        price=(60, 190),
        family="footwear",
        palette="footwear",
        genders=("men's", "women's"),
        brands=("stridewell", "granite-trail", "northpeak", "cascadia", "zenith-active"),
        subtypes=(
            _Subtype(
                "Trail Running Shoe",
                ("Lightweight", "Cushioned", "Responsive"),
                features=("breathable mesh upper",),
                extras=(
                    "rock plate",
                    "aggressive 5 mm lugs",
                    "cushioned EVA midsole",
                    "quick-lace system",
                    "gusseted tongue",
                ),
                attrs={"waterproof": "no"},
            ),
            _Subtype(
                "Trail Running Shoe",
                ("Waterproof", "All-Weather"),
                features=("waterproof-breathable membrane",),
                extras=(
                    "rock plate",
                    "aggressive 5 mm lugs",
                    "cushioned EVA midsole",
                    "gusseted tongue",
                ),
                attrs={"waterproof": "yes"},
                materials=(
                    (
                        "engineered mesh",
                        "Upper: engineered mesh with a "
                        "waterproof-breathable bootie; midsole: EVA foam; outsole: sticky "
                        "rubber",
                    ),
                ),
            ),
        ),
        attrs={"drop": ("4 mm", "6 mm", "8 mm"), "width": ("medium", "medium", "wide")},
        materials=(
            (
                "engineered mesh",
                "Upper: engineered mesh with TPU overlays; midsole: EVA "
                "foam; outsole: sticky rubber",
            ),
        ),
        care=("Rinse off mud and let them air dry with the insoles out. Never machine dry.",),
        weight_g=(480, 680),
        uses=(
            "technical trail runs",
            "muddy races",
            "long training runs",
            "fastpacking trips",
            "gravel paths",
        ),
        attr_lines=("Heel-to-toe drop is {drop}.", "A pair weighs {weight}."),
    ),
    _Leaf(
        id="footwear-sandals",
        name="Sandals",
        dept="footwear",
        peak=175,
        amplitude=0.8,
        weekend=1.45,
        elasticity=-2.4,
        units=1.6,
        weight=3.0,
        short="sandals",
        axes="footwear",
        price=(20, 120),
        family="sandals",
        palette="footwear",
        genders=("men's", "women's"),
        brands=(
            "driftwood",
            "sol-and-sand",
            "wavecrest",
            "stridewell",
            "timberjack",
            "aisle-essentials",
        ),
        subtypes=(
            _Subtype(
                "Sport Sandal",
                ("Adjustable", "Quick-Dry", "Rugged"),
                features=("adjustable straps", "quick-dry webbing"),
                extras=("contoured footbed", "grippy rubber outsole", "toe bumper"),
                attrs={"quick-dry": "yes"},
                price=(45, 120),
            ),
            _Subtype(
                "Flip-Flop",
                ("Cushioned", "Classic"),
                features=("soft toe post",),
                extras=("arch support", "cushioned footbed", "grippy rubber outsole"),
                price=(20, 60),
                short="flip-flops",
            ),
            _Subtype(
                "Slide Sandal",
                ("Cushioned", "Recovery"),
                features=("molded footbed",),
                extras=("recovery foam", "grippy rubber outsole"),
                price=(20, 70),
                short="slides",
            ),
        ),
        materials=(
            (
                "polyester webbing",
                "Straps: recycled polyester webbing; footbed: EVA; outsole: rubber",
            ),
            ("EVA foam", "One-piece EVA foam footbed; outsole: rubber"),
        ),
        care=(
            "Rinse with fresh water after salt water or chlorine. Hand wash with mild soap and "
            "air dry out of direct sun.",
        ),
        weight_g=(250, 700),
        uses=(
            "beach days",
            "river crossings",
            "summer travel",
            "backyard barbecues",
            "post-hike recovery",
        ),
        attr_lines=("A pair weighs {weight}.",),
    ),
    _Leaf(
        id="footwear-winter-boots",
        name="Winter Boots",
        dept="footwear",
        peak=335,
        amplitude=0.8,
        weekend=1.4,
        elasticity=-1.6,
        units=1.0,
        weight=2.0,
        short="boots",
        axes="footwear",
        price=(70, 260),
        family="footwear",
        palette="footwear",
        genders=("men's", "women's"),
        brands=("northpeak", "timberjack", "granite-trail", "cascadia", "alpenglow", "basecamp"),
        subtypes=(
            _Subtype(
                "Winter Boot",
                ("Waterproof", "Insulated", "Warm"),
                features=("seam-sealed waterproof construction", "cold-grip rubber outsole"),
                extras=(
                    "removable felt liner",
                    "gaiter cuff",
                    "faux-fur collar",
                    "speed-lace hooks",
                ),
                attrs={
                    "waterproof": "yes",
                    "insulated": "yes",
                    "insulation": ("200 g synthetic", "400 g synthetic"),
                    "temperature rating": ("-20°F", "-25°F", "-40°F"),
                },
            ),
            _Subtype(
                "Duck Boot",
                ("Waterproof", "Classic"),
                features=("waterproof rubber shell",),
                extras=("fleece lining", "cold-grip rubber outsole", "leather upper"),
                attrs={"waterproof": "yes", "insulated": "no"},
                materials=(
                    (
                        "rubber and leather",
                        "Lower: vulcanized rubber shell; upper: full-grain leather; lining: fleece",
                    ),
                ),
            ),
            _Subtype(
                "Chelsea Winter Boot",
                ("Insulated", "Cozy"),
                features=("water-resistant suede",),
                extras=("elastic side gores", "fleece lining", "cold-grip rubber outsole"),
                attrs={
                    "waterproof": "no",
                    "insulated": "yes",
                    "insulation": "100 g synthetic",
                    "temperature rating": "0°F",
                },
                materials=(
                    ("suede", "Upper: water-resistant suede; lining: fleece; outsole: rubber"),
                ),
            ),
        ),
        materials=(
            (
                "leather and nylon",
                "Upper: waterproof leather and nylon; lining: "
                "synthetic insulation; outsole: rubber",
            ),
        ),
        care=(
            "Knock off snow and salt after wearing and wipe with a damp cloth. Dry at room "
            "temperature with the liners removed.",
        ),
        weight_g=(1100, 2000),
        uses=(
            "snowy commutes",
            "shoveling the driveway",
            "winter walks",
            "ice fishing",
            "holiday travel",
        ),
        attr_lines=("It is rated to {temperature_rating}.", "A pair weighs {weight}."),
    ),
    _Leaf(
        id="footwear-socks",
        name="Socks",
        dept="footwear",
        peak=320,
        amplitude=0.3,
        weekend=1.2,
        elasticity=-2.2,
        units=5.0,
        weight=3.0,
        short="socks",
        axes="socks",
        price=(8, 30),
        family="socks",
        palette="outdoor_apparel",
        brands=("woolridge", "aisle-essentials", "northpeak", "stridewell", "basecamp"),
        subtypes=(
            _Subtype(
                "Hiking Socks",
                ("Crew", "Trail", "Everyday"),
                features=("cushioned footbed",),
                extras=("seamless toe", "arch support band", "odor control"),
            ),
            _Subtype(
                "Running Socks",
                ("No-Show", "Quarter-Crew"),
                features=("seamless toe",),
                extras=("arch support band", "heel tab", "odor control"),
                attrs={"cushion": ("light", "medium")},
            ),
            _Subtype(
                "Ski Socks",
                ("Over-the-Calf", "Warm"),
                features=("shin padding",),
                extras=("seamless toe", "arch support band", "odor control"),
                attrs={"cushion": ("medium", "heavy")},
            ),
        ),
        attrs={"cushion": ("light", "medium", "heavy")},
        materials=(
            ("merino wool", "64% merino wool, 33% nylon, 3% spandex"),
            ("recycled nylon blend", "52% recycled nylon, 45% polyester, 3% spandex"),
            ("cotton blend", "70% cotton, 27% polyester, 3% spandex"),
        ),
        care=("Machine wash warm inside out; tumble dry low.",),
        uses=("long hikes", "everyday wear", "ski days", "trail runs", "travel days"),
        attr_lines=("Cushion level: {cushion}.",),
    ),
    # ---------------------------------------------------------------- Home & Kitchen
    _Leaf(
        id="home-water-bottles",
        name="Water Bottles",
        dept="home-kitchen",
        peak=190,
        amplitude=0.35,
        weekend=1.2,
        elasticity=-2.3,
        units=3.5,
        weight=4.0,
        short="bottle",
        axes="bottle",
        price=(10, 55),
        family="bottle",
        palette="drinkware",
        brands=("frostbox", "hydrafin", "chillwell", "kestrel", "basecamp", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Insulated Water Bottle",
                ("Leakproof", "Everyday"),
                features=("double-wall vacuum insulation", "leakproof lid"),
                extras=(
                    "powder-coated finish",
                    "wide mouth",
                    "dishwasher-safe",
                    "sweat-free exterior",
                    "straw lid",
                ),
                attrs={
                    "insulated": "yes",
                    "keeps cold": ("24 hours", "36 hours"),
                    "keeps hot": "12 hours",
                },
                weight_g=(300, 650),
                materials=(
                    ("stainless steel", "18/8 stainless steel body; BPA-free polypropylene lid"),
                ),
                price=(20, 55),
            ),
            _Subtype(
                "Sport Bottle",
                ("Lightweight", "Squeezable"),
                features=("squeezable body",),
                extras=("flip-top spout", "dishwasher-safe", "carry loop", "BPA-free"),
                attrs={"insulated": "no"},
                weight_g=(80, 180),
                materials=(("BPA-free copolyester", "BPA-free copolyester body; silicone spout"),),
                price=(10, 25),
            ),
            _Subtype(
                "Filter Water Bottle",
                ("Filtering", "Travel"),
                features=("built-in filter",),
                extras=("flip-top spout", "carry loop", "replaceable cartridge"),
                attrs={"insulated": "no", "filter life": ("40 gallons", "100 gallons")},
                weight_g=(150, 300),
                materials=(
                    ("BPA-free copolyester", "BPA-free copolyester body; activated carbon filter"),
                ),
                price=(25, 50),
            ),
        ),
        materials=(("stainless steel", "18/8 stainless steel"),),
        care=(
            "Hand wash the lid; the body is top-rack dishwasher-safe unless powder coated. Do "
            "not freeze or microwave.",
        ),
        weight_g=(150, 650),
        uses=("gym sessions", "day hikes", "office days", "school runs", "road trips"),
        attr_lines=(
            "It keeps drinks cold for up to {keeps_cold}.",
            "The filter is good for {filter_life}.",
            "It weighs {weight} empty.",
        ),
    ),
    _Leaf(
        id="home-travel-mugs",
        name="Travel Mugs & Tumblers",
        dept="home-kitchen",
        peak=345,
        amplitude=0.3,
        weekend=1.15,
        elasticity=-2.1,
        units=2.5,
        weight=3.0,
        short="mug",
        axes="mug",
        price=(12, 45),
        family="bottle",
        palette="drinkware",
        brands=(
            "frostbox",
            "hydrafin",
            "copper-kettle",
            "ember-and-oak",
            "chillwell",
            "aisle-essentials",
        ),
        subtypes=(
            _Subtype(
                "Travel Mug",
                ("Leakproof", "Insulated", "Commuter"),
                features=("double-wall vacuum insulation", "leakproof lid"),
                extras=(
                    "one-handed flip lid",
                    "fits most cup holders",
                    "ceramic-lined interior",
                    "dishwasher-safe",
                ),
                attrs={"insulated": "yes", "keeps hot": ("6 hours", "8 hours", "12 hours")},
            ),
            _Subtype(
                "Tumbler",
                ("Insulated", "Everyday"),
                features=("double-wall vacuum insulation", "splash-resistant slide lid"),
                extras=("straw lid", "carry handle", "fits most cup holders", "dishwasher-safe"),
                attrs={"insulated": "yes", "keeps hot": ("4 hours", "6 hours")},
                short="tumbler",
            ),
        ),
        materials=(("stainless steel", "18/8 stainless steel; BPA-free lid"),),
        care=(
            "Hand wash the lid and its gasket; the body is top-rack dishwasher-safe. Do not "
            "microwave.",
        ),
        weight_g=(250, 550),
        uses=(
            "morning commutes",
            "office days",
            "road trips",
            "campfire mornings",
            "school drop-offs",
        ),
        attr_lines=("It keeps coffee hot for up to {keeps_hot}.",),
    ),
    _Leaf(
        id="home-cookware",
        name="Cookware",
        dept="home-kitchen",
        peak=340,
        amplitude=0.3,
        weekend=1.3,
        elasticity=-1.6,
        units=0.8,
        weight=3.0,
        short="pan",
        axes="none",
        price=(20, 300),
        family="cookware",
        brands=(
            "ember-and-oak",
            "copper-kettle",
            "ironside",
            "aisle-essentials",
            "basecamp",
            "fjellvik",
        ),
        subtypes=(
            _Subtype(
                "Cast Iron Skillet",
                ("Pre-Seasoned", "Heavy-Duty", "Classic"),
                features=("pre-seasoned",),
                extras=("pour spouts", "helper handle", "induction compatible"),
                attrs={"oven-safe": "500°F"},
                materials=(("cast iron", "Cast iron, seasoned with vegetable oil"),),
                care=(
                    "Hand wash with hot water and a brush, dry immediately and rub with a thin "
                    "coat of oil. Not dishwasher safe.",
                ),
                axes="skillet",
                price=(20, 120),
                short="skillet",
                weight_g=(1800, 3600),
            ),
            _Subtype(
                "Frying Pan",
                ("Nonstick", "Everyday"),
                features=("PFOA-free nonstick coating", "stay-cool handle"),
                extras=("induction compatible", "dishwasher-safe", "flared sides"),
                attrs={"oven-safe": ("350°F", "400°F")},
                materials=(
                    (
                        "aluminum",
                        "Hard-anodized aluminum body; PFOA-free nonstick "
                        "coating; stainless steel handle",
                    ),
                ),
                care=(
                    "Hand wash with warm soapy water for the longest coating life. Use wooden "
                    "or silicone utensils and medium heat.",
                ),
                axes="skillet",
                price=(25, 140),
                weight_g=(700, 1400),
            ),
            _Subtype(
                "Saucepan",
                ("Tri-Ply", "Professional"),
                features=("tri-ply construction",),
                extras=(
                    "glass lid",
                    "measurement markings",
                    "induction compatible",
                    "stay-cool handle",
                ),
                attrs={"oven-safe": "500°F"},
                materials=(
                    (
                        "stainless steel",
                        "Tri-ply: 18/10 stainless steel interior, aluminum "
                        "core, magnetic stainless exterior",
                    ),
                ),
                care=(
                    "Dishwasher-safe; hand washing keeps the polish bright. Use a stainless "
                    "cleanser for heat tint.",
                ),
                axes="saucepan",
                price=(40, 160),
                weight_g=(1000, 2000),
            ),
            _Subtype(
                "Cookware Set",
                ("Stainless", "Everyday"),
                features=("induction compatible",),
                extras=("glass lids", "stay-cool handles", "dishwasher-safe"),
                attrs={"pieces": ("7-piece", "10-piece", "12-piece"), "oven-safe": "400°F"},
                materials=(
                    ("stainless steel", "18/10 stainless steel with encapsulated aluminum base"),
                ),
                care=("Dishwasher-safe. Avoid high heat on empty pans.",),
                price=(120, 300),
                short="set",
                weight_g=(5000, 9000),
            ),
            _Subtype(
                "Camp Cook Set",
                ("Nesting", "Ultralight"),
                features=("nesting design",),
                extras=("folding handles", "mesh storage bag", "strainer lid"),
                materials=(
                    (
                        "hard-anodized aluminum",
                        "Hard-anodized aluminum pots; BPA-free polypropylene bowls",
                    ),
                ),
                care=("Hand wash with warm soapy water and dry fully before packing.",),
                price=(25, 90),
                short="cook set",
                weight_g=(300, 900),
            ),
        ),
        materials=(("stainless steel", "Stainless steel"),),
        care=("Hand wash with warm soapy water.",),
        uses=(
            "weeknight dinners",
            "weekend brunches",
            "holiday cooking",
            "campfire meals",
            "batch cooking",
        ),
        attr_lines=("It is oven-safe up to {oven_safe}.", "It weighs {weight}."),
    ),
    _Leaf(
        id="home-coffee",
        name="Coffee & Tea",
        dept="home-kitchen",
        peak=15,
        amplitude=0.1,
        weekend=1.1,
        elasticity=-1.2,
        units=6.0,
        weight=3.0,
        short="coffee",
        axes="grind",
        price=(9, 38),
        family="coffee",
        brands=("highland-roasters", "daybreak", "ember-and-oak", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Light Roast Coffee",
                ("Bright", "Single-Origin"),
                features=("small-batch roasted",),
                extras=("roasted to order", "Fair Trade certified", "resealable valve bag"),
                attrs={
                    "roast": "light",
                    "origin": ("Ethiopia", "Kenya", "Colombia"),
                    "tasting notes": (
                        "citrus, jasmine and honey",
                        "berry, cocoa and lime",
                        "stone fruit and brown sugar",
                    ),
                },
            ),
            _Subtype(
                "Medium Roast Coffee",
                ("Smooth", "Balanced"),
                features=("small-batch roasted",),
                extras=("roasted to order", "Fair Trade certified", "resealable valve bag"),
                attrs={
                    "roast": "medium",
                    "origin": ("Colombia", "Guatemala", "Costa Rica", "Brazil"),
                    "tasting notes": (
                        "milk chocolate, caramel and almond",
                        "toffee, red apple and cocoa",
                    ),
                },
            ),
            _Subtype(
                "Dark Roast Coffee",
                ("Bold", "Smoky", "Rich"),
                features=("small-batch roasted",),
                extras=("roasted to order", "Fair Trade certified", "resealable valve bag"),
                attrs={
                    "roast": "dark",
                    "origin": ("Sumatra", "Brazil", "house blend"),
                    "tasting notes": (
                        "dark chocolate, cedar and molasses",
                        "bittersweet cocoa and toasted walnut",
                    ),
                },
            ),
            _Subtype(
                "Loose Leaf Tea",
                ("Organic", "Calming"),
                features=("whole-leaf tea",),
                extras=("resealable tin", "Fair Trade certified"),
                attrs={
                    "tea type": ("black", "green", "herbal"),
                    "organic": "yes",
                    "bag size": ("3 oz", "8 oz"),
                },
                materials=(
                    ("organic tea leaves", "Organic whole-leaf tea; no artificial flavors"),
                ),
                axes="tea",
                short="tea",
                family="tea",
            ),
        ),
        attrs={"bag size": ("12 oz", "12 oz", "2 lb")},
        materials=(("100% arabica coffee", "100% arabica coffee beans, roasted in small batches"),),
        care=(
            "Store in the resealable bag, away from light, heat and moisture. Best within 4 "
            "weeks of opening; do not refrigerate.",
        ),
        uses=(
            "slow weekend mornings",
            "early commutes",
            "camp breakfasts",
            "afternoon pick-me-ups",
            "office coffee breaks",
        ),
        attr_lines=(
            "Origin: {origin}; tasting notes: {tasting_notes}.",
            "Expect notes of {tasting_notes}.",
            "Each bag holds {bag_size}.",
        ),
        material_lines=("Every bag holds {material}.", "It is {material}, nothing else."),
    ),
    _Leaf(
        id="home-blankets",
        name="Throw Blankets",
        dept="home-kitchen",
        peak=350,
        amplitude=0.55,
        weekend=1.3,
        elasticity=-1.9,
        units=1.2,
        weight=2.0,
        short="blanket",
        axes="color",
        price=(25, 180),
        family="blanket",
        palette="home",
        brands=(
            "hearthloom",
            "ember-and-oak",
            "woolridge",
            "driftwood",
            "basecamp",
            "aisle-essentials",
        ),
        subtypes=(
            _Subtype(
                "Throw Blanket",
                ("Cozy", "Soft"),
                extras=("reversible design", "machine washable", "fringed edges"),
                attrs={"dimensions": ("50 x 60 in", "50 x 70 in")},
                materials=(
                    ("cotton knit", "100% cotton knit"),
                    ("sherpa fleece", "Face: polyester plush; back: sherpa fleece"),
                ),
            ),
            _Subtype(
                "Camp Blanket",
                ("Packable", "Puffy"),
                features=("water-resistant backing",),
                extras=("packs into stuff sack", "machine washable", "corner loops"),
                attrs={"dimensions": ("54 x 75 in", "60 x 80 in")},
                materials=(
                    (
                        "recycled ripstop nylon",
                        "Shell: recycled ripstop nylon with DWR finish; insulation: synthetic fill",
                    ),
                ),
            ),
            _Subtype(
                "Wool Blanket",
                ("Heritage", "Warm"),
                features=("naturally flame-resistant wool",),
                extras=("whipstitched edges", "dry clean or hand wash"),
                attrs={"dimensions": ("60 x 80 in", "66 x 90 in")},
                materials=(
                    ("merino wool", "100% merino wool"),
                    ("wool blend", "80% wool, 20% nylon"),
                ),
                care=("Hand wash cold with wool soap and lay flat to dry, or dry clean.",),
                price=(80, 180),
            ),
        ),
        materials=(("cotton knit", "100% cotton knit"),),
        care=("Machine wash cold on gentle and tumble dry low.",),
        weight_g=(900, 2200),
        uses=(
            "movie nights",
            "chilly evenings on the porch",
            "picnics",
            "camping trips",
            "reading on the couch",
        ),
        attr_lines=("It measures {dimensions}.",),
    ),
    # ---------------------------------------------------------------- Electronics
    _Leaf(
        id="electronics-headphones",
        name="Headphones",
        dept="electronics",
        peak=345,
        amplitude=0.45,
        weekend=1.35,
        elasticity=-2.2,
        units=1.4,
        weight=3.0,
        short="headphones",
        axes="color",
        price=(30, 350),
        family="headphones",
        palette="electronics",
        brands=("sonora-audio", "halcyon", "pulsewave", "voltbay"),
        subtypes=(
            _Subtype(
                "Wireless Over-Ear Headphones",
                ("Noise-Cancelling", "Studio", "Travel"),
                features=("active noise cancelling", "memory-foam ear cushions"),
                extras=(
                    "transparency mode",
                    "multipoint Bluetooth",
                    "fast charging",
                    "foldable design",
                ),
                attrs={"noise cancelling": "yes", "battery life": _Num(20, 60, 5, "{:.0f} hours")},
                materials=(
                    (
                        "aluminum and protein leather",
                        "Headband: aluminum with "
                        "protein-leather padding; ear cushions: memory foam; body: "
                        "polycarbonate",
                    ),
                ),
                price=(90, 350),
                weight_g=(220, 330),
            ),
            _Subtype(
                "Wireless Earbuds",
                ("Noise-Cancelling", "Premium"),
                features=("active noise cancelling", "charging case"),
                extras=(
                    "transparency mode",
                    "touch controls",
                    "fast charging",
                    "multipoint Bluetooth",
                    "sweat-resistant",
                ),
                attrs={"noise cancelling": "yes", "battery life": _Num(6, 10, 1, "{:.0f} hours")},
                price=(70, 280),
                weight_g=(45, 65),
                short="earbuds",
            ),
            _Subtype(
                "Sport Earbuds",
                ("Sweat-Resistant", "Secure-Fit"),
                features=("charging case", "sweat-resistant"),
                extras=("touch controls", "ear hooks", "fast charging"),
                attrs={"noise cancelling": "no", "battery life": _Num(5, 9, 1, "{:.0f} hours")},
                price=(30, 150),
                weight_g=(45, 70),
                short="earbuds",
            ),
            _Subtype(
                "On-Ear Headphones",
                ("Foldable", "Lightweight", "Wireless"),
                features=("foldable design",),
                extras=("multipoint Bluetooth", "fast charging", "built-in microphone"),
                attrs={"noise cancelling": "no", "battery life": _Num(25, 50, 5, "{:.0f} hours")},
                price=(30, 150),
                weight_g=(150, 230),
            ),
        ),
        attrs={"bluetooth": ("5.2", "5.3")},
        materials=(
            ("polycarbonate", "Housing: polycarbonate; ear tips: silicone (S/M/L included)"),
        ),
        care=(
            "Wipe with a dry, lint-free cloth. Keep away from moisture and extreme heat, and "
            "do not charge while wet.",
        ),
        uses=(
            "long flights",
            "daily commutes",
            "focused work sessions",
            "gym workouts",
            "late-night listening",
        ),
        attr_lines=(
            "Battery life is up to {battery_life}.",
            "It runs Bluetooth {bluetooth} and lasts up to {battery_life} per charge.",
        ),
    ),
    _Leaf(
        id="electronics-speakers",
        name="Bluetooth Speakers",
        dept="electronics",
        peak=340,
        amplitude=0.35,
        weekend=1.4,
        elasticity=-2.4,
        units=1.0,
        weight=2.0,
        short="speaker",
        axes="color",
        price=(25, 300),
        family="speaker",
        palette="electronics",
        brands=("sonora-audio", "halcyon", "pulsewave", "voltbay"),
        subtypes=(
            _Subtype(
                "Portable Speaker",
                ("Waterproof", "Rugged"),
                features=("IP67 waterproof and dustproof", "floats in water"),
                extras=(
                    "stereo pairing",
                    "built-in carabiner",
                    "USB-C charging",
                    "360-degree sound",
                ),
                attrs={"waterproof": "yes", "water rating": "IP67"},
                weight_g=(300, 900),
            ),
            _Subtype(
                "Bluetooth Speaker",
                ("Compact", "Room-Filling"),
                features=("360-degree sound",),
                extras=("stereo pairing", "USB-C charging", "built-in microphone"),
                attrs={"waterproof": "no", "water rating": "none"},
                weight_g=(500, 1500),
            ),
            _Subtype(
                "Party Speaker",
                ("Splash-Resistant", "High-Output"),
                features=("light show",),
                extras=("stereo pairing", "carry handle", "USB power-out"),
                attrs={"waterproof": "no", "water rating": "IPX4"},
                price=(120, 300),
                weight_g=(3000, 7000),
            ),
        ),
        attrs={"battery life": _Num(10, 30, 2, "{:.0f} hours")},
        materials=(
            (
                "fabric and rubber",
                "Grille: recycled polyester fabric; body: silicone rubber and ABS",
            ),
        ),
        care=(
            "Wipe clean with a damp cloth; rinse waterproof models in fresh water after salt "
            "or chlorine and let them dry before charging.",
        ),
        uses=(
            "beach days",
            "backyard parties",
            "camping trips",
            "kitchen playlists",
            "poolside afternoons",
        ),
        attr_lines=(
            "Battery life is up to {battery_life}.",
            "It is rated {water_rating} for water protection.",
        ),
    ),
    _Leaf(
        id="electronics-watches",
        name="GPS Watches & Trackers",
        dept="electronics",
        peak=355,
        amplitude=0.5,
        weekend=1.3,
        elasticity=-1.5,
        units=0.5,
        weight=2.0,
        short="watch",
        axes="watch",
        price=(50, 600),
        family="watch",
        palette="electronics",
        brands=("trailpulse", "cadence", "pulsewave", "voltbay"),
        subtypes=(
            _Subtype(
                "GPS Running Watch",
                ("Multisport", "Lightweight"),
                features=("built-in GPS", "wrist heart-rate sensor"),
                extras=(
                    "training load insights",
                    "contactless payments",
                    "sleep tracking",
                    "music storage",
                ),
                attrs={"battery life": _Num(7, 14, 1, "{:.0f} days")},
                price=(150, 450),
                weight_g=(38, 55),
            ),
            _Subtype(
                "Adventure Watch",
                ("Rugged", "Multisport"),
                features=("built-in GPS", "barometric altimeter", "topographic maps"),
                extras=(
                    "multi-band GNSS",
                    "sapphire lens",
                    "wrist heart-rate sensor",
                    "sleep tracking",
                ),
                attrs={"battery life": _Num(14, 28, 2, "{:.0f} days")},
                price=(300, 600),
                weight_g=(55, 85),
            ),
            _Subtype(
                "Adventure Watch",
                ("Solar",),
                features=("built-in GPS", "solar charging", "barometric altimeter"),
                extras=("topographic maps", "wrist heart-rate sensor", "sapphire lens"),
                attrs={"battery life": _Num(20, 40, 2, "{:.0f} days"), "solar charging": "yes"},
                price=(350, 600),
                weight_g=(55, 85),
            ),
            _Subtype(
                "Fitness Tracker",
                ("Slim", "Everyday"),
                features=("heart-rate tracking", "sleep tracking"),
                extras=("step counting", "smartphone notifications", "blood-oxygen sensor"),
                attrs={"battery life": _Num(5, 10, 1, "{:.0f} days")},
                axes="color",
                price=(50, 150),
                weight_g=(22, 32),
                short="tracker",
            ),
        ),
        attrs={"water resistance": ("5 ATM", "10 ATM")},
        materials=(
            (
                "fiber-reinforced polymer",
                "Case: fiber-reinforced polymer; band: "
                "silicone; lens: chemically strengthened glass",
            ),
        ),
        care=(
            "Rinse with fresh water after swimming or sweaty workouts and dry before charging. "
            "Clean the band with mild soap.",
        ),
        uses=(
            "marathon training",
            "trail runs",
            "open-water swims",
            "mountain adventures",
            "daily step goals",
        ),
        attr_lines=(
            "Battery life is up to {battery_life} in smartwatch mode.",
            "It is water-resistant to {water_resistance}.",
        ),
    ),
    _Leaf(
        id="electronics-power",
        name="Power Banks & Chargers",
        dept="electronics",
        peak=335,
        amplitude=0.3,
        weekend=1.2,
        elasticity=-2.7,
        units=1.8,
        weight=2.0,
        short="power bank",
        axes="color",
        price=(15, 150),
        family="power",
        palette="electronics",
        brands=("voltbay", "pulsewave", "lumenpeak", "kestrel", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Power Bank",
                ("Portable", "Slim", "Fast-Charging"),
                features=("USB-C Power Delivery",),
                extras=(
                    "two USB-A ports",
                    "LED charge indicator",
                    "pass-through charging",
                    "airline-friendly",
                ),
                attrs={
                    "capacity": ("10,000 mAh", "20,000 mAh", "26,800 mAh"),
                    "output": ("20 W", "30 W", "65 W"),
                },
                price=(15, 90),
                weight_g=(180, 550),
            ),
            _Subtype(
                "Solar Power Bank",
                ("Rugged", "Outdoor"),
                features=("integrated solar panel", "rugged rubberized shell"),
                extras=("built-in flashlight", "two USB-A ports", "carabiner loop"),
                attrs={"capacity": ("10,000 mAh", "20,000 mAh"), "output": "18 W"},
                price=(25, 80),
                weight_g=(280, 550),
            ),
            _Subtype(
                "Wall Charger",
                ("Compact", "Fast-Charging"),
                features=("GaN technology", "USB-C Power Delivery"),
                extras=("foldable prongs", "two USB-C ports"),
                attrs={"output": ("30 W", "65 W", "100 W")},
                price=(15, 70),
                weight_g=(60, 210),
                short="charger",
            ),
        ),
        materials=(
            ("aluminum", "Shell: aluminum alloy; cells: lithium-polymer"),
            ("polycarbonate", "Shell: flame-retardant polycarbonate; cells: lithium-ion"),
        ),
        care=(
            "Store at about 50% charge in a cool place and top up every 3 months. Do not "
            "expose to water or temperatures above 113°F.",
        ),
        uses=(
            "long travel days",
            "camping weekends",
            "power outages",
            "festival weekends",
            "daily commutes",
        ),
        attr_lines=("Capacity is {capacity}.", "Maximum output is {output}."),
    ),
    # ---------------------------------------------------------------- Fitness
    _Leaf(
        id="fitness-yoga-mats",
        name="Yoga Mats",
        dept="fitness",
        peak=10,
        amplitude=0.45,
        weekend=1.2,
        elasticity=-2.0,
        units=1.5,
        weight=2.0,
        short="mat",
        axes="mat",
        price=(18, 130),
        family="mat",
        palette="fitness",
        brands=("flowform", "solace-studio", "zenith-active", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Yoga Mat",
                ("Non-Slip", "Cushioned", "Grippy"),
                features=("non-slip texture",),
                extras=("alignment lines", "carry strap included", "closed-cell surface"),
                attrs={"dimensions": ("68 x 24 in", "72 x 26 in")},
            ),
            _Subtype(
                "Travel Yoga Mat",
                ("Foldable", "Lightweight"),
                features=("folds to fit a carry-on",),
                extras=("non-slip texture", "machine washable"),
                attrs={"dimensions": "68 x 24 in", "thickness": "1.5 mm"},
                axes="color",
                price=(25, 80),
            ),
        ),
        materials=(
            ("natural rubber", "Natural tree rubber base with polyurethane top layer; PVC-free"),
            ("TPE", "Dual-layer TPE foam; latex-free and PVC-free"),
            ("PVC", "Closed-cell PVC foam"),
        ),
        care=(
            "Wipe down after each practice with water and a drop of mild soap. Dry flat out of "
            "direct sunlight.",
        ),
        weight_g=(900, 2600),
        uses=(
            "home yoga practice",
            "hot yoga classes",
            "pilates sessions",
            "stretching routines",
            "travel workouts",
        ),
        attr_lines=("It measures {dimensions}.",),
    ),
    _Leaf(
        id="fitness-weights",
        name="Weights",
        dept="fitness",
        peak=8,
        amplitude=0.55,
        weekend=1.2,
        elasticity=-1.4,
        units=0.8,
        weight=2.0,
        short="weights",
        axes="none",
        price=(12, 450),
        family="weights",
        palette="fitness",
        brands=("ironclad-fitness", "ironside", "flowform", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Adjustable Dumbbell",
                ("Space-Saving", "Quick-Change"),
                features=("quick-change dial",),
                extras=("storage tray included", "compact footprint"),
                attrs={"weight range": ("5-25 lb", "5-52.5 lb", "10-90 lb")},
                materials=(("steel and ABS", "Plates: steel; housing: ABS plastic"),),
                price=(100, 450),
                short="dumbbell",
            ),
            _Subtype(
                "Hex Dumbbell Set",
                ("Rubber-Coated", "Classic"),
                features=("rubber-coated heads",),
                extras=("knurled chrome handles", "A-frame rack included"),
                attrs={"weight range": ("5-25 lb, 5 pairs", "10-30 lb, 3 pairs")},
                materials=(
                    (
                        "rubber-coated cast iron",
                        "Heads: cast iron with rubber coating; handles: chrome-plated steel",
                    ),
                ),
                price=(80, 400),
                short="dumbbells",
            ),
            _Subtype(
                "Adjustable Kettlebell",
                ("Space-Saving", "Quick-Change"),
                features=("quick-change dial",),
                extras=("flat base", "wide handle"),
                attrs={"weight range": ("12-40 lb", "8-32 lb")},
                materials=(("steel and ABS", "Plates: steel; shell: ABS plastic"),),
                price=(60, 200),
                short="kettlebell",
            ),
            _Subtype(
                "Neoprene Dumbbell Pair",
                ("Everyday", "Non-Slip"),
                features=("neoprene coating",),
                extras=("hexagonal anti-roll shape", "color-coded by weight"),
                attrs={"weight range": ("2 lb pair", "3 lb pair", "5 lb pair", "8 lb pair")},
                materials=(("neoprene-coated iron", "Cast iron core with neoprene coating"),),
                axes="color",
                price=(12, 40),
                short="dumbbells",
            ),
        ),
        materials=(("cast iron", "Cast iron"),),
        care=("Wipe with a dry cloth after use and store indoors to prevent rust.",),
        uses=(
            "home strength training",
            "garage gym sessions",
            "HIIT workouts",
            "small-space workouts",
            "rehab exercises",
        ),
        attr_lines=("Weight range: {weight_range}.",),
    ),
    _Leaf(
        id="fitness-bands",
        name="Resistance Bands",
        dept="fitness",
        peak=12,
        amplitude=0.5,
        weekend=1.15,
        elasticity=-2.5,
        units=2.0,
        weight=2.0,
        short="bands",
        axes="none",
        price=(8, 60),
        family="bands",
        palette="fitness",
        brands=("flowform", "ironclad-fitness", "zenith-active", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "Loop Resistance Band",
                ("Heavy-Duty", "Versatile"),
                features=("latex-free",),
                extras=("printed resistance level", "textured grip"),
                materials=(("TPE", "Latex-free TPE"),),
                axes="resistance",
                price=(8, 25),
                short="band",
            ),
            _Subtype(
                "Resistance Band Set",
                ("Complete", "Stackable"),
                features=("door anchor", "cushioned handles"),
                extras=("ankle straps", "carry bag included", "exercise guide"),
                attrs={"pieces": ("5-piece", "11-piece")},
                price=(20, 60),
                short="band set",
            ),
            _Subtype(
                "Fabric Hip Band",
                ("Non-Slip", "Stretch"),
                features=("non-slip inner grip",),
                extras=("carry bag included", "printed resistance level"),
                materials=(("fabric blend", "Polyester-cotton fabric with rubber inner grip"),),
                axes="resistance",
                price=(10, 35),
                short="band",
            ),
        ),
        materials=(
            ("natural latex", "100% natural latex tubing"),
            ("TPE", "TPE tubing; nylon-webbing handles"),
        ),
        care=("Wipe clean and store away from direct sunlight and sharp edges.",),
        uses=(
            "home workouts",
            "physical therapy exercises",
            "travel workouts",
            "warm-ups",
            "glute training",
        ),
        attr_lines=(),
    ),
    _Leaf(
        id="fitness-leggings",
        name="Leggings & Activewear",
        dept="fitness",
        peak=15,
        amplitude=0.3,
        weekend=1.3,
        elasticity=-2.1,
        units=2.5,
        weight=3.0,
        short="leggings",
        axes="apparel",
        price=(20, 110),
        family="apparel",
        palette="fitness",
        genders=("women's",),
        brands=("zenith-active", "solace-studio", "flowform", "alpenglow", "aisle-essentials"),
        subtypes=(
            _Subtype(
                "High-Rise Leggings",
                ("Sculpting", "Buttery-Soft", "Everyday"),
                features=("high-rise waistband", "four-way stretch"),
                extras=(
                    "hidden waistband pocket",
                    "side phone pockets",
                    "moisture-wicking",
                    "gusset for freedom of movement",
                ),
                attrs={"inseam": ("25 in", "28 in")},
            ),
            _Subtype(
                "Running Tights",
                ("Reflective", "Lightweight"),
                features=("reflective details", "moisture-wicking"),
                extras=("zippered back pocket", "side phone pockets", "flatlock seams"),
                attrs={"inseam": ("26 in", "28 in"), "quick-dry": "yes"},
                short="tights",
            ),
            _Subtype(
                "Training Shorts",
                ("Lightweight", "Quick-Dry"),
                features=("built-in liner", "quick-dry"),
                extras=("zippered back pocket", "reflective details", "drawcord waist"),
                attrs={"inseam": ("5 in", "7 in"), "quick-dry": "yes"},
                genders=("men's", "women's"),
                short="shorts",
            ),
        ),
        materials=(
            ("nylon-spandex", "75% recycled nylon, 25% spandex"),
            ("polyester-spandex", "80% recycled polyester, 20% spandex"),
        ),
        care=_APPAREL_CARE_SYNTH,
        weight_g=(150, 260),
        uses=("yoga classes", "long runs", "gym sessions", "weekend errands", "studio workouts"),
        attr_lines=("The inseam is {inseam}.", "The fit is {fit}."),
    ),
)

# --------------------------------------------------------------------------------------------
# Feature sentences (shared across categories; features without one go into a list sentence)
# --------------------------------------------------------------------------------------------

_FEATURE_LINES: dict[str, str] = {
    # shells, insulation, fleece
    "waterproof-breathable membrane": "A waterproof-breathable membrane keeps rain out while "
    "letting sweat vapor escape.",
    "fully taped seams": "Fully taped seams stop water from creeping in at the stitching.",
    "adjustable hood": "The adjustable hood cinches down in gusty weather without blocking "
    "your view.",
    "helmet-compatible hood": "The helmet-compatible hood fits over a climbing or ski helmet.",
    "pit zips": "Pit zips dump heat fast on steep climbs.",
    "packable into its own pocket": "It packs into its own pocket when the weather clears.",
    "two-way front zip": "A two-way front zip lets you vent from the bottom.",
    "water-resistant DWR finish": "A DWR finish beads off light showers and snow.",
    "four-way stretch": "Four-way stretch fabric moves with you on big steps and deep squats.",
    "wind-resistant": "The tightly woven face fabric blocks cold wind.",
    "brushed fleece backer": "A brushed fleece backer adds a little warmth against the skin.",
    "synthetic insulation": "Synthetic insulation keeps you warm even when it gets damp.",
    "700-fill down": "700-fill down delivers a lot of warmth for very little weight.",
    "baffled construction": "Sewn-through baffles keep the down evenly distributed.",
    "insulated hood": "An insulated hood traps heat when the temperature drops.",
    "removable hood": "The hood zips off when you don't need it.",
    "fleece-lined hand pockets": "Fleece-lined hand pockets warm up cold fingers.",
    "thumb loops": "Thumb loops keep the sleeves in place under gloves.",
    "anti-pill finish": "An anti-pill finish keeps the fleece looking new wash after wash.",
    "grid fleece for breathability": "Grid fleece channels moisture away and breathes well "
    "when you work hard.",
    "high-pile sherpa fleece": "High-pile sherpa fleece traps warm air like a cozy blanket.",
    # shirts, base layers, swim, leggings
    "moisture-wicking": "The fabric wicks sweat away from your skin so you stay comfortable.",
    "quick-dry": "It dries quickly after a swim or a sweaty climb.",
    "UPF 30 sun protection": "UPF 30 fabric blocks most UV rays on sunny days.",
    "UPF 50 sun protection": "UPF 50 fabric blocks 98% of UV rays.",
    "flatlock seams": "Flatlock seams lie flat under pack straps and prevent chafing.",
    "odor control": "An odor-control treatment keeps it fresh between washes.",
    "naturally odor-resistant": "Merino wool naturally resists odor, so you can wear it for "
    "days between washes.",
    "temperature regulating": "Merino fibers help regulate temperature in both heat and cold.",
    "soft-washed": "A soft-wash finish makes it feel broken in from day one.",
    "tagless neck": "A printed, tagless neck means no itchy labels.",
    "screen-printed graphic": "The graphic is screen-printed with soft water-based inks.",
    "chlorine-resistant fabric": "Chlorine-resistant fabric keeps its color and shape through "
    "a season of laps.",
    "mesh liner": "A mesh liner adds support without bunching.",
    "high-rise waistband": "A high-rise waistband stays put through every pose and sprint.",
    "hidden waistband pocket": "A hidden waistband pocket holds a key or card.",
    "side phone pockets": "Side pockets hold a phone without bouncing.",
    "reflective details": "Reflective details add visibility in low light.",
    "built-in liner": "A built-in liner means no extra layer underneath.",
    # pants
    "zippered thigh pocket": "A zippered thigh pocket keeps your phone secure.",
    "articulated knees": "Articulated knees make high steps easier.",
    "gusseted crotch": "A gusseted crotch adds freedom of movement.",
    "zip-off legs": "The legs zip off to turn them into shorts when the afternoon heats up.",
    "full-length side zips": "Full-length side zips let you pull them on over boots.",
    # footwear
    "lugged rubber outsole": "A lugged rubber outsole grips loose dirt, mud and wet rock.",
    "gusseted tongue": "A gusseted tongue keeps out grit and pebbles.",
    "rubber toe cap": "A rubber toe cap protects against rocks and roots.",
    "EVA midsole": "The cushioned EVA midsole softens every step.",
    "TPU shank": "A TPU shank adds stability under a heavy pack.",
    "rock plate": "A flexible rock plate shields your feet from sharp stones.",
    "aggressive 5 mm lugs": "Aggressive 5 mm lugs bite into mud and loose ground.",
    "breathable mesh upper": "A breathable mesh upper keeps feet cool on warm days.",
    "removable felt liner": "A removable felt liner lets you dry the boots overnight.",
    "cold-grip rubber outsole": "The cold-grip rubber outsole stays flexible and grippy on "
    "icy sidewalks.",
    "seam-sealed waterproof construction": "Seam-sealed waterproof construction keeps slush "
    "and snowmelt out.",
    "waterproof rubber shell": "A waterproof rubber shell wraps the foot, with a leather "
    "upper above.",
    "water-resistant suede": "Treated suede shrugs off light snow and puddle splashes.",
    "adjustable straps": "Adjustable straps dial in a secure fit.",
    "quick-dry webbing": "Quick-dry webbing straps shed water fast.",
    "contoured footbed": "A contoured footbed supports your arch all day.",
    "soft toe post": "A soft toe post prevents rubbing between the toes.",
    "molded footbed": "A molded footbed cradles the heel and arch.",
    # socks
    "cushioned footbed": "Cushioning under the heel and forefoot absorbs impact on long descents.",
    "seamless toe": "A seamless toe prevents rubbing and hot spots.",
    "arch support band": "An arch support band keeps the sock from sliding.",
    "shin padding": "Padding along the shin protects against ski boot pressure.",
    # tents, bags, packs
    "full-coverage rainfly": "A full-coverage rainfly sheds wind-driven rain.",
    "taped seams": "Factory-taped seams keep water out at the stitching.",
    "ultralight": "It is light enough to carry for days without noticing it.",
    "two doors and two vestibules": "Two doors and two vestibules mean nobody climbs over a "
    "tentmate at 3 a.m.",
    "color-coded poles": "Color-coded poles and clips make pitching quick, even in the dark.",
    "room divider": "A removable room divider gives everyone their own space.",
    "near-vertical walls": "Near-vertical walls let adults sit up and move around comfortably.",
    "snow-load pole geometry": "Crossing poles handle heavy snow loads and strong gusts.",
    "pitches with trekking poles": "It pitches with your trekking poles, saving weight.",
    "sets up in 60 seconds": "The pre-attached frame pops up in about 60 seconds.",
    "water-resistant coated fly": "A coated fly handles light showers; it is not built for "
    "all-night storms.",
    "draft collar": "An insulated draft collar seals warmth in around your shoulders.",
    "contoured hood": "A contoured hood cinches around your face on cold nights.",
    "water-resistant down": "Treated down resists moisture and dries faster than untreated fill.",
    "insulates when damp": "The synthetic fill keeps insulating even when damp.",
    "zips together with a second bag": "It zips together with a second bag for couples.",
    "rectangular cut with room to move": "A rectangular cut gives you room to move and sleep "
    "on your side.",
    "hydration sleeve": "An internal hydration sleeve holds up to a 3 L reservoir.",
    "padded laptop sleeve": "A padded sleeve protects a laptop up to 15 inches.",
    "ventilated back panel": "A ventilated back panel reduces sweat on hot days.",
    "hip belt pockets": "Hip belt pockets keep snacks and a phone within reach.",
    "rain cover included": "A stowable rain cover is included for stormy days.",
    "adjustable torso length": "The adjustable torso lets you fine-tune the fit.",
    "load lifters": "Load lifters pull heavy loads close to your back.",
    "padded hip belt": "A padded hip belt moves the weight onto your hips.",
    "sleeping bag compartment": "A separate sleeping bag compartment keeps your sleep kit "
    "organized.",
    "roll-top closure": "A roll-top closure seals out water.",
    "welded seams": "Welded seams keep water out, even in a downpour.",
    "clamshell opening": "A clamshell opening unzips fully, like a suitcase.",
    "lockable zippers": "Lockable zippers add security on travel days.",
    # coolers, lights, chairs
    "rotomolded body": "A rotomolded body shrugs off drops and rough handling.",
    "freezer-grade gasket": "A freezer-grade gasket seals in the cold.",
    "leakproof zipper": "A leakproof zipper keeps melted ice inside the bag.",
    "closed-cell foam insulation": "Closed-cell foam insulation keeps drinks cold through a "
    "long afternoon.",
    "all-terrain wheels": "All-terrain wheels roll over sand, gravel and grass.",
    "telescoping handle": "A telescoping handle makes it easy to tow.",
    "drain plug": "A drain plug makes emptying meltwater easy.",
    "red night-vision mode": "A red light mode preserves your night vision.",
    "sealed battery compartment": "A sealed battery compartment keeps water out.",
    "lock-out mode": "A lock-out mode stops it switching on in your pack.",
    "reactive lighting": "Reactive lighting adjusts brightness to what you are looking at.",
    "dimmable output": "Output dims smoothly from reading light to full campsite flood.",
    "USB power-out": "A USB port can top up a phone in a pinch.",
    "cup holder": "A built-in cup holder keeps your drink upright.",
    "packs to water-bottle size": "It packs down to roughly the size of a water bottle.",
    "rocking base": "A rocking base turns campfire time into porch time.",
    # drinkware
    "double-wall vacuum insulation": "Double-wall vacuum insulation keeps drinks cold or hot "
    "for hours.",
    "leakproof lid": "A leakproof lid means you can toss it in a bag.",
    "splash-resistant slide lid": "A slide lid resists splashes but is not meant to ride "
    "sideways in a bag.",
    "wide mouth": "A wide mouth fits ice cubes and is easy to clean.",
    "dishwasher-safe": "It is dishwasher-safe for easy cleanup.",
    "one-handed flip lid": "A one-handed flip lid opens without fuss on the go.",
    "fits most cup holders": "The tapered base fits most car cup holders.",
    "ceramic-lined interior": "A ceramic-lined interior keeps coffee tasting clean.",
    "straw lid": "A straw lid makes sipping easy.",
    "built-in filter": "A built-in carbon filter reduces chlorine taste from tap water.",
    "squeezable body": "The squeezable body gives you a fast drink on the move.",
    # cookware, coffee, blankets
    "pre-seasoned": "It arrives pre-seasoned with vegetable oil, ready to cook.",
    "induction compatible": "It works on all cooktops, including induction.",
    "PFOA-free nonstick coating": "A PFOA-free nonstick coating releases eggs and fish easily.",
    "stay-cool handle": "A stay-cool handle stays comfortable on the stovetop.",
    "tri-ply construction": "Tri-ply construction spreads heat evenly across the base and sides.",
    "nesting design": "The pieces nest together to save space in your pack or pantry.",
    "small-batch roasted": "Each batch is roasted in small lots for consistency.",
    "roasted to order": "Beans are roasted to order and ship within days.",
    "Fair Trade certified": "It is Fair Trade certified.",
    "resealable valve bag": "A one-way valve bag keeps the beans fresh after opening.",
    "whole-leaf tea": "Whole leaves unfurl fully for a rounder cup.",
    "machine washable": "It is machine washable.",
    "reversible design": "A reversible design gives you two looks in one.",
    "water-resistant backing": "A water-resistant backing keeps damp ground from soaking through.",
    "naturally flame-resistant wool": "Wool is naturally flame-resistant, handy near a campfire.",
    # electronics
    "active noise cancelling": "Active noise cancelling quiets engine drone and office chatter.",
    "transparency mode": "Transparency mode lets you hear announcements without taking them off.",
    "multipoint Bluetooth": "Multipoint Bluetooth connects to your phone and laptop at once.",
    "fast charging": "A 10-minute charge adds hours of playback.",
    "foldable design": "A foldable design packs flat into the included case.",
    "memory-foam ear cushions": "Memory-foam ear cushions stay comfortable for hours.",
    "touch controls": "Touch controls handle calls, tracks and volume.",
    "charging case": "The charging case adds extra battery life on the go.",
    "sweat-resistant": "An IPX4 sweat-resistant build handles hard workouts.",
    "IP67 waterproof and dustproof": "It is IP67 waterproof and dustproof, so sand and "
    "splashes are no problem.",
    "floats in water": "It floats, so a dunk in the lake is no problem.",
    "stereo pairing": "Pair two speakers for stereo sound.",
    "360-degree sound": "360-degree sound fills the space around you.",
    "light show": "A built-in light show pulses to the beat.",
    "built-in GPS": "Built-in GPS tracks pace and distance without your phone.",
    "wrist heart-rate sensor": "A wrist heart-rate sensor tracks effort around the clock.",
    "heart-rate tracking": "All-day heart-rate tracking shows trends over weeks.",
    "barometric altimeter": "A barometric altimeter tracks elevation gain.",
    "solar charging": "Solar charging stretches battery life on sunny days.",
    "topographic maps": "Preloaded topographic maps help you navigate off trail.",
    "sleep tracking": "Sleep tracking scores your night and suggests recovery time.",
    "USB-C Power Delivery": "USB-C Power Delivery fast-charges phones, tablets and some laptops.",
    "pass-through charging": "Pass-through charging tops up your phone and the power bank "
    "together.",
    "airline-friendly": "It is under the 100 Wh airline carry-on limit.",
    "integrated solar panel": "An integrated solar panel trickle-charges it in the sun.",
    "rugged rubberized shell": "A rugged rubberized shell survives drops on rock.",
    "GaN technology": "GaN technology keeps it small for its power.",
    # fitness
    "non-slip texture": "A non-slip texture keeps hands and feet planted.",
    "alignment lines": "Alignment lines help you place hands and feet consistently.",
    "folds to fit a carry-on": "It folds small enough to fit a carry-on.",
    "quick-change dial": "A quick-change dial switches weight in seconds.",
    "rubber-coated heads": "Rubber-coated hex heads protect floors and stay put.",
    "neoprene coating": "A neoprene coating gives a comfortable, sweat-proof grip.",
    "door anchor": "A door anchor turns any doorway into a cable station.",
    "cushioned handles": "Cushioned handles keep your grip comfortable.",
    "latex-free": "It is latex-free, so it suits sensitive skin.",
    "non-slip inner grip": "A rubber inner grip keeps it from rolling up mid-set.",
}

# --------------------------------------------------------------------------------------------
# Variant axes
# --------------------------------------------------------------------------------------------

APPAREL_SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL", "XXL")
_APPAREL_SIZE_W = (0.06, 0.16, 0.28, 0.26, 0.16, 0.08)

# Body measurements in inches; the store's own chart, also quoted by the sizing FAQ policy.
APPAREL_SIZE_CHART: dict[str, dict[str, dict[str, str]]] = {
    "men's": {
        "XS": {"chest": "32-34", "waist": "26-28"},
        "S": {"chest": "35-37", "waist": "29-31"},
        "M": {"chest": "38-40", "waist": "32-34"},
        "L": {"chest": "41-43", "waist": "35-37"},
        "XL": {"chest": "44-46", "waist": "38-40"},
        "XXL": {"chest": "47-50", "waist": "41-44"},
    },
    "women's": {
        "XS": {"bust": "31-32", "waist": "24-25", "hip": "34-35"},
        "S": {"bust": "33-34", "waist": "26-27", "hip": "36-37"},
        "M": {"bust": "35-36", "waist": "28-29", "hip": "38-39"},
        "L": {"bust": "37-39", "waist": "30-32", "hip": "40-42"},
        "XL": {"bust": "40-42", "waist": "33-35", "hip": "43-45"},
        "XXL": {"bust": "43-45", "waist": "36-38", "hip": "46-48"},
    },
}

SOCK_SIZE_CHART: dict[str, str] = {
    "S": "men's shoe 4-6.5 / women's 5.5-8",
    "M": "men's shoe 7-9.5 / women's 8.5-11",
    "L": "men's shoe 10-12.5 / women's 11.5-14",
    "XL": "men's shoe 13-15",
}
_SOCK_SIZE_W = (0.15, 0.35, 0.35, 0.15)

PACK_SIZE_CHART: dict[str, str] = {"S/M": "15-18 in", "M/L": "18-21 in"}
SLEEPING_BAG_LENGTHS: dict[str, str] = {
    "Regular": "fits people up to 6 ft (183 cm)",
    "Long": "fits people up to 6 ft 6 in (198 cm)",
}

_COLOR_CODES: dict[str, str] = {
    "black": "BLK",
    "navy": "NVY",
    "forest green": "FGR",
    "slate blue": "SLB",
    "rust": "RST",
    "graphite": "GRP",
    "olive": "OLV",
    "burgundy": "BUR",
    "sand": "SND",
    "sky blue": "SKY",
    "red": "RED",
    "white": "WHT",
    "heather gray": "HGY",
    "sage": "SAG",
    "brick red": "BRK",
    "oatmeal": "OAT",
    "brown": "BRN",
    "gray": "GRY",
    "tan": "TAN",
    "stainless": "SST",
    "matte black": "MBK",
    "coral": "CRL",
    "lagoon blue": "LGN",
    "silver": "SLV",
    "midnight blue": "MNB",
    "plum": "PLM",
    "ocean blue": "OCN",
    "charcoal": "CHR",
    "lavender": "LAV",
    "orange": "ORG",
    "green": "GRN",
    "blue": "BLU",
    "yellow": "YEL",
    "cream": "CRM",
    "teal": "TEL",
}

# Palettes are ordered by popularity: the first colours sell best.
_PALETTES: dict[str, tuple[str, ...]] = {
    "outdoor_apparel": (
        "black",
        "navy",
        "forest green",
        "graphite",
        "slate blue",
        "olive",
        "rust",
        "burgundy",
        "sand",
        "sky blue",
        "red",
    ),
    "casual": (
        "black",
        "white",
        "heather gray",
        "navy",
        "sage",
        "oatmeal",
        "brick red",
        "olive",
        "sky blue",
    ),
    "footwear": ("black", "brown", "gray", "olive", "navy", "sand", "tan", "slate blue"),
    "swim": ("navy", "black", "coral", "teal", "sky blue", "red", "plum", "sand"),
    "gear": ("green", "gray", "orange", "blue", "black", "tan", "red", "yellow"),
    "drinkware": (
        "matte black",
        "stainless",
        "white",
        "sage",
        "navy",
        "coral",
        "lagoon blue",
        "lavender",
    ),
    "home": ("oatmeal", "charcoal", "sage", "cream", "navy", "rust", "heather gray"),
    "electronics": ("black", "white", "silver", "midnight blue", "sage", "sand"),
    "fitness": ("black", "plum", "sage", "ocean blue", "charcoal", "lavender", "coral", "teal"),
}

# (axis name, values, popularity weights) for the single-axis-plus-colour kinds.
_SIMPLE_AXES: dict[str, tuple[str, tuple[str, ...], tuple[float, ...], int]] = {
    # kind: (option name, values, weights, max colours)
    "tent_bp": ("capacity", ("1P", "2P", "3P"), (0.25, 0.5, 0.25), 1),
    "tent_family": ("capacity", ("4P", "6P", "8P"), (0.45, 0.4, 0.15), 1),
    "tent_4s": ("capacity", ("2P", "3P"), (0.6, 0.4), 1),
    "tent_popup": ("capacity", ("2P", "4P"), (0.55, 0.45), 1),
    "bottle": ("capacity", ("18 oz", "24 oz", "32 oz", "40 oz"), (0.2, 0.3, 0.35, 0.15), 3),
    "mug": ("capacity", ("12 oz", "16 oz", "20 oz", "30 oz"), (0.2, 0.35, 0.3, 0.15), 3),
    "cooler_hard": ("capacity", ("20 qt", "35 qt", "45 qt", "65 qt"), (0.2, 0.3, 0.3, 0.2), 3),
    "cooler_soft": ("capacity", ("12-can", "24-can", "30-can"), (0.35, 0.45, 0.2), 3),
    "cooler_wheeled": ("capacity", ("50 qt", "60 qt"), (0.6, 0.4), 2),
    "skillet": ("size", ("8 in", "10 in", "12 in"), (0.25, 0.4, 0.35), 0),
    "saucepan": ("size", ("1.5 qt", "2 qt", "3 qt"), (0.3, 0.4, 0.3), 0),
    "grind": ("grind", ("whole bean", "drip grind", "espresso grind"), (0.5, 0.35, 0.15), 0),
    "tea": ("format", ("loose leaf", "pyramid sachets"), (0.55, 0.45), 0),
    "watch": ("case size", ("42 mm", "46 mm", "51 mm"), (0.35, 0.45, 0.2), 3),
    "mat": ("thickness", ("4 mm", "6 mm"), (0.55, 0.45), 3),
    "resistance": (
        "resistance",
        ("light", "medium", "heavy", "x-heavy"),
        (0.25, 0.35, 0.28, 0.12),
        0,
    ),
    "pack": ("size", ("S/M", "M/L"), (0.45, 0.55), 3),
    "sleepingbag": ("length", ("Regular", "Long"), (0.72, 0.28), 2),
}

_CODE_OVERRIDES: dict[str, str] = {
    "whole bean": "WB",
    "drip grind": "DRP",
    "espresso grind": "ESP",
    "loose leaf": "LL",
    "pyramid sachets": "SAC",
    "Regular": "REG",
    "Long": "LNG",
    "light": "LT",
    "medium": "MD",
    "heavy": "HV",
    "x-heavy": "XHV",
}

# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_MODEL_HEADS = (
    "Storm",
    "Summit",
    "Alpine",
    "Trail",
    "Cascade",
    "Granite",
    "Aspen",
    "Cedar",
    "Glacier",
    "Canyon",
    "Mesa",
    "Tundra",
    "Boulder",
    "Harbor",
    "Falcon",
    "Raven",
    "Horizon",
    "Meridian",
    "Vista",
    "Switch",
    "Talus",
    "Scree",
    "Cirrus",
    "Nimbus",
    "Zephyr",
    "Solstice",
    "Equinox",
    "Polar",
    "Cobalt",
    "Basalt",
    "Juniper",
    "Sierra",
    "Timber",
    "Cinder",
    "Drift",
    "Flint",
    "Frost",
    "Gale",
    "Hollow",
    "Lark",
    "Maple",
    "Onyx",
    "Pine",
    "Quarry",
    "River",
    "Sage",
    "Sky",
    "Stone",
    "Terra",
    "Vale",
    "Willow",
    "Wren",
    "Yarrow",
    "Arrow",
    "Birch",
    "Moss",
    "Ember",
    "Dune",
    "Fjord",
    "Kelp",
)
_MODEL_TAILS = (
    "line",
    "crest",
    "peak",
    "fall",
    "run",
    "shell",
    "light",
    "wing",
    "field",
    "wood",
    "point",
    "pass",
    "haven",
    "side",
    "ford",
    "mark",
    "wind",
    "brook",
    "loft",
    "path",
    "top",
    "way",
    "shade",
    "glow",
    "craft",
    "land",
    "view",
    "ridge",
    "fire",
    "bound",
)
_TECH_HEADS = (
    "Aura",
    "Nova",
    "Flux",
    "Echo",
    "Arc",
    "Halo",
    "Orbit",
    "Vibe",
    "Sonic",
    "Apex",
    "Strata",
    "Vector",
    "Prism",
    "Nomad",
    "Quest",
    "Atlas",
    "Pulse",
    "Zen",
    "Lumen",
    "Kite",
)
_TECH_TAILS = ("2", "3", "4", "5", "7", "9", "X", "S", "Mini", "Max", "Pro", "Go", "Plus", "SE")
_GENERATIONS = ("II", "III", "IV", "Pro", "Lite", "2.0", "X", "Plus", "V", "Elite")
_BRAND_WORDS = frozenset(
    w.lower() for _id, name, _tier, _code in _BRANDS for w in name.replace("&", " ").split()
)

# --------------------------------------------------------------------------------------------
# Description templates
# --------------------------------------------------------------------------------------------

_OPENERS = (
    "The {brand} {model} is {a_adj} {noun} built for {use1} and {use2}.",
    "Made for {use1}, the {model} is {a_adj} {noun} from {brand}.",
    "Meet the {model}: {a_adj} {noun} from {brand}, designed for {use1}.",
    "If your plans include {use1}, the {brand} {model} {noun} {belongs} on your list.",
    "From {use1} to {use2}, the {model} {noun} {has} you covered.",
    "{brand} designed the {model} for {use1}, and it shows.",
    "Looking for {a_adj} {noun} for {use1}? The {brand} {model} is a strong pick.",
)
_MATERIAL_LINES = (
    "It is made from {material}.",
    "Built from {material}, it {tier_build}.",
    "{brand} uses {material} here, so it {tier_build}.",
    "The {material} construction {tier_build}.",
)
_TIER_BUILD = {
    "value": ("keeps the price friendly", "covers the basics well"),
    "core": ("is made for everyday use", "holds up to regular use"),
    "premium": ("is finished to a high standard", "is built to last for years"),
}
_LIST_LINES = ("Key features include {list}.", "Highlights: {list}.", "Also on board: {list}.")
_CLOSERS = {
    "value": ("A budget-friendly choice for {use2}.", "Good value for {use2}."),
    "core": ("A dependable pick for {use2}.", "An easy choice for {use2}."),
    "premium": ("A premium choice for {use2}.", "Top-shelf quality for {use2}."),
}
_GENERIC_ATTR_LINES = ("It weighs {weight}.",)

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


@lru_cache(maxsize=4096)
def _fields(template: str) -> frozenset[str]:
    return frozenset(f for _lit, f, _spec, _conv in _FORMATTER.parse(template) if f)


def _key(name: str) -> str:
    return name.replace(" ", "_").replace("-", "_")


def _fits(template: str, ctx: dict[str, str]) -> bool:
    return _fields(template) <= ctx.keys()


def _lower_words(text: str) -> str:
    # Keep acronyms ("GPS", "UPF") as they are; lower-case ordinary words.
    return " ".join(w if (len(w) > 1 and w.isupper()) else w.lower() for w in text.split())


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _charm(x: float) -> float:
    """Round a price to a .99 ending (or .49 under $10), the way shelf prices look."""
    if x < 10:
        return round(max(1.0, math.floor(x * 2 + 0.5) / 2) - 0.01, 2)
    return round(max(1.0, math.floor(x + 0.5)) - 0.01, 2)


def _fmt_weight(grams: float) -> str:
    if grams < 1000:
        return f"{grams:.0f} g ({grams / 28.35:.1f} oz)"
    return f"{grams / 1000:.1f} kg ({grams / 453.6:.1f} lb)"


def _draw_attr(src: _AttrSource, d: _Draws) -> str:
    if isinstance(src, str):
        return src
    if isinstance(src, tuple):
        return d.pick(src)
    n = int(round((src.hi - src.lo) / src.step))
    return src.fmt.format(src.lo + src.step * d.randint(0, n))


def _option_code(value: str) -> str:
    if value in _COLOR_CODES:
        return _COLOR_CODES[value]
    if value in _CODE_OVERRIDES:
        return _CODE_OVERRIDES[value]
    try:
        return f"{int(round(float(value) * 10)):03d}"  # shoe sizes: 9.5 -> "095"
    except ValueError:
        return "".join(ch for ch in value.upper() if ch.isalnum())


def _weighted_colors(d: _Draws, palette: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """k distinct colours, favouring the palette's best sellers; returns (colour, weight)."""
    pool = [(c, 1.0 / (i + 1) ** 0.8) for i, c in enumerate(palette)]
    chosen: list[tuple[str, float]] = []
    for _ in range(min(k, len(pool))):
        i = bisect_right(list(accumulate(w for _c, w in pool)), d.u() * sum(w for _c, w in pool))
        chosen.append(pool.pop(min(i, len(pool) - 1)))
    return chosen


def _contiguous_run(d: _Draws, n_values: int, max_len: int) -> tuple[int, int]:
    length = d.randint(1, min(max_len, n_values))
    start = d.randint(0, n_values - length)
    return start, start + length


def _n_colors(d: _Draws, max_colors: int) -> int:
    if max_colors <= 1:
        return max_colors
    return d.pick_weighted(range(1, max_colors + 1), (0.45, 0.37, 0.18, 0.1)[:max_colors])


# (options, share weight, price step)
_Option = tuple[dict[str, str], float, float]


def _variant_options(kind: str, palette: tuple[str, ...], gender: str, d: _Draws) -> list[_Option]:
    if kind == "none":
        return [({}, 1.0, 0.0)]
    if kind == "color":
        colors = _weighted_colors(d, palette, d.pick_weighted((1, 2, 3, 4), (0.3, 0.35, 0.25, 0.1)))
        return [({"color": c}, w, 0.0) for c, w in colors]
    if kind == "apparel":
        k = _n_colors(d, 3)
        lo = 0 if d.chance(0.4) else 1
        hi = 6 if d.chance(0.55) else 5
        while k * (hi - lo) > 15:
            k -= 1
        colors = _weighted_colors(d, palette, k)
        return [
            ({"color": c, "size": APPAREL_SIZES[s]}, cw * _APPAREL_SIZE_W[s], 0.0)
            for c, cw in colors
            for s in range(lo, hi)
        ]
    if kind == "footwear":
        low, top, mean = (6.0, 11.0, 8.0) if gender == "women's" else (7.0, 13.0, 10.0)
        half = d.chance(0.45)
        shoe = [low + 0.5 * i for i in range(int((top - low) * 2) + 1)]
        if half:
            shoe = [s for s in shoe if s <= top - 1 or s == top]  # no half size above the top
        else:
            shoe = [s for s in shoe if s == int(s)]
        k = 1 if half else _n_colors(d, 2)
        colors = _weighted_colors(d, palette, k)
        out: list[_Option] = []
        for c, cw in colors:
            for s in shoe:
                label = f"{s:g}"
                w = math.exp(-0.5 * ((s - mean) / 1.6) ** 2)
                out.append(({"color": c, "size": label}, cw * w, 0.0))
        return out
    if kind == "socks":
        colors = _weighted_colors(d, palette, _n_colors(d, 3))
        return [
            ({"color": c, "size": s}, cw * _SOCK_SIZE_W[i], 0.0)
            for c, cw in colors
            for i, s in enumerate(SOCK_SIZE_CHART)
        ]
    name, values, weights, max_colors = _SIMPLE_AXES[kind]
    if kind == "sleepingbag" and d.chance(0.3):
        start, stop = 0, 1  # regular only
    elif kind == "pack":
        start, stop = 0, 2  # both torso sizes, always
    else:
        start, stop = _contiguous_run(d, len(values), 3)
    n_vals = len(values)
    steps = [(-0.07 + 0.14 * i / (n_vals - 1)) if n_vals > 1 else 0.0 for i in range(n_vals)]
    if kind == "pack":
        steps = [0.0] * n_vals
    k = _n_colors(d, max_colors) if max_colors else 0
    while k > 1 and k * (stop - start) > 15:
        k -= 1
    colors = _weighted_colors(d, palette, k) if k else [("", 1.0)]
    out = []
    for c, cw in colors:
        for i in range(start, stop):
            opts = {"color": c, name: values[i]} if c else {name: values[i]}
            out.append((opts, cw * weights[i], steps[i]))
    return out


def footwear_size_row(size: float, gender: str) -> tuple[str, str, str]:
    """(US size, EU size, foot length cm) for the store's footwear chart."""
    # A women's size is the men's size plus 1.5 (the FAQ says so too), so one scale serves both.
    mens = size - 1.5 if gender == "women's" else size
    eu = mens + 33.0
    cm = 25.0 + (mens - 7.0) * 0.85
    return f"{size:g}", f"{eu:g}", f"{cm:.1f}"


_SIZING_NOTES = {
    "true to size": "This style fits true to size; order your usual size.",
    "runs small": "This style runs small: if you are between sizes, order one size up.",
    "runs large": "This style runs large: if you are between sizes, order one size down.",
}
_FOOTWEAR_NOTES = {
    "true to size": "Fits true to size; order your usual shoe size.",
    "runs small": "Runs small: order a half size up (a full size up in whole-size-only styles).",
    "runs large": "Runs large: order a half size down.",
}


def _size_guide(kind: str, variants: Sequence[dict[str, str]], attrs: dict[str, str]) -> str | None:
    sizes = list(dict.fromkeys(v["size"] for v in variants if "size" in v))
    lengths = list(dict.fromkeys(v["length"] for v in variants if "length" in v))
    gender = attrs.get("gender", "unisex")
    sizing = attrs.get("sizing", "true to size")
    if kind == "apparel":
        chart_name = "women's" if gender == "women's" else "men's"
        chart = APPAREL_SIZE_CHART[chart_name]
        cols = list(chart["M"])
        lines = [
            f"Size guide ({gender}, US sizing; body measurements in inches):",
            "Size | " + " | ".join(c.capitalize() for c in cols),
        ]
        lines += [f"{s} | " + " | ".join(chart[s][c] for c in cols) for s in sizes]
        if gender == "unisex":
            lines.append(
                "Unisex sizing follows the men's chart; women usually order one size "
                "down from their usual women's size."
            )
        lines.append(f"Fit: {attrs.get('fit', 'regular')}. {_SIZING_NOTES[sizing]}")
        lines.append(
            "How to measure: chest or bust at the fullest point, waist at the natural "
            "waistline, hip at the widest point, with the tape level and snug."
        )
        return "\n".join(lines)
    if kind == "footwear":
        rows = [footwear_size_row(float(s), gender) for s in sizes]
        lines = [f"Size guide ({gender} US sizes):", "US | EU | Foot length (cm)"]
        lines += [" | ".join(r) for r in rows]
        lines.append(f"Width: {attrs.get('width', 'medium')}. {_FOOTWEAR_NOTES[sizing]}")
        lines.append(
            "How to measure: stand on a sheet of paper in the afternoon, mark heel and "
            "longest toe, and measure the distance; allow a thumb's width of room for "
            "hiking downhill."
        )
        return "\n".join(lines)
    if kind == "socks":
        lines = ["Size guide (socks):", "Size | Fits shoe size"]
        lines += [f"{s} | {SOCK_SIZE_CHART[s]}" for s in sizes]
        lines.append("Between sizes? Choose the larger size for thick-cushion styles.")
        return "\n".join(lines)
    if kind == "pack":
        lines = ["Size guide (torso length):", "Size | Torso length"]
        lines += [f"{s} | {PACK_SIZE_CHART[s]}" for s in sizes]
        lines.append(
            "How to measure: from the bony bump at the base of your neck (C7) down to "
            "the top of your hip bones. Hip belts fit waists of 28-50 in."
        )
        return "\n".join(lines)
    if kind == "sleepingbag":
        lines = ["Size guide (bag length):"]
        lines += [f"{s}: {SLEEPING_BAG_LENGTHS[s]}" for s in lengths]
        lines.append(
            "Choose Long if you are within 2 in. of the Regular limit or sleep with "
            "gear at your feet."
        )
        return "\n".join(lines)
    return None


def _allocate(n: int, weights: Sequence[float]) -> list[int]:
    """Largest-remainder split of n over weights; every category gets one when n allows."""
    total = sum(weights)
    floor_min = 1 if n >= len(weights) else 0
    counts = [max(floor_min, int(n * w / total)) for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(n * weights[i] / total % 1), i))
    i = 0
    while sum(counts) < n:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts) > n:
        j = max(range(len(counts)), key=lambda k: (counts[k], -k))
        counts[j] -= 1
    return counts


# --------------------------------------------------------------------------------------------
# Catalogue generation
# --------------------------------------------------------------------------------------------


def _departments() -> tuple[CategorySpec, ...]:
    return tuple(CategorySpec(i, n, None, p, a, w, e, u) for i, n, p, a, w, e, u in _DEPARTMENTS)


def _categories() -> tuple[CategorySpec, ...]:
    return tuple(
        CategorySpec(
            leaf.id,
            leaf.name,
            leaf.dept,
            leaf.peak,
            leaf.amplitude,
            leaf.weekend,
            leaf.elasticity,
            leaf.units,
        )
        for leaf in _LEAVES
    )


class _Namer:
    """Hands out unique product names and model numbers."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.model_numbers: set[str] = set()

    def model(self, d: _Draws, tech: bool) -> str:
        if tech:
            return f"{d.pick(_TECH_HEADS)} {d.pick(_TECH_TAILS)}"
        while True:
            head, tail = d.pick(_MODEL_HEADS), d.pick(_MODEL_TAILS)
            word = head + tail
            if head.lower() != tail and word.lower() not in _BRAND_WORDS:
                return word

    def name(self, brand: str, gender: str, model: str, adj: str, noun: str) -> tuple[str, str]:
        who = f"{gender.capitalize()} " if gender in ("men's", "women's") else ""
        candidate = model
        for gen in ("", *_GENERATIONS):
            candidate = f"{model} {gen}" if gen else model
            full = f"{brand} {who}{candidate} {adj} {noun}"
            if full not in self.names:
                self.names.add(full)
                return full, candidate
        n = 2
        while True:  # unreachable in practice; keeps names unique at any scale
            candidate = f"{model} Mk {n}"
            full = f"{brand} {who}{candidate} {adj} {noun}"
            if full not in self.names:
                self.names.add(full)
                return full, candidate
            n += 1

    def model_number(self, d: _Draws, code: str) -> str:
        while True:
            number = f"{code}-{d.randint(1000, 9999)}"
            if d.chance(0.25):
                number += d.pick(("A", "B", "X", "LT"))
            if number not in self.model_numbers:
                self.model_numbers.add(number)
                return number


def _describe(
    d: _Draws,
    leaf: _Leaf,
    ctx: dict[str, str],
    features: Sequence[str],
    attrs: dict[str, str],
    tier: str,
) -> str:
    sentences: list[str] = []
    openers = [t for t in _OPENERS if _fits(t, ctx)]
    sentences.append(d.pick(openers).format_map(ctx))
    if d.chance(0.85):
        lines = leaf.material_lines or _MATERIAL_LINES
        sentences.append(d.pick(lines).format_map(ctx))
    with_line = [f for f in features if f in _FEATURE_LINES]
    without = [f for f in features if f not in _FEATURE_LINES]
    n_lines = min(len(with_line), d.randint(1, 2))
    for f in with_line[:n_lines]:
        sentences.append(_FEATURE_LINES[f])
    rest = without + with_line[n_lines:]
    if rest and (n_lines < 2 or d.chance(0.5)):
        sentences.append(d.pick(_LIST_LINES).format(list=_join(rest[:4])))
    attr_lines = [t for t in (*leaf.attr_lines, *_GENERIC_ATTR_LINES) if _fits(t, ctx)]
    if attr_lines and len(sentences) < 5 and d.chance(0.7):
        sentences.append(d.pick(attr_lines).format_map(ctx))
    # At most six sentences in all; a question opener ("Looking for ...? The ...") counts two.
    limit = 6 - sentences[0].count("? ")
    sentences = sentences[: limit - 1]
    sentences.append(d.pick(_CLOSERS[tier]).format_map(ctx))
    # Quoting the model number gives exact-term search something to find in the text too.
    if "model" in attrs and len(sentences) < limit and d.chance(0.5):
        sentences.append(f"Model {attrs['model']}.")
    return " ".join(sentences)


def _make_product(
    d: _Draws,
    index: int,
    leaf: _Leaf,
    brands: dict[str, BrandSpec],
    namer: _Namer,
) -> ProductSpec:
    pid = f"P{index:05d}"
    sub = d.pick(leaf.subtypes)
    brand = brands[d.pick(leaf.brands)]
    tier = brand.tier

    # Attributes first: the name and the text are written from them.
    attrs: dict[str, str] = {}
    genders = sub.genders or leaf.genders
    gender = d.pick(genders) if genders else ""
    if gender:
        attrs["gender"] = gender
    for key, src in {**leaf.attrs, **sub.attrs}.items():
        attrs[key] = _draw_attr(src, d)
    axes = sub.axes or leaf.axes
    sized = axes in ("apparel", "footwear")
    if sized:
        if axes == "apparel":
            attrs["fit"] = d.pick(_FIT)
        attrs["sizing"] = d.pick_weighted(_SIZING, _SIZING_W)
    material_kw, material_text = d.pick(sub.materials or leaf.materials)
    attrs["material"] = material_kw
    weight_range = sub.weight_g or leaf.weight_g
    if weight_range:
        grams = weight_range[0] + d.u() * (weight_range[1] - weight_range[0])
        attrs["weight"] = _fmt_weight(round(grams / 10) * 10)
    if d.chance(0.65):
        attrs["model"] = namer.model_number(d, brand.code)

    n_extra = d.randint(max(0, 3 - len(sub.features)), max(0, 6 - len(sub.features)))
    features = tuple(sub.features) + tuple(d.sample(sub.extras, n_extra))

    adjectives = [a for a in sub.adjectives if a.lower() not in sub.noun.lower()]
    adj = d.pick(adjectives)
    model = namer.model(d, tech=leaf.dept == "electronics")
    name, model = namer.name(brand.name, gender, model, adj, sub.noun)

    # Price: position within the category's log-range according to the brand tier.
    lo, hi = sub.price or leaf.price
    band_lo, band_hi = _TIER_BAND[tier]
    q = band_lo + d.u() * (band_hi - band_lo)
    base_price = _charm(math.exp(math.log(lo) + q * (math.log(hi) - math.log(lo))))
    cost_lo, cost_hi = _TIER_COST[tier]
    cost_ratio = cost_lo + d.u() * (cost_hi - cost_lo)

    palette = _PALETTES[leaf.palette]
    options = _variant_options(axes, palette, gender, d)
    total_w = sum(w for _o, w, _s in options)
    variants: list[VariantSpec] = []
    seen_codes: set[str] = set()
    for opts, w, step in options:
        codes = [_option_code(opts[k]) for k in opts]
        code = "-".join(codes) if codes else "STD"
        if code in seen_codes:  # pragma: no cover - guarded by the axis tables
            raise AssertionError(f"duplicate option code {code} in {pid}")
        seen_codes.add(code)
        price = base_price if step == 0.0 else _charm(base_price * (1.0 + step))
        price = round(min(max(price, base_price * 0.9), base_price * 1.1), 2)
        ratio = min(max(cost_ratio + 0.01 * d.normal(), 0.36), 0.64)
        variants.append(
            VariantSpec(
                sku=f"{pid}-{code}",
                options=opts,
                price=price,
                unit_cost=round(price * ratio, 2),
                size_share=w / total_w,
            )
        )

    size_guide = _size_guide(axes, [v.options for v in variants], attrs)

    popularity = math.exp(0.65 * d.normal() - 0.5 * 0.65**2)
    elasticity = leaf.elasticity + _TIER_ELASTICITY_SHIFT[tier] + 0.3 * d.normal()
    elasticity = round(min(max(elasticity, -4.0), -0.5), 3)

    noun_text = _lower_words(sub.noun)
    if gender in ("men's", "women's"):
        noun_text = f"{gender} {noun_text}"
    adj_text = _lower_words(adj)
    uses = d.sample(leaf.uses, 2)
    # "Rain Pants", "Earbuds", "Socks": a pair of them, and the verbs agree.
    plural = sub.noun.endswith("s")
    ctx: dict[str, str] = {
        "brand": brand.name,
        "model": model,
        "noun": noun_text,
        "a_adj": f"a pair of {adj_text}" if plural else f"{_article(adj_text)} {adj_text}",
        "has": "have" if plural else "has",
        "belongs": "belong" if plural else "belongs",
        "use1": uses[0],
        "use2": uses[1],
        "material": material_kw,
        "tier_build": d.pick(_TIER_BUILD[tier]),
    }
    for key, value in attrs.items():
        # The model number must not shadow the model name the templates use.
        ctx["model_number" if key == "model" else _key(key)] = value
    description = _describe(d, leaf, ctx, features, attrs, tier)

    return ProductSpec(
        id=pid,
        name=name,
        category_id=leaf.id,
        brand_id=brand.id,
        description=description,
        materials=material_text,
        care=d.pick(sub.care or leaf.care),
        size_guide=size_guide,
        features=features,
        attributes=attrs,
        base_price=base_price,
        popularity=round(popularity, 4),
        elasticity=elasticity,
        variants=tuple(variants),
        product_type=sub.noun,
    )


def generate_catalog(rng: np.random.Generator, n_products: int) -> Catalog:
    """Build the store's catalogue: departments, leaf categories, brands and n_products products.

    The same Generator state gives an identical catalogue. Products are numbered P00001.. in
    generation order, with categories interleaved and sized in proportion to their weights.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    if isinstance(n_products, bool) or not isinstance(n_products, int) or n_products < 0:
        raise ValueError(f"n_products must be a non-negative integer, got {n_products!r}")

    brands = tuple(BrandSpec(i, n, t, c) for i, n, t, c in _BRANDS)
    by_id = {b.id: b for b in brands}
    counts = _allocate(n_products, [leaf.weight for leaf in _LEAVES])
    sequence = np.repeat(np.arange(len(_LEAVES)), counts)
    order = rng.permutation(sequence).tolist()

    d = _Draws(rng)
    namer = _Namer()
    products = tuple(
        _make_product(d, i + 1, _LEAVES[leaf_index], by_id, namer)
        for i, leaf_index in enumerate(order)
    )
    return Catalog(
        departments=_departments(),
        categories=_categories(),
        brands=brands,
        products=products,
    )


# --------------------------------------------------------------------------------------------
# Reviews
# --------------------------------------------------------------------------------------------

# Titles are disjoint across buckets, so a review's title alone tells its sentiment bucket.
REVIEW_TITLES: dict[str, tuple[str, ...]] = {
    "positive": (
        "Love it",
        "Exactly what I needed",
        "Great quality",
        "Highly recommend",
        "Worth every penny",
        "Five stars",
        "Excellent",
        "Does the job well",
        "Better than expected",
        "Great value",
        "Very happy",
        "Would buy again",
        "My new favorite",
        "Solid purchase",
        "Impressed",
        "Just right",
        "A keeper",
    ),
    "mixed": (
        "It's okay",
        "Good, not great",
        "Mixed feelings",
        "Decent for the price",
        "Some pros and cons",
        "Average",
        "Could be better",
        "Fine, with caveats",
        "Not bad",
        "Middle of the road",
        "Almost there",
    ),
    "negative": (
        "Disappointed",
        "Not worth it",
        "Returned it",
        "Poor quality",
        "Would not recommend",
        "Fell apart",
        "Save your money",
        "Not as described",
        "Did not last",
        "Very unhappy",
        "Frustrating",
    ),
}

_OPEN = {
    5: (
        "Absolutely love {this} {noun}.",
        "Best {noun} I have owned.",
        "Exceeded my expectations.",
        "Five stars from me.",
        "I am thrilled with {this} {noun}.",
    ),
    4: (
        "Really happy with {this} {noun}.",
        "Very good {noun} overall.",
        "Solid {noun} for the price.",
        "Pleased with this purchase.",
    ),
    3: (
        "It's okay.",
        "Mixed feelings about {this} {noun}.",
        "Decent, but not perfect.",
        "Middle of the pack.",
    ),
    2: ("Not impressed.", "I wanted to like {this} {noun}.", "{This} {noun} fell short for me."),
    1: ("Very disappointed.", "Would not buy again.", "Worst {noun} I have bought in years."),
}
_CLOSE = {
    "positive": (
        "Would buy again.",
        "Highly recommend.",
        "Great for {use}.",
        "No regrets at all.",
        "Already telling friends about it.",
    ),
    "mixed": (
        "Might keep it, might return it.",
        "Fine for the price.",
        "Okay for occasional {use}.",
        "Not sure I would buy it again.",
    ),
    "negative": ("Returned it.", "Sending it back.", "Save your money.", "Disappointed overall."),
}
_CONNECTORS = ("However, ", "That said, ", "On the downside, ", "But ")

# An aspect is a sentence plus the conditions under which it is true of the product:
# (attribute, value) pairs, ("feature", f) when the product lists f, ("!feature", f) when not.
_Aspect = tuple[str, tuple[tuple[str, str], ...]]


def _a(text: str, *cond: tuple[str, str]) -> _Aspect:
    return text, cond


_FIT_APPAREL: dict[str, tuple[_Aspect, ...]] = {
    "pos": (
        _a("Fits true to size; my usual {size} was spot on.", ("sizing", "true to size")),
        _a("The fit matches the size chart exactly.", ("sizing", "true to size")),
        _a(
            "Sizing was easy: I ordered my usual {size} and it fits perfectly.",
            ("sizing", "true to size"),
        ),
    ),
    "nit": (
        _a(
            "It runs a little small, so I went up one size and now the fit is great.",
            ("sizing", "runs small"),
        ),
        _a("It runs a bit large; I could have gone down a size.", ("sizing", "runs large")),
    ),
    "neg": (
        _a("Runs small: my usual {size} was tight across the shoulders.", ("sizing", "runs small")),
        _a("Runs large, and the {size} felt baggy everywhere.", ("sizing", "runs large")),
    ),
}
_FIT_FOOTWEAR: dict[str, tuple[_Aspect, ...]] = {
    "pos": (
        _a("True to size; my usual size {size} fits perfectly.", ("sizing", "true to size")),
        _a("Fits exactly like my other size {size} shoes.", ("sizing", "true to size")),
    ),
    "nit": (
        _a("They run a touch small, so I went up a half size.", ("sizing", "runs small")),
        _a("They run slightly large; thicker socks solved it.", ("sizing", "runs large")),
    ),
    "neg": (
        _a("Runs small: my usual size {size} pinched my toes.", ("sizing", "runs small")),
        _a("Runs large; my heel slipped in a size {size}.", ("sizing", "runs large")),
    ),
}

_FAMILIES: dict[str, dict[str, tuple[_Aspect, ...]]] = {
    "jacket": {
        "pos": (
            _a("Kept me completely dry in a downpour.", ("waterproof", "yes")),
            _a("Stayed dry through a full day of drizzle on {use}.", ("waterproof", "yes")),
            _a("Warm enough for {use} without feeling bulky.", ("insulated", "yes")),
            _a("Toasty on a cold, windy morning.", ("insulated", "yes")),
            _a("Breathes well on steep climbs."),
            _a("Big plus for me: {feature}."),
            _a("The {color} looks even better in person."),
            _a("Great layering piece for {use}.", ("insulated", "no")),
        ),
        "nit": (
            _a("The pockets sit a little high with a hip belt on."),
            _a("It is a bit noisy when you move."),
            _a("The {color} shows dirt quickly."),
        ),
        "neg": (
            _a("Wetted out at the shoulders after an hour of steady rain.", ("waterproof", "yes")),
            _a(
                "Soaked through in light rain, so it is really only a wind layer.",
                ("waterproof", "no"),
            ),
            _a("Not warm enough once it dropped below freezing.", ("insulated", "yes")),
            _a("The zipper snagged constantly and the pull broke within a month."),
            _a("The seams started fraying after a few washes."),
            _a("The {color} faded noticeably after a few washes."),
        ),
    },
    "apparel": {
        "pos": (
            _a("The fabric is soft and holds its shape wash after wash."),
            _a("Dries quickly after a sweaty workout.", ("quick-dry", "yes")),
            _a("Comfortable all day, from {use} to errands."),
            _a("The {color} is a great shade."),
            _a("Favorite detail: {feature}."),
            _a("No itch at all, even worn next to the skin.", ("material", "merino wool")),
        ),
        "nit": (
            _a("It wrinkles a little in a suitcase."),
            _a("The {color} is slightly different from the photos."),
        ),
        "neg": (
            _a("Shrank a full size after the first wash."),
            _a("Pilled after a handful of wears."),
            _a("The fabric is thinner than it looks in the photos."),
            _a("The seams started unraveling within weeks."),
            _a("Stayed damp for hours after a sweaty workout.", ("quick-dry", "yes")),
        ),
    },
    "footwear": {
        "pos": (
            _a("Comfortable right out of the box with no break-in."),
            _a("Grip on wet rock is excellent.", ("feature", "lugged rubber outsole")),
            _a("My feet stayed dry crossing streams.", ("waterproof", "yes")),
            _a("Plenty of cushioning for long days."),
            _a("Warm even on the coldest mornings.", ("insulated", "yes")),
            _a("Great on {use}."),
        ),
        "nit": (
            _a("They needed a few days to break in."),
            _a("The laces are a bit long."),
        ),
        "neg": (
            _a("Gave me blisters on the heel within the first mile."),
            _a("The sole started peeling away after two months."),
            _a("Leaked at the toe box on the first wet hike.", ("waterproof", "yes")),
            _a("My feet sweat a lot because they barely breathe.", ("waterproof", "yes")),
            _a("My toes were cold within an hour.", ("insulated", "yes")),
            _a("The straps rubbed my ankles raw.", ("feature", "adjustable straps")),
        ),
    },
    "sandals": {
        "pos": (
            _a("Comfortable right out of the box."),
            _a("Great arch support for a sandal."),
            _a("Dry in minutes after a river crossing.", ("quick-dry", "yes")),
            _a("Perfect for {use}."),
        ),
        "nit": (_a("They needed a few days to break in."),),
        "neg": (
            _a("The straps rubbed my ankles raw.", ("feature", "adjustable straps")),
            _a("The toe post gave me blisters.", ("feature", "soft toe post")),
            _a("The footbed flattened out within a month."),
            _a("Slippery on wet pool decks."),
        ),
    },
    "socks": {
        "pos": (
            _a("Cushioned in all the right places."),
            _a("No blisters after a twelve-mile day."),
            _a("They stay up and never slide into my boots."),
            _a("Great for {use}."),
        ),
        "nit": (_a("A little warm for summer."),),
        "neg": (
            _a("Holes at the heel after a month."),
            _a("They slide down constantly."),
            _a("Shrank after two washes."),
        ),
    },
    "tent": {
        "pos": (
            _a("Pitched it in under ten minutes on the first try."),
            _a("Stayed bone dry through an all-night thunderstorm.", ("waterproof", "yes")),
            _a("Held up well in strong gusts."),
            _a("Plenty of room for sleeping pads and gear."),
            _a("Genuinely useful extra: {feature}."),
        ),
        "nit": (
            _a("The stakes are flimsy, so bring your own."),
            _a("The stuff sack is a tight fit."),
        ),
        "neg": (
            _a("Water pooled on the floor after a night of rain.", ("waterproof", "yes")),
            _a("Leaked through the fly in a moderate rain.", ("waterproof", "no")),
            _a("A pole snapped on the second trip."),
            _a("Condensation was bad on cool nights."),
            _a("The door zippers snag constantly."),
        ),
    },
    "sleeping_bag": {
        "pos": (
            _a("Warm right down to the {temperature_rating} rating."),
            _a("Compresses small in my pack."),
            _a("Roomy enough to sleep on my side."),
            _a("Big plus on cold nights: {feature}."),
        ),
        "nit": (_a("The stuff sack is hard to close."),),
        "neg": (
            _a("I was cold well above the {temperature_rating} rating."),
            _a("The zipper snags on the draft tube every time."),
            _a("Lost a lot of down through the seams.", ("insulation", "down")),
            _a("The fill clumped after one wash.", ("insulation", "synthetic")),
        ),
    },
    "pack": {
        "pos": (
            _a("Comfortable even when fully loaded."),
            _a("Lots of pockets, and everything has a place."),
            _a("Stayed dry inside during a rainy paddle.", ("waterproof", "yes")),
            _a("Standout detail: {feature}."),
            _a("Perfect size for {use}."),
        ),
        "nit": (_a("The side pockets are hard to reach while wearing it."),),
        "neg": (
            _a("A shoulder strap buckle cracked on the first trip."),
            _a("The back panel gets sweaty fast."),
            _a("The main zipper pull broke within weeks."),
            _a("Everything inside got wet in light rain.", ("waterproof", "no")),
        ),
    },
    "cooler": {
        "pos": (
            _a("Ice lasted longer than advertised."),
            _a("Kept drinks cold all weekend."),
            _a("Easy to carry even when full."),
            _a("Handy extra: {feature}."),
        ),
        "nit": (_a("Heavier than I expected when empty."),),
        "neg": (
            _a("The lid does not seal, and the ice melted in a day."),
            _a("Leaked meltwater all over my trunk."),
            _a("A handle broke the first time I carried it full."),
        ),
    },
    "light": {
        "pos": (
            _a("Bright enough to light up the whole trail."),
            _a("The battery lasts for several nights at camp."),
            _a("Great at camp, especially the {brightness} high mode."),
            _a("Survived a full day of rain without a flicker.", ("waterproof", "yes")),
        ),
        "nit": (_a("The button is hard to press with gloves on."),),
        "neg": (
            _a("The battery drains even when it is switched off."),
            _a("Much dimmer than the {brightness} claim."),
            _a("Water got inside on a rainy hike.", ("waterproof", "yes")),
            _a("The strap lost its stretch within a month."),
        ),
    },
    "chair": {
        "pos": (
            _a("Sturdy and comfortable for hours around the fire."),
            _a("Folds up quickly and fits in the trunk."),
            _a("Great for {use}."),
        ),
        "nit": (_a("It sits a little low."),),
        "neg": (
            _a("The fabric ripped at a seam within a month."),
            _a("It tips backward on uneven ground."),
            _a("A leg joint bent on the first trip."),
        ),
    },
    "bottle": {
        "pos": (
            _a("Keeps water ice cold all day.", ("insulated", "yes")),
            _a("Coffee stays hot through my whole commute.", ("insulated", "yes")),
            _a("The lid has never leaked in my bag.", ("feature", "leakproof lid")),
            _a("Easy to clean, and no lingering taste."),
            _a("Fits my car's cup holder.", ("feature", "fits most cup holders")),
            _a("The {color} finish looks great."),
        ),
        "nit": (
            _a("Too tall for my car's cup holder.", ("!feature", "fits most cup holders")),
            _a("The lid is a little stiff to open."),
        ),
        "neg": (
            _a("The lid leaks if it tips over in my bag."),
            _a("The paint chipped after a few weeks."),
            _a("It has a plastic taste that never went away."),
            _a("Drinks were lukewarm by lunchtime.", ("insulated", "yes")),
            _a("The filter clogged within two weeks.", ("feature", "built-in filter")),
        ),
    },
    "cookware": {
        "pos": (
            _a("Heats evenly with no hot spots."),
            _a("Nothing sticks, not even eggs.", ("feature", "PFOA-free nonstick coating")),
            _a("The seasoning keeps getting better.", ("material", "cast iron")),
            _a("Cleanup takes a minute."),
            _a("Perfect for {use}."),
        ),
        "nit": (_a("Heavier than it looks."),),
        "neg": (
            _a("Warped after a few months on high heat."),
            _a("The nonstick coating started flaking.", ("feature", "PFOA-free nonstick coating")),
            _a("Arrived with rust spots.", ("material", "cast iron")),
            _a("The handle gets dangerously hot."),
        ),
    },
    "coffee": {
        "pos": (
            _a("Smooth and rich without any bitterness."),
            _a("Fresh: the roast date was only a few days old."),
            _a("I really taste the {tasting_notes}."),
            _a("Makes a great cold brew too."),
            _a("Perfect for {use}."),
        ),
        "nit": (_a("A bit pricey for the size of the bag."),),
        "neg": (
            _a("Tasted stale and flat."),
            _a("Far too bitter for my taste."),
            _a("The bag arrived torn open."),
            _a("No trace of the {tasting_notes} on the label."),
        ),
    },
    "tea": {
        "pos": (
            _a("Fragrant and full of flavor."),
            _a("Holds up to several steeps."),
            _a("Perfect for {use}."),
        ),
        "nit": (_a("The packaging is hard to reseal."),),
        "neg": (
            _a("Weak flavor, even with extra leaves."),
            _a("Lots of dust at the bottom of the bag."),
        ),
    },
    "blanket": {
        "pos": (
            _a("Incredibly soft and warm."),
            _a("Held up well in the wash."),
            _a("Perfect size for the couch."),
            _a("The {color} matches our living room perfectly."),
        ),
        "nit": (_a("It shed a little at first."),),
        "neg": (
            _a("Sheds all over everything."),
            _a("Pilled after the first wash."),
            _a("Much thinner than pictured."),
        ),
    },
    "headphones": {
        "pos": (
            _a("Sound is crisp with plenty of bass."),
            _a("Battery life is close to the advertised {battery_life}."),
            _a("Noise cancelling silences the train completely.", ("noise cancelling", "yes")),
            _a("Pairs instantly with my phone and laptop."),
            _a("Comfortable for hours."),
        ),
        "nit": (
            _a("The touch controls are overly sensitive.", ("feature", "touch controls")),
            _a("The case is a bit bulky for a pocket."),
        ),
        "neg": (
            _a("Battery life is nowhere near {battery_life}."),
            _a("Bluetooth drops out constantly."),
            _a("Noise cancelling barely makes a difference.", ("noise cancelling", "yes")),
            _a(
                "The ear cushions started peeling within months.",
                ("feature", "memory-foam ear cushions"),
            ),
            _a("One earbud stopped charging after a few weeks.", ("feature", "charging case")),
        ),
    },
    "speaker": {
        "pos": (
            _a("Loud and clear, even outdoors."),
            _a("Survived a dunk in the lake.", ("waterproof", "yes")),
            _a("Battery lasts all weekend."),
            _a("Great for {use}."),
        ),
        "nit": (_a("The bass thins out at full volume."),),
        "neg": (
            _a("Distorts badly at high volume."),
            _a("Stopped charging after two months."),
            _a("Water got into the charging port.", ("waterproof", "yes")),
            _a("Battery life is well short of {battery_life}."),
        ),
    },
    "watch": {
        "pos": (
            _a("GPS locks on fast and tracks accurately.", ("feature", "built-in GPS")),
            _a("Battery lasts about {battery_life}, as claimed."),
            _a("Heart-rate readings match my chest strap.", ("feature", "wrist heart-rate sensor")),
            _a("Comfortable enough to sleep in."),
            _a("Great for {use}."),
        ),
        "nit": (_a("The screen is hard to read in direct sun."),),
        "neg": (
            _a("GPS tracks drift badly.", ("feature", "built-in GPS")),
            _a("Battery life is well short of {battery_life}."),
            _a("The band irritated my wrist."),
            _a("Syncing with the app fails constantly."),
        ),
    },
    "power": {
        "pos": (
            _a("Charges my phone fast."),
            _a("Held its charge for weeks in my pack."),
            _a("Great for {use}."),
        ),
        "nit": (_a("Heavier than I expected."),),
        "neg": (
            _a("Takes forever to recharge."),
            _a("Stopped holding a charge after a few months."),
            _a("Gets very hot while charging."),
        ),
    },
    "mat": {
        "pos": (
            _a("Grippy even in hot yoga."),
            _a("Cushioned enough for my knees."),
            _a("Perfect for {use}."),
        ),
        "nit": (
            _a("The alignment lines are a little faint.", ("feature", "alignment lines")),
            _a("It took a few days to lie completely flat."),
        ),
        "neg": (
            _a("Slippery once I start sweating."),
            _a("The surface started flaking after a month."),
            _a("A strong rubber smell that will not go away.", ("material", "natural rubber")),
        ),
    },
    "weights": {
        "pos": (
            _a("Solid and well balanced."),
            _a("The dial changes weight in seconds.", ("feature", "quick-change dial")),
            _a("Perfect for {use}."),
        ),
        "nit": (_a("Takes up a bit more space than I expected."),),
        "neg": (
            _a("The dial mechanism jammed after a few weeks.", ("feature", "quick-change dial")),
            _a("The coating started chipping."),
            _a("The marked weight is off by almost a pound."),
        ),
    },
    "bands": {
        "pos": (
            _a("Good range of resistance."),
            _a("Stays put during squats."),
            _a("Great for {use}."),
        ),
        "nit": (_a("The carry bag is flimsy."),),
        "neg": (
            _a("Snapped after a couple of weeks."),
            _a("Rolls up constantly during workouts."),
        ),
    },
}

_FIRST_NAMES = (
    "Maria",
    "James",
    "Aisha",
    "Wei",
    "Carlos",
    "Emma",
    "Noah",
    "Priya",
    "Liam",
    "Sofia",
    "Mateo",
    "Olivia",
    "Hiroshi",
    "Fatima",
    "Ethan",
    "Chloe",
    "Diego",
    "Grace",
    "Omar",
    "Hannah",
    "Lucas",
    "Mei",
    "Samuel",
    "Zoe",
    "Andre",
    "Isabella",
    "Kofi",
    "Ava",
    "Raj",
    "Mia",
    "Daniel",
    "Leila",
    "Ben",
    "Yuki",
    "Marcus",
    "Elena",
    "Tom",
    "Nadia",
    "Jack",
    "Ana",
    "Tyler",
    "Ines",
    "Sean",
    "Amara",
    "Kevin",
    "Rosa",
    "Jamal",
    "Lena",
    "Ryan",
    "Camila",
    "Owen",
    "Sara",
    "Luis",
    "Julia",
    "Eli",
    "Nora",
    "Victor",
    "Keiko",
    "Paul",
    "Tara",
)
_INITIALS = "ABCDEFGHJKLMNOPRSTVWY"

_LEAF_BY_ID = {leaf.id: leaf for leaf in _LEAVES}
_SUBTYPE_BY_KEY = {(leaf.id, sub.noun): sub for leaf in _LEAVES for sub in leaf.subtypes}
_RATING_BASE = (1.4, 0.75, 0.9, 1.0, 1.0)  # extra mass on 1 star: real ratings are J-shaped


def sentiment_of(rating: int) -> str:
    """The review bucket of a star rating: 1-2 negative, 3 mixed, 4-5 positive."""
    if rating <= 2:
        return "negative"
    return "mixed" if rating == 3 else "positive"


@lru_cache(maxsize=1024)
def _rating_cdf(mean_rating: float) -> tuple[float, ...]:
    """Cumulative P(rating = 1..5) with the given mean: an exponential tilt of a J shape."""
    target = min(max(mean_rating, 1.05), 4.95)

    def probs(beta: float) -> list[float]:
        w = [b * math.exp(beta * (r + 1)) for r, b in enumerate(_RATING_BASE)]
        s = sum(w)
        return [x / s for x in w]

    lo, hi = -12.0, 12.0
    for _ in range(60):
        mid = (lo + hi) / 2
        mean = sum((r + 1) * p for r, p in enumerate(probs(mid)))
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return tuple(accumulate(probs((lo + hi) / 2)))


def _holds(cond: tuple[tuple[str, str], ...], product: ProductSpec) -> bool:
    for key, value in cond:
        if key == "feature":
            if value not in product.features:
                return False
        elif key == "!feature":
            if value in product.features:
                return False
        elif product.attributes.get(key) != value:
            return False
    return True


def _decap(sentence: str) -> str:
    # "Runs small" -> "runs small", but keep "I ..." and acronyms ("GPS ...").
    if sentence.startswith(("I ", "I'")) or sentence[1:2].isupper():
        return sentence
    return sentence[:1].lower() + sentence[1:]


def _not_clashing(candidates: list[str], chosen: list[str]) -> list[str]:
    # Praising the colour and then faulting it in the same review reads as a contradiction.
    if any("{color}" in c for c in chosen):
        return [t for t in candidates if "{color}" not in t]
    return candidates


def generate_reviews(
    rng: np.random.Generator, product: ProductSpec, n: int, mean_rating: float
) -> list[ReviewSpec]:
    """Write n reviews for a product, with star ratings drawn around mean_rating.

    Ratings follow a J-shaped distribution tilted to the requested mean. The text is built
    from the product's own category, attributes, features and variants, and its tone matches
    the rating: 1-2 stars negative, 3 mixed, 4-5 positive (see `sentiment_of`).
    """
    if n <= 0:
        return []
    leaf = _LEAF_BY_ID.get(product.category_id)
    if leaf is None:
        raise ValueError(
            f"no review vocabulary for category {product.category_id!r}: generate_reviews "
            "writes reviews for products made by generate_catalog"
        )
    sub = _SUBTYPE_BY_KEY.get((leaf.id, product.product_type))
    family = _FAMILIES[(sub.family if sub and sub.family else "") or leaf.family]
    short = (sub.short if sub and sub.short else "") or leaf.short
    axes = (sub.axes if sub and sub.axes else "") or leaf.axes
    fit = {"apparel": _FIT_APPAREL, "footwear": _FIT_FOOTWEAR}.get(axes)

    plural = short.endswith("s")
    base_ctx: dict[str, str] = {
        "noun": short,
        "this": "these" if plural else "this",
        "This": "These" if plural else "This",
    }
    for key, value in product.attributes.items():
        base_ctx["model_number" if key == "model" else _key(key)] = value
    has_color = any("color" in v.options for v in product.variants)
    has_size = fit is not None
    probe = dict(base_ctx, use="x", feature="x")
    if has_color:
        probe["color"] = "x"
    if has_size:
        probe["size"] = "x"

    def usable(kind: str) -> list[str]:
        aspects = family[kind] + (fit[kind] if fit else ())
        return [
            t
            for t, cond in aspects
            if _holds(cond, product)
            and _fits(t, probe)
            and ("{feature}" not in t or product.features)
        ]

    pos, nit, neg = usable("pos"), usable("nit"), usable("neg")
    neg = neg or nit
    cdf = _rating_cdf(round(mean_rating, 2))
    share_cdf = list(accumulate(v.size_share for v in product.variants))
    d = _Draws(rng, block=16 * n + 16)

    reviews: list[ReviewSpec] = []
    for _ in range(n):
        rating = 1 + min(bisect_right(cdf, d.u() * cdf[-1]), 4)
        bucket = sentiment_of(rating)
        variant = product.variants[
            min(bisect_right(share_cdf, d.u() * share_cdf[-1]), len(product.variants) - 1)
        ]
        ctx = dict(base_ctx, use=d.pick(leaf.uses))
        if product.features:
            ctx["feature"] = d.pick(product.features)
        ctx.update(variant.options)

        parts: list[str] = []
        if d.chance(0.7):
            parts.append(d.pick(_OPEN[rating]))
        if bucket == "positive":
            parts += d.sample(pos, 1 if rating == 4 else d.randint(1, 2))
            if rating == 4 and d.chance(0.45) and (extra := _not_clashing(nit, parts)):
                parts.append(d.pick(extra))
        elif bucket == "mixed":
            parts += d.sample(pos, 1)
            downside = _not_clashing(neg if d.chance(0.6) else nit, parts) or neg
            parts.append(d.pick(_CONNECTORS) + _decap(d.pick(downside)))
        else:
            parts += d.sample(neg, d.randint(1, 2))
        if len(parts) < 4 and d.chance(0.5 if rating != 1 else 0.8):
            parts.append(d.pick(_CLOSE[bucket]))
        body = " ".join(p.format_map(ctx) for p in parts[:4])
        author = f"{d.pick(_FIRST_NAMES)} {d.pick(_INITIALS)}."
        reviews.append(ReviewSpec(rating, d.pick(REVIEW_TITLES[bucket]), body, author))
    return reviews
