"""Ingestion into the RAG index, on Qdrant Edge and a Qdrant server alike: counts, incremental
re-ingestion that embeds only changed documents, deletes; and a store's whole catalogue ingested
with the int8 document encoder into Qdrant Edge, then found again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from ml_core.vectors import EdgeIndex, IndexNotBuiltError, Match, Where
from rag.documents import RagDocument, build_documents
from rag.index import RAG_SCHEMA, Encode, QdrantRagStore, ingest, ingest_documents
from rag.retrieve import Retriever
from tests.factories import seed_catalogue


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
    rag_store: QdrantRagStore, encode: Encode
) -> None:
    first = ingest_documents(_docs(), rag_store, encode=encode)
    assert (first.added, first.updated, first.unchanged, first.deleted) == (4, 0, 0, 0)
    assert rag_store.client.count() == 4

    embedded: list[str] = []

    def counting(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return encode(texts)

    docs = _docs()
    docs[1] = RagDocument(docs[1].doc_id, docs[1].text + ", now in green", docs[1].metadata)
    del docs[3]
    report = ingest_documents(docs, rag_store, encode=counting)
    assert (report.added, report.updated, report.unchanged, report.deleted) == (0, 1, 2, 1)
    assert embedded == [docs[1].text]
    assert set(rag_store.hashes()) == {"product:P0", "product:P1", "product:P2"}
    assert rag_store.hashes()["product:P1"] == docs[1].content_hash

    again = ingest_documents(docs, rag_store, encode=counting)
    assert (again.unchanged, len(embedded)) == (3, 1)


def test_an_edge_index_persists_and_a_missing_one_is_an_error(
    tmp_path: Path, encode: Encode
) -> None:
    with pytest.raises(IndexNotBuiltError):
        EdgeIndex(tmp_path / "never", RAG_SCHEMA, create=False)
    backend = EdgeIndex(tmp_path / "rag", RAG_SCHEMA)
    ingest_documents(_docs(2), QdrantRagStore(backend), encode=encode)
    backend.close()
    reopened = EdgeIndex(tmp_path / "rag", RAG_SCHEMA, create=False)
    assert reopened.count() == 2
    reopened.close()


def test_a_catalogue_ingested_with_the_int8_encoder_is_found_again(
    engine: Engine, tmp_path: Path, model_dir: Path
) -> None:
    """Every document of the store is indexed once, under its own vector (the fp32 model's
    vector of its first MAX_TOKENS word pieces, to cosine 0.98); a product's name finds that product
    by the dense vector alone (int8 documents, fp32 queries, as the server searches) and by the
    hybrid search; nothing is embedded again when nothing changed."""
    from ml_core.recommend.features import text_model

    seed_catalogue(engine)
    docs = build_documents(engine)
    backend = EdgeIndex(tmp_path / "rag", RAG_SCHEMA)
    store = QdrantRagStore(backend)
    try:
        report = ingest(engine, store, model_dir=model_dir)
        assert (report.documents, report.added, report.deleted) == (len(docs), len(docs), 0)
        assert backend.count() == len(docs)

        model = text_model()
        limit = model.max_seq_length
        model.max_seq_length = 128  # the document encoder's cut
        try:
            expected = model.encode([d.text for d in docs], normalize_embeddings=True)
        finally:
            model.max_seq_length = limit
        for doc, vector in zip(docs, expected, strict=True):
            [stored] = backend.query(
                dense=vector,
                where=Where(must=(Match("doc_id", (doc.doc_id,)),)),
                limit=1,
                with_vectors=True,
            )
            assert stored.dense is not None
            assert float(stored.dense @ vector) > 0.98, doc.doc_id

        retriever = Retriever(store)
        pages = [d for d in docs if d.metadata["doc_type"] == "product"]
        assert len(pages) >= 3
        for page in pages:
            title = page.metadata["title"]
            for mode in ("dense", "hybrid"):
                hits = retriever.search(title, k=5, mode=mode)
                assert hits[0].product_id == page.metadata["product_id"], (mode, title)
                assert page.doc_id in [h.doc_id for h in hits], (mode, title)

        again = ingest(engine, store, model_dir=model_dir)
        assert (again.added, again.updated, again.unchanged) == (0, 0, len(docs))
    finally:
        backend.close()
