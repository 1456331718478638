"""Confirmation safety on tau2's data: every reply in evals/devsets/orders/confirmations.yaml is
sent to a write waiting for confirmation; only a clear yes writes, anything else leaves the
database as it was and says so (or asks again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from agents.assistant import Assistant
from agents.checkpoint import open_checkpointer
from agents.nlu.acts import classify
from evals.order_tasks import database_state
from retail.importers.common import write_import
from retail.importers.tau2 import prepare_tau2
from retail.settings import Settings
from retail.store.db import make_engine
from retail.store.schema import upgrade
from tools.base import Principal, Services

SET = Path(__file__).parents[2] / "evals" / "devsets" / "orders" / "confirmations.yaml"
SHOPPER = Principal.parse("shopper:olivia_ito_3591")
CASES: dict[str, Any] = yaml.safe_load(SET.read_text())


def _world(var: Path, shared_data: Path) -> tuple[Engine, Services, Settings]:
    settings = Settings(
        environment="test", database_url=f"sqlite:///{var / 'aisle.db'}", var_dir=var
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    write_import(engine, prepare_tau2(shared_data / "tau2_retail"))
    return engine, Services(engine, settings), settings


@contextmanager
def _assistant(var: Path, shared_data: Path) -> Iterator[tuple[Engine, Assistant]]:
    engine, services, settings = _world(var, shared_data)
    with open_checkpointer(settings) as checkpointer:
        yield engine, Assistant(services, checkpointer)
    services.close()
    engine.dispose()


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[Engine, Assistant]]:
    with _assistant(tmp_path_factory.mktemp("var"), shared_data) as made:
        yield made


def test_the_set_has_enough_cases() -> None:
    replies = CASES["replies"]
    assert len(replies) >= 30
    assert {r["request"] for r in replies} == {"cancel", "return", "address", "exchange"}


@pytest.mark.parametrize(
    "case", [c for c in CASES["replies"] if not c["writes"]], ids=lambda c: c["reply"]
)
def test_a_reply_that_is_not_a_clear_yes_writes_nothing(
    world: tuple[Engine, Assistant], case: dict[str, Any]
) -> None:
    engine, assistant = world
    before = database_state(engine, SHOPPER.customer_id or "")
    asked = assistant.ask(SHOPPER, CASES["requests"][case["request"]])
    assert any(c.status == "needs_confirmation" for c in asked.tool_calls), asked.answer
    reply = assistant.ask(SHOPPER, case["reply"], thread_id=asked.thread_id)
    assert not [c for c in reply.tool_calls if c.status == "ok" and c.name in _WRITES]
    assert database_state(engine, SHOPPER.customer_id or "") == before
    assert (
        "Nothing was changed" in reply.answer
        or "Please confirm" in reply.answer
        or ("Still waiting for your yes" in reply.answer)
    ), reply.answer


def test_every_reply_is_classified_as_its_case_says() -> None:
    wrong = [c["reply"] for c in CASES["replies"] if classify(c["reply"]).confirms != c["writes"]]
    assert wrong == []


@pytest.mark.parametrize("request_kind", sorted(CASES["requests"]))
def test_a_clear_yes_writes(request_kind: str, tmp_path: Path, shared_data: Path) -> None:
    # A fresh world each: the yes writes, and the other requests act on the same orders.
    yes = next(c["reply"] for c in CASES["replies"] if c["request"] == request_kind and c["writes"])
    with _assistant(tmp_path, shared_data) as (engine, assistant):
        before = database_state(engine, SHOPPER.customer_id or "")
        asked = assistant.ask(SHOPPER, CASES["requests"][request_kind])
        pending = [c for c in asked.tool_calls if c.status == "needs_confirmation"]
        assert len(pending) == 1, asked.answer
        done = assistant.ask(SHOPPER, yes, thread_id=asked.thread_id)
        assert [(c.name, c.status) for c in done.tool_calls] == [(pending[0].name, "ok")]
        assert done.tool_calls[0].args == pending[0].args
        assert database_state(engine, SHOPPER.customer_id or "") != before


_WRITES = {
    "cancel_order",
    "return_order_items",
    "exchange_order_items",
    "modify_order_address",
    "modify_order_items",
    "modify_order_payment",
    "modify_user_address",
}
