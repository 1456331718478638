"""The order-task dev set: its frozen test half, and its independent scorer on tau2's rules."""

from __future__ import annotations

import json
from pathlib import Path

from evals.order_tasks import expected_state, half_digest, json_state, load_tasks

# Pinned when the test half was frozen, before any tuning on the dev half.
TEST_HALF_SHA256 = "d2f9491544772dd86ad4cc6f31c84fc8724a7822253370dd50e719d4d3e632e9"


def test_the_test_half_is_frozen() -> None:
    assert half_digest(load_tasks(), "test") == TEST_HALF_SHA256


def test_the_set_is_mostly_single_writes_on_distinct_users() -> None:
    tasks = load_tasks()
    assert len(tasks) >= 60
    assert sum(t.single_write for t in tasks) >= 40
    assert len({t.user for t in tasks}) == len(tasks)


def test_the_scorer_applies_tau2_rules(shared_data: Path) -> None:
    db = json.loads((shared_data / "tau2_retail" / "db.json").read_text())
    tasks = {t.kind: t for t in load_tasks()}
    cancel = tasks["cancel"]
    order_id = cancel.gold[0][1]["order_id"]
    before = json_state(db, db["users"][cancel.user])["orders"][order_id]
    after = expected_state(db, cancel)["orders"][order_id]
    assert after["status"] == "cancelled" and after["cancel_reason"] == cancel.gold[0][1]["reason"]
    assert after["payments"][len(before["payments"]) :] == [
        ["refund", p[1], p[2]] for p in before["payments"]
    ]
    untouched = tasks["read_only"]
    assert expected_state(db, untouched) == json_state(db, db["users"][untouched.user])
