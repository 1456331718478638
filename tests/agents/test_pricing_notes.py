"""The pricing run's notes are sentences for a person: the product by name, no tool names."""

from __future__ import annotations

from agents.pricing import _failed, _no_elasticity
from tools.base import ToolErrorInfo, ToolOutcome
from tools.pricing import MarkdownCandidate

TENT = MarkdownCandidate(
    sku="P00087-M",
    product_id="P00087",
    product="Trail Tent",
    location_id="S001",
    stock=40,
    current_price=199.0,
    unit_cost=80.0,
    units_last_4_weeks=0,
    season_outlook=None,
    weeks_of_cover=None,
    excess_units=40.0,
    excess_cost=3200.0,
    reason="nothing sold in four weeks",
)


def _refused(name: str, message: str) -> ToolOutcome:
    return ToolOutcome(
        call_id="c1",
        name=name,
        arguments={},
        status="not_found",
        error=ToolErrorInfo(kind="not_found", message=message),
        latency_ms=1.0,
    )


def test_a_product_without_an_elasticity_is_named_and_what_follows_is_said() -> None:
    outcome = _refused(
        "item_elasticity", "Product P00087 has too little sales history for an elasticity."
    )
    assert _no_elasticity(outcome, TENT) == (
        "No elasticity for Trail Tent (P00087): it has too little sales history, so no "
        "markdown is planned for it."
    )


def test_a_failed_step_says_what_the_run_was_doing() -> None:
    outcome = _refused("propose_markdowns", "There is no store 'S999'.")
    assert _failed(outcome) == "Could not plan the markdowns: There is no store 'S999'."
