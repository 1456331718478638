"""Fixtures of the RAG tests: the same index on Qdrant Edge and on QdrantClient(":memory:"), and
the int8 document encoder ingestion embeds with (exported once per test session)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ml_core.document_encoder import document_encoder
from ml_core.vectors import EdgeIndex, ServerIndex, VectorIndex
from rag.index import COLLECTION, RAG_SCHEMA, Encode, QdrantRagStore


@pytest.fixture(params=["edge", "server"])
def rag_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantRagStore]:
    if request.param == "edge":
        backend: VectorIndex = EdgeIndex(tmp_path / "rag", RAG_SCHEMA)
    else:
        with warnings.catch_warnings():
            # The in-process client warns that it ignores payload indexes; a server keeps them.
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            backend = ServerIndex(QdrantClient(":memory:"), COLLECTION, RAG_SCHEMA)
    store = QdrantRagStore(backend)
    yield store
    backend.close()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var dir's `models/` holding the int8 document encoder."""
    folder = tmp_path_factory.mktemp("models")
    document_encoder(folder)
    return folder


@pytest.fixture(scope="session")
def encode(model_dir: Path) -> Encode:
    return document_encoder(model_dir).encode
