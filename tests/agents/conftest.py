"""Fixtures for the agent tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.llm_server import LLMServer
from tests.agents.loopback import refusing_port


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded SmolLM2 on llama.cpp's OpenAI-compatible server, once per session: its
    base URL. Stopped when the session ends."""
    with LLMServer(log_path=tmp_path_factory.mktemp("llm") / "server.log") as server:
        yield server.base_url


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections."""
    with refusing_port() as port:
        yield port
