"""One rule for quantities, prices and money (`approvals.bounds`), applied the same way by the
edit functions, the agent run's decisions, the command line and the API: a bad edit is refused
with one sentence (exit 2 / HTTP 422) before anything is decided or ordered."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langgraph.types import Command

from agents.checkpoint import open_checkpointer
from agents.operations import DecisionBatch, ProposalForDecision, advance
from agents.replenishment import ReplenishmentState, build_graph
from api.app import create_app
from api.auth import issue_key
from approvals.bounds import MAX_EDIT_FACTOR, BoundsError, quantity_ceiling
from approvals.decisions import DecisionRequest
from approvals.price_changes import edit_markdown
from approvals.purchase_orders import edit_purchase_order, quantity_limits
from retail.identity import Principal
from tests.approvals.conftest import World
from tests.proposals import MARKDOWN_CONTENT

ORDER = {
    "supplier": {"id": "SUP1"},
    "lines": [
        {"sku": "A", "quantity": 12, "cases": 2, "case_pack": 6, "unit_cost": 2.5},
        {"sku": "B", "quantity": 4, "cases": 4, "case_pack": 1, "unit_cost": 10.0},
    ],
    "totals": {"lines": 2, "units": 16, "value": 70.0},
}


def test_quantities_stay_whole_cases_within_ten_times_the_proposed_line() -> None:
    assert quantity_ceiling(12, 6) == 120 and quantity_ceiling(4, 1) == 40
    assert quantity_ceiling(1, 6) == 12  # ten units round up to whole cases
    edited = edit_purchase_order(ORDER, {"A": 120})
    assert edited["lines"][0]["quantity"] == 120 and edited["lines"][0]["proposed_quantity"] == 12
    # A second edit is bounded by what the planner proposed, not by the first edit.
    with pytest.raises(BoundsError, match="order at most 120"):
        edit_purchase_order(edited, {"A": 126})
    for value, message in (
        (
            3_000_000_000,
            "3,000,000,000 units of A is more than 10 times the proposed line; order at most 120.",
        ),
        (126, "126 units of A is more than 10 times the proposed line; order at most 120."),
        (math.inf, "The quantity for A must be a finite number, not inf."),
        (math.nan, "The quantity for A must be a finite number, not nan."),
        (-6, "The quantity for A must be a whole number of units, 0 or more."),
        (6.5, "The quantity for A must be a whole number of units, 0 or more."),
        (7, "7 units of A is not a whole number of cases of 6."),
    ):
        with pytest.raises(BoundsError) as refused:
            edit_purchase_order(ORDER, {"A": value})
        assert str(refused.value) == message


def test_quantities_stay_at_or_above_the_suppliers_minimum_order() -> None:
    # The planner raised A to the supplier's minimum order of 12 (two cases of 6).
    order = {**ORDER, "lines": [{**ORDER["lines"][0], "moq": 12}, ORDER["lines"][1]]}
    assert quantity_limits(order["lines"][0]) == (12, 120)
    assert quantity_limits({**ORDER["lines"][0], "moq": 8}) == (12, 120)  # whole cases
    assert quantity_limits(ORDER["lines"][1]) == (1, 40)  # no MOQ: one case
    with pytest.raises(BoundsError) as refused:
        edit_purchase_order(order, {"A": 6})
    assert str(refused.value) == (
        "6 units of A is below the supplier's minimum order of 12; "
        "order at least 12, or 0 to drop the line."
    )
    assert refused.value.field == "A"
    # Dropping the line and ordering the minimum are both allowed.
    assert [li["sku"] for li in edit_purchase_order(order, {"A": 0})["lines"]] == ["B"]
    assert edit_purchase_order(order, {"A": 18})["lines"][0]["quantity"] == 18


def test_prices_stay_positive_finite_and_under_the_proposals_ceiling() -> None:
    edited = edit_markdown(MARKDOWN_CONTENT, {"2026-11-30": 80.0})
    assert [w["price"] for w in edited["path"]] == [90.0, 90.0, 80.0]
    for price, message in (
        (0.0, "The price for the week of 2026-11-30 must be positive, not 0.0."),
        (-5.0, "The price for the week of 2026-11-30 must be positive, not -5.0."),
        (math.inf, "The price for the week of 2026-11-30 must be a finite number, not inf."),
        (
            26_000_000.0,
            "The price for the week of 2026-11-30 (26,000,000.00) is above the proposal's "
            "ceiling of 100.00 (its list or current price).",
        ),
    ):
        with pytest.raises(BoundsError) as refused:
            edit_markdown(MARKDOWN_CONTENT, {"2026-11-30": price})
        assert str(refused.value) == message


@pytest.fixture(scope="module")
def run(world: World) -> Iterator[tuple[str, list[ProposalForDecision]]]:
    """A replenishment run waiting for a planner."""
    yield world.start()


def _too_many(world: World, proposal_id: str) -> tuple[str, dict[str, float], str]:
    """An edit of the proposal's first line to 999,996 units, and the sentence refusing it."""
    line = world.proposal(proposal_id).content["lines"][0]
    pack = max(int(line.get("case_pack") or 1), 1)
    units = 999_996 - 999_996 % pack
    ceiling = quantity_ceiling(int(line["quantity"]), pack)
    assert units > ceiling
    sentence = (
        f"{units:,} units of {line['sku']} is more than {MAX_EDIT_FACTOR} times the proposed "
        f"line; order at most {ceiling:,}."
    )
    return line["sku"], {line["sku"]: units}, sentence


def _nothing_decided(world: World, proposal_id: str) -> None:
    assert world.proposal(proposal_id).status == "proposed"
    assert world.orders(proposal_id) == [] and world.trail(proposal_id) == (0, 0)


def test_the_command_line_refuses_a_bad_edit_before_deciding(
    world: World, run: tuple[str, list[ProposalForDecision]]
) -> None:
    thread, pending = run
    target = pending[0]
    sku, changes, sentence = _too_many(world, target.id)
    edit = ("proposals", "edit", target.id, "--as", "planner:ana", "--hash", target.content_hash)
    for value, message in (
        (3_000_000_000, "3,000,000,000 units of"),
        (changes[sku], sentence),
        ("inf", f"The quantity for {sku} must be a finite number, not inf."),
        ("nan", f"The quantity for {sku} must be a finite number, not nan."),
    ):
        refused = world.aisle(*edit, "--set", f"{sku}={value}", "--thread", thread)
        assert refused.returncode == 2, refused.stderr
        assert message in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        _nothing_decided(world, target.id)
    # The run still waits, whole: the same proposal is approved through it as usual.
    approved = world.aisle(
        "proposals", "approve", target.id, "--as", "planner:ana", "--hash", target.content_hash
    )
    assert approved.returncode == 0, approved.stderr
    assert f"(run {thread} resumed)" in approved.stdout
    world.assert_ordered_once(target.id)


def test_the_agent_run_refuses_a_bad_edit_and_keeps_waiting(
    world: World, run: tuple[str, list[ProposalForDecision]]
) -> None:
    thread, pending = run
    target = pending[1]
    _, changes, sentence = _too_many(world, target.id)
    batch = DecisionBatch(
        decider=Principal.parse("planner:ana"),
        decisions=[
            DecisionRequest(
                proposal_id=target.id,
                decision="edit",
                content_hash=target.content_hash,
                changes=changes,
            )
        ],
    )
    with open_checkpointer(world.settings) as saver:
        graph = build_graph(world.services, saver)
        values = advance(graph, Command(resume=batch.model_dump(mode="json")), thread).values
    state = ReplenishmentState.model_validate(values)
    assert not state.decisions[-1].accepted and state.decisions[-1].message == sentence
    assert target.id in {p.id for p in state.pending}
    assert world.proposal(target.id).status == "proposed" and world.orders(target.id) == []


def test_the_api_refuses_a_bad_edit_with_a_422_before_deciding(
    world: World, run: tuple[str, list[ProposalForDecision]]
) -> None:
    _, pending = run
    target = pending[2]
    _, changes, sentence = _too_many(world, target.id)
    key = issue_key(world.engine, Principal.parse("planner:pat"), label="bounds test")
    app = create_app(world.settings, services=world.services, load_assistant=False)
    with TestClient(app) as client:

        def edit(changes: dict[str, Any], idempotency: str) -> Any:
            return client.post(
                f"/v1/proposals/{target.id}/decision",
                json={
                    "decision": "edit",
                    "content_hash": target.content_hash,
                    "changes": changes,
                },
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency},
            )

        refused = edit(changes, "bounds-1")
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == sentence
        _nothing_decided(world, target.id)
        # Within the bounds, the same edit goes through and orders what was asked.
        line = world.proposal(target.id).content["lines"][0]
        within = {line["sku"]: quantity_ceiling(int(line["quantity"]), int(line["case_pack"]))}
        done = edit(within, "bounds-2")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "executed"
    world.assert_ordered_once(target.id)


def test_the_api_states_a_lines_limits_and_refuses_an_edit_below_the_minimum_order(
    world: World,
) -> None:
    first = world.template["lines"][0]
    pack = max(int(first["case_pack"]), 1)
    # The planner raised the line to a minimum order of two cases.
    raised = {**first, "quantity": 2 * pack, "cases": 2, "moq": 2 * pack}
    target = world.fresh([raised, *world.template["lines"][1:]])
    key = issue_key(world.engine, Principal.parse("planner:ana"), label="moq test")
    app = create_app(world.settings, services=world.services, load_assistant=False)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        shown = client.get(f"/v1/proposals/{target.id}", headers=headers)
        assert shown.status_code == 200, shown.text
        line = shown.json()["lines"][0]
        assert (line["min_quantity"], line["max_quantity"]) == (2 * pack, 20 * pack)
        refused = client.post(
            f"/v1/proposals/{target.id}/decision",
            json={
                "decision": "edit",
                "content_hash": target.content_hash,
                "changes": {raised["sku"]: pack},
            },
            headers={**headers, "Idempotency-Key": "moq-1"},
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == (
        f"{pack:,} units of {raised['sku']} is below the supplier's minimum order of "
        f"{2 * pack:,}; order at least {2 * pack:,}, or 0 to drop the line."
    )
    _nothing_decided(world, target.id)
