"""The RAG index: documents with a dense and a sparse vector in Qdrant, and its ingestion.

- Each document gets a dense MiniLM vector (offline, `ml_core.recommend.features`) and a sparse
  BM25 vector from Qdrant Edge's own `Bm25` embedder (term frequencies at ingestion, IDF applied
  by Qdrant at query time), so exact terms such as SKUs, model numbers and brands match even
  where the dense vector blurs them.
- `SearchBackend` is the one small interface over where the points live: `EdgeBackend` (a Qdrant
  Edge shard under the var dir, the embedded default; a reading process opens its private copy,
  so several serve at once while `aisle rag ingest` writes: `ml_core.edge_folders`) and
  `ServerBackend` (a collection on a Qdrant server, or `QdrantClient(":memory:")` in tests).
  Both keep a payload index on every filtered field, and both fuse dense and sparse results
  with Qdrant's prefetch + DBSF query.
- `QdrantRagStore` is the llama-index vector store (`BasePydanticVectorStore`) over either
  backend: llama-index's own Qdrant store speaks only to a server, not to Qdrant Edge.
- `ingest` is incremental: each point carries its document's content hash, so only new or
  changed documents are embedded and written, and documents gone from the store are deleted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

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
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from sqlalchemy import Engine

from ml_core.edge_folders import ShardFolder, copies_folder, has_shard, load_shard
from ml_core.recommend.features import TEXT_DIM, embed_texts
from rag.documents import RagDocument, build_documents
from retail.errors import AisleError
from retail.settings import Settings

DENSE = "dense"
SPARSE = "bm25"
COLLECTION = "aisle-rag"
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
# Candidates each of dense and sparse hands to the fusion: deep enough that a document ranked
# well by one side alone still reaches the fused top ten.
PREFETCH = 50
# Points read per scroll page when listing stored content hashes.
_SCROLL_PAGE = 2_000
_HASH_FIELDS = ["doc_id", "content_hash"]
_NAMESPACE = uuid.UUID("0b7f3c52-7d0e-4e8a-9a55-2f4c1d6e9b10")
# Product pages run to ~300 tokens; the default BM25 length (256) would under-weight them.
_BM25 = edge.Bm25Config(avg_len=120.0)

Mode = Literal["dense", "sparse", "hybrid"]


class IndexNotBuiltError(AisleError):
    """The RAG index has not been built yet."""


class InvalidFilterError(AisleError):
    """A filter names a field the index does not filter on, or a value of the wrong type."""


class IndexPoint(NamedTuple):
    doc_id: str
    dense: Sequence[float]
    sparse: edge.SparseVector
    payload: dict[str, Any]


class ScoredDoc(NamedTuple):
    doc_id: str
    score: float
    payload: dict[str, Any]
    dense: np.ndarray | None


class SearchBackend(Protocol):
    """Where the points live; both implementations answer the same requests alike."""

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...

    def delete(self, doc_ids: Sequence[str]) -> None: ...

    def hashes(self) -> dict[str, str]:
        """doc id -> content hash of every indexed document."""
        ...

    def search(
        self,
        mode: Mode,
        dense: Sequence[float] | None,
        sparse: edge.SparseVector | None,
        where: MetadataFilters | None,
        limit: int,
        with_vectors: bool = False,
    ) -> list[ScoredDoc]: ...

    def finish(self) -> None:
        """Make what was written durable and searchable at full speed."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def point_id(doc_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, doc_id)


def qdrant_filter(models: Any, range_type: Any, where: MetadataFilters | None) -> Any:
    """`where` as a Qdrant filter built from `models` (qdrant_edge or qdrant_client.models spell
    field conditions alike; only the range class differs, hence `range_type`)."""
    if where is None or not where.filters:
        return None
    must, must_not = [], []
    for item in where.filters:
        if not isinstance(item, MetadataFilter):
            raise InvalidFilterError("Nested filter groups are not supported.")
        if item.key not in FILTER_FIELDS:
            known = ", ".join(sorted(FILTER_FIELDS))
            raise InvalidFilterError(f"Unknown filter field {item.key!r}; known: {known}.")
        op, value = item.operator, item.value
        if op in (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE):
            bound = {
                FilterOperator.GT: "gt",
                FilterOperator.GTE: "gte",
                FilterOperator.LT: "lt",
                FilterOperator.LTE: "lte",
            }[op]
            must.append(
                models.FieldCondition(key=item.key, range=range_type(**{bound: float(value)}))  # type: ignore[arg-type]
            )
        elif op in (FilterOperator.EQ, FilterOperator.IN, FilterOperator.ANY):
            values = value if isinstance(value, list) else [value]
            must.append(models.FieldCondition(key=item.key, match=models.MatchAny(any=values)))
        elif op in (FilterOperator.NE, FilterOperator.NIN):
            values = value if isinstance(value, list) else [value]
            must_not.append(models.FieldCondition(key=item.key, match=models.MatchAny(any=values)))
        else:
            raise InvalidFilterError(f"Filter operator {op.value!r} is not supported.")
    return models.Filter(must=must or None, must_not=must_not or None)


class EdgeBackend:
    """Points in a Qdrant Edge shard under `path`: the folder itself, held for writing, or, given
    `copies`, this process's private copy of it (how serving processes read; see
    `ml_core.edge_folders`)."""

    batch_size = 512

    def __init__(
        self,
        path: Path,
        *,
        create: bool = True,
        hnsw_ef: int = 64,
        copies: Path | None = None,
    ) -> None:
        self.hnsw_ef = hnsw_ef
        # One search thread: queries already run side by side, and on a small machine a pool
        # per query only adds wake-ups to the tail latency (as the recommender's index found).
        config = edge.EdgeConfig(
            vectors={DENSE: edge.EdgeVectorParams(size=TEXT_DIM, distance=edge.Distance.Dot)},
            sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
            hnsw_config=edge.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
            max_search_threads=1,
        )
        if copies is not None and not has_shard(path):
            # Checked before copying: a reader never creates the shared index.
            raise IndexNotBuiltError(f"No RAG index at {path}; run `aisle rag ingest` first.")
        self.folder = ShardFolder(path, copies=copies)
        try:
            self.shard = self._open(self.folder, config, create)
        except BaseException:
            self.folder.close()
            raise

    @staticmethod
    def _open(folder: ShardFolder, config: edge.EdgeConfig, create: bool) -> edge.EdgeShard:
        if has_shard(folder.path):
            return load_shard(folder, config)
        if not create or folder.path != folder.shared:
            raise IndexNotBuiltError(
                f"No RAG index at {folder.shared}; run `aisle rag ingest` first."
            )
        folder.path.mkdir(parents=True, exist_ok=True)
        shard = edge.EdgeShard.create(str(folder.path), config)
        kinds = [(f, edge.PayloadSchemaType.Keyword) for f in KEYWORD_FIELDS]
        kinds += [(f, edge.PayloadSchemaType.Integer) for f in INTEGER_FIELDS]
        kinds += [(f, edge.PayloadSchemaType.Float) for f in FLOAT_FIELDS]
        for name, kind in kinds:
            shard.update(edge.UpdateOperation.create_field_index(name, kind))
        return shard

    @property
    def stale(self) -> bool:
        """Whether `aisle rag ingest` has rewritten the index since this copy was taken."""
        return self.folder.stale

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if points:
            self.folder.changed()
        for start in range(0, len(points), self.batch_size):
            batch = [
                edge.Point(point_id(p.doc_id), {DENSE: list(p.dense), SPARSE: p.sparse}, p.payload)
                for p in points[start : start + self.batch_size]
            ]
            self.shard.update(edge.UpdateOperation.upsert_points(batch))

    def delete(self, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            self.folder.changed()
            self.shard.update(edge.UpdateOperation.delete_points([point_id(d) for d in doc_ids]))

    def hashes(self) -> dict[str, str]:
        return _scroll_hashes(
            lambda offset: self.shard.scroll(
                edge.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, with_payload=_HASH_FIELDS)
            )
        )

    def search(
        self,
        mode: Mode,
        dense: Sequence[float] | None,
        sparse: edge.SparseVector | None,
        where: MetadataFilters | None,
        limit: int,
        with_vectors: bool = False,
    ) -> list[ScoredDoc]:
        condition = qdrant_filter(edge, edge.RangeFloat, where)
        params = edge.SearchParams(hnsw_ef=self.hnsw_ef)
        nearest = {
            "dense": lambda: edge.Query.Nearest(list(dense or ()), using=DENSE),
            "sparse": lambda: edge.Query.Nearest(sparse or edge.SparseVector([], []), using=SPARSE),
        }
        if mode == "hybrid":
            request = edge.QueryRequest(
                limit=limit,
                prefetches=[
                    edge.Prefetch(
                        limit=max(PREFETCH, limit),
                        query=nearest[m](),
                        filter=condition,
                        params=params,
                    )
                    for m in ("dense", "sparse")
                ],
                # Distribution-based score fusion: each side's scores are normalised by their own
                # mean and spread, so a document BM25 scores far above the rest (an exact model
                # number) keeps its lead, where rank fusion let weak dense ranks bury it (the
                # benchmark's derived query sets, three seeds: DBSF beat both dense and sparse
                # alone on recall@5 and nDCG@10; RRF lost to sparse on both). The stub types
                # Fusion.Dbsf as a class apart from Fusion; the engine takes it.
                query=edge.Fusion.Dbsf(),  # type: ignore[arg-type]
                filter=condition,
                with_payload=True,
                with_vector=[DENSE] if with_vectors else False,
            )
        else:
            request = edge.QueryRequest(
                limit=limit,
                query=nearest[mode](),
                filter=condition,
                params=params,
                with_payload=True,
                with_vector=[DENSE] if with_vectors else False,
            )
        return [_scored(p.payload, p.score, p.vector) for p in self.shard.query(request)]

    def finish(self) -> None:
        # Builds the HNSW graph once a segment is large enough; small indexes are scanned.
        self.shard.optimize()
        self.shard.flush()

    def count(self) -> int:
        return self.shard.count(edge.CountRequest(exact=True))

    def close(self) -> None:
        try:
            self.shard.close()
        finally:
            self.folder.close()


class ServerBackend:
    """Points in a collection of a Qdrant server (or `QdrantClient(":memory:")`)."""

    batch_size = 512

    def __init__(self, client: QdrantClient, collection: str = COLLECTION, *, create: bool = True):
        self.client = client
        self.collection = collection
        if client.collection_exists(collection):
            return
        if not create:
            raise IndexNotBuiltError(
                f"No RAG collection {collection!r} on the Qdrant server; run `aisle rag ingest`."
            )
        client.create_collection(
            collection,
            vectors_config={DENSE: qm.VectorParams(size=TEXT_DIM, distance=qm.Distance.DOT)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        kinds = [(f, qm.PayloadSchemaType.KEYWORD) for f in KEYWORD_FIELDS]
        kinds += [(f, qm.PayloadSchemaType.INTEGER) for f in INTEGER_FIELDS]
        kinds += [(f, qm.PayloadSchemaType.FLOAT) for f in FLOAT_FIELDS]
        for name, kind in kinds:
            client.create_payload_index(collection, name, kind)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        for start in range(0, len(points), self.batch_size):
            batch = [
                qm.PointStruct(
                    id=str(point_id(p.doc_id)),
                    vector={DENSE: list(p.dense), SPARSE: _server_sparse(p.sparse)},
                    payload=p.payload,
                )
                for p in points[start : start + self.batch_size]
            ]
            self.client.upsert(self.collection, batch)

    def delete(self, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            self.client.delete(
                self.collection,
                points_selector=qm.PointIdsList(points=[str(point_id(d)) for d in doc_ids]),
            )

    def hashes(self) -> dict[str, str]:
        return _scroll_hashes(
            lambda offset: self.client.scroll(
                self.collection, offset=offset, limit=_SCROLL_PAGE, with_payload=_HASH_FIELDS
            )
        )

    def search(
        self,
        mode: Mode,
        dense: Sequence[float] | None,
        sparse: edge.SparseVector | None,
        where: MetadataFilters | None,
        limit: int,
        with_vectors: bool = False,
    ) -> list[ScoredDoc]:
        condition = qdrant_filter(qm, qm.Range, where)
        queries: dict[str, tuple[Any, str]] = {
            "dense": (list(dense or ()), DENSE),
            "sparse": (_server_sparse(sparse), SPARSE),
        }
        vectors = [DENSE] if with_vectors else False
        if mode == "hybrid":
            found = self.client.query_points(
                self.collection,
                prefetch=[
                    qm.Prefetch(
                        query=query, using=using, filter=condition, limit=max(PREFETCH, limit)
                    )
                    for query, using in queries.values()
                ],
                query=qm.FusionQuery(fusion=qm.Fusion.DBSF),
                query_filter=condition,
                limit=limit,
                with_payload=True,
                with_vectors=vectors,
            )
        else:
            query, using = queries[mode]
            found = self.client.query_points(
                self.collection,
                query=query,
                using=using,
                query_filter=condition,
                limit=limit,
                with_payload=True,
                with_vectors=vectors,
            )
        return [_scored(p.payload, p.score, p.vector) for p in found.points]

    def finish(self) -> None:
        """A server indexes as it writes."""

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def close(self) -> None:
        self.client.close()


def _scroll_hashes(page: Callable[[Any], tuple[Sequence[Any], Any]]) -> dict[str, str]:
    """doc_id -> content_hash of every stored point; `page(offset)` returns (records, next
    offset), None when done, in either backend's scroll API."""
    found: dict[str, str] = {}
    offset = None
    while True:
        records, offset = page(offset)
        for record in records:
            if record.payload:
                found[record.payload["doc_id"]] = record.payload["content_hash"]
        if offset is None:
            return found


def _server_sparse(vector: edge.SparseVector | None) -> qm.SparseVector:
    if vector is None:
        return qm.SparseVector(indices=[], values=[])
    return qm.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _scored(payload: dict[str, Any] | None, score: float, vector: Any) -> ScoredDoc:
    payload = payload or {}
    dense = None
    if isinstance(vector, dict) and DENSE in vector:
        dense = np.asarray(vector[DENSE], dtype=np.float32)
    return ScoredDoc(payload.get("doc_id", ""), float(score), payload, dense)


def open_backend(settings: Settings, *, create: bool = False) -> SearchBackend:
    """The RAG index: the collection on `settings.qdrant_url` when set, else the Qdrant Edge
    shard under `var_dir/indexes/rag`.

    `create` opens it to write (ingestion), creating it if need be: the Edge folder is held for
    as long as the backend is open. Without it the index is opened to read, and an index never
    built is an error: on Qdrant Edge, a private copy of the folder under `var_dir/tmp`, so any
    number of processes read while `aisle rag ingest` writes (they serve what they copied until
    they reopen it)."""
    if settings.qdrant_url:
        return ServerBackend(QdrantClient(url=settings.qdrant_url), create=create)
    folder = settings.var_dir / "indexes" / "rag"
    if create:
        return EdgeBackend(folder, create=True)
    return EdgeBackend(folder, create=False, copies=copies_folder(settings.var_dir))


# ---------------------------------------------------------------------------------------------
# The llama-index vector store


class QdrantRagStore(BasePydanticVectorStore):
    """A llama-index vector store over a `SearchBackend` (Qdrant Edge or a Qdrant server).

    Nodes carry their own dense embedding; the sparse vector is computed here from the node's
    text with Qdrant's BM25. Queries: DEFAULT (dense), SPARSE (BM25 on `query_str`), HYBRID
    (both, fused with DBSF), MMR (dense candidates re-ranked for diversity, `mmr_threshold` the
    relevance weight)."""

    stores_text: bool = True
    is_embedding_query: bool = True
    _backend: SearchBackend = PrivateAttr()
    _bm25: edge.Bm25 = PrivateAttr()

    def __init__(self, backend: SearchBackend) -> None:
        super().__init__(stores_text=True)
        self._backend = backend
        self._bm25 = edge.Bm25(_BM25)

    @property
    def client(self) -> SearchBackend:
        return self._backend

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        points = []
        for node in nodes:
            text = node.get_content()
            points.append(
                IndexPoint(
                    node.node_id,
                    node.get_embedding(),
                    self._bm25.embed_document(text),
                    {**node.metadata, "doc_id": node.node_id, "text": text},
                )
            )
        self._backend.upsert(points)
        return [p.doc_id for p in points]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Documents are indexed one node each, so a document's id is its node's id."""
        self._backend.delete([ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        if filters is not None:
            raise InvalidFilterError("Deleting by filter is not supported; name the nodes.")
        self._backend.delete(node_ids or [])

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
        found = self._backend.search(
            mode,
            query.query_embedding,
            sparse,
            query.filters,
            max(4 * k, 20) if diverse else k,
            with_vectors=diverse,
        )
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
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Bring the index in line with the store's database (see `ingest_documents`)."""
    return ingest_documents(build_documents(engine), store, progress=progress)


def ingest_documents(
    docs: Iterable[RagDocument],
    store: QdrantRagStore,
    *,
    batch_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Embed and write the documents whose content hash is new or changed, delete the indexed
    documents that are gone; `progress(done, total)` after each batch written."""
    start = time.perf_counter()
    docs = list(docs)
    indexed = store.client.hashes()
    changed = [d for d in docs if indexed.get(d.doc_id) != d.content_hash]
    gone = sorted(set(indexed) - {d.doc_id for d in docs})
    for first in range(0, len(changed), batch_size):
        batch = changed[first : first + batch_size]
        vectors = embed_texts([d.text for d in batch])
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
