"""Proposals: content hashing, creation without duplicates, listing, the status guard, and
`aisle replenish plan` writing purchase-order proposals (never purchase orders) end to end."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import Result

from retail.errors import AisleError
from retail.proposals import (
    TRANSITIONS,
    ContentHashMismatchError,
    InvalidTransitionError,
    ProposalError,
    canonical_json,
    check_transition,
    content_hash,
    create_proposal,
    list_proposals,
    transition,
    verify_content_hash,
)
from retail.store.db import transaction
from retail.store.models import (
    ForecastRun,
    ForecastValue,
    InventoryPosition,
    Location,
    Proposal,
    PurchaseOrder,
    SupplierItem,
)
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import make_location, seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
TINY = ScaleSpec(30, 2, 60, 200, 0.8, 30, 2.0)

CONTENT = {
    "supplier": {"id": "SUP01", "name": "Summit Outdoor Distribution"},
    "location": {"id": "S001", "name": "Aisle Denver"},
    "lines": [{"sku": "P1-BLK-M", "quantity": 24, "unit_cost": 12.5, "note": "café"}],
    "totals": {"lines": 1, "units": 24, "value": 300.0},
}
STATUSES = ("proposed", "approved", "edited", "rejected", "executed", "expired")

# The stored forecast run the planning test makes, as proposals name it.
RUN_1_IN_WORDS = "Global model learned across all products, forecast of 2026-11-16 (run run-1)"


def _reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_content_hash_is_stable_under_key_order() -> None:
    shuffled = _reordered(CONTENT)
    assert list(shuffled) != list(CONTENT)
    assert content_hash(shuffled) == content_hash(CONTENT)
    assert canonical_json(shuffled) == canonical_json(CONTENT)
    assert " " not in canonical_json({"a": [1, 2], "b": {"c": None}})
    changed = json.loads(json.dumps(CONTENT))
    changed["lines"][0]["quantity"] = 25
    assert content_hash(changed) != content_hash(CONTENT)


def test_content_that_is_not_plain_json_is_refused() -> None:
    with pytest.raises(ProposalError, match="JSON"):
        canonical_json({"x": float("nan")})
    with pytest.raises(ProposalError):
        canonical_json({"when": dt.date(2026, 1, 1)})


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_the_guard_allows_only_the_listed_transitions(current: str, new: str) -> None:
    allowed = new in TRANSITIONS.get(current, frozenset())
    if allowed:
        check_transition(current, new)
        return
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition(current, new)
    assert isinstance(caught.value, AisleError)
    assert f"A {current} proposal cannot become {new}" in str(caught.value)


def test_the_transition_table_is_the_designed_one() -> None:
    designed = {
        "proposed": {"approved", "edited", "rejected", "expired"},
        "approved": {"executed"},
        "edited": {"executed"},
    }
    assert designed == TRANSITIONS
    with pytest.raises(InvalidTransitionError, match="Unknown proposal status"):
        check_transition("proposed", "shipped")


def _create(session: Session, content: dict[str, Any] = CONTENT, **kw: Any) -> Proposal:
    kw.setdefault("location_id", "S001")
    return create_proposal(
        session, kind="purchase_order", content=content, proposer="planner-bot", **kw
    )


def test_create_stores_content_and_its_hash_and_reads_back_the_same(engine: Engine) -> None:
    expires = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with transaction(engine) as session:
        make_location(session, "S001", "Aisle Denver")
        proposal = _create(session, model_versions={"policy": "order-up-to-1"}, expires_at=expires)
        proposal_id = proposal.id
    with Session(engine) as session:
        stored = session.get(Proposal, proposal_id)
        assert stored is not None
        assert stored.status == "proposed" and stored.kind == "purchase_order"
        assert stored.content == CONTENT
        # JSONB reorders keys on PostgreSQL; the hash is of the canonical form, so it holds.
        assert stored.content_hash == content_hash(CONTENT) == content_hash(stored.content)
        verify_content_hash(stored, content_hash(CONTENT))
        assert stored.model_versions == {"policy": "order-up-to-1"}
        assert stored.proposer == "planner-bot" and stored.decided_by is None


def test_an_identical_open_proposal_is_not_duplicated(engine: Engine) -> None:
    with transaction(engine) as session:
        first = _create(session)
        again = _create(session, content=_reordered(CONTENT))
        other_store = _create(session, location_id="S002")
        changed = _create(session, content={**CONTENT, "totals": {"lines": 1}})
        assert again.id == first.id
        assert len({first.id, other_store.id, changed.id}) == 3
        # Once decided, the same content may be proposed afresh.
        transition(first, "rejected", actor="pat", expected_hash=first.content_hash)
        assert _create(session).id not in {first.id, other_store.id, changed.id}
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == 4


def test_proposals_written_in_one_transaction_are_committed_together_or_not_at_all(
    engine: Engine,
) -> None:
    """Each proposal is added inside a savepoint; on SQLite a savepoint opened before any write
    used to start a transaction of its own, and releasing it committed the proposal: a plan that
    failed halfway left its first proposals behind."""
    with pytest.raises(RuntimeError), transaction(engine) as session:
        _create(session)
        _create(session, location_id="S002")
        raise RuntimeError("the planner fails after two proposals")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == 0
    with transaction(engine) as session:
        _create(session)
        _create(session, location_id="S002")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == 2


def test_the_database_refuses_a_second_open_copy_of_the_same_content(engine: Engine) -> None:
    """The guard behind the check: two planners racing past `find_open_proposal` both insert."""
    with transaction(engine) as session:
        first = _create(session)
    duplicate = {
        column: getattr(first, column)
        for column in ("kind", "content", "content_hash", "location_id", "proposer", "created_at")
    }
    with pytest.raises(IntegrityError), transaction(engine) as session:
        session.add(Proposal(id="prop-racer", status="proposed", **duplicate))
    with transaction(engine) as session:
        # Rejected proposals do not block the same content from being proposed again.
        session.add(Proposal(id="prop-after", status="rejected", **duplicate))


def test_list_filters_by_kind_status_and_location(engine: Engine) -> None:
    with transaction(engine) as session:
        a = _create(session)
        b = _create(session, location_id="S002")
        create_proposal(
            session,
            kind="price_change",
            content={"sku": "X", "price": 9.99},
            proposer="pricing-bot",
            location_id="S001",
        )
        transition(b, "approved", actor="pat", expected_hash=b.content_hash, reason="ok")
    with Session(engine) as session:
        assert len(list_proposals(session)) == 3
        assert [
            p.id for p in list_proposals(session, kind="purchase_order", status="proposed")
        ] == [a.id]
        assert {p.id for p in list_proposals(session, location_id="S002")} == {b.id}
        approved = list_proposals(session, status="approved")
        assert approved[0].decided_by == "pat" and approved[0].reason == "ok"
        with pytest.raises(ProposalError, match="Unknown proposal status"):
            list_proposals(session, status="done")


def test_transitions_are_guarded_and_bound_to_the_content_hash(engine: Engine) -> None:
    with transaction(engine) as session:
        proposal = _create(session)
        seen = proposal.content_hash
        with pytest.raises(InvalidTransitionError):
            transition(proposal, "executed", actor="pat", expected_hash=seen)
        with pytest.raises(ContentHashMismatchError):
            transition(proposal, "approved", actor="pat", expected_hash="0" * 64)
        # Content changed after the approver read it: the approval is refused.
        proposal.content = {**CONTENT, "totals": {"lines": 1, "units": 99, "value": 1.0}}
        with pytest.raises(ContentHashMismatchError, match="has changed since it was read"):
            transition(proposal, "approved", actor="pat", expected_hash=seen)
        proposal.content = dict(CONTENT)
        transition(proposal, "approved", actor="pat", expected_hash=seen)
        transition(proposal, "executed", actor="executor", expected_hash=seen)
        assert proposal.status == "executed" and proposal.decided_by == "pat"
        with pytest.raises(InvalidTransitionError, match="final"):
            transition(proposal, "approved", actor="pat", expected_hash=seen)


def test_unknown_kinds_and_missing_proposers_are_refused(engine: Engine) -> None:
    with transaction(engine) as session:
        with pytest.raises(ProposalError, match="Unknown proposal kind"):
            create_proposal(session, kind="refund", content={}, proposer="x")
        with pytest.raises(ProposalError, match="proposer"):
            create_proposal(session, kind="purchase_order", content={}, proposer="")
        with pytest.raises(ProposalError, match="not plain JSON"):
            create_proposal(
                session, kind="purchase_order", content={"when": dt.date.today()}, proposer="x"
            )


def _seed_tiny(seed: int = 5) -> None:
    seed_configured_world(TINY, seed)


def _plan(aisle: Aisle, *args: str) -> dict[str, Any]:
    result = aisle("replenish", "plan", *args, "--json")
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        proposals = session.scalar(select(func.count()).select_from(Proposal)) or 0
        orders = session.scalar(select(func.count()).select_from(PurchaseOrder)) or 0
    return proposals, orders


def test_plan_writes_proposals_not_orders_and_does_not_duplicate(aisle: Aisle) -> None:
    _seed_tiny()
    engine = open_store()
    try:
        summary = _plan(aisle)
        assert summary["skus_reviewed"] > 0 and summary["lines_proposed"] > 0
        assert summary["proposals_written"] == len(summary["proposals"]) > 0
        written, orders = _counts(engine)
        assert written == summary["proposals_written"] and orders == 0

        with Session(engine) as session:
            packs = {
                i.variant_id: (i.case_pack, i.moq) for i in session.scalars(select(SupplierItem))
            }
            proposals = list_proposals(session, kind="purchase_order")
            stores = {loc.id for loc in session.scalars(select(Location))}
            assert {p.status for p in proposals} == {"proposed"}
            for p in proposals:
                assert p.content_hash == content_hash(p.content)
                assert p.location_id in stores and p.proposer == "aisle replenish plan"
                assert p.model_versions["policy"] == "order-up-to-1"
                assert p.expires_at is not None
                lines = p.content["lines"]
                assert p.content["supplier"]["id"] and p.content["location"]["id"] == p.location_id
                assert p.content["totals"]["lines"] == len(lines)
                assert p.content["totals"]["units"] == sum(line["quantity"] for line in lines)
                for line in lines:
                    pack, moq = packs[line["sku"]]
                    assert line["quantity"] > 0 and line["quantity"] % pack == 0
                    assert line["quantity"] >= moq
                    assert line["forecast_source"].startswith("fallback: ")
                    assert line["explanation"].startswith(f"Order {line['quantity']} units")
                    assert line["policy"]["binding"] in {
                        "none",
                        "case_pack",
                        "moq",
                        "shelf_capacity",
                    }

        again = _plan(aisle)
        assert again["proposals_written"] == 0
        assert again["proposals_unchanged"] == summary["proposals_written"]
        assert _counts(engine) == (written, 0)

        table = aisle("replenish", "plan")
        assert table.exit_code == 0, table.output
        assert "SKU-locations reviewed" in table.stdout and "proposals written" in table.stdout

        # New facts (a proposed SKU sold out) make a new plan that supersedes the open one.
        first = summary["proposals"][0]
        with transaction(engine) as session:
            proposal = session.get(Proposal, first["id"])
            assert proposal is not None
            sku = proposal.content["lines"][0]["sku"]
            inv = session.get(InventoryPosition, (sku, first["location_id"]))
            assert inv is not None
            inv.on_hand, inv.on_order = 0, 0
        third = _plan(aisle)
        assert third["proposals_written"] == third["proposals_superseded"] == 1
        with Session(engine) as session:
            old = session.get(Proposal, first["id"])
            assert old is not None and old.status == "expired"
            assert old.reason is not None and old.reason.startswith("superseded by prop-")
            assert old.decided_by == "aisle replenish plan"
            still_open = list_proposals(session, status="proposed")
            assert {p.id for p in still_open} == {p["id"] for p in third["proposals"]}
        assert _counts(engine)[1] == 0
    finally:
        engine.dispose()


def test_plan_uses_the_latest_stored_forecast_when_there_is_one(aisle: Aisle) -> None:
    _seed_tiny()
    engine = open_store()
    try:
        with transaction(engine) as session:
            inv = session.scalars(
                select(InventoryPosition)
                .where(InventoryPosition.location_id == "S001")
                .order_by(InventoryPosition.variant_id)
            ).first()
            assert inv is not None
            sku = inv.variant_id
            # Plenty of shelf, and a forecast far above the stock: an order must follow.
            inv.shelf_capacity = 10_000
            session.add(
                ForecastRun(
                    id="run-1",
                    model="global",
                    model_version="v7",
                    created_at=dt.datetime(2026, 11, 16, tzinfo=dt.UTC),
                    first_day=dt.date(2026, 11, 16),
                    horizon=28,
                )
            )
            for h in range(28):
                session.add(
                    ForecastValue(
                        run_id="run-1",
                        variant_id=sku,
                        location_id="S001",
                        day=dt.date(2026, 11, 16) + dt.timedelta(days=h),
                        mean=20.0,
                        p10=14.0,
                        p50=20.0,
                        p90=26.0,
                        p95=28.0,
                    )
                )
        summary = _plan(aisle, "--store", "S001")
        assert summary["locations"] == ["S001"]
        sources = summary["forecast_sources"]
        assert sources[RUN_1_IN_WORDS] == 1
        with Session(engine) as session:
            proposals = list_proposals(session, location_id="S001")
            assert proposals and all(p.location_id == "S001" for p in proposals)
            lines = [line for p in proposals for line in p.content["lines"] if line["sku"] == sku]
            assert len(lines) == 1
            assert lines[0]["forecast_source"] == RUN_1_IN_WORDS
            assert lines[0]["policy"]["daily_demand"] == pytest.approx(20.0)
            versions = next(p for p in proposals if lines[0] in p.content["lines"]).model_versions
            assert versions["forecast"] == "global:v7" and versions["forecast_run"] == "run-1"
        assert _counts(engine)[1] == 0
    finally:
        engine.dispose()


def test_an_unknown_store_is_one_sentence_and_exit_2(aisle: Aisle) -> None:
    _seed_tiny()
    result = aisle("replenish", "plan", "--store", "S999")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: There is no store 'S999'; the stores are: ")
    assert _plan(aisle, "--store", "S001", "--limit", "5")["skus_reviewed"] == 5
    engine = open_store()
    try:
        assert _counts(engine)[1] == 0
    finally:
        engine.dispose()
