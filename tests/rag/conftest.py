"""Fixtures of the RAG tests: the same index on Qdrant Edge and on QdrantClient(":memory:")."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from rag.index import EdgeBackend, QdrantRagStore, SearchBackend, ServerBackend


@pytest.fixture(params=["edge", "server"])
def rag_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantRagStore]:
    if request.param == "edge":
        backend: SearchBackend = EdgeBackend(tmp_path / "rag")
    else:
        with warnings.catch_warnings():
            # The in-process client warns that it ignores payload indexes; a server keeps them.
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            backend = ServerBackend(QdrantClient(":memory:"))
    store = QdrantRagStore(backend)
    yield store
    backend.close()
