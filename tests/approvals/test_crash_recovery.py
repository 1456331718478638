"""Approved means ordered, exactly once, whatever crashes: real processes (the `aisle` CLI, a
LangGraph resume, a uvicorn server) are killed with SIGKILL at every side-effect boundary of a
decision (`tests/approvals/crashing.py` stops them there), on SQLite and PostgreSQL. After
recovery (the decision made again, `aisle proposals resume`, `POST .../execute`, the run
resumed, or a server restart with its start-up sweep) each approved proposal has exactly one
purchase order and one audit trail, and no approval is lost."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.checkpoint import open_checkpointer
from agents.operations import DecisionBatch, ProposalRunState, settle
from agents.replenishment import HANDLER, build_graph
from api.auth import issue_key
from approvals.decisions import DecisionRequest
from retail.identity import Principal
from retail.proposals import decide
from retail.store.db import transaction
from tests.approvals.conftest import REPO, World
from tests.approvals.crashing import POINTS
from tests.servers import free_port, start_server, stop, wait_for

ANA = Principal.parse("planner:ana")
# Killed before the commit: nothing of the decision survives; after it: the order does.
BEFORE_COMMIT = ("decided", "executing")


def _child(world: World, point: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.approvals.crashing", point, *args],
        cwd=REPO,
        env=world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _reached(child: subprocess.Popen[str], point: str, timeout: float) -> int:
    """Wait until the child (or one of its workers) reports reaching `point`; the id of the
    process that reached it."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the child never reached {point}: {seen}"
        ready, _, _ = select.select([child.stdout], [], [], remaining)
        if not ready:
            continue
        line = child.stdout.readline()
        if not line:  # it ended without reaching the point
            _, err = child.communicate(timeout=30)
            pytest.fail(f"the child exited {child.returncode} before {point}: {seen} {err[-2000:]}")
        seen.append(line.strip())
        said, _, pid = line.strip().partition(" pid=")
        if said == f"REACHED {point}":
            return int(pid)


def _kill_when_reached(child: subprocess.Popen[str], point: str, timeout: float = 240) -> None:
    """Wait until the child reports reaching `point`, then SIGKILL it from here."""
    _reached(child, point, timeout)
    os.killpg(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)  # reaps it and closes its pipes
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_cli_approval_killed_at_any_point_is_ordered_exactly_once(
    world: World, point: str
) -> None:
    proposal = world.fresh()
    approve = (
        "proposals",
        "approve",
        proposal.id,
        "--as",
        "planner:ana",
        "--hash",
        proposal.content_hash,
    )
    _kill_when_reached(_child(world, point, "cli", *approve), point)

    stored = world.proposal(proposal.id)
    if point in BEFORE_COMMIT:
        # The transaction died with the process: no decision, no order, nothing half done.
        assert (stored.status, world.orders(proposal.id)) == ("proposed", [])
        refused = world.aisle("proposals", "resume", proposal.id, "--as", "planner:ana")
        assert refused.returncode == 2
        assert "waits for a decision; approve it first" in refused.stderr
        # The approval was never made, so making it now is not refused as a replay.
        again = world.aisle(*approve)
        assert again.returncode == 0, again.stderr
    else:
        # Committed together: approved means ordered; only the audit trail is short.
        assert stored.status == "executed" and len(world.orders(proposal.id)) == 1
        assert world.trail(proposal.id) == ((1, 0) if point == "decision-audited" else (0, 0))
        resumed = world.aisle("proposals", "resume", proposal.id, "--as", "planner:ana")
        assert resumed.returncode == 0, resumed.stderr
        assert f"was already executed as {stored.executed_ref}" in resumed.stdout
    po = world.assert_ordered_once(proposal.id)
    # Resuming again, and a replayed approval, change nothing.
    again = world.aisle("proposals", "resume", proposal.id, "--as", "planner:ana", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)[0]["ref"] == po
    replay = world.aisle(*approve)
    assert replay.returncode == 2 and "no longer waiting for a decision" in replay.stderr
    assert world.assert_ordered_once(proposal.id) == po


@pytest.mark.slow
def test_a_run_killed_after_the_commit_is_finished_by_resuming_it(world: World) -> None:
    thread, pending = world.start()
    target = pending[0]
    request = DecisionRequest(
        proposal_id=target.id, decision="approve", content_hash=target.content_hash
    )
    batch = DecisionBatch(decider=ANA, decisions=[request]).model_dump(mode="json")
    child = _child(world, "committed", "resume", thread, json.dumps(batch))
    _kill_when_reached(child, "committed")
    assert world.proposal(target.id).status == "executed" and world.trail(target.id) == (0, 0)

    # The next decision on the run (another of its proposals, another process) first finishes
    # the step the dead process was in: the node runs again and finds its decision made.
    other = pending[1]
    with open_checkpointer(world.settings) as saver:
        settled = settle(
            world.services,
            saver,
            HANDLER,
            ANA,
            DecisionRequest(
                proposal_id=other.id, decision="approve", content_hash=other.content_hash
            ),
        )
        values = (
            build_graph(world.services, saver)
            .get_state({"configurable": {"thread_id": thread}})
            .values
        )
    assert settled.thread_id == thread and settled.decision.accepted
    state = ProposalRunState.model_validate(
        {k: v for k, v in values.items() if k in ProposalRunState.model_fields}
    )
    assert [(d.proposal_id, d.accepted) for d in state.decisions] == [
        (target.id, True),
        (other.id, True),
    ]
    assert not {target.id, other.id} & {p.id for p in state.pending}
    po = world.assert_ordered_once(target.id)
    other_po = world.assert_ordered_once(other.id)
    assert [e.ref for e in state.executions] == [po, other_po]
    # The decision is on the trail as the planner's own, not as a recovery.
    assert _decision_principals(world, target.id) == ["ana"]


def _decision_principals(world: World, proposal_id: str) -> list[str]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from retail.store.models import AuditEvent

    with Session(world.engine) as session:
        return list(
            session.scalars(
                select(AuditEvent.principal_id).where(
                    AuditEvent.approval_id == proposal_id,
                    AuditEvent.event_type == "approval",
                    AuditEvent.status.in_(("approved", "edited")),
                )
            )
        )


@contextmanager
def _server(world: World, point: str | None = None) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """uvicorn serving the world's store; with `point`, it stops there when a decision reaches
    it. Yields its base URL once it answers and the process."""
    log: Path | None = None
    child: subprocess.Popen[Any]
    if point is None:
        log = world.settings.var_dir / "server.log"
        child, base = start_server(world.settings, log)
    else:
        # Its output goes to the pipes `_kill_when_reached` reads, not to a log.
        port = free_port()
        child, base = _child(world, point, "http", str(port)), f"http://127.0.0.1:{port}"
    try:
        wait_for(child, base, log, path="/health")
        yield base, child
    finally:
        stop(child)


@pytest.mark.slow
def test_a_server_killed_inside_the_decision_route_is_finished_at_restart(world: World) -> None:
    keys = {
        who: issue_key(world.engine, Principal.parse(spec), label="crash test")
        for who, spec in {"pat": "planner:pat", "priya": "pricing_manager:priya"}.items()
    }

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[who]}"}

    killed = world.fresh()
    answers: list[object] = []

    with _server(world, "committed") as (base, child):

        def post() -> None:
            try:
                answers.append(
                    httpx.post(
                        f"{base}/v1/proposals/{killed.id}/decision",
                        json={"decision": "approve", "content_hash": killed.content_hash},
                        headers={**auth("pat"), "Idempotency-Key": "crash-1"},
                        timeout=240,
                    )
                )
            except httpx.TransportError as exc:
                answers.append(exc)

        request = threading.Thread(target=post)
        request.start()
        _kill_when_reached(child, "committed")
        request.join(timeout=60)
    assert len(answers) == 1 and isinstance(answers[0], httpx.TransportError)
    assert world.proposal(killed.id).status == "executed" and world.trail(killed.id) == (0, 0)
    left_approved = world.fresh()
    # What an older version left behind: approved and committed, its order never written.
    with transaction(world.engine) as session:
        decide(
            session,
            left_approved.id,
            decider="quinn",
            decision="approve",
            expected_hash=left_approved.content_hash,
        )

    # A restart finishes both: the short trail and the approval without an order.
    with _server(world) as (base, _):
        po = world.assert_ordered_once(killed.id)
        left_po = world.assert_ordered_once(left_approved.id)
        # The client retries the request it never got an answer to: its key and the proposal's
        # lock name a process that is gone, so the retry runs at once and finds the approval
        # done (not a 409 for ten minutes, not a second order).
        retried = httpx.post(
            f"{base}/v1/proposals/{killed.id}/decision",
            json={"decision": "approve", "content_hash": killed.content_hash},
            headers={**auth("pat"), "Idempotency-Key": "crash-1"},
            timeout=60,
        )
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["executed_ref"]) == ("executed", po)
        for _ in range(2):
            done = httpx.post(f"{base}/v1/proposals/{killed.id}/execute", headers=auth("pat"))
            assert done.status_code == 200, done.text
            body = done.json()
            assert (body["executed_ref"], body["created"], body["status"]) == (
                po,
                False,
                "executed",
            )
            assert body["purchase_order"]["id"] == po
        again = httpx.post(f"{base}/v1/proposals/{left_approved.id}/execute", headers=auth("pat"))
        assert again.status_code == 200 and again.json()["executed_ref"] == left_po
        waiting = world.fresh()
        refused = httpx.post(f"{base}/v1/proposals/{waiting.id}/execute", headers=auth("pat"))
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"Proposal {waiting.id} is proposed: there is nothing to execute (it waits for a "
            "decision; approve it first)."
        )
        other_role = httpx.post(f"{base}/v1/proposals/{killed.id}/execute", headers=auth("priya"))
        assert other_role.status_code == 403
        unknown = httpx.post(f"{base}/v1/proposals/prop-nope/execute", headers=auth("pat"))
        assert unknown.status_code == 404
    assert world.assert_ordered_once(killed.id) == po
    assert world.orders(waiting.id) == []


@pytest.mark.parametrize("finish", ["resume", "resume-all", "decide-again"])
def test_an_approval_left_without_its_order_is_finished_once(world: World, finish: str) -> None:
    proposal = world.fresh()
    # The state the old two-commit path left after a kill between deciding and executing.
    with transaction(world.engine) as session:
        decide(
            session,
            proposal.id,
            decider="ana",
            decision="approve",
            expected_hash=proposal.content_hash,
        )
    if finish == "resume":
        done = world.aisle("proposals", "resume", proposal.id, "--as", "planner:bo")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"Proposal {proposal.id} executed as po-")
    elif finish == "resume-all":
        refused = world.aisle("proposals", "resume", "--as", "planner:bo")
        assert refused.returncode == 2 and "takes --as admin" in refused.stderr
        done = world.aisle("proposals", "resume", "--json")
        assert done.returncode == 0, done.stderr
        assert proposal.id in {o["proposal_id"] for o in json.loads(done.stdout)}
    else:
        # Another planner's later attempt carries out the approval already made.
        done = world.aisle(
            "proposals",
            "approve",
            proposal.id,
            "--as",
            "planner:bo",
            "--hash",
            proposal.content_hash,
        )
        assert done.returncode == 2
        assert "was already decided by someone else; it is now executed as po-" in done.stderr
    po = world.assert_ordered_once(proposal.id)
    nothing = world.aisle("proposals", "resume", "--json")
    assert nothing.returncode == 0
    assert proposal.id not in {o["proposal_id"] for o in json.loads(nothing.stdout)}
    assert world.assert_ordered_once(proposal.id) == po
    assert world.proposal(proposal.id).decided_by == "ana"


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_inside_the_decision_route_is_finished_by_the_retry(
    world: World, point: str
) -> None:
    """Two uvicorn workers on PostgreSQL; the one deciding is killed at `point`, the other
    (or its replacement) answers the client's retry: one order, one trail, whatever the
    point."""
    if not world.settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("several workers share a store on PostgreSQL")
    key = issue_key(world.engine, Principal.parse("planner:pat"), label="crash test")
    proposal = world.fresh()

    def decide() -> httpx.Response:
        return httpx.post(
            f"{base}/v1/proposals/{proposal.id}/decision",
            json={"decision": "approve", "content_hash": proposal.content_hash},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"w-{point}"},
            timeout=120,
        )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _child(world, point, "workers", str(port))
    try:
        wait_for(server, base, None, path="/health")
        answers: list[object] = []
        first = threading.Thread(target=lambda: answers.append(_sent(decide)))
        first.start()
        os.kill(_reached(server, point, timeout=240), signal.SIGKILL)
        first.join(timeout=60)
        assert len(answers) == 1 and isinstance(answers[0], httpx.TransportError)
        # The client retries the request it got no answer to, on whichever worker takes it.
        retried = decide()
        assert retried.status_code == 200, retried.text
        po = world.assert_ordered_once(proposal.id)
        assert (retried.json()["status"], retried.json()["executed_ref"]) == ("executed", po)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.communicate(timeout=30)


def _sent(send: Callable[[], httpx.Response]) -> httpx.Response | httpx.TransportError:
    try:
        return send()
    except httpx.TransportError as exc:
        return exc
