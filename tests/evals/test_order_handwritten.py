"""The hand-written order tasks (evals/devsets/orders/handwritten.jsonl): frozen test half, and
gold actions that tau2's retail policy allows on the customer's own records in db.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.order_tasks import DEVSET, OrderTask, expected_state, half_digest, json_state, load_tasks

HANDWRITTEN = DEVSET.parent / "handwritten.jsonl"
# Pinned when the hand-written test half was frozen, before anyone tuned on its dev half.
TEST_HALF_SHA256 = "39271fcf0071d602c862eda543cdcf80d3a1d80edd1bb1edd739c278414a1e8c"
PENDING_WRITES = {
    "cancel_order",
    "modify_order_address",
    "modify_order_payment",
    "modify_order_items",
}
DELIVERED_WRITES = {"return_order_items", "exchange_order_items"}
ADDRESS_FIELDS = {"address1", "address2", "city", "state", "country", "zip"}


@pytest.fixture(scope="module")
def db(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "tau2_retail" / "db.json").read_text())


def test_the_test_half_is_frozen() -> None:
    assert half_digest(load_tasks(HANDWRITTEN), "test") == TEST_HALF_SHA256


def test_the_set_mixes_single_double_and_no_writes_on_distinct_users() -> None:
    tasks = load_tasks(HANDWRITTEN)
    assert len(tasks) >= 60
    assert sum(t.single_write for t in tasks) >= 40
    assert sum(not t.gold for t in tasks) >= 10
    assert sum(len(t.gold) == 2 for t in tasks) >= 10
    assert len({t.user for t in tasks}) == len(tasks)
    assert not {t.id for t in tasks} & {t.id for t in load_tasks()}


def _policy_errors(db: dict[str, Any], task: OrderTask) -> list[str]:
    """What tau2's retail policy forbids in the task's gold actions, applied in order."""
    user = db["users"][task.user]
    methods = user["payment_methods"]
    status: dict[str, str] = {}
    changed: set[str] = set()
    errors = []
    for tool, args in task.gold:
        if tool == "modify_user_address":
            errors += [] if set(args) == ADDRESS_FIELDS else [f"{tool}: fields {sorted(args)}"]
            continue
        order_id = args["order_id"]
        if order_id not in user["orders"]:
            errors.append(f"{tool}: {order_id} is another customer's")
            continue
        order = db["orders"][order_id]
        now = status.get(order_id, order["status"])
        if (tool in PENDING_WRITES and now != "pending") or (
            tool in DELIVERED_WRITES and now != "delivered"
        ):
            errors.append(f"{tool}: {order_id} is {now}")
        paid_with = order["payment_history"][0]["payment_method_id"]
        method = methods.get(args.get("payment_method_id", paid_with))
        if method is None:
            errors.append(f"{tool}: not the customer's payment method")
            continue
        if tool == "cancel_order":
            if args["reason"] not in ("no longer needed", "ordered by mistake"):
                errors.append(f"cancel reason {args['reason']!r}")
            status[order_id] = "cancelled"
        elif tool == "modify_order_payment":
            total = order["payment_history"][0]["amount"]
            if method["id"] == paid_with or method.get("balance", total) < total:
                errors.append(f"payment change to {method['id']}")
        elif tool == "return_order_items":
            if method["id"] != paid_with and method["source"] != "gift_card":
                errors.append(f"refund to {method['id']}")
            held = [i["item_id"] for i in order["items"]]
            if any(args["item_ids"].count(i) > held.count(i) for i in args["item_ids"]):
                errors.append(f"return of items not in {order_id}")
            status[order_id] = "return requested"
        elif tool in ("modify_order_items", "exchange_order_items"):
            if order_id in changed:
                errors.append(f"{tool}: second item change on {order_id}")
            changed.add(order_id)
            difference = 0.0
            for old_id, new_id in zip(args["item_ids"], args["new_item_ids"], strict=True):
                old = next(i for i in order["items"] if i["item_id"] == old_id)
                new = db["products"][old["product_id"]]["variants"].get(new_id)
                if new is None or not new["available"] or new_id == old_id:
                    errors.append(f"{old_id} -> {new_id} is not another available variant")
                    continue
                difference += new["price"] - old["price"]
            if method.get("balance", difference) < difference:
                errors.append(f"gift card cannot cover {difference:.2f}")
    return errors


def test_every_gold_action_is_allowed_by_the_retail_policy(db: dict[str, Any]) -> None:
    tasks = load_tasks(HANDWRITTEN)
    assert {t.id: _policy_errors(db, t) for t in tasks if _policy_errors(db, t)} == {}
    for task in tasks:
        moved = expected_state(db, task) != json_state(db, db["users"][task.user])
        assert moved == bool(task.gold), task.id


def test_the_policy_check_catches_a_return_of_a_pending_order(db: dict[str, Any]) -> None:
    task = next(t for t in load_tasks(HANDWRITTEN) if t.kind == "cancel")
    order_id = task.gold[0][1]["order_id"]
    item_id = db["orders"][order_id]["items"][0]["item_id"]
    wrong = OrderTask(
        id="wrong",
        kind="return",
        user=task.user,
        message=task.message,
        answers=(),
        gold=(("return_order_items", {"order_id": order_id, "item_ids": [item_id]}),),
    )
    assert _policy_errors(db, wrong) == [f"return_order_items: {order_id} is pending"]
