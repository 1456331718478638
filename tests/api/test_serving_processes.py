"""Several serving processes on one var dir, as `aisle serve --workers N` or two servers on two
ports run them: each opens the embedded indexes (its own copies), answers shoppers, and says it
is ready; the first turns a fresh process gets, all at once, are all answered; and readiness says
why in a sentence (503) when the index cannot be opened.

The two servers are real uvicorn processes over a copy of the tool world (its database and var
dir), so what they write (audit events, threads) never reaches the world other tests read.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.assistant import FAILED_TURN_ANSWER
from api.app import create_app
from api.auth import issue_key
from retail.settings import Settings
from retail.store.models import Product
from retail.store.open import open_store
from tests.servers import start_server, stop, wait_for
from tests.tools.world import ToolWorld
from tools.base import Principal

FIRST_TURNS = 10
TURN_TIMEOUT_S = 180.0


@dataclass
class Servers:
    urls: list[str]
    headers: dict[str, str]
    product_name: str
    first_turns: list[httpx.Response]
    """The turns fired at the second server, all at once, as soon as it listened."""


def _copy_world(tool_world: ToolWorld, root: Path) -> Settings:
    source = tool_world.settings
    database = root / "aisle.db"
    # The SQLite backup API, not a file copy: it includes what sits in the write-ahead log.
    with (
        sqlite3.connect(source.resolved_database_url.removeprefix("sqlite:///")) as src,
        sqlite3.connect(database) as dst,
    ):
        src.backup(dst)
    # Not `tmp`: the test process's own copies of the indexes live there.
    shutil.copytree(source.var_dir, root / "var", ignore=shutil.ignore_patterns("tmp"))
    return Settings(database_url=f"sqlite:///{database}", var_dir=root / "var", environment="dev")


def _turn(url: str, headers: dict[str, str], message: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/turn", json={"message": message}, headers=headers, timeout=TURN_TIMEOUT_S
    )


@pytest.fixture(scope="module")
def servers(tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("two-servers")
    settings = _copy_world(tool_world, root)
    engine = open_store(settings)
    try:
        key = issue_key(engine, Principal.parse(f"shopper:{tool_world.shopper_id}"), label="test")
        with Session(engine) as session:
            name = session.scalar(select(Product.name).where(Product.id == tool_world.product_id))
    finally:
        engine.dispose()
    assert name is not None
    headers = {"Authorization": f"Bearer {key}"}
    started = [start_server(settings, root / f"server-{n}.log") for n in range(2)]
    try:
        # The second one's first turns go in as soon as it listens, while it still loads.
        (first, first_url), (fresh, fresh_url) = started
        wait_for(fresh, fresh_url, root / "server-1.log", path="/health")
        with ThreadPoolExecutor(FIRST_TURNS) as pool:
            first_turns = list(
                pool.map(
                    lambda n: _turn(fresh_url, headers, f"do you have the {name}? ({n})"),
                    range(FIRST_TURNS),
                )
            )
        for n, (process, url) in enumerate(started):
            wait_for(process, url, root / f"server-{n}.log")
        yield Servers([first_url, fresh_url], headers, name, first_turns)
    finally:
        for process, _ in started:
            stop(process)


@pytest.mark.slow  # two servers load their models: about a minute
def test_first_turns_at_once_are_all_answered(servers: Servers) -> None:
    url = servers.urls[1]
    for response in servers.first_turns:
        assert response.status_code == 200, response.text
        thread = httpx.get(
            f"{url}/v1/threads/{response.json()['thread_id']}", headers=servers.headers
        )
        assert thread.status_code == 200, thread.text
        messages = thread.json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[-1]["content"] == response.json()["answer"] != FAILED_TURN_ANSWER


@pytest.mark.slow
def test_two_processes_on_one_var_dir_both_serve(servers: Servers) -> None:
    for url in servers.urls:
        ready = httpx.get(f"{url}/ready", timeout=10.0)
        assert ready.status_code == 200, ready.json()
        response = _turn(url, servers.headers, f"I'm looking for the {servers.product_name}")
        assert response.status_code == 200, response.text
        assert response.json()["products"], response.json()["answer"]


@pytest.mark.slow
def test_ready_only_once_the_assistant_has_warmed_up(servers: Servers) -> None:
    # Each server loaded its assistant in the background; readiness came from the finished load,
    # warm-up included, so it names what was warmed.
    for url in servers.urls:
        assistant = httpx.get(f"{url}/ready", timeout=10.0).json()["checks"]["assistant"]
        assert assistant["ok"], assistant
        detail = assistant["detail"]
        assert detail.startswith("The assistant is loaded and warmed up (product search"), detail
        assert "document answer" in detail and "recommendations" in detail


def _ready(settings: Settings) -> dict[str, Any]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/ready")
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert "rag_index" in body["missing"]
    return body["checks"]["rag_index"]


def test_ready_says_why_when_there_is_no_index(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'aisle.db'}", var_dir=tmp_path, environment="test"
    )
    assert _ready(settings)["detail"] == (
        "The document index has not been built yet; run `aisle rag ingest` first."
    )


def test_ready_says_why_when_the_index_cannot_be_opened(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'aisle.db'}", var_dir=tmp_path, environment="test"
    )
    damaged = tmp_path / "indexes" / "rag"
    damaged.mkdir(parents=True)
    (damaged / "edge_config.json").write_text("not json")
    detail = _ready(settings)["detail"]
    assert detail.startswith(f"The index at {damaged} cannot be opened (")
    assert detail.endswith("Rebuild it with `aisle rag ingest`.")
