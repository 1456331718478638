"""Idempotency keys and decision locks left in flight by a worker that died (api/idempotency.py):
taken over at once when the worker ran on this host and is gone, never while it lives."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from fastapi import HTTPException
from sqlalchemy import Engine, update

from api import idempotency
from retail.store.db import transaction
from retail.store.models import IdempotencyRecord


def _name_holder(engine: Engine, key: str, **holder: str) -> None:
    with transaction(engine) as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == key)
            .values(response={"holder": holder})
        )


def _dead_pid() -> tuple[str, str]:
    """A process id of this host whose process has exited, and a start time it never had."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    return child.stdout.strip(), "1"


def test_a_key_held_by_a_live_worker_is_still_running(engine: Engine) -> None:
    assert idempotency.claim(engine, "planner:pat", "k-1", "h") == idempotency.Claimed()
    with pytest.raises(HTTPException) as running:
        idempotency.claim(engine, "planner:pat", "k-1", "h")
    assert running.value.status_code == 409


def test_a_key_whose_worker_died_here_is_retried_at_once(engine: Engine) -> None:
    idempotency.claim(engine, "planner:pat", "k-2", "h")
    pid, start = _dead_pid()
    _name_holder(engine, "k-2", host=socket.gethostname(), pid=pid, start=start)
    assert idempotency.claim(engine, "planner:pat", "k-2", "h") == idempotency.Claimed(retry=True)
    # The retry holds it now: a third attempt waits for the retry's answer.
    with pytest.raises(HTTPException):
        idempotency.claim(engine, "planner:pat", "k-2", "h")


def test_a_key_held_on_another_host_waits_for_the_timeout(engine: Engine) -> None:
    idempotency.claim(engine, "planner:pat", "k-3", "h")
    _name_holder(engine, "k-3", host="another-host.invalid", pid="1", start="1")
    with pytest.raises(HTTPException):
        idempotency.claim(engine, "planner:pat", "k-3", "h")


def test_a_lock_whose_worker_died_here_is_taken_over(engine: Engine) -> None:
    with idempotency.exclusive(engine, "decision:p-1") as held:
        assert held
        with idempotency.exclusive(engine, "decision:p-1") as second:
            assert not second, "one holder at a time"
        pid, start = _dead_pid()
        _name_holder(engine, "decision:p-1", host=socket.gethostname(), pid=pid, start=start)
        with idempotency.exclusive(engine, "decision:p-1") as after_death:
            assert after_death
