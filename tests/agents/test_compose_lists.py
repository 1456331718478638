"""How a search answer lists a product's colours and sizes: never cut short in a way that reads
as a size or colour missing."""

from __future__ import annotations

from agents.compose import _search
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
