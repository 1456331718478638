"""The shopper dev set: its files (frozen test half, split by id), the independent scorer on a
tiny world whose answers are checked by hand, and a short run through the real assistant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from agents.assistant import Assistant
from evals.shopper_devset import (
    HALVES,
    SHOPPER_SETS,
    Case,
    Scorer,
    Spec,
    assistant_ask,
    file_sha256,
    half_of,
    load_half,
    run_case,
    says_no_match,
    score_turn,
    summarise,
)
from retail.store.db import transaction
from tests.factories import Catalogue, make_category, make_product, seed_catalogue
from tests.tools.world import ToolWorld
from tools.base import Principal

# ---- the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", list(SHOPPER_SETS.values()), ids=list(SHOPPER_SETS))
def test_test_half_is_frozen(directory: Path) -> None:
    """test.yaml changes only together with test.sha256, so a change shows in review."""
    recorded = (directory / "test.sha256").read_text(encoding="utf-8").split()[0]
    assert file_sha256(directory / "test.yaml") == recorded


# Each fresh set, and the kinds of request it was written for (each in both halves).
FRESH_KINDS = {
    "shopper-fresh": {"use-case", "season", "synonym", "age", "no-match", "refine"},
    "shopper-fresh2": {
        "use-case", "synonym", "regional", "price", "colour", "typo", "multi", "no-match",
        "refine", "sort", "gender", "attribute",
    },
}  # fmt: skip


@pytest.mark.parametrize("name", list(FRESH_KINDS))
def test_a_fresh_set_splits_by_case_id_and_covers_its_kinds(name: str) -> None:
    """The fresh requests: both halves split by id like the first set, no id shared with an
    earlier set, and each kind the set was written for in both halves."""
    halves = {half: load_half(half, SHOPPER_SETS[name]) for half in HALVES}
    for half, cases in halves.items():
        assert all(half_of(c.id) == half for c in cases), half
        kinds = {tag for c in cases for tag in c.tags}
        assert FRESH_KINDS[name] <= kinds, (half, FRESH_KINDS[name] - kinds)
    fresh = {c.id for cases in halves.values() for c in cases}
    earlier = {
        c.id
        for other in SHOPPER_SETS
        if other != name
        for half in HALVES
        for c in load_half(half, SHOPPER_SETS[other])
    }
    assert len(fresh) >= 40 and not fresh & earlier


def test_halves_split_by_case_id_and_cover_the_brief() -> None:
    halves = {half: load_half(half) for half in HALVES}
    for half, cases in halves.items():
        assert all(half_of(c.id) == half for c in cases), half
    every = [c for cases in halves.values() for c in cases]
    assert len({c.id for c in every}) == len(every)
    singles = [c for c in every if not c.is_script]
    assert len(singles) >= 300
    assert sum(c.no_match for c in singles) >= 40
    assert sum(c.is_script for c in every) >= 40
    catalogues = {
        cat.split("-")[0] if cat.startswith(("tau2", "dj")) else "generated"
        for c in every
        for t in c.turns
        for cat in t.spec.categories
    }
    assert catalogues == {"generated", "tau2", "dj"}


# ---- the scorer on a tiny world ---------------------------------------------------------------

WOMENS_TEE = "prod-womens-tee"
UNISEX_TEE = "prod-unisex-tee"
MENS_TEE = "prod-mens-tee"
TEES = "cat-tees"


@pytest.fixture
def world(engine: Engine) -> Iterator[tuple[Catalogue, Scorer]]:
    """The factories' catalogue (see `Catalogue` for its stock) plus three tees in navy or red."""
    catalogue = seed_catalogue(engine)
    with transaction(engine) as session:
        make_category(session, TEES, "Tees", catalogue.outdoor)
        for product_id, name, gender, colour in (
            (WOMENS_TEE, "Women's Trail Tee", "women's", "navy"),
            (UNISEX_TEE, "Camp Tee", "unisex", "navy"),
            (MENS_TEE, "Ridge Tee", "men's", "brick red"),
        ):
            make_product(
                session,
                product_id,
                name,
                category_id=TEES,
                attributes={"gender": gender, "options": {"material": ["leather"]}},
                rating=4.0,
                variants=[{"options": {"size": "M", "color": colour}, "price": 20.0}],
            )
    yield catalogue, Scorer(engine)


def _relevant(scorer: Scorer, **spec: object) -> set[str]:
    return set(scorer.relevant(Spec.model_validate(spec)))


def test_relevant_sets_follow_stock_and_one_variant(world: tuple[Catalogue, Scorer]) -> None:
    c, scorer = world
    tees = {WOMENS_TEE, UNISEX_TEE, MENS_TEE}
    # The windbreaker nets to zero and the skillet is not available; the boot has no
    # inventory rows at all, so it is in stock.
    assert _relevant(scorer, categories=[c.outdoor]) == {c.alpine, c.canyon, c.evergreen} | tees
    assert _relevant(scorer, categories=[c.kitchen]) == set()
    # The jacket's M variant has nothing on hand: size M and its price never meet on stock.
    assert _relevant(scorer, categories=[c.jackets], sizes=["M"]) == set()
    assert _relevant(scorer, categories=[c.jackets], max_price=135) == {c.alpine}
    assert _relevant(scorer, categories=[c.jackets], min_price=130) == {c.evergreen}
    assert _relevant(scorer, categories=[c.footwear], sizes=["10"], max_price=150) == set()
    assert _relevant(scorer, brands=["trailhead"]) == {c.canyon}


def test_colours_gender_and_keywords(world: tuple[Catalogue, Scorer]) -> None:
    c, scorer = world
    blue = ["blue", "navy", "teal"]
    assert _relevant(scorer, categories=[c.outdoor], colours=blue) == {
        c.alpine,
        WOMENS_TEE,
        UNISEX_TEE,
    }
    assert _relevant(scorer, categories=[TEES], gender="women") == {WOMENS_TEE, UNISEX_TEE}
    assert _relevant(scorer, categories=[TEES], gender="men") == {MENS_TEE, UNISEX_TEE}
    # A yes-attribute counts by its name; the import's summary of options does not count.
    assert _relevant(scorer, keywords=["waterproof"]) == {c.alpine}
    assert _relevant(scorer, categories=[TEES], keywords=["leather"]) == set()
    assert _relevant(scorer, keywords=[["parka", "boot"]]) == {c.canyon, c.evergreen}
    assert _relevant(scorer, categories=[c.jackets], exclude_keywords=["nylon"]) == {c.evergreen}


def test_success_precision_and_sorts(world: tuple[Catalogue, Scorer]) -> None:
    c, scorer = world
    outdoor = Spec(categories=[c.outdoor, c.home])
    mixed = score_turn(scorer, outdoor, [c.alpine, c.breeze, c.canyon], "Here are 3 options.")
    assert mixed.p_at_5 == pytest.approx(2 / 3) and not mixed.success

    two_cheapest = Spec(categories=[c.jackets, c.footwear], sort="price_asc", count=2)
    right = score_turn(scorer, two_cheapest, [c.alpine, c.canyon], "The two cheapest:")
    assert right.success and right.exact_first and right.p_at_5 == 1.0
    wrong = score_turn(scorer, two_cheapest, [c.canyon, c.alpine], "The two cheapest:")
    assert not wrong.success and wrong.exact_first is False
    too_many = score_turn(
        scorer, two_cheapest, [c.alpine, c.canyon, c.evergreen], "The two cheapest:"
    )
    assert too_many.exact_first and not too_many.success

    # "the most expensive of those": the dearest of the cards shown before counts too.
    dearest = Spec(categories=[c.jackets, c.footwear], sort="price_desc", count=1)
    asked_of_shown = score_turn(
        scorer, dearest, [c.canyon], "This one.", shown_before=[c.alpine, c.canyon]
    )
    assert asked_of_shown.success
    assert not score_turn(scorer, dearest, [c.canyon], "This one.").success


BAGS = "cat-bags"


def test_a_comparative_is_measured_against_the_cards_shown_before(engine: Engine) -> None:
    """ "Lighter?", "warmer?", "cheaper?", "higher rated?": past the extreme of the previous
    turn's cards, read in one unit ("1.2 kg" is 1200 g), on the SKUs that met that turn's spec;
    nothing past it leaves nothing relevant, so only an honest "no" succeeds."""
    catalogue = seed_catalogue(engine)
    with transaction(engine) as session:
        make_category(session, BAGS, "Sleeping Bags", catalogue.outdoor)
        for product_id, weight, rating, temperature, prices in (
            ("bag-a", "1.2 kg (2.6 lb)", 4.0, "30°F", [90.0, 120.0]),
            ("bag-b", "900 g (31.7 oz)", 4.5, "40°F", [150.0]),
            ("bag-c", "2.0 kg (4.4 lb)", 3.5, "15°F", [60.0]),
        ):
            make_product(
                session,
                product_id,
                f"Bag {product_id}",
                category_id=BAGS,
                rating=rating,
                attributes={"weight": weight, "temperature rating": temperature},
                variants=[{"price": p} for p in prices],
            )
    scorer = Scorer(engine)
    bags = Spec(categories=[BAGS])

    def past(measure: str, direction: str, shown: list[str], before: Spec = bags) -> set[str]:
        beyond = {"measure": measure, "direction": direction}
        spec = Spec.model_validate({"categories": [BAGS], "beyond": beyond})
        return set(scorer.relevant(spec, shown, before))

    assert past("weight", "less", ["bag-a"]) == {"bag-b"}
    assert past("weight", "less", ["bag-a", "bag-b"]) == set()
    assert past("temperature rating", "less", ["bag-a", "bag-b"]) == {"bag-c"}
    assert past("rating", "more", ["bag-a", "bag-c"]) == {"bag-b"}
    assert past("price", "less", ["bag-a"]) == {"bag-c"}
    # The $120 SKU of bag-a was the one shown (the previous turn asked over $100): bag-a's $90
    # SKU is cheaper than what was shown.
    assert past("price", "less", ["bag-a"], Spec(categories=[BAGS], min_price=100)) == {
        "bag-a",
        "bag-c",
    }
    # Nothing shown before: the comparative constrains nothing.
    assert past("price", "less", []) == {"bag-a", "bag-b", "bag-c"}
    nothing = Spec.model_validate(
        {"categories": [BAGS], "beyond": {"measure": "weight", "direction": "less"}}
    )
    shown = ["bag-b"]
    honest = score_turn(scorer, nothing, [], "Nothing lighter than 900 g.", shown_before=shown)
    assert honest.no_match_expected and honest.success
    padded = score_turn(scorer, nothing, ["bag-a"], "Here is one.", shown_before=shown)
    assert not padded.success


def test_no_match_honesty_and_its_opposite(world: tuple[Catalogue, Scorer]) -> None:
    c, scorer = world
    kitchen = Spec(categories=[c.kitchen])
    honest = score_turn(scorer, kitchen, [c.alpine], "Sorry, no skillets in stock. Closest:")
    assert honest.no_match_expected and honest.honest and honest.success
    padded = score_turn(scorer, kitchen, [c.alpine], "Here are 1 option(s): Alpine Rain Jacket.")
    assert padded.honest is False and not padded.success
    false_alarm = score_turn(scorer, Spec(categories=[c.jackets]), [], "Nothing matches that.")
    assert false_alarm.false_no_match and not false_alarm.success


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("No blue rain jackets; the closest is the navy Onyxwood at $139.99.", True),
        ("I couldn't find a pink tent. Here is the closest.", True),
        ("We don't carry snowboards.", True),
        ("Nothing matches all of that - the closest are below.", True),
        ("Here are 3 tents at no more than $100.00.", False),
        ("Here are 5 options. None of them is a pink tent.", False),
        ("Sure! Here are two rain jackets.", False),
        ("Sorry, I can't help with that here.", False),
        ("There is nothing waiting for your confirmation.", False),
    ],
)
def test_says_no_match_reads_the_first_sentence(answer: str, expected: bool) -> None:
    assert says_no_match(answer) is expected


def test_reference_turns_act_on_the_positions_shown(world: tuple[Catalogue, Scorer]) -> None:
    c, scorer = world
    before = [c.alpine, c.canyon, c.evergreen]
    second = Spec(refers_to=[2], expect="details")
    assert score_turn(scorer, second, [c.canyon], "Canyon...", shown_before=before).success
    assert not score_turn(scorer, second, [c.alpine], "Alpine...", shown_before=before).success
    first_two = Spec(refers_to=[1, 2], expect="compare")
    assert score_turn(scorer, first_two, [c.canyon, c.alpine], "", shown_before=before).success
    assert not score_turn(scorer, first_two, [c.alpine], "", shown_before=before).success
    assert not score_turn(scorer, first_two, [c.alpine, c.canyon], "", shown_before=[]).success


# ---- a short run through the real assistant ---------------------------------------------------

E2E_CASES = [
    Case.model_validate(c)
    for c in (
        {"id": "e2e-grill", "say": "a gas grill", "spec": {"categories": ["tau2-grill"]}},
        {
            "id": "e2e-pink-tent",
            "no_match": True,
            "say": "a pink tent",
            "spec": {"categories": ["tau2-backpack"], "colours": ["pink"]},
        },
        {
            "id": "e2e-kettle-script",
            "turns": [
                {"say": "kettles", "spec": {"categories": ["tau2-electric-kettle"]}},
                {
                    "say": "the cheapest one",
                    "spec": {
                        "categories": ["tau2-electric-kettle"],
                        "sort": "price_asc",
                        "count": 1,
                    },
                },
                {
                    "say": "tell me about the first one",
                    "spec": {"refers_to": [1], "expect": "details"},
                },
            ],
        },
    )
]


def test_cases_run_through_the_assistant_and_are_scored(
    assistant: Assistant, tool_world: ToolWorld
) -> None:
    scorer = Scorer(tool_world.engine)
    ask = assistant_ask(assistant, Principal.parse(f"shopper:{tool_world.shopper_id}"))
    scores = [s for case in E2E_CASES for s in run_case(scorer, case, ask, "dev")]

    assert [(s.case, s.turn, s.kind) for s in scores] == [
        ("e2e-grill", 1, "single"),
        ("e2e-pink-tent", 1, "single"),
        ("e2e-kettle-script", 1, "script_start"),
        ("e2e-kettle-script", 2, "follow_up"),
        ("e2e-kettle-script", 3, "follow_up"),
    ]
    assert all(s.error is None and s.latency_ms and s.answer for s in scores)
    grill, pink, *_ = scores
    assert grill.relevant == 1 and not grill.no_match_expected
    assert grill.shown_relevant == [
        p in scorer.relevant(E2E_CASES[0].turns[0].spec) for p in grill.shown
    ]
    assert pink.no_match_expected and pink.honest == says_no_match(pink.answer)
    summary = summarise(scores)
    assert summary["cases"] == 3 and summary["turns"] == 5
    assert summary["singles_with_matches"] == 1 and summary["no_match_requests"] == 1
    assert summary["follow_up_turns"] == 2 and summary["sort_turns"] <= 1
    assert summary["success"] == float(grill.success)
