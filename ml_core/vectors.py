"""The one Qdrant adapter: points with vectors and payloads, in process or on a Qdrant server.

Both the RAG index (`rag.index`) and the recommender's item index (`ml_core.recommend.serving`)
keep their vectors here, so the two backends are wrapped once:
- `EdgeIndex`: Qdrant Edge (`qdrant-edge-py`, Qdrant's engine in process), a shard folder under
  the var dir; the embedded default. A writer holds the folder; a reader opens its private copy,
  so several processes serve while one writes (`ml_core.edge_folders`).
- `ServerIndex`: a collection on a Qdrant server through `qdrant-client` (chosen by
  `AISLE_QDRANT_URL`; `QdrantClient(":memory:")` in tests), shared by every process.
Both answer the `VectorIndex` protocol alike. A `Schema` says what a collection holds: one dense
vector (named, or Qdrant's unnamed default), optionally a sparse one weighted by IDF at query
time, the payload fields that carry an index, and the namespace of its point ids: Qdrant ids are
integers or UUIDs, so a point's is `uuid5(namespace, key)`, and each kind of index has its own
namespace, so the same key in two of them never names the same point. A query with both a dense
and a sparse vector is hybrid: each side's candidates fused by distribution-based score fusion.
`Where` holds payload conditions (`Match`, `Range`) that both libraries are given alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import qdrant_edge as edge
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from ml_core.edge_folders import ShardFolder, copies_folder, has_shard, load_shard
from retail.errors import AisleError
from retail.settings import Settings

FieldKind = Literal["keyword", "integer", "float"]
# Candidates each of dense and sparse hands to a hybrid query's fusion, at least: deep enough that
# a point ranked well by one side alone still reaches the fused top ten.
PREFETCH = 50
# Points written per update call: bounds the request built in Python.
BATCH = 512
# Points read per scroll page.
_SCROLL_PAGE = 2_000


class IndexNotBuiltError(AisleError):
    """An index was opened to read, and none has been built."""


@dataclass(frozen=True, slots=True)
class Schema:
    """What one kind of index holds, and how it is searched."""

    namespace: uuid.UUID
    """Of the point ids: `point_id(namespace, key)`."""
    dim: int
    fields: Mapping[str, FieldKind]
    """Payload fields with an index, by type. Qdrant Edge 0.9.0 matches nothing on a boolean
    field (`MatchValue(True)` finds no point, indexed or not): store flags as 0 / 1 integers."""
    dense: str | None = None
    """The dense vector's name; None for Qdrant's unnamed default vector."""
    sparse: str | None = None
    """A sparse vector (term weights; IDF applied by Qdrant at query time), if any."""
    hnsw_ef: int = 128
    ef_construct: int = 128
    build_hint: str = "build it first"
    """What to do when the index was never built, for the error that says so."""


class Point(NamedTuple):
    key: str
    dense: Sequence[float] | np.ndarray
    payload: dict[str, Any]
    sparse: edge.SparseVector | None = None


class ScoredPoint(NamedTuple):
    payload: dict[str, Any]
    score: float
    dense: np.ndarray | None
    """The dense vector, when the query asked for it."""


@dataclass(frozen=True, slots=True)
class Match:
    """The payload field `key` holds one of `values` (for a list field: any of its elements)."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


Condition = Match | Range


@dataclass(frozen=True, slots=True)
class Where:
    """Points that meet every `must`, at least one `should` (when there are any) and no
    `must_not`."""

    must: tuple[Condition, ...] = field(default=())
    should: tuple[Condition, ...] = field(default=())
    must_not: tuple[Condition, ...] = field(default=())


def point_id(namespace: uuid.UUID, key: str) -> uuid.UUID:
    """A point's Qdrant id, derived from its key: the same in every process and backend."""
    return uuid.uuid5(namespace, key)


def qdrant_filter(where: Where | None, *, on_edge: bool) -> Any:
    """`where` as a Qdrant Edge or a `qdrant_client` filter (None when it says nothing): the two
    spell field conditions alike; only the range class differs."""
    if where is None or not (where.must or where.should or where.must_not):
        return None
    models: Any = edge if on_edge else qm
    range_type: Any = edge.RangeFloat if on_edge else qm.Range

    def condition(c: Condition) -> Any:
        if isinstance(c, Range):
            bounds = {"gt": c.gt, "gte": c.gte, "lt": c.lt, "lte": c.lte}
            return models.FieldCondition(
                key=c.key, range=range_type(**{k: v for k, v in bounds.items() if v is not None})
            )
        if len(c.values) == 1:
            return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.values[0]))
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.values)))

    def group(conditions: tuple[Condition, ...]) -> list[Any] | None:
        return [condition(c) for c in conditions] or None

    return models.Filter(
        must=group(where.must), should=group(where.should), must_not=group(where.must_not)
    )


class VectorIndex(Protocol):
    """Points with a dense (and maybe a sparse) vector and a payload, by key."""

    schema: Schema

    def upsert(self, points: Sequence[Point]) -> None: ...

    def set_payloads(self, keys: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        """Replace the points' payloads, keeping their vectors."""
        ...

    def delete(self, keys: Sequence[str]) -> None: ...

    def payloads(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The named payload fields of every point."""
        ...

    def query(
        self,
        *,
        dense: Sequence[float] | np.ndarray | None = None,
        sparse: edge.SparseVector | None = None,
        where: Where | None = None,
        limit: int,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """The top `limit` by dot product with `dense`, or by `sparse`, or by both fused."""
        ...

    def finish(self) -> None:
        """Make what was written durable and searchable at full speed."""
        ...

    def publish(self) -> None:
        """Offer an index built by a reader as the shared one, so others need not build it."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def _searched_by(dense: Any, sparse: Any) -> list[str]:
    """Which vectors a query searches by: dense, sparse, or both (hybrid)."""
    using = [name for name, given in (("dense", dense), ("sparse", sparse)) if given is not None]
    if not using:
        raise ValueError("A query needs a dense or a sparse vector.")
    return using


def _dense_of(schema: Schema, vector: Any) -> np.ndarray | None:
    if isinstance(vector, dict):
        vector = vector.get(schema.dense) if schema.dense else None
    return None if vector is None else np.asarray(vector, dtype=np.float32)


class EdgeIndex:
    """Points in a Qdrant Edge shard under `path`: the folder itself, held for writing, or, given
    `copies`, this process's private copy of it. `create` builds an empty index where none was
    built (in a private copy, `publish` then offers it); without it that is an error."""

    def __init__(
        self,
        path: Path,
        schema: Schema,
        *,
        create: bool = True,
        copies: Path | None = None,
        search_threads: int = 1,
        frozen: bool = False,
    ) -> None:
        self.schema = schema
        # One search thread per query by default: requests already run side by side, and on a
        # small machine handing each query's segments to a pool only adds wake-ups to the tail.
        dense = edge.EdgeVectorParams(size=schema.dim, distance=edge.Distance.Dot)
        sparse = edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)
        config = edge.EdgeConfig(
            vectors={schema.dense: dense} if schema.dense else dense,
            sparse_vectors={schema.sparse: sparse} if schema.sparse else None,
            hnsw_config=edge.HnswIndexConfig(
                m=16, ef_construct=schema.ef_construct, full_scan_threshold=10_000
            ),
            max_search_threads=search_threads,
        )
        if copies is not None and not create and not has_shard(path):
            # Checked before copying: a reader never creates the shared index.
            raise IndexNotBuiltError(f"No index at {path}; {schema.build_hint}.")
        self.folder = ShardFolder(path, copies=copies, frozen=frozen)
        try:
            self.shard = self._open(config, create)
        except BaseException:
            self.folder.close()
            raise

    def _open(self, config: edge.EdgeConfig, create: bool) -> edge.EdgeShard:
        if has_shard(self.folder.path):
            return load_shard(self.folder, config)
        if not create:
            raise IndexNotBuiltError(f"No index at {self.folder.shared}; {self.schema.build_hint}.")
        self.folder.path.mkdir(parents=True, exist_ok=True)
        shard = edge.EdgeShard.create(str(self.folder.path), config)
        kinds = {
            "keyword": edge.PayloadSchemaType.Keyword,
            "integer": edge.PayloadSchemaType.Integer,
            "float": edge.PayloadSchemaType.Float,
        }
        for name, kind in self.schema.fields.items():
            shard.update(edge.UpdateOperation.create_field_index(name, kinds[kind]))
        return shard

    @property
    def stale(self) -> bool:
        """Whether a writer has rewritten the index since this copy was taken (`/ready` says
        so)."""
        return self.folder.stale

    def _id(self, key: str) -> uuid.UUID:
        return point_id(self.schema.namespace, key)

    def upsert(self, points: Sequence[Point]) -> None:
        if points:
            self.folder.changed()
        for start in range(0, len(points), BATCH):
            batch = [
                edge.Point(self._id(p.key), self._vector(p), p.payload)
                for p in points[start : start + BATCH]
            ]
            self.shard.update(edge.UpdateOperation.upsert_points(batch))

    def _vector(self, point: Point) -> Any:
        dense = np.asarray(point.dense, dtype=np.float32).tolist()
        if not self.schema.dense:
            return dense
        vector: dict[str, Any] = {self.schema.dense: dense}
        if self.schema.sparse:
            vector[self.schema.sparse] = point.sparse or edge.SparseVector([], [])
        return vector

    def set_payloads(self, keys: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        if keys:
            self.folder.changed()
        for key, payload in zip(keys, payloads, strict=True):
            self.shard.update(edge.UpdateOperation.overwrite_payload([self._id(key)], payload))
        self.shard.flush()

    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            self.folder.changed()
            self.shard.update(edge.UpdateOperation.delete_points([self._id(k) for k in keys]))

    def payloads(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.shard.scroll(
                edge.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, with_payload=list(fields))
            )
            yield from (r.payload for r in records if r.payload)
            if offset is None:
                return

    def query(
        self,
        *,
        dense: Sequence[float] | np.ndarray | None = None,
        sparse: edge.SparseVector | None = None,
        where: Where | None = None,
        limit: int,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        using = _searched_by(dense, sparse)
        condition = qdrant_filter(where, on_edge=True)
        params = edge.SearchParams(hnsw_ef=self.schema.hnsw_ef)
        vectors: bool | list[str] = False
        if with_vectors:
            vectors = [self.schema.dense] if self.schema.dense else True
        nearest = {
            "dense": lambda: edge.Query.Nearest(
                np.asarray(dense, dtype=np.float32).tolist(), using=self.schema.dense
            ),
            "sparse": lambda: edge.Query.Nearest(sparse, using=self.schema.sparse),  # type: ignore[arg-type]
        }
        payload = with_payload if isinstance(with_payload, bool) else list(with_payload)
        if len(using) == 2:
            request = edge.QueryRequest(
                limit=limit,
                prefetches=[
                    edge.Prefetch(
                        limit=max(PREFETCH, limit),
                        query=nearest[n](),
                        filter=condition,
                        params=params,
                    )
                    for n in using
                ],
                # Distribution-based score fusion: each side's scores are normalised by their own
                # mean and spread, so a point the sparse side scores far above the rest (an exact
                # model number) keeps its lead, where rank fusion let weak dense ranks bury it
                # (the RAG benchmark, docs/BENCHMARKS.md). The stub types Fusion.Dbsf as a class
                # apart from Fusion; the engine takes it.
                query=edge.Fusion.Dbsf(),  # type: ignore[arg-type]
                filter=condition,
                with_payload=payload,
                with_vector=vectors,
            )
        else:
            request = edge.QueryRequest(
                limit=limit,
                query=nearest[using[0]](),
                filter=condition,
                params=params,
                with_payload=payload,
                with_vector=vectors,
            )
        return [
            ScoredPoint(p.payload or {}, float(p.score), _dense_of(self.schema, p.vector))
            for p in self.shard.query(request)
        ]

    def finish(self) -> None:
        # Builds the HNSW graph once a segment is large enough; small indexes are scanned.
        self.shard.optimize()
        self.shard.flush()

    def publish(self) -> None:
        self.folder.publish()

    def count(self) -> int:
        return self.shard.count(edge.CountRequest(exact=True))

    def close(self) -> None:
        try:
            self.shard.close()
        finally:
            self.folder.close()


class ServerIndex:
    """Points in the collection `collection` of a Qdrant server (or `QdrantClient(":memory:")`),
    created with its payload indexes when missing and `create` allows."""

    def __init__(
        self, client: QdrantClient, collection: str, schema: Schema, *, create: bool = True
    ) -> None:
        self.client = client
        self.collection = collection
        self.schema = schema
        if client.collection_exists(collection):
            return
        if not create:
            raise IndexNotBuiltError(
                f"No collection {collection!r} on the Qdrant server; {schema.build_hint}."
            )
        dense = qm.VectorParams(size=schema.dim, distance=qm.Distance.DOT)
        client.create_collection(
            collection,
            vectors_config={schema.dense: dense} if schema.dense else dense,
            sparse_vectors_config=(
                {schema.sparse: qm.SparseVectorParams(modifier=qm.Modifier.IDF)}
                if schema.sparse
                else None
            ),
        )
        for name, kind in schema.fields.items():
            client.create_payload_index(collection, name, qm.PayloadSchemaType(kind))

    def _id(self, key: str) -> str:
        return str(point_id(self.schema.namespace, key))

    def upsert(self, points: Sequence[Point]) -> None:
        for start in range(0, len(points), BATCH):
            batch = [
                qm.PointStruct(id=self._id(p.key), vector=self._vector(p), payload=p.payload)
                for p in points[start : start + BATCH]
            ]
            self.client.upsert(self.collection, batch)

    def _vector(self, point: Point) -> Any:
        dense = np.asarray(point.dense, dtype=np.float32).tolist()
        if not self.schema.dense:
            return dense
        vector: dict[str, Any] = {self.schema.dense: dense}
        if self.schema.sparse:
            vector[self.schema.sparse] = _server_sparse(point.sparse)
        return vector

    def set_payloads(self, keys: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        for key, payload in zip(keys, payloads, strict=True):
            self.client.overwrite_payload(self.collection, payload=payload, points=[self._id(key)])

    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            self.client.delete(
                self.collection, points_selector=qm.PointIdsList(points=[self._id(k) for k in keys])
            )

    def payloads(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, offset=offset, limit=_SCROLL_PAGE, with_payload=list(fields)
            )
            yield from (r.payload for r in records if r.payload)
            if offset is None:
                return

    def query(
        self,
        *,
        dense: Sequence[float] | np.ndarray | None = None,
        sparse: edge.SparseVector | None = None,
        where: Where | None = None,
        limit: int,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        using = _searched_by(dense, sparse)
        condition = qdrant_filter(where, on_edge=False)
        queries: dict[str, tuple[Any, str | None]] = {
            "dense": (
                None if dense is None else np.asarray(dense, dtype=np.float32).tolist(),
                self.schema.dense,
            ),
            "sparse": (_server_sparse(sparse), self.schema.sparse),
        }
        vectors: bool | list[str] = False
        if with_vectors:
            vectors = [self.schema.dense] if self.schema.dense else True
        payload = with_payload if isinstance(with_payload, bool) else list(with_payload)
        if len(using) == 2:
            found = self.client.query_points(
                self.collection,
                prefetch=[
                    qm.Prefetch(
                        query=queries[n][0],
                        using=queries[n][1],
                        filter=condition,
                        limit=max(PREFETCH, limit),
                    )
                    for n in using
                ],
                query=qm.FusionQuery(fusion=qm.Fusion.DBSF),
                query_filter=condition,
                limit=limit,
                with_payload=payload,
                with_vectors=vectors,
            )
        else:
            query, name = queries[using[0]]
            found = self.client.query_points(
                self.collection,
                query=query,
                using=name,
                query_filter=condition,
                limit=limit,
                with_payload=payload,
                with_vectors=vectors,
            )
        return [
            ScoredPoint(p.payload or {}, float(p.score), _dense_of(self.schema, p.vector))
            for p in found.points
        ]

    def finish(self) -> None:
        """A server indexes as it writes."""

    def publish(self) -> None:
        """A server's collection is shared already."""

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def close(self) -> None:
        self.client.close()


def _server_sparse(vector: edge.SparseVector | None) -> qm.SparseVector:
    if vector is None:
        return qm.SparseVector(indices=[], values=[])
    return qm.SparseVector(indices=list(vector.indices), values=list(vector.values))


def open_index(
    settings: Settings,
    name: str,
    schema: Schema,
    *,
    write: bool = False,
    create: bool = True,
    collection: str | None = None,
    frozen_folder: Path | None = None,
) -> VectorIndex:
    """The index `name`: the collection `collection` (default `name`) on `settings.qdrant_url`
    when set, else the Qdrant Edge shard `var_dir/indexes/<name>`, or to read, the shard in
    `frozen_folder` (one nothing writes again: a registry version's).

    With `write`, the Edge folder itself, held for as long as the index is open; without it this
    process's private copy of it, taken under `var_dir/tmp`, so any number of processes read
    while one writes (they serve what they copied until they reopen it). `create`: build an
    empty index where none was built; without it a missing index is `IndexNotBuiltError`."""
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url)
        return ServerIndex(client, collection or name, schema, create=create)
    copies = None if write else copies_folder(settings.var_dir)
    if frozen_folder is not None and not write:
        return EdgeIndex(frozen_folder, schema, create=False, copies=copies, frozen=True)
    folder = settings.var_dir / "indexes" / name
    return EdgeIndex(folder, schema, create=create, copies=copies)
