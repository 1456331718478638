"""The shopper's words to a typed product query, learned from a catalogue's own vocabulary:
types from category names and product-name endings, typos, prices, sorts, sizes, negations,
and follow-ups that edit the query in force."""

from __future__ import annotations

import pytest

from agents.nlu.query import QueryParser, plain_words
from retail.product_query import ProductQuery
from tools.vocabulary import CategoryRef, NamedRef, ProductRef, Vocabulary

CATEGORIES = [
    ("apparel", "Apparel", None),
    ("apparel-jackets", "Jackets", "apparel"),
    ("outdoor-tents", "Tents", None),
    ("footwear-hiking-boots", "Hiking Boots", None),
    ("footwear-trail-running", "Trail Running Shoes", None),
    ("tau2-running-shoes", "Running Shoes", None),
    ("home", "Home", None),
    ("home-water-bottles", "Water Bottles", "home"),
    ("home-travel-mugs", "Travel Mugs & Tumblers", None),
    ("dj-beauty", "Beauty", None),
    ("dj-womens-dresses", "Womens Dresses", None),
    ("outdoor-backpacks", "Backpacks", None),
    ("outdoor-lighting", "Headlamps & Lanterns", None),
    ("tau2-fleece-jacket", "Fleece Jacket", None),
    ("apparel-fleece", "Fleece & Midlayers", None),
    ("outdoor-camp-chairs", "Camp Chairs", None),
    ("tau2-office-chair", "Office Chair", None),
]
PRODUCTS = [
    ("p1", "Alpenglow Men's Sierracraft Waterproof Rain Jacket", "apparel-jackets"),
    ("p2", "Timberjack Women's Cobaltshade Breathable Rain Jacket", "apparel-jackets"),
    ("p3", "Basecamp Basics Men's Bouldershell Warm Winter Parka", "apparel-jackets"),
    ("p4", "Ridgeline Women's Onyxwood Packable Insulated Jacket", "apparel-jackets"),
    ("p5", "Fjellvik Nimbusford Waterproof Backpacking Tent", "outdoor-tents"),
    ("p6", "Ridgeline Birchwood Instant Pop-Up Camping Tent", "outdoor-tents"),
    ("p7", "Timberjack Women's Arrowbrook Waterproof Hiking Boot", "footwear-hiking-boots"),
    ("p8", "Granite Trail Men's Stormpath Waterproof Trail Running Shoe", "footwear-trail-running"),
    ("p9", "Running Shoes", "tau2-running-shoes"),
    ("p10", "Hydrafin Emberlight Leakproof Insulated Water Bottle", "home-water-bottles"),
    ("p11", "Copper Kettle Alpinewing Insulated Travel Mug", "home-travel-mugs"),
    ("p12", "Red Lipstick", "dj-beauty"),
    ("p13", "Black Women's Gown", "dj-womens-dresses"),
    ("p14", "Fjellvik Glaciercraft Expedition Backpacking Pack", "outdoor-backpacks"),
    ("p15", "Basecamp Basics Arrowpath Carry-On Travel Backpack", "outdoor-backpacks"),
    ("p16", "Lumenpeak Stormglow Dimmable Camp Lantern", "outdoor-lighting"),
    ("p17", "Fleece Jacket", "tau2-fleece-jacket"),
    ("p18", "Woolridge Women's Juniperpass Cozy Fleece Jacket", "apparel-fleece"),
    ("p19", "Northpeak Men's Arrowfield Quarter-Zip Midlayer", "apparel-fleece"),
    ("p20", "Fjellvik Driftway Classic Rocking Camp Chair", "outdoor-camp-chairs"),
    ("p21", "Office Chair", "tau2-office-chair"),
]
VOCABULARY = Vocabulary(
    categories=[CategoryRef(id=i, name=n, parent_id=p) for i, n, p in CATEGORIES],
    products=[ProductRef(id=i, name=n, category_id=c) for i, n, c in PRODUCTS],
    brands=[NamedRef(id="northpeak", name="Northpeak"), NamedRef(id="fj", name="Fjellvik")],
    options={
        "color": ["black", "navy", "forest green", "sky blue", "red", "steel"],
        "size": ["s", "m", "l", "xl", "9", "10", "10.5", "a5", "10 in"],
        "material": ["leather", "cotton"],
    },
    stores=[],
    features=[
        "waterproof",
        "insulated",
        "leather",
        "cotton",
        "noise cancelling",
        "stainless steel",
    ],  # fmt: skip
)


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(VOCABULARY)


def query(parser: QueryParser, text: str, previous: ProductQuery | None = None) -> ProductQuery:
    return parser.apply(parser.read(text), text, previous, shown_prices=[80.0, 120.0])


def test_types_come_from_category_names_heads_and_product_names(parser: QueryParser) -> None:
    assert query(parser, "any jackets?").categories == ["apparel-jackets"]
    assert query(parser, "any jackets?").kinds == []
    rain = query(parser, "navy rain jackets for women")
    assert (rain.categories, rain.kinds, rain.colours, rain.gender) == (
        ["apparel-jackets"],
        ["rain jacket"],
        ["navy"],
        "women's",
    )
    # A category's head noun names every category ending in it, and a name all of whose
    # products end in it ("running shoes" takes all of Trail Running Shoes too).
    assert set(query(parser, "running shoes").categories) == {
        "footwear-trail-running",
        "tau2-running-shoes",
    }
    assert query(parser, "dresses").categories == ["dj-womens-dresses"]
    assert query(parser, "mugs").categories == ["home-travel-mugs"]


def test_typos_are_matched_fuzzily_and_possessions_are_not_types(parser: QueryParser) -> None:
    assert query(parser, "backpak for school").categories == ["outdoor-backpacks"]
    assert query(parser, "lipstik").categories == ["dj-beauty"]
    assert query(parser, "a thing to keep my water bottle cold").categories == []


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("tents under $200", None, 200.0),
        ("tents no more than 200 dollars", None, 200.0),
        ("tents for at most 200", None, 200.0),
        ("tents, 200 bucks or less", None, 200.0),
        ("tents over $100", 100.0, None),
        ("tents between 100 and 200", 100.0, 200.0),
        ("tents $100-$200", 100.0, 200.0),
        ("tents around $100", 80.0, 120.0),
        ("tents under $1,200", None, 1200.0),
        ("any tents for under a hundred?", None, 100.0),
        ("tents around fifty", 40.0, 60.0),
        ("tents between twenty and fifty", 20.0, 50.0),
        ("tents under 40 quid", None, 40.0),
        ("tents for £30 max", None, 30.0),
        ("a tent for two people", None, None),
        ("tents, ideally not more than about 150", None, 150.0),
        ("tents under roughly $120", None, 120.0),
        ("tents, sub $30", None, 30.0),
        ("a tent and at least 800 lumens", None, None),
        ("tents under 2 pounds", None, None),
        ("tents under 170. she likes green", None, 170.0),
        ("tents under 100 in blue", None, 100.0),
        ("a tent, I don't want to spend more than $40", None, 40.0),
        ("tents, can't go over 50 though", None, 50.0),
        ("warm tents for winter camping, nothing over $200", None, 200.0),
    ],
)
def test_price_words(parser: QueryParser, text: str, low: float | None, high: float | None) -> None:
    q = query(parser, text)
    assert (q.min_price, q.max_price) == (low, high)
    assert q.categories == ["outdoor-tents"]


def test_sorts_counts_sizes_features_and_negations(parser: QueryParser) -> None:
    two = query(parser, "the two cheapest tents")
    assert (two.sort, two.limit) == ("price_asc", 2)
    assert query(parser, "cheap tents").sort == "price_asc"
    best = query(parser, "which tent is best rated?")
    assert (best.sort, best.limit) == ("rating", 1)
    assert query(parser, "boots in a large").sizes == ["L"]
    assert query(parser, "boots size 10.5").sizes == ["10.5"]
    assert query(parser, "women's boots 9").sizes == ["9"]
    boots = query(parser, "waterproof boots, not leather")
    assert (boots.features, boots.exclude) == (["waterproof"], ["leather"])
    assert query(parser, "tents from Fjellvik").brands == ["Fjellvik"]
    assert query(parser, "a 4-person tent").features == ["4-person"]
    assert query(parser, "jackets but not black").exclude == ["black"]


def test_ages_coded_sizes_and_words_describing_the_type(parser: QueryParser) -> None:
    kids = query(parser, "a rain jacket for a 10 year old")
    assert (kids.gender, kids.sizes) == ("kids", []), "an age is not a size"
    assert query(parser, "jacket for my 40-year-old husband").gender == "men's"
    assert query(parser, "an a5 backpack").sizes == ["A5"]
    # A catalogue word right before the type narrows when products say it.
    assert query(parser, "expedition backpack").prefer == ["expedition"]
    # "apparel staples": the last word is what is wanted; the department only describes it.
    basics = query(parser, "apparel staples")
    assert (basics.categories, basics.prefer) == ([], ["apparel"])


def test_follow_ups_edit_the_query_in_force_and_a_new_type_starts_over(
    parser: QueryParser,
) -> None:
    first = query(parser, "rain jackets under $150")
    blue = query(parser, "in blue", first)
    assert (blue.categories, blue.kinds, blue.colours, blue.max_price) == (
        ["apparel-jackets"],
        ["rain jacket"],
        ["blue"],
        150.0,
    )
    women = query(parser, "for women", blue)
    assert (women.gender, women.colours) == ("women's", ["blue"])
    insulated = query(parser, "an insulated one", women)
    assert insulated.features == ["insulated"] and insulated.kinds == ["rain jacket"]
    cheapest = query(parser, "the cheapest one", insulated)
    assert (cheapest.sort, cheapest.limit, cheapest.gender) == ("price_asc", 1, "women's")
    cheaper = query(parser, "something cheaper", first)
    assert cheaper.beyond is not None and cheaper.beyond.bound == 80.0, "below the cheapest shown"
    # The closest matches shown after a no-match may cost more than the budget: "cheaper"
    # never lifts it.
    capped = query(parser, "rain jackets under $60")
    lower = parser.apply(parser.read("cheaper"), "cheaper", capped, shown_prices=[64.5, 99.0])
    assert lower.max_price == 60.0 and lower.beyond is not None
    tents = query(parser, "what about tents?", women)
    assert tents.categories == ["outdoor-tents"]
    assert (tents.colours, tents.gender, tents.max_price) == ([], None, None)


def test_a_feature_before_a_type_filters_rather_than_naming_a_kind(parser: QueryParser) -> None:
    insulated = query(parser, "show me insulated jackets")
    assert (insulated.categories, insulated.kinds, insulated.features) == (
        ["apparel-jackets"],
        [],
        ["insulated"],
    ), "a parka whose attributes say insulated is an insulated jacket"
    assert query(parser, "rain jackets").kinds == ["rain jacket"]


def test_a_department_beside_a_product_type_describes_it(parser: QueryParser) -> None:
    q = query(parser, "setting up a little home gym, need a backpack for it")
    assert q.categories == ["outdoor-backpacks"], "the department describes, the type is wanted"
    assert query(parser, "home").categories == ["home"], "alone, a department is the type"


def test_a_type_named_after_with_is_part_of_the_product(parser: QueryParser) -> None:
    q = query(parser, "a waterproof jacket with a water bottle pocket")
    assert q.categories == ["apparel-jackets"] and "water bottle" in q.features


def test_sizes_cuts_and_materials_read_as_shoppers_mean_them(parser: QueryParser) -> None:
    assert query(parser, "black cotton jacket, mens large").sizes == ["L"]
    room = query(parser, "a tent quiet enough for a small campsite")
    assert room.sizes == [], "'a small campsite' describes the campsite"
    assert query(parser, "a large jacket").sizes == ["L"]
    assert query(parser, "tents, 10 inch").sizes == ["10 in"]
    nine = query(parser, "hiking boots, men's size 9")
    assert (nine.sizes, nine.gender) == (["9"], "men's")
    assert query(parser, "rain jacket for a toddler").gender == "kids"
    steel = query(parser, "insulated stainless steel water bottle")
    assert "stainless steel" in steel.features and steel.colours == []
    throw = query(parser, "a waterproof jacket for the tent")
    assert throw.categories == ["apparel-jackets"], "what it is for is not what is wanted"
    assert query(parser, "looking for a tent").categories == ["outdoor-tents"]


def test_part_of_a_category_name_is_a_kind_when_products_are_named_apart(
    parser: QueryParser,
) -> None:
    headlamp = query(parser, "a headlamp for night running")
    assert (headlamp.categories, headlamp.kinds) == (["outdoor-lighting"], ["headlamp"])
    assert query(parser, "lanterns").categories == ["outdoor-lighting"]


def test_a_category_named_like_products_elsewhere_takes_them_too(parser: QueryParser) -> None:
    fleece = query(parser, "what women's fleece jackets do you have?")
    assert sorted(fleece.categories) == ["apparel-fleece", "tau2-fleece-jacket"]
    assert fleece.kinds == ["fleece jacket"], "midlayers are not fleece jackets"


def test_a_long_message_is_reduced_not_refused(parser: QueryParser) -> None:
    text = "I need a tent " + "for a long trip with friends and family " * 20
    q = query(parser, text)
    assert q.categories == ["outdoor-tents"] and len(q.text) <= 300


def test_an_amount_is_a_feature(parser: QueryParser) -> None:
    pack = query(parser, "a 55 liter backpack")
    assert (pack.categories, pack.features) == (["outdoor-backpacks"], ["55l"])


def test_a_thing_named_only_in_words_the_catalogue_never_uses_must_be_stated(
    parser: QueryParser,
) -> None:
    # No product, category or brand says "kayak": the words are what a product must state, so
    # a search that guesses the type from the meaning cannot pass its nearest products off.
    kayak = parser.read("an inflatable kayak")
    assert (kayak.types, kayak.features, kayak.label) == (
        [],
        ["inflatable", "kayak"],
        "inflatable kayak",
    )
    assert query(parser, "an inflatable kayak").features == ["inflatable", "kayak"]
    hoodie = parser.read("a navy hoodie")
    assert (hoodie.colours, hoodie.features) == (["navy"], ["hoodie"])
    # A catalogue word places the request; a use or a story is read for its meaning; a type
    # said in passing ("my coffee") is context; and a follow-up edits the query in force.
    assert parser.read("a waterproof kayak").features == ["waterproof"]
    assert parser.read("a tent").types and not parser.read("a tent").features
    assert not parser.read("something to carry my lunch to the office every day").features
    assert not parser.read("keep my water bottle cold").features
    assert not parser.read("bigger", in_force=True).features


@pytest.mark.parametrize(
    "text", ["need a rain shell for hiking, nothing over 120 bucks", "waterproof shells for hiking"]
)
def test_a_garment_named_in_other_words_wins_over_the_activity(
    parser: QueryParser, text: str
) -> None:
    """Walk 5: "a rain shell for hiking" was read as backpacks (from "hiking"); a shell is the
    store's jacket, and the activity only a wish."""
    found = query(parser, plain_words(text))
    assert found.categories == ["apparel-jackets"], found
    assert "hiking" in found.prefer


@pytest.fixture(scope="module")
def reading_meaning() -> QueryParser:
    """The parser with MiniLM, as the assistant builds it: words are weighed by meaning."""
    from ml_core.recommend.features import embed_texts

    return QueryParser(VOCABULARY, embed_texts)


@pytest.mark.parametrize(
    ("text", "demanded"),
    [
        ("a cashmere midlayer", ["cashmere"]),
        ("solar charged lantern please", ["solar", "charged"]),
        ("arcteryx jackets", ["arcteryx"]),
    ],
)
def test_a_word_asked_of_the_type_is_a_feature_it_must_state(
    reading_meaning: QueryParser, text: str, demanded: list[str]
) -> None:
    asked = query(reading_meaning, text)
    assert asked.categories and set(demanded) <= set(asked.features)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a camping lantern", "camping"),  # another name of Camp Lanterns
        ("a big tent", "big"),  # how big, not something a tent states
        ("walking boots", "walking"),  # what for
    ],
)
def test_a_word_naming_the_type_or_its_size_or_use_only_ranks(
    reading_meaning: QueryParser, text: str, kept: str
) -> None:
    asked = query(reading_meaning, text)
    assert asked.categories and kept not in asked.features


@pytest.mark.parametrize(
    ("text", "categories"),
    [
        # "camping" names Camp Chairs (camp/camping by meaning) and not Office Chair.
        ("camping chair", {"outdoor-camp-chairs"}),
        ("a comfy chair", {"outdoor-camp-chairs", "tau2-office-chair"}),
    ],
)
def test_a_word_naming_some_of_a_types_categories_picks_them_out(
    reading_meaning: QueryParser, text: str, categories: set[str]
) -> None:
    assert set(query(reading_meaning, text).categories) == categories


def test_a_model_number_after_a_name_word_is_a_feature(reading_meaning: QueryParser) -> None:
    assert "stormglow 5" in query(reading_meaning, "the stormglow 5 lantern").features
    # A number after a feature is its measure, not a model ("waterproof 4k" is two features).
    assert query(reading_meaning, "waterproof 2 person tent").features == ["2-person", "waterproof"]


@pytest.mark.parametrize(
    ("text", "passing"),
    [
        # What a verb after "to" acts on is what the product is for, not the product.
        ("something to keep the water bottle cold on a hike", "water bottle"),
        ("a way to carry the backpack on a bike", "backpack"),
        # A place a thing goes, and the shopper's own thing with a word between.
        ("one I can hang in the tent", "tent"),
        ("for keeping in my own backpack", "own backpack"),
    ],
)
def test_a_type_said_as_the_object_of_a_use_or_a_place_is_in_passing(
    parser: QueryParser, text: str, passing: str
) -> None:
    reading = parser.read(text)
    assert reading.types == [] and reading.passing == [passing], reading


def test_after_to_buy_or_to_find_the_thing_named_is_still_wanted(parser: QueryParser) -> None:
    assert query(parser, "I'd like to buy a tent for the weekend").categories == ["outdoor-tents"]
    assert query(parser, "trying to find a backpack").categories == ["outdoor-backpacks"]


def test_a_follow_up_that_names_what_it_must_go_with_narrows_where_products_say_it(
    parser: QueryParser,
) -> None:
    packs = query(parser, "backpacks")
    fits = query(parser, "needs to fit my water bottle", packs)
    # The type in force stays; what the products must go with is a wish, not a new search.
    assert fits.categories == ["outdoor-backpacks"]
    assert {"water", "bottle"} <= set(fits.prefer) and fits.features == []


@pytest.fixture(scope="module")
def reading_catalogue_text() -> QueryParser:
    """With MiniLM, over a vocabulary whose descriptions and reviews say "festival"."""
    from ml_core.recommend.features import embed_texts

    vocabulary = VOCABULARY.model_copy(update={"text_words": ["festivals", "breathable"]})
    return QueryParser(vocabulary, embed_texts)


def test_a_describing_word_of_the_catalogues_own_language_ranks_where_one_it_never_writes_is_asked(
    reading_catalogue_text: QueryParser,
) -> None:
    # "festival" is written in the store's descriptions (as "festivals"): it describes.
    festival = query(reading_catalogue_text, "a festival tent")
    assert festival.categories == ["outdoor-tents"] and "festival" not in festival.features
    # "heated" is written nowhere and names no feature: the tents must state it.
    heated = query(reading_catalogue_text, "a heated tent")
    assert heated.categories == ["outdoor-tents"] and "heated" in heated.features


def test_a_shade_the_store_never_names_reads_as_its_one_colour_family(parser: QueryParser) -> None:
    """The fresh2 dev half: "maroon fleece" found nothing, as no SKU is called maroon; the
    burgundy one is a maroon fleece to a shopper. A shade of two families names no one colour."""
    maroon = query(parser, "maroon jacket")
    assert maroon.categories == ["apparel-jackets"] and maroon.colours == ["red"]
    assert query(parser, "navy jacket").colours == ["navy"]  # a colour the store sells stays
    assert query(parser, "khaki jacket").colours == []  # green, brown or beige


def test_a_clipped_pet_name_names_the_type_it_was_clipped_from(
    reading_meaning: QueryParser,
) -> None:
    """The fresh2 dev half: "red lippy" was said to be something the store does not sell."""
    lippy = query(reading_meaning, "red lippy")
    assert lippy.categories == ["dj-beauty"] and lippy.colours == ["red"], lippy
    assert reading_meaning.read("a comfy hoodie").unsold  # no type starts "hood"


def test_a_use_told_by_its_verb_is_searched_by_meaning_not_refused(
    reading_meaning: QueryParser,
) -> None:
    """The fresh2 dev half: "something to film myself surfing" was read as a film the store
    does not sell; a thing to do something with is found by what it is for."""
    reading = reading_meaning.read("something to film myself surfing")
    assert not reading.unsold and reading.features == [] and reading.types == []


def test_a_brands_product_line_names_its_products_where_a_shared_word_only_describes() -> None:
    lines = Vocabulary(
        categories=[
            CategoryRef(id="phones", name="Smartphones"),
            CategoryRef(id="tops", name="Tops"),
        ],
        products=[
            *(
                ProductRef(id=f"i{n}", name=name, category_id="phones", brand_id="apple")
                for n, name in enumerate(("iPhone 5s", "iPhone X", "iPhone 13 Pro"))
            ),
            # Another brand's product "with iPhone" does not make the line anyone's word.
            ProductRef(
                id="lamp", name="Selfie Lamp with iPhone", category_id="phones", brand_id="gm"
            ),
            *(
                ProductRef(
                    id=f"w{brand}", name=f"{brand} Warm Top", category_id="tops", brand_id=brand
                )
                for brand in ("north", "ridge", "alpen")
            ),
        ],
        brands=[NamedRef(id=b, name=b) for b in ("apple", "gm", "north", "ridge", "alpen")],
        options={},
        stores=[],
        features=[],
    )
    parser = QueryParser(lines)
    assert "iphone" in parser.read("iphone").prefer
    assert "warm" not in parser.preferences


@pytest.mark.parametrize(
    ("said", "word", "first"),
    [
        ("is there a lighter one", "lighter", ("weight", "less")),
        ("warmer please", "warmer", ("temperature rating", "less")),
        ("any roomier ones?", "roomier", ("volume", "more")),
        ("got a more cushioned pair?", "more cushioned", ("cushion", "more")),
        ("one with a higher rating?", "higher rating", ("rating", "more")),
        ("ones with a longer battery life?", "longer battery life", ("battery life", "more")),
    ],
)
def test_a_comparative_follow_up_keeps_the_type_and_compares_the_products_shown(
    parser: QueryParser, said: str, word: str, first: tuple[str, str]
) -> None:
    """ "Lighter?", "warmer please": the query in force, its type and budget kept, plus a
    comparative of the products shown, on the measures the word may mean, in order."""
    tents = query(parser, "tents under 500")
    reading = parser.read(said, in_force=True)
    assert not reading.types and reading.constrains
    follow = parser.apply(reading, said, tents, shown_prices=[149.0, 229.0], shown=["p5", "p6"])
    assert (follow.categories, follow.max_price) == (["outdoor-tents"], 500.0)
    assert follow.beyond is not None and follow.beyond.word == word
    assert (follow.beyond.measures[0].name, follow.beyond.measures[0].direction) == first
    assert follow.beyond.than == ["p5", "p6"] and follow.beyond.bound is None
    assert not follow.text.endswith(said), "a comparative is no ranking words"


def test_cheaper_is_measured_against_the_prices_shown(parser: QueryParser) -> None:
    tents = query(parser, "tents")
    said = "anything a bit less pricey?"
    cheaper = parser.apply(parser.read(said, in_force=True), said, tents, [149.0, 229.0], ["p6"])
    assert cheaper.max_price is None, "no budget was said"
    assert cheaper.beyond is not None
    assert (cheaper.beyond.measure, cheaper.beyond.bound) == ("price", 149.0)
    # Another type named: a new search, compared with nothing shown before.
    bags = parser.apply(
        parser.read("a lighter backpack?"), "a lighter backpack?", tents, [], ["p6"]
    )
    assert bags.categories == ["outdoor-backpacks"] and bags.beyond is None
    # Nothing shown: no comparative to measure, the query stands.
    alone = parser.apply(parser.read("lighter?", in_force=True), "lighter?", tents)
    assert alone.beyond is None
