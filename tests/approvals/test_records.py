"""Recording a planner's proposals (`approvals.records`), on SQLite and PostgreSQL: re-running
the replenishment agent never puts up again what a planner approved, edited or that was
executed, even when a crash left the approval without its order; what is open is reused, and a
plan outside the bounds is refused before anything is written."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents.replenishment import AGENT
from approvals.decisions import DecisionRequest, complete, decide
from approvals.records import record_plan
from retail.audit import verify_chain
from retail.errors import AisleError
from retail.identity import Principal
from retail.proposals import decide as record_decision
from retail.store.db import transaction
from retail.store.models import Proposal
from tests.approvals.conftest import World
from tests.proposals import MARKDOWN_CONTENT

BO = Principal.parse("planner:bo")


@dataclass(frozen=True)
class Planned:
    content: dict[str, Any]
    location_id: str
    model_versions: dict[str, Any]
    expires_at: dt.datetime


def _planned(content: dict[str, Any]) -> Planned:
    return Planned(
        content=content,
        location_id=content["location"]["id"],
        model_versions={},
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
    )


def _open_with_hash(world: World, content_hash: str) -> int:
    with Session(world.engine) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Proposal)
                .where(Proposal.content_hash == content_hash, Proposal.status == "proposed")
            )
            or 0
        )


def test_a_rerun_never_reproposes_an_approval_a_crash_left_without_its_order(
    world: World,
) -> None:
    _, pending = world.start()
    target = pending[0]
    # Approved, then the process died before the order (the state an older version left).
    with transaction(world.engine) as session:
        record_decision(
            session,
            target.id,
            decider="bo",
            decision="approve",
            expected_hash=target.content_hash,
        )
    _, again = world.start()
    # The planner sees the same facts (no order was placed) and plans the same order, but it is
    # not put up again: approving it twice would order it twice.
    assert target.id not in {p.id for p in again}
    assert target.content_hash not in {p.content_hash for p in again}
    assert _open_with_hash(world, target.content_hash) == 0
    assert complete(world.engine, target.id, settings=world.settings).created
    world.assert_ordered_once(target.id)


def test_edited_and_executed_content_is_not_proposed_again(world: World) -> None:
    edited, executed = world.fresh(), world.fresh()
    line = edited.content["lines"][0]
    changes = {line["sku"]: line["quantity"] + max(int(line.get("case_pack") or 1), 1)}
    done = decide(
        world.engine,
        BO,
        DecisionRequest(
            proposal_id=edited.id,
            decision="edit",
            content_hash=edited.content_hash,
            changes=changes,
        ),
        settings=world.settings,
    )
    assert done.decision.accepted and done.execution is not None
    assert world.proposal(edited.id).content_hash != edited.content_hash
    approved = decide(
        world.engine,
        BO,
        DecisionRequest(
            proposal_id=executed.id, decision="approve", content_hash=executed.content_hash
        ),
        settings=world.settings,
    )
    assert approved.execution is not None and approved.execution.created
    # Each decision signed a checkpoint of the audit chain's head, right after its event.
    report = verify_chain(world.engine, settings=world.settings)
    assert report.ok and report.checkpoints >= 2

    fresh = world.fresh()
    plan = [_planned(dict(p.content)) for p in (edited, executed, fresh)]
    with transaction(world.engine) as session:
        summary = record_plan(session, "purchase_order", plan, proposer=AGENT.id)
    assert (summary.already_decided, summary.unchanged, summary.written) == (2, 1, 0)
    assert [(r.id, r.new) for r in summary.recorded] == [
        (edited.id, False),
        (executed.id, False),
        (fresh.id, False),
    ]
    assert [r.status for r in summary.recorded] == ["executed", "executed", "proposed"]
    assert _open_with_hash(world, edited.content_hash) == 0
    assert _open_with_hash(world, executed.content_hash) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", lambda pack: pack + 1, "is not a whole number of cases of"),
        ("quantity", lambda pack: -pack, "must be a whole number of units, 0 or more"),
        ("quantity", lambda pack: 0, "orders nothing"),
        ("unit_cost", lambda pack: math.inf, "must be a finite number"),
        ("unit_cost", lambda pack: -1.0, "must be zero or more"),
    ],
    ids=["broken-case", "negative", "zero", "infinite-cost", "negative-cost"],
)
def test_a_plan_outside_the_bounds_writes_nothing(
    world: World, field: str, value: Callable[[int], float], message: str
) -> None:
    line = dict(world.template["lines"][0])
    pack = max(int(line.get("case_pack") or 1), 2)
    line["case_pack"] = pack  # at least two units a case, so that pack + 1 is a broken case
    line["quantity"] = pack
    bad_line = {**line, field: value(pack)}
    bad = {**world.template, "as_of": f"bad-{message}", "lines": [bad_line]}
    good = {**world.template, "as_of": f"good-{message}"}
    with Session(world.engine) as session:
        before = session.scalar(select(func.count()).select_from(Proposal))
    with pytest.raises(AisleError, match=message), transaction(world.engine) as session:
        record_plan(session, "purchase_order", [_planned(good), _planned(bad)], proposer=AGENT.id)
    with Session(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == before


def test_an_approved_price_change_is_not_proposed_again(world: World) -> None:
    location = world.template["location"]["id"]
    content = {**MARKDOWN_CONTENT, "sku": f"SKU-{location}", "location": {"id": location}}
    plan = [_planned(content)]
    with transaction(world.engine) as session:
        first = record_plan(session, "price_change", plan, proposer="agent:pricing")
    (recorded,) = first.recorded
    assert (first.written, recorded.new, recorded.status) == (1, True, "proposed")
    # Approved; the process died before the prices were written.
    with transaction(world.engine) as session:
        record_decision(
            session,
            recorded.id,
            decider="pat",
            decision="approve",
            expected_hash=recorded.content_hash,
        )
    with transaction(world.engine) as session:
        again = record_plan(session, "price_change", plan, proposer="agent:pricing")
    assert (again.written, again.already_decided) == (0, 1)
    assert [(r.id, r.status) for r in again.recorded] == [(recorded.id, "approved")]
    assert _open_with_hash(world, recorded.content_hash) == 0


def _zone_markdown(location: str, skus: list[str], first_price: float) -> Planned:
    """A markdown of one product in the one price zone (which covers `location`), as the
    planner writes it."""
    content = {
        **MARKDOWN_CONTENT,
        "sku": skus[0],
        "product_id": skus[0].split("-")[0],
        "zone": {"id": "CHAIN", "name": "every store and online", "locations": [location]},
        "variants": [
            {"sku": sku, "list_price": 100.0, "current_price": 100.0, "stock": 5.0} for sku in skus
        ],
        "path": [{"week_starting": "2026-11-16", "price": first_price}],
    }
    return Planned(content, "CHAIN", {}, dt.datetime.now(dt.UTC) + dt.timedelta(days=7))


def _open_for(world: World, sku: str) -> list[Proposal]:
    with Session(world.engine) as session:
        return [
            p
            for p in session.scalars(
                select(Proposal).where(
                    Proposal.kind == "price_change", Proposal.status == "proposed"
                )
            )
            if sku == p.content["sku"] or sku in {v["sku"] for v in p.content.get("variants", [])}
        ]


def test_a_markdown_plan_supersedes_the_open_one_for_its_product_and_zone(world: World) -> None:
    store = world.template["location"]["id"]
    # A plan made per store before there were zones, by another proposer.
    legacy = {**MARKDOWN_CONTENT, "sku": "PZ-M", "location": {"id": store}}
    with transaction(world.engine) as session:
        record_plan(session, "price_change", [_planned(legacy)], proposer="aisle pricing markdown")
        other = record_plan(
            session, "price_change", [_zone_markdown(store, ["PY-S"], 80.0)], proposer="pat"
        )
    (old,) = _open_for(world, "PZ-M")

    with transaction(world.engine) as session:
        first = record_plan(
            session, "price_change", [_zone_markdown(store, ["PZ-S", "PZ-M"], 90.0)], proposer="pat"
        )
    (replacing,) = first.recorded
    assert (first.written, first.superseded) == (1, 1)
    assert [p.id for p in _open_for(world, "PZ-M")] == [replacing.id]

    # A newer plan for the product replaces the open one: kept, expired, saying by what.
    with transaction(world.engine) as session:
        second = record_plan(
            session, "price_change", [_zone_markdown(store, ["PZ-S", "PZ-M"], 80.0)], proposer="pat"
        )
    (newest,) = second.recorded
    assert (second.written, second.superseded) == (1, 1)
    assert [p.id for p in _open_for(world, "PZ-S")] == [newest.id]
    with Session(world.engine) as session:
        for expired, by in ((old.id, replacing.id), (replacing.id, newest.id)):
            row = session.get_one(Proposal, expired)
            assert (row.status, row.reason) == ("expired", f"superseded by {by}")

    # A plan of the whole zone that proposes nothing for the product withdraws its proposal,
    # and only proposals in that zone: another product's stays when the plan carries it.
    (kept,) = other.recorded
    with transaction(world.engine) as session:
        whole = record_plan(
            session,
            "price_change",
            [_zone_markdown(store, ["PY-S"], 80.0)],
            proposer="pat",
            covers=["CHAIN", store],
        )
    assert (whole.unchanged, whole.withdrawn) == (1, 1)
    assert _open_for(world, "PZ-S") == []
    assert [p.id for p in _open_for(world, "PY-S")] == [kept.id]
    with Session(world.engine) as session:
        reason = session.get_one(Proposal, newest.id).reason
    assert reason == "withdrawn: a newer plan for CHAIN proposes no change here"
