"""`aisle ask` end to end on the built tool world: JSON shape, threads, and clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from retail.settings import get_settings
from tests.tools.world import ToolWorld


@pytest.fixture
def ask(
    tool_world: ToolWorld, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
):  # type: ignore[no-untyped-def]
    """`aisle ask ...` against the tool world's database and indexes, with its own checkpoints."""
    # The embedded index admits one holder: the command opens its own, as a separate process
    # would, so the world's cached one is closed first (later tests reopen it on demand).
    tool_world.services.close()
    monkeypatch.setenv("AISLE_VAR_DIR", str(tool_world.settings.var_dir))
    monkeypatch.setenv("AISLE_DATABASE_URL", tool_world.settings.resolved_database_url)
    monkeypatch.setenv("AISLE_LLM_BASE_URL", "")
    get_settings.cache_clear()

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["ask", *args])

    yield run
    get_settings.cache_clear()


def _error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    return message


def test_ask_prints_the_turn_as_json_and_continues_a_thread(ask, tool_world: ToolWorld) -> None:  # type: ignore[no-untyped-def]
    who = f"shopper:{tool_world.shopper_id}"
    first = ask("--as", who, "do you have hiking boots?", "--json")
    assert first.exit_code == 0, first.output
    turn = json.loads(first.stdout)
    assert set(turn) >= {
        "answer",
        "tool_calls",
        "citations",
        "products",
        "grounded",
        "latency_ms",
        "thread_id",
    }
    assert turn["tool_calls"][0]["name"] == "search_products"
    assert set(turn["tool_calls"][0]) == {"name", "args", "status", "latency_ms"}
    assert turn["products"] and turn["grounded"] is True
    follow = ask(
        "--as", who, "tell me about the first one", "--thread", turn["thread_id"], "--json"
    )
    assert follow.exit_code == 0, follow.output
    assert json.loads(follow.stdout)["tool_calls"][0]["args"] == {"product_id": turn["products"][0]}


def test_bad_input_is_one_sentence(ask, tool_world: ToolWorld) -> None:  # type: ignore[no-untyped-def]
    assert "Unknown role" in _error(ask("--as", "wizard:merlin", "hi"))
    assert "No customer" in _error(ask("--as", "shopper:nobody_here_0000", "hi"))
    who = f"shopper:{tool_world.shopper_id}"
    assert "empty" in _error(ask("--as", who, "   "))
    assert "Unknown brain" in _error(ask("--as", who, "hi", "--brain", "oracle"))
    assert "AISLE_LLM_BASE_URL" in _error(ask("--as", who, "hi", "--brain", "openai"))
