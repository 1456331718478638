"""The matching rules of the typed product query: colour families, sizes, gender, features."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retail.product_query import (
    ProductQuery,
    ProductText,
    colour_covers,
    gender_allows,
    measure_of,
    measure_value,
    name_is_kind,
    product_gender,
    size_covers,
    size_order,
)


@pytest.mark.parametrize(
    ("wanted", "colour", "covered"),
    [
        ("blue", "navy", True),
        ("blue", "teal", True),
        ("blue", "slate blue", True),
        ("red", "burgundy", True),
        ("red", "brick red", True),
        ("grey", "charcoal", True),
        ("navy", "navy", True),
        ("navy", "blue", False),
        ("blue", "black", False),
        ("pink", "red", False),
        ("green", "forest green", True),
    ],
)
def test_a_plain_colour_covers_its_family(wanted: str, colour: str, covered: bool) -> None:
    assert colour_covers(wanted, colour) is covered


@pytest.mark.parametrize(
    ("wanted", "size", "covered"),
    [
        ("L", "large", True),
        ("large", "L", True),
        ("M", "S/M", True),
        ("XL", "L", False),
        ("10", "10", True),
        ("10", "10.5", False),
        ("9.5", "9.5", True),
    ],
)
def test_sizes_in_any_spelling(wanted: str, size: str, covered: bool) -> None:
    assert size_covers(wanted, size) is covered


def test_a_structured_attribute_decides_a_feature_over_the_words() -> None:
    softshell = ProductText(
        name="Stretch Softshell Jacket",
        description="Not waterproof, but it sheds a shower.",
        materials="nylon-elastane",
        attributes={"waterproof": "no", "features": ["water-resistant DWR finish"]},
    )
    assert not softshell.has("waterproof")
    assert softshell.has("water-resistant")
    assert softshell.has("nylon-elastane")
    bag = ProductText(
        name="Heshe Women's Leather Bag", description="", materials=None, attributes={}
    )
    assert bag.has("leather") and not bag.has("canvas")
    faux = ProductText(
        name="White Faux Leather Backpack", description="Vegan leather, lined with cotton.",
        materials=None, attributes={},
    )  # fmt: skip
    assert not faux.has("leather") and faux.has("faux leather") and faux.has("cotton")
    headphones = ProductText(
        name="Over-Ear Headphones",
        description="",
        materials=None,
        attributes={"noise cancelling": "yes", "images": ["https://x/noise-cancelling.png"]},
    )
    assert headphones.has("noise-cancelling") and headphones.has("noise cancelling")


def test_gender_from_the_attribute_then_the_words() -> None:
    assert product_gender({"gender": "women's"}, "Parka", "Jackets") == "women's"
    assert product_gender({}, "Man Plaid Shirt", "Mens Shirts") == "men's"
    assert product_gender({}, "Blue Frock", "Womens Dresses") == "women's"
    assert product_gender({}, "Camping Tent", "Tents") is None
    assert gender_allows("women's", None) and gender_allows("women's", "unisex")
    assert not gender_allows("women's", "men's")


def test_kinds_are_read_from_product_names() -> None:
    assert name_is_kind("Alpenglow Men's Sierracraft Waterproof Rain Jacket", "rain jackets")
    assert not name_is_kind("Basecamp Basics Men's Bouldershell Warm Winter Parka", "rain jacket")


def test_the_query_normalises_gender_words_and_rejects_unknown_fields() -> None:
    assert ProductQuery(gender="ladies").gender == "women's"
    assert ProductQuery(colours=["blue", " blue", ""]).colours == ["blue"]
    with pytest.raises(ValidationError):
        ProductQuery.model_validate({"shade": "dark"})


def test_an_amount_is_found_however_it_is_written() -> None:
    pack = ProductText(
        name="Expedition Backpacking Pack",
        description="A 55 L main compartment and a 2 liter hydration sleeve.",
        materials=None,
        attributes={},
    )
    assert pack.has("55l") and pack.has("55 liters") and pack.has("2 l")
    assert not pack.has("65l") and not pack.has("5l")


def test_sizes_list_as_a_shop_lists_them() -> None:
    assert sorted(["10", "11", "6", "7", "8", "9.5"], key=size_order) == [
        "6", "7", "8", "9.5", "10", "11",
    ]  # fmt: skip
    assert sorted(["L", "M", "S", "XL", "XXL", "XS"], key=size_order) == [
        "XS", "S", "M", "L", "XL", "XXL",
    ]  # fmt: skip
    # Sizes of another kind follow, by their text.
    assert sorted(["One Size", "M", "S/M"], key=size_order) == ["M", "One Size", "S/M"]


@pytest.mark.parametrize(
    ("written", "measured"),
    [
        ("1.4 kg (3.0 lb)", (1400.0, "mass")),
        ("220 g (7.8 oz)", (220.0, "mass")),
        ("30°F", (30.0, "temperature")),
        ("-1°C", (30.2, "temperature")),
        ("45 L", (45.0, "volume")),
        ("6mm", (6.0, "length")),
        ("4P", (4.0, "people")),
        ("up to 3 days", (72.0, "time")),
        ("heavy", (3.0, "degree")),
        ("100-weight", (100.0, "unit:weight")),
        (9.0, (9.0, "count")),
        ("synthetic", None),
        ({"width": 13}, None),
    ],
)
def test_a_measure_is_read_in_one_unit_per_quantity(written: object, measured: object) -> None:
    """Values compare only within one quantity, in its base unit: 900 g is lighter than 1.2 kg;
    "100-weight" fleece and a 24-can cooler are quantities of their own."""
    value = measure_value(written)
    assert value == (pytest.approx(measured[0]), measured[1]) if measured else value is None


def test_a_skus_measure_is_its_option_before_the_products_attribute() -> None:
    attributes = {"capacity": "2P", "weight": "1.0 kg (2.2 lb)"}
    found = measure_of(
        "capacity", price=100.0, rating=4.5, options={"capacity": "4P"}, attributes=attributes
    )
    assert found == (4.0, "people", "4P")
    assert measure_of("price", price=99.5, rating=None, options={}, attributes={})[:2] == (
        99.5,
        "money",
    )
    assert measure_of("rating", price=1.0, rating=None, options={}, attributes={}) is None
    assert measure_of("thickness", price=1.0, rating=4.0, options={}, attributes=attributes) is None
