"""The approval queues over HTTP on SQLite and PostgreSQL: a real replenishment run waits for a
planner; the planner lists and reads its proposals (with the chart's data), approves, edits and
rejects them with an `Idempotency-Key`; replays, changed bodies, stale hashes, the proposer's own
approval and other roles are refused; and on PostgreSQL two uvicorn worker processes hit with
concurrent duplicates create exactly one purchase order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agents.checkpoint import open_checkpointer
from agents.operations import ProposalForDecision, advance
from agents.replenishment import AGENT, ReplenishmentState, build_graph
from api.app import create_app
from api.auth import issue_key
from retail.proposals import content_hash
from retail.settings import Settings
from retail.store.models import (
    AuditEvent,
    DailySales,
    Location,
    Order,
    Product,
    Proposal,
    PurchaseOrder,
    Supplier,
    Variant,
)
from tests.proposals import seeded_store
from tests.servers import start_server, stop, wait_for
from tools.base import Principal, Services

SECRET = "proposals-api-test-secret"
PEOPLE = {
    "pat": "planner:pat",
    "quinn": "planner:quinn",
    "priya": "pricing_manager:priya",
    "eve": "evaluator:eve",
    "ada": "admin:ada",
    "ann": "shopper:",  # filled with a real customer
}


@dataclass
class World:
    engine: Engine
    settings: Settings
    thread: str
    """The replenishment run waiting for decisions."""
    waiting: list[ProposalForDecision]
    keys: dict[str, str]
    client: TestClient

    def auth(self, who: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return headers | ({"Idempotency-Key": key} if key is not None else {})

    def decide(
        self, who: str, proposal: ProposalForDecision, key: str | None, **body: Any
    ) -> httpx.Response:
        payload = {"content_hash": proposal.content_hash, **body}
        return self.client.post(
            f"/v1/proposals/{proposal.id}/decision", json=payload, headers=self.auth(who, key)
        )

    def orders(self, proposal_id: str) -> int:
        with Session(self.engine) as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(PurchaseOrder)
                    .where(PurchaseOrder.proposal_id == proposal_id)
                )
                or 0
            )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A tiny generated world whose replenishment run waits for a planner, served by an app."""
    root = tmp_path_factory.mktemp(f"proposals-api-{request.param}")
    with seeded_store(request.param, root, SECRET) as (settings, engine):
        services = Services(engine, settings)
        thread = f"api-test-{uuid.uuid4().hex[:8]}"
        with open_checkpointer(settings) as saver:
            snapshot = advance(build_graph(services, saver), ReplenishmentState(), thread)
        waiting = [
            ProposalForDecision.model_validate(p) for p in snapshot.interrupts[0].value["proposals"]
        ]
        assert len(waiting) >= 8
        with Session(engine) as session:
            customer = session.scalars(select(Order.customer_id).limit(1)).one()
        specs = {**PEOPLE, "ann": f"shopper:{customer}", "agent": "planner:agent:replenishment"}
        keys = {
            who: issue_key(engine, Principal.parse(spec), label="test")
            for who, spec in specs.items()
        }
        app = create_app(settings, services=services, load_assistant=False)
        with TestClient(app) as client:
            yield World(engine, settings, thread, waiting, keys, client)
        services.close()


def test_a_planner_reads_the_queue_and_a_proposal_in_full(world: World) -> None:
    listed = world.client.get("/v1/proposals?status=proposed&limit=3", headers=world.auth("pat"))
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] >= len(world.waiting) and len(page["items"]) == 3
    assert page["next_offset"] == 3
    assert {p["kind"] for p in page["items"]} == {"purchase_order"}
    first = world.waiting[0]
    detail = world.client.get(f"/v1/proposals/{first.id}", headers=world.auth("pat")).json()
    assert detail["content_hash"] == first.content_hash == content_hash(detail["content"])
    assert detail["lines"] and len(detail["chart"]) == len(detail["lines"])
    for line, chart in zip(detail["lines"], detail["chart"], strict=True):
        assert chart["sku"] == line["sku"] and chart["quantity"] == line["quantity"]
        assert chart["explanation"] == line["explanation"] and chart["unit_cost"] > 0
        assert chart["on_hand"] is not None and chart["safety_stock"] is not None
        assert chart["lead_time_days"] > 0
        assert len(chart["recent_sales"]) > 0
        assert chart["forecast"] or chart["note"]
        for day in chart["forecast"]:
            assert day["p10"] <= day["p50"] <= day["p90"]
    evaluator = world.client.get(f"/v1/proposals/{first.id}", headers=world.auth("eve"))
    assert evaluator.status_code == 200


def test_the_chart_shows_every_recent_day_by_date_and_the_totals_range(world: World) -> None:
    proposal = world.waiting[0]
    detail = world.client.get(f"/v1/proposals/{proposal.id}", headers=world.auth("pat")).json()
    location = detail["location_id"]
    with Session(world.engine) as session:
        last_day = session.scalar(
            select(func.max(DailySales.day)).where(DailySales.location_id == location)
        )
        assert last_day is not None
        for chart in detail["chart"]:
            rows = {
                row.day: row
                for row in session.scalars(
                    select(DailySales).where(
                        DailySales.variant_id == chart["sku"],
                        DailySales.location_id == location,
                        DailySales.day > last_day - dt.timedelta(days=28),
                    )
                )
            }
            days = [dt.date.fromisoformat(d["day"]) for d in chart["recent_sales"]]
            # Consecutive dates ending on the last day of sales, zero-sale days included: 28, or
            # from the product's launch when it came later (the days before are no data).
            launched = session.scalar(
                select(Product.launched_on)
                .join(Variant, Variant.product_id == Product.id)
                .where(Variant.id == chart["sku"])
            )
            first = last_day - dt.timedelta(days=27)
            if launched is not None and launched > first:
                first = launched
                assert chart["offered_since"] == launched.isoformat()
            assert days == [
                first + dt.timedelta(days=k) for k in range((last_day - first).days + 1)
            ]
            for shown in chart["recent_sales"]:
                row = rows.get(dt.date.fromisoformat(shown["day"]))
                expected = (0, False) if row is None else (row.units, row.stockout)
                assert (shown["units"], shown["stockout"]) == expected
            total = chart["forecast_range"]
            if chart["forecast"]:
                assert total["days"] == len(chart["forecast"])
                assert total["p10"] <= total["p50"] <= total["p90"]
                assert total["mean"] == pytest.approx(
                    sum(d["mean"] for d in chart["forecast"]), abs=0.05
                )
            else:
                assert total is None


def test_the_purchase_order_list_names_products_suppliers_and_line_values(world: World) -> None:
    # Its own proposal: the module's tests share one world, and 0-5 are other tests' to decide.
    proposal = world.waiting[6]
    approved = world.decide("quinn", proposal, "po-list", decision="approve")
    assert approved.status_code == 200, approved.text
    po_id = approved.json()["executed_ref"]
    listed = world.client.get("/v1/purchase-orders?limit=100", headers=world.auth("pat"))
    assert listed.status_code == 200, listed.text
    order = next(o for o in listed.json()["items"] if o["id"] == po_id)
    with Session(world.engine) as session:
        stored = session.get_one(PurchaseOrder, po_id)
        supplier = session.get_one(Supplier, stored.supplier_id)
        location = session.get_one(Location, stored.location_id)
        names = {
            line.variant_id: session.scalar(
                select(Product.name)
                .join(Variant, Variant.product_id == Product.id)
                .where(Variant.id == line.variant_id)
            )
            for line in stored.lines
        }
    assert (order["supplier_name"], order["location_name"]) == (supplier.name, location.name)
    assert order["status"] == stored.status and order["proposal_id"] == proposal.id
    assert {li["variant_id"]: li["product"] for li in order["lines"]} == names
    for line in order["lines"]:
        assert line["line_value"] == round(line["quantity"] * line["unit_cost"], 2)
    assert order["value"] == pytest.approx(sum(li["line_value"] for li in order["lines"]))
    # Planners and admins read the list; the other roles are refused with a sentence.
    assert world.client.get("/v1/purchase-orders", headers=world.auth("ada")).status_code == 200
    for who in ("priya", "eve", "ann"):
        refused = world.client.get("/v1/purchase-orders", headers=world.auth(who))
        assert refused.status_code == 403 and "it is for planner, admin" in refused.json()["detail"]


def test_queue_rows_name_the_supplier(world: World) -> None:
    listed = world.client.get("/v1/proposals?status=proposed&limit=100", headers=world.auth("pat"))
    with Session(world.engine) as session:
        for item in listed.json()["items"]:
            content = session.get_one(Proposal, item["id"]).content
            assert item["supplier"] == content["supplier"]["name"]


def test_each_role_sees_its_own_queue(world: World) -> None:
    prices = world.client.get("/v1/proposals", headers=world.auth("priya"))
    assert prices.status_code == 200 and prices.json()["items"] == []  # no price changes here
    cross = world.client.get("/v1/proposals?kind=price_change", headers=world.auth("pat"))
    assert cross.status_code == 403
    assert cross.json()["detail"] == "A planner decides purchase orders, not price changes."
    other = world.client.get(f"/v1/proposals/{world.waiting[0].id}", headers=world.auth("priya"))
    assert other.status_code == 403
    assert world.client.get("/v1/proposals", headers=world.auth("ann")).status_code == 403
    missing = world.client.get("/v1/proposals/prop-nope", headers=world.auth("pat"))
    assert (
        missing.status_code == 404
        and missing.json()["detail"] == "No proposal with id 'prop-nope'."
    )
    bad = world.client.get("/v1/proposals?status=done", headers=world.auth("pat"))
    assert bad.status_code == 422


def test_an_approval_is_idempotent_on_its_key(world: World) -> None:
    proposal = world.waiting[1]
    assert world.decide("quinn", proposal, None, decision="approve").status_code == 400
    key = str(uuid.uuid4())
    first = world.decide("quinn", proposal, key, decision="approve")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "executed" and body["executed_ref"].startswith("po-")
    order = body["purchase_order"]
    assert order["proposal_id"] == proposal.id and order["lines"] and order["units"] > 0
    replay = world.decide("quinn", proposal, key, decision="approve")
    assert replay.status_code == 200 and replay.json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"
    changed = world.decide("quinn", proposal, key, decision="reject", reason="changed my mind")
    assert changed.status_code == 422 and "different request" in changed.json()["detail"]
    again = world.decide("quinn", proposal, str(uuid.uuid4()), decision="approve")
    assert again.status_code == 409
    # Named by what it orders, its id last for whoever quotes it.
    assert again.json()["detail"].startswith("The order from ")
    assert again.json()["detail"].endswith(
        f"was already executed, so it is no longer waiting for a decision ({proposal.id})."
    )
    assert world.orders(proposal.id) == 1
    pos = world.client.get(
        f"/v1/purchase-orders?proposal_id={proposal.id}", headers=world.auth("pat")
    )
    assert pos.status_code == 200 and pos.json()["items"] == [order]
    # The decision resumed the agent run that waited on it.
    with Session(world.engine) as session:
        threads = set(
            session.scalars(
                select(AuditEvent.conversation_id).where(
                    AuditEvent.approval_id == proposal.id, AuditEvent.event_type == "execution"
                )
            )
        )
    assert threads == {world.thread}


def test_an_edit_orders_the_planners_quantities(world: World) -> None:
    proposal = world.waiting[2]
    detail = world.client.get(f"/v1/proposals/{proposal.id}", headers=world.auth("pat")).json()
    line = detail["lines"][0]
    wanted = line["quantity"] + line["case_pack"]
    bad = world.decide("quinn", proposal, "edit-bad", decision="edit", changes={line["sku"]: 1.5})
    assert bad.status_code == 422 and "whole number" in bad.json()["detail"]
    # The refusal names the line whose quantity it is, so the form can show it beside it.
    assert bad.json()["errors"][0]["loc"] == ["body", "changes", line["sku"]]
    unknown = world.decide("quinn", proposal, "edit-unknown", decision="edit", changes={"NOPE": 1})
    assert unknown.status_code == 422 and "not on this purchase order" in unknown.json()["detail"]
    edited = world.decide(
        "quinn", proposal, "edit-ok", decision="edit", changes={line["sku"]: wanted}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["content_hash"] != proposal.content_hash
    quantities = {
        li["variant_id"]: li["quantity"] for li in edited.json()["purchase_order"]["lines"]
    }
    assert quantities[line["sku"]] == wanted
    # The line says what the edited quantity orders and covers, and whose quantity the
    # agent's explanation is of (walk 5: it still said "Order 12 units" for an edit to 18).
    after = world.client.get(f"/v1/proposals/{proposal.id}", headers=world.auth("pat")).json()
    edited_line = next(li for li in after["lines"] if li["sku"] == line["sku"])
    policy = line["policy"]
    cover = (policy["inventory_position"] + wanted) / policy["daily_demand"]
    assert edited_line["explanation"].startswith(
        f"Edited to {wanted} units ({wanted // line['case_pack']} cases of "
        f"{line['case_pack']}). {wanted} units give {cover:.0f} days of cover after the order. "
        f"What follows explains the agent's {line['quantity']}: {line['explanation']}"
    )


def test_refusals_are_sentences_and_write_nothing(world: World) -> None:
    proposal = world.waiting[3]
    stale = world.decide(
        "quinn", proposal, "stale", decision="approve", content_hash=content_hash({"lines": []})
    )
    assert stale.status_code == 409 and "has changed since it was read" in stale.json()["detail"]
    own = world.decide("agent", proposal, "own", decision="approve")
    assert own.status_code == 409
    assert own.json()["detail"] == (
        f"Proposal {proposal.id} was proposed by {AGENT.id}; someone else must decide it."
    )
    no_reason = world.decide("quinn", proposal, "no-reason", decision="reject")
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    for who in ("eve", "ann"):
        assert world.decide(who, proposal, f"role-{who}", decision="approve").status_code == 403
    wrong_kind = world.decide("priya", proposal, "priya", decision="approve")
    assert wrong_kind.status_code == 403
    assert "may not decide purchase_order proposals" in wrong_kind.json()["detail"]
    assert world.decide("quinn", proposal, "x" * 201, decision="approve").status_code == 400
    malformed = world.decide("quinn", proposal, "bad-hash", decision="approve", content_hash="abc")
    assert malformed.status_code == 422
    assert world.orders(proposal.id) == 0
    rejected = world.decide("quinn", proposal, "reject", decision="reject", reason="Overstocked.")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["purchase_order"] is None and world.orders(proposal.id) == 0


@pytest.fixture
def workers(world: World) -> Iterator[str]:
    """`uvicorn --workers 2` serving the world's PostgreSQL store: its base URL."""
    if not world.settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("several workers share a store on PostgreSQL")
    log = world.settings.var_dir / "workers.log"
    server, base = start_server(world.settings, log, workers=2)
    try:
        wait_for(server, base, log, path="/health")
        yield base
    finally:
        stop(server)


@pytest.mark.slow
def test_concurrent_duplicates_on_two_workers_decide_once(world: World, workers: str) -> None:
    def post(proposal: ProposalForDecision, key: str) -> httpx.Response:
        return httpx.post(
            f"{workers}/v1/proposals/{proposal.id}/decision",
            json={"decision": "approve", "content_hash": proposal.content_hash},
            headers=world.auth("quinn", key),
            timeout=60,
        )

    same, different = world.waiting[4], world.waiting[5]
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        duplicates = list(pool.map(lambda _: post(same, key), range(8)))
        rivals = list(pool.map(lambda _: post(different, str(uuid.uuid4())), range(8)))
    firsts = [
        r for r in duplicates if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(firsts) == 1, [(r.status_code, r.text) for r in duplicates]
    for response in duplicates:
        if response.status_code == 200:
            assert response.json() == firsts[0].json()
        else:
            assert (
                response.status_code == 409 and "still being processed" in response.json()["detail"]
            )
    assert post(same, key).json() == firsts[0].json()
    assert world.orders(same.id) == 1
    assert sorted(r.status_code for r in rivals) == [200] + [409] * 7
    assert world.orders(different.id) == 1
