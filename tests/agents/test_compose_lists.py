"""How a search answer lists a product's colours and sizes: never cut short in a way that reads
as a size or colour missing."""

from __future__ import annotations

from agents.compose import _details, _document_label, _order, _search, describe_query
from agents.state import DialogueState

BOOT = {
    "product_id": "P1",
    "name": "Falconpoint Hiking Boot",
    "price_min": 120.0,
    "price_max": 140.0,
    "colours": ["black", "navy", "sand", "olive", "red", "tan"],
    "sizes": ["7", "7.5", "8", "8.5", "9", "10", "11", "12", "13"],
}


def test_every_size_is_listed_when_the_shopper_asked_for_one() -> None:
    answer, _ = _search(
        {"products": [BOOT], "query": {"sizes": ["13"], "categories": ["boots"]}, "total": 1},
        DialogueState(),
    )
    assert "size 7, 7.5, 8, 8.5, 9, 10, 11, 12, 13" in answer


def test_colours_past_the_first_few_are_counted_not_dropped() -> None:
    answer, _ = _search(
        {"products": [BOOT], "query": {"categories": ["boots"]}, "total": 1}, DialogueState()
    )
    assert "black, navy, sand, olive and 2 more" in answer


def test_what_a_closest_match_misses_names_only_what_it_has() -> None:
    """No pink boots: a boot that comes in other colours misses "in other colours"; one sold in
    no colour at all is not "in other colours", its colour is just not listed."""
    plain = {**BOOT, "product_id": "P2", "name": "Trail Runner", "colours": []}
    output = {
        "products": [BOOT, plain],
        "query": {"colours": ["pink"], "categories": ["boots"]},
        "relaxed": ["colours"],
        "misses": {"P1": ["colours"], "P2": ["colours"]},
    }
    answer, _ = _search(output, DialogueState())
    lines = dict(line.split(" (", 1) for line in answer.splitlines()[1:] if " (" in line)
    assert "(each says what it misses)" in answer.splitlines()[0]
    assert "misses: in other colours" in next(v for k, v in lines.items() if "Falconpoint" in k)
    trail = next(v for k, v in lines.items() if "Trail Runner" in k)
    assert "misses: with no colour listed" in trail and "other colours" not in trail
    # Every product shown without colours: the heading says so in the same words.
    alone, _ = _search(
        {**output, "products": [plain], "misses": {"P2": ["colours"]}}, DialogueState()
    )
    assert alone.splitlines()[0].endswith("Here is the closest match with no colour listed:")


def test_ratings_round_half_up_the_same_way_for_every_product() -> None:
    """2.95 read "rated 3.0" but 4.55 "4.5" (a float's `:.1f`, walk 5): both round half up."""
    products = [
        {**BOOT, "product_id": f"P{i}", "name": f"Boot {i}", "rating": rating}
        for i, rating in enumerate([2.95, 4.55, 3.55])
    ]
    answer, _ = _search(
        {"products": products, "query": {"categories": ["boots"]}, "total": 3}, DialogueState()
    )
    for said in ("rated 3.0", "rated 4.6", "rated 3.6"):
        assert said in answer, answer


def test_a_capacity_and_a_yes_no_option_are_said_in_words() -> None:
    """The catalogue abbreviates a tent for four as "4p": the answer says "4-person"; an option
    whose value is "yes" is said by its name."""
    tent = {**BOOT, "product_id": "T1", "name": "Ridge Dome Tent", "colours": ["green"]}
    output = {
        "products": [tent],
        "query": {"features": ["4p"], "categories": ["tents"]},
        "relaxed": ["features"],
    }
    answer, _ = _search(output, DialogueState(query_label="tent"))
    assert answer.startswith("Sorry, we have no 4-person tents.") and "4p" not in answer
    assert "the closest match that isn't 4-person" in answer
    assert describe_query({}, "2p backpacking tent") == "2-person backpacking tent"
    order = {
        "order_id": "#W1",
        "status": "delivered",
        "total": 10.0,
        "items": [{"name": "Action Camera", "options": {"resolution": "4K", "waterproof": "yes"}}],
    }
    text, _ = _order(order, DialogueState())
    assert "Action Camera (4K, waterproof)" in text


def test_a_document_is_cited_by_what_it_is_about() -> None:
    passage = {"doc_id": "review:P1:0", "doc_type": "review", "title": "Ridge Dome Tent"}
    assert _document_label(passage) == "reviews of Ridge Dome Tent"
    assert _document_label({**passage, "doc_type": "product"}) == "Ridge Dome Tent"


def test_a_description_that_opens_with_a_question_ends_once() -> None:
    """ "...for city walks?." (walk 7): a first sentence keeps its own end."""
    product = {"id": "P1", "name": "Trail Shoe", "variants": [], "price_min": 90.0}
    asked, _ = _details({**product, "description": "Tired feet? Not any more."}, DialogueState())
    said, _ = _details(
        {**product, "description": "Light and quick. Built to last."}, DialogueState()
    )
    assert "Tired feet?" in asked and "?." not in asked
    assert "Light and quick." in said and ".." not in said


def test_a_comparative_with_nothing_past_it_says_so_with_the_value_compared() -> None:
    """ "Cheaper?" of tents from $55.99, "roomier?" of packs up to 35 L under a budget, "more
    cushioned?" of socks up to heavy: one plain sentence, the value the products shown reach,
    and no list padded with the ones just shown."""

    def beyond(word: str, measure: str, bound: float, text: str) -> dict[str, object]:
        measures = [{"name": measure, "direction": "less"}]
        return {"word": word, "measures": measures, "measure": measure, "bound": bound,
                "bound_text": text}  # fmt: skip

    cheaper = {"beyond": beyond("cheaper", "price", 55.99, "$55.99")}
    assert describe_query(cheaper, "tents") == "tents cheaper than $55.99"
    roomier = {"max_price": 150.0, "beyond": beyond("roomier", "volume", 35.0, "35 L")}
    assert describe_query(roomier, "backpacks") == "backpacks roomier than 35 L under $150"
    cushioned = {"beyond": beyond("more cushioned", "cushion", 3.0, "heavy")}
    assert describe_query(cushioned, "socks") == "socks more cushioned than heavy cushion"
    nothing = {"products": [], "query": {"categories": ["socks"], **cushioned}}
    answer, _ = _search(nothing, DialogueState(query_label="socks"))
    assert answer == "Sorry, we have no socks more cushioned than heavy cushion."
