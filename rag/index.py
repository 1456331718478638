"""The RAG index: documents with a dense and a sparse vector in Qdrant, and its ingestion.

- Each document gets a dense MiniLM vector from the int8 document encoder
  (`ml_core.document_encoder`: its first 256 word pieces, in the fp32 query encoder's space;
  the graph is exported once per var dir, under `models/`), policy and FAQ sections from the
  fp32 query encoder itself (`document_encode`), and a sparse
  BM25 vector from Qdrant Edge's own `Bm25` embedder (term frequencies at ingestion, IDF applied
  by Qdrant at query time), so exact terms such as SKUs, model numbers and brands match even
  where the dense vector blurs them.
- The points live in the project's one Qdrant adapter (`ml_core.vectors`, `RAG_SCHEMA`): a Qdrant
  Edge shard under the var dir, the embedded default (a reading process opens its private copy,
  so several serve at once while `aisle rag ingest` writes), or a collection on a Qdrant server
  (`QdrantClient(":memory:")` in tests). Both keep a payload index on every filtered field, and
  both fuse dense and sparse results with Qdrant's prefetch + DBSF query.
- `QdrantRagStore` is the llama-index vector store (`BasePydanticVectorStore`) over either
  backend: llama-index's own Qdrant store speaks only to a server, not to Qdrant Edge.
- `ingest` is incremental: each point carries its document's content hash, so only new or
  changed documents are embedded and written, and documents gone from the store are deleted.
- Versions: after an ingest the Edge shard is saved as a version of `rag-index` in the model
  registry (`register_index`: signed manifest, lineage), and readers serve the champion's copy
  (`open_backend`), so `aisle models promote|rollback rag-index` decides what the assistant
  retrieves from, its files verified before any process opens them.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import qdrant_edge as edge
from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from pydantic import PrivateAttr
from sqlalchemy import Engine

from ml_core.document_encoder import document_encoder, graph_name
from ml_core.edge_folders import WRITE_WAIT_S, FolderLock
from ml_core.recommend.features import TEXT_DIM, TEXT_MODEL
from ml_core.registry import ArtifactRegistry, Manifest, Stage
from ml_core.vectors import (
    Condition,
    FieldKind,
    Match,
    Point,
    Range,
    Schema,
    VectorIndex,
    Where,
    open_index,
)
from rag.documents import RagDocument, build_documents
from retail.errors import AisleError
from retail.settings import Settings

DENSE = "dense"
SPARSE = "bm25"
COLLECTION = "aisle-rag"
# The registry kind of the index's versions, and the shard's folder inside each.
ARTIFACT = "rag-index"
SHARD = "shard"
# Payload fields with an index, by type. Flags are 0 / 1 integers: Qdrant Edge 0.9.0 matches
# nothing on a boolean field (found by the recommender's index).
KEYWORD_FIELDS = (
    "doc_id",
    "doc_type",
    "product_id",
    "policy_id",
    "category",
    "brand",
    "colour",
    "size",
    "in_stock",
    "source",
)
INTEGER_FIELDS = ("available",)
FLOAT_FIELDS = ("price_min", "price_max")
FILTER_FIELDS = frozenset(KEYWORD_FIELDS + INTEGER_FIELDS + FLOAT_FIELDS)
_KINDS: dict[str, FieldKind] = {
    **dict.fromkeys(KEYWORD_FIELDS, "keyword"),
    **dict.fromkeys(INTEGER_FIELDS, "integer"),
    **dict.fromkeys(FLOAT_FIELDS, "float"),
}
RAG_SCHEMA = Schema(
    # The namespace the index's point ids had before the adapter: indexes built then still match.
    namespace=uuid.UUID("0b7f3c52-7d0e-4e8a-9a55-2f4c1d6e9b10"),
    dim=TEXT_DIM,
    fields=_KINDS,
    dense=DENSE,
    sparse=SPARSE,
    hnsw_ef=64,
    ef_construct=100,
    build_hint="run `aisle rag ingest` first",
)
_HASH_FIELDS = ["doc_id", "content_hash"]
# Product pages run to ~300 tokens; the default BM25 length (256) would under-weight them.
_BM25 = edge.Bm25Config(avg_len=120.0)

Mode = Literal["dense", "sparse", "hybrid"]
# Texts in, one unit vector per text out.
Encode = Callable[[list[str]], np.ndarray]


class InvalidFilterError(AisleError):
    """A filter names a field the index does not filter on, or a value of the wrong type."""


class ScoredDoc(NamedTuple):
    doc_id: str
    score: float
    payload: dict[str, Any]
    dense: np.ndarray | None


_BOUNDS = {
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
}


def where_of(filters: MetadataFilters | None) -> Where | None:
    """llama-index metadata filters as the adapter's payload conditions; a field the index does
    not filter on, or an operator it cannot apply, is an `InvalidFilterError`."""
    if filters is None or not filters.filters:
        return None
    must: list[Condition] = []
    must_not: list[Condition] = []
    for item in filters.filters:
        if not isinstance(item, MetadataFilter):
            raise InvalidFilterError("Nested filter groups are not supported.")
        if item.key not in FILTER_FIELDS:
            known = ", ".join(sorted(FILTER_FIELDS))
            raise InvalidFilterError(f"Unknown filter field {item.key!r}; known: {known}.")
        op, value = item.operator, item.value
        values = tuple(value) if isinstance(value, list) else (value,)
        if op in _BOUNDS:
            must.append(Range(item.key, **{_BOUNDS[op]: float(value)}))  # type: ignore[arg-type]
        elif op in (FilterOperator.EQ, FilterOperator.IN, FilterOperator.ANY):
            must.append(Match(item.key, values))
        elif op in (FilterOperator.NE, FilterOperator.NIN):
            must_not.append(Match(item.key, values))
        else:
            raise InvalidFilterError(f"Filter operator {op.value!r} is not supported.")
    return Where(must=tuple(must), must_not=tuple(must_not))


def open_backend(settings: Settings, *, create: bool = False) -> VectorIndex:
    """The RAG index: the collection `aisle-rag` on `settings.qdrant_url` when set, else the
    Qdrant Edge shard under `var_dir/indexes/rag`.

    `create` opens it to write (ingestion), creating it if need be: the Edge folder is held for
    as long as the index is open. Without it the index is opened to read, and an index never
    built is an error (`ml_core.vectors.IndexNotBuiltError`): on Qdrant Edge, a private copy of
    the registry's champion `rag-index` (its files verified first), or, before any version was
    registered, of the folder ingestion writes, under `var_dir/tmp`, so any number of processes
    read while `aisle rag ingest` writes (they serve what they copied until they reopen it)."""
    served = None if create or settings.qdrant_url else served_index_folder(settings)
    return open_index(
        settings,
        "rag",
        RAG_SCHEMA,
        write=create,
        create=create,
        collection=COLLECTION,
        frozen_folder=served,
    )


def served_index_folder(settings: Settings) -> Path | None:
    """The champion `rag-index` version's shard, its files verified; None without one."""
    registry = ArtifactRegistry(settings.var_dir / "artifacts")
    if registry.ledger(ARTIFACT).champion is None:
        return None
    return registry.active(ARTIFACT)[1] / SHARD


def register_index(
    settings: Settings,
    registry: ArtifactRegistry,
    hashes: dict[str, str],
    report: IngestReport,
    *,
    stage: Stage = "champion",
    by: str = "system",
    reason: str = "ingested",
) -> Manifest | None:
    """Save the Edge shard ingestion just wrote as a version of `rag-index` in `stage` (its
    lineage: the documents' content hashes, the encoder); None on a Qdrant server, whose
    collection is not a folder to version. Copied under the writers' lock: never half a write."""
    if settings.qdrant_url:
        return None
    shared = settings.var_dir / "indexes" / "rag"
    digest = hashlib.sha256("".join(f"{k}={v}\n" for k, v in sorted(hashes.items())).encode())

    def write(folder: Path) -> None:
        shutil.copytree(shared, folder / SHARD)

    with FolderLock(shared, exclusive=True, wait_s=WRITE_WAIT_S):
        return registry.save(
            name=ARTIFACT,
            kind=ARTIFACT,
            data_hash=digest.hexdigest(),
            write=write,
            parameters={
                # The documents' vectors come from the int8 graph, the queries' from the model.
                "encoder": graph_name(),
                "query_encoder": TEXT_MODEL,
                "backend": "qdrant-edge",
                "collection": COLLECTION,
            },
            metrics={
                "documents": report.documents,
                "added": report.added,
                "updated": report.updated,
                "deleted": report.deleted,
            },
            stage=stage,
            by=by,
            reason=reason,
        )


# ---------------------------------------------------------------------------------------------
# The llama-index vector store


class QdrantRagStore(BasePydanticVectorStore):
    """A llama-index vector store over a `VectorIndex` (Qdrant Edge or a Qdrant server).

    Nodes carry their own dense embedding; the sparse vector is computed here from the node's
    text with Qdrant's BM25. Queries: DEFAULT (dense), SPARSE (BM25 on `query_str`), HYBRID
    (both, fused with DBSF), MMR (dense candidates re-ranked for diversity, `mmr_threshold` the
    relevance weight)."""

    stores_text: bool = True
    is_embedding_query: bool = True
    _index: VectorIndex = PrivateAttr()
    _bm25: edge.Bm25 = PrivateAttr()

    def __init__(self, index: VectorIndex) -> None:
        super().__init__(stores_text=True)
        self._index = index
        self._bm25 = edge.Bm25(_BM25)

    @property
    def client(self) -> VectorIndex:
        return self._index

    def hashes(self) -> dict[str, str]:
        """doc id -> content hash of every indexed document."""
        return {p["doc_id"]: p["content_hash"] for p in self._index.payloads(_HASH_FIELDS)}

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        points = []
        for node in nodes:
            text = node.get_content()
            points.append(
                Point(
                    node.node_id,
                    node.get_embedding(),
                    {**node.metadata, "doc_id": node.node_id, "text": text},
                    self._bm25.embed_document(text),
                )
            )
        self._index.upsert(points)
        return [p.key for p in points]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Documents are indexed one node each, so a document's id is its node's id."""
        self._index.delete([ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        if filters is not None:
            raise InvalidFilterError("Deleting by filter is not supported; name the nodes.")
        self._index.delete(node_ids or [])

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        modes: dict[VectorStoreQueryMode, Mode] = {
            VectorStoreQueryMode.DEFAULT: "dense",
            VectorStoreQueryMode.MMR: "dense",
            VectorStoreQueryMode.SPARSE: "sparse",
            VectorStoreQueryMode.HYBRID: "hybrid",
        }
        mode = modes.get(query.mode)
        if mode is None:
            raise InvalidFilterError(f"Query mode {query.mode.value!r} is not supported.")
        sparse = self._bm25.embed_query(query.query_str) if query.query_str else None
        if mode != "dense" and sparse is None:
            raise InvalidFilterError("A sparse or hybrid query needs the query text.")
        if mode != "sparse" and query.query_embedding is None:
            raise InvalidFilterError("A dense or hybrid query needs the query embedding.")
        k = query.similarity_top_k
        diverse = query.mode == VectorStoreQueryMode.MMR
        points = self._index.query(
            dense=query.query_embedding if mode != "sparse" else None,
            sparse=sparse if mode != "dense" else None,
            where=where_of(query.filters),
            limit=max(4 * k, 20) if diverse else k,
            with_vectors=diverse,
        )
        found = [
            ScoredDoc(p.payload.get("doc_id", ""), p.score, p.payload, p.dense) for p in points
        ]
        if diverse and query.query_embedding is not None:
            found = mmr(found, np.asarray(query.query_embedding), k, query.mmr_threshold or 0.7)
        nodes = [
            TextNode(
                id_=hit.doc_id,
                text=hit.payload.get("text", ""),
                metadata={k: v for k, v in hit.payload.items() if k != "text"},
            )
            for hit in found
        ]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[h.score for h in found], ids=[h.doc_id for h in found]
        )


def mmr(
    candidates: Sequence[ScoredDoc], query: np.ndarray, k: int, relevance: float
) -> list[ScoredDoc]:
    """Maximal marginal relevance: each next pick trades similarity to the query (weight
    `relevance`) against similarity to what is already picked."""
    pool = [c for c in candidates if c.dense is not None]
    if not pool:
        return list(candidates[:k])
    vectors = np.stack([c.dense for c in pool if c.dense is not None])
    to_query = vectors @ query.astype(np.float32)
    picked: list[int] = []
    while len(picked) < min(k, len(pool)):
        redundancy = (vectors @ vectors[picked].T).max(axis=1) if picked else np.zeros(len(pool))
        score = relevance * to_query - (1 - relevance) * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return [pool[i] for i in picked]


# ---------------------------------------------------------------------------------------------
# Ingestion


@dataclass(frozen=True, slots=True)
class IngestReport:
    documents: int
    added: int
    updated: int
    unchanged: int
    deleted: int
    seconds: float

    @property
    def docs_per_second(self) -> float:
        """Documents embedded and written per second (the work ingestion did)."""
        written = self.added + self.updated
        return written / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_second": round(self.docs_per_second, 1)}


def ingest(
    engine: Engine,
    store: QdrantRagStore,
    *,
    model_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Bring the index in line with the store's database (see `ingest_documents`), embedding
    with the int8 document encoder cached in `model_dir` (the var dir's `models/`; built there
    the first time). The report's seconds count everything: reading the store, building the
    documents, loading (or building) the encoder, embedding, writing."""
    started = time.perf_counter()
    docs = list(build_documents(engine))
    report = ingest_documents(
        docs, store, encode=document_encode(model_dir, docs), progress=progress
    )
    return replace(report, seconds=time.perf_counter() - started)


# The store's own rules: a policy answer quotes the sections whose fused scores lie within a
# margin of the best (`tools.knowledge`), and int8's error moved a section across it ("do you
# price match amazon?" lost "What we do not match"; benchmarks/bench_policy_sections.py recall
# 0.833 in fp32, 0.792 in int8). They are a few dozen sections, a second or two in fp32.
PRECISE_DOC_TYPES = frozenset({"policy", "faq"})


def document_encode(model_dir: Path, docs: Iterable[RagDocument]) -> Encode:
    """How `ingest` embeds texts: the policy and FAQ sections among `docs` through the fused fp32
    graph (the query encoder's vectors, without importing torch), every other text through the
    int8 graph quantised from it; both cached in `model_dir`. They are one vector space; the int8
    one is ~4x cheaper per word piece."""
    precise = {d.text for d in docs if d.metadata.get("doc_type") in PRECISE_DOC_TYPES}

    def encode(texts: list[str]) -> np.ndarray:
        vectors = np.empty((len(texts), TEXT_DIM), dtype=np.float32)
        exact = [i for i, text in enumerate(texts) if text in precise]
        quick = [i for i, text in enumerate(texts) if text not in precise]
        if exact:
            vectors[exact] = document_encoder(model_dir, "fp32").encode([texts[i] for i in exact])
        if quick:
            vectors[quick] = document_encoder(model_dir).encode([texts[i] for i in quick])
        return vectors

    return encode


def ingest_documents(
    docs: Iterable[RagDocument],
    store: QdrantRagStore,
    *,
    encode: Encode,
    batch_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Embed (with `encode`) and write the documents whose content hash is new or changed,
    delete the indexed documents that are gone; `progress(done, total)` after each batch
    written."""
    start = time.perf_counter()
    docs = list(docs)
    indexed = store.hashes()
    # Shortest first: the encoder pads each of its batches to its longest text.
    changed = sorted(
        (d for d in docs if indexed.get(d.doc_id) != d.content_hash), key=lambda d: len(d.text)
    )
    gone = sorted(set(indexed) - {d.doc_id for d in docs})
    for first in range(0, len(changed), batch_size):
        batch = changed[first : first + batch_size]
        vectors = encode([d.text for d in batch])
        store.add(
            [
                TextNode(
                    id_=d.doc_id,
                    text=d.text,
                    metadata={**d.metadata, "content_hash": d.content_hash},
                    embedding=v.tolist(),
                )
                for d, v in zip(batch, vectors, strict=True)
            ]
        )
        if progress is not None:
            progress(first + len(batch), len(changed))
    store.delete_nodes(gone)
    store.client.finish()
    added = sum(d.doc_id not in indexed for d in changed)
    return IngestReport(
        documents=len(docs),
        added=added,
        updated=len(changed) - added,
        unchanged=len(docs) - len(changed),
        deleted=len(gone),
        seconds=time.perf_counter() - start,
    )
