"""Ingestion into the RAG index, on Qdrant Edge and a Qdrant server alike: counts, incremental
re-ingestion that embeds only changed documents, deletes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rag.index
from ml_core.vectors import EdgeIndex, IndexNotBuiltError
from rag.documents import RagDocument
from rag.index import RAG_SCHEMA, QdrantRagStore, ingest_documents


def _docs(n: int = 4) -> list[RagDocument]:
    return [
        RagDocument(
            f"product:P{i}",
            f"Trail pack model TP-{i}0{i}, {20 + i} litres",
            {"doc_type": "product", "product_id": f"P{i}", "price_min": 10.0 * i},
        )
        for i in range(n)
    ]


def test_reingest_embeds_only_changed_documents_and_deletes_removed(
    rag_store: QdrantRagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest_documents(_docs(), rag_store)
    assert (first.added, first.updated, first.unchanged, first.deleted) == (4, 0, 0, 0)
    assert rag_store.client.count() == 4

    embedded: list[str] = []
    real = rag.index.embed_texts

    def counting(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(rag.index, "embed_texts", counting)
    docs = _docs()
    docs[1] = RagDocument(docs[1].doc_id, docs[1].text + ", now in green", docs[1].metadata)
    del docs[3]
    report = ingest_documents(docs, rag_store)
    assert (report.added, report.updated, report.unchanged, report.deleted) == (0, 1, 2, 1)
    assert embedded == [docs[1].text]
    assert set(rag_store.hashes()) == {"product:P0", "product:P1", "product:P2"}
    assert rag_store.hashes()["product:P1"] == docs[1].content_hash

    again = ingest_documents(docs, rag_store)
    assert (again.unchanged, len(embedded)) == (3, 1)


def test_an_edge_index_persists_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuiltError):
        EdgeIndex(tmp_path / "never", RAG_SCHEMA, create=False)
    backend = EdgeIndex(tmp_path / "rag", RAG_SCHEMA)
    ingest_documents(_docs(2), QdrantRagStore(backend))
    backend.close()
    reopened = EdgeIndex(tmp_path / "rag", RAG_SCHEMA, create=False)
    assert reopened.count() == 2
    reopened.close()
