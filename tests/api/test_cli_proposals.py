"""`aisle replenish run` and `aisle proposals ...` end to end on a tiny generated world: a
planner reads the queue, approves, edits and rejects; every refusal is one sentence and exit
code 2, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import Result

from retail.proposals import content_hash
from retail.store.models import PurchaseOrder, PurchaseOrderLine
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _purchase_orders() -> dict[str, dict[str, int]]:
    """Every purchase order made from a proposal: proposal id -> its lines."""
    engine = open_store()
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(
                    PurchaseOrder.proposal_id,
                    PurchaseOrderLine.variant_id,
                    PurchaseOrderLine.quantity,
                )
                .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
                .where(PurchaseOrder.proposal_id.is_not(None))
            ).all()
            assert session.scalar(
                select(func.count())
                .select_from(PurchaseOrder)
                .where(PurchaseOrder.proposal_id.is_not(None))
            ) == len({proposal for proposal, _, _ in rows})
    finally:
        engine.dispose()
    orders: dict[str, dict[str, int]] = {}
    for proposal, sku, quantity in rows:
        orders.setdefault(str(proposal), {})[sku] = quantity
    return orders


@pytest.mark.slow
def test_a_planner_decides_the_agents_proposals_from_the_command_line(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    run = _json(aisle("replenish", "run", "--json"))
    thread, waiting = run["thread_id"], run["proposals"]
    assert run["waiting"] and len(waiting) >= 3
    assert any("wait for a planner" in note for note in run["notes"])
    listed = _json(aisle("proposals", "list", "--status", "proposed", "--json"))
    assert {p["id"] for p in waiting} <= {p["id"] for p in listed}
    approve, edit, reject = (
        _json(aisle("proposals", "show", p["id"], "--json")) for p in waiting[:3]
    )
    assert approve["content_hash"] == waiting[0]["content_hash"] and approve["lines"]
    first = edit["lines"][0]

    def decide(
        verb: str, proposal: dict[str, Any], who: str = "planner:ana", *extra: str
    ) -> Result:
        digest = proposal["content_hash"]
        return aisle("proposals", verb, proposal["id"], "--as", who, "--hash", digest, *extra)

    stale = {**approve, "content_hash": content_hash({"lines": []})}
    unknown = {"id": "prop-nope", "content_hash": approve["content_hash"]}
    proposer = f"planner:{approve['proposer']}"
    refusals = [
        (
            decide("approve", approve, "shopper:cus-1"),
            "The shopper role may not decide purchase_order proposals; decide as admin or planner.",
        ),
        (decide("approve", approve, "associate:al"), "The associate role may not decide"),
        (decide("approve", approve, "wizard:merlin"), "Unknown role 'wizard'"),
        (decide("approve", {**approve, "content_hash": "abc"}), "--hash must be the 64-character"),
        (decide("approve", stale), "has changed since it was read; reload it and decide again."),
        (decide("approve", approve, proposer), "someone else must decide it"),
        (decide("approve", unknown), "No proposal with id 'prop-nope'."),
        (
            decide("approve", approve, "planner:ana", "--thread", "run-nope"),
            "Run run-nope is not waiting for a decision on proposal",
        ),
        (decide("edit", edit, "planner:ana", "--set", "twelve"), "--set takes SKU=QUANTITY"),
        (
            decide("edit", edit, "planner:ana", "--set", "NO-SUCH-SKU=1"),
            "SKU NO-SUCH-SKU is not on this purchase order",
        ),
        (decide("reject", reject), "Missing option '--reason'"),
    ]
    for result, message in refusals:
        assert result.exit_code == 2, result.output
        assert message in result.stderr, result.stderr
    # Ours are one sentence (typer's own usage errors draw a box).
    assert all(len(r.stderr.strip().splitlines()) == 1 for r, _ in refusals[:-1])
    assert _purchase_orders() == {}

    approved = _json(decide("approve", approve, "planner:ana", "--json"))
    assert approved["thread_id"] == thread and approved["decision"]["status"] == "executed"
    po_id = approved["execution"]["ref"]
    assert _purchase_orders() == {
        approve["id"]: {line["sku"]: line["quantity"] for line in approve["lines"]}
    }
    shown = _json(aisle("proposals", "show", approve["id"], "--json"))
    assert (shown["status"], shown["executed_ref"]) == ("executed", po_id)
    assert shown["decided_by"] == "ana"
    replay = decide("approve", approve, "planner:bo")
    assert replay.exit_code == 2 and "already executed, so it is no longer waiting" in replay.stderr

    quantity = first["quantity"] + first["case_pack"]
    edited = decide("edit", edit, "planner:ana", "--set", f"{first['sku']}={quantity}")
    assert edited.exit_code == 0, edited.output
    assert "edited by ana" in edited.stdout and "executed as po-" in edited.stdout
    assert _purchase_orders()[edit["id"]][first["sku"]] == quantity

    rejected = decide("reject", reject, "planner:ana", "--reason", "overstocked after the sale")
    assert rejected.exit_code == 0 and "rejected by ana" in rejected.stdout
    assert reject["id"] not in _purchase_orders()
    after = _json(aisle("proposals", "show", reject["id"], "--json"))
    assert (after["status"], after["reason"]) == ("rejected", "overstocked after the sale")
    executed = _json(aisle("proposals", "list", "--status", "executed", "--json"))
    assert {p["id"] for p in executed} == {approve["id"], edit["id"]}

    for args, message in (
        (("replenish", "run", "--store", "S999"), "There is no store 'S999'"),
        (("replenish", "run", "--thread", thread), f"Run {thread} already exists"),
        (
            ("proposals", "list", "--status", "pending"),
            "(status: Input should be 'proposed'",
        ),
        (("proposals", "show", "prop-nope"), "There is no proposal 'prop-nope'."),
        (
            ("proposals", "list", "--as", "shopper:cus-1"),
            "The shopper role may not use list_proposals.",
        ),
    ):
        result = aisle(*args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, args
    assert _json(aisle("audit", "verify", "--json"))["ok"]
