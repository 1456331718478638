"""Retrieval from the RAG index: dense, sparse or hybrid, filtered, optionally diversified.

`Retriever.search` embeds the question with MiniLM, asks the llama-index store
(`rag.index.QdrantRagStore`) in the chosen mode, and returns hits that each carry their
citation: the document id, the product or policy id, the section, the score and the text. This is
what the shopper's product and policy answers quote, so a fact can be traced to its document.

Filters are `key=value` pairs (the CLI's `--filter`): keyword fields match any of a
comma-separated list, case-insensitively; `min_price` / `max_price` keep products whose price
range reaches into the bound; `in_stock=S001` keeps products with sellable stock at that
location, `in_stock=any` those with stock anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from ml_core.recommend.features import embed_texts
from rag.index import KEYWORD_FIELDS, InvalidFilterError, Mode, QdrantRagStore
from retail.errors import AisleError

MODES: dict[str, VectorStoreQueryMode] = {
    "dense": VectorStoreQueryMode.DEFAULT,
    "sparse": VectorStoreQueryMode.SPARSE,
    "hybrid": VectorStoreQueryMode.HYBRID,
}
# Filter keys a caller may use: the indexed keyword fields (and `color`, the US spelling), the
# price bounds, and the stock filter.
_ALIASES = {"color": "colour"}
FILTER_KEYS = frozenset(
    {k for k in KEYWORD_FIELDS if k not in {"doc_id", "in_stock"}}
    | set(_ALIASES)
    | {"min_price", "max_price", "in_stock"}
)


_ID_KEYS = frozenset({"product_id", "policy_id"})


class EmptyQueryError(AisleError):
    """The query has no words to search for."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved document with its citation."""

    rank: int
    doc_id: str
    doc_type: str
    score: float
    text: str
    product_id: str | None = None
    policy_id: str | None = None
    section: str | None = None
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_filters(pairs: Sequence[str] | Mapping[str, str]) -> MetadataFilters | None:
    """`key=value` pairs (or a mapping) as llama-index metadata filters, all of which must hold."""
    items = list(pairs.items()) if isinstance(pairs, Mapping) else [_split(p) for p in pairs]
    filters: list[MetadataFilter | MetadataFilters] = []
    for key, raw in items:
        key = key.strip().lower()
        value = raw.strip()
        if key not in FILTER_KEYS:
            known = ", ".join(sorted(FILTER_KEYS))
            raise InvalidFilterError(f"Unknown filter key {key!r}; use one of: {known}.")
        if not value:
            raise InvalidFilterError(f"The filter {key!r} has no value.")
        if key in ("min_price", "max_price"):
            try:
                bound = float(value)
            except ValueError:
                raise InvalidFilterError(f"{key} must be a number, not {value!r}.") from None
            # A product's price range reaches into [min, max] when its cheapest variant is at
            # most `max` and its dearest at least `min`.
            field, op = (
                ("price_min", FilterOperator.LTE)
                if key == "max_price"
                else ("price_max", FilterOperator.GTE)
            )
            filters.append(MetadataFilter(key=field, value=bound, operator=op))
        elif key == "in_stock" and value.lower() in ("any", "yes", "true", "1"):
            filters.append(MetadataFilter(key="available", value=1, operator=FilterOperator.EQ))
        else:
            # Ids keep their case (P00011); words are stored lower-cased.
            fold = (lambda v: v) if key in _ID_KEYS else str.lower
            values = [fold(v.strip()) for v in value.split(",") if v.strip()]
            filters.append(
                MetadataFilter(key=_ALIASES.get(key, key), value=values, operator=FilterOperator.IN)
            )
    return MetadataFilters(filters=filters) if filters else None


def _split(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep:
        raise InvalidFilterError(f"A filter is key=value, not {pair!r}.")
    return key, value


class Retriever:
    """Questions in, cited hits out, over one `QdrantRagStore`."""

    def __init__(
        self,
        store: QdrantRagStore,
        encode: Callable[[list[str]], np.ndarray] = embed_texts,
    ) -> None:
        self.store = store
        self.encode = encode

    def search(
        self,
        text: str,
        *,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: MetadataFilters | None = None,
        diverse: bool = False,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The top `k` documents for `text`. `diverse` re-ranks dense candidates by MMR (dense
        mode only: fused ranks have no vector space to diversify in). `query_vector` skips
        embedding when the caller has it already (benchmarks, batch evaluation)."""
        if not text or not text.strip():
            raise EmptyQueryError("The query is empty; ask about a product or a policy.")
        if k < 1:
            raise InvalidFilterError(f"k must be at least 1, not {k}.")
        if mode not in MODES:
            raise InvalidFilterError(f"Unknown mode {mode!r}; use dense, sparse or hybrid.")
        if diverse and mode != "dense":
            raise InvalidFilterError("Diversity (MMR) applies to dense retrieval only.")
        embedding = None
        if mode != "sparse":
            vector = query_vector if query_vector is not None else self.encode([text])[0]
            embedding = np.asarray(vector, dtype=np.float32).tolist()
        result = self.store.query(
            VectorStoreQuery(
                query_embedding=embedding,
                query_str=text,
                similarity_top_k=k,
                mode=VectorStoreQueryMode.MMR if diverse else MODES[mode],
                filters=filters,
            )
        )
        hits = []
        for rank, (node, score) in enumerate(
            zip(result.nodes or [], result.similarities or [], strict=True), start=1
        ):
            meta = node.metadata
            hits.append(
                Hit(
                    rank=rank,
                    doc_id=node.node_id,
                    doc_type=meta.get("doc_type", ""),
                    score=round(float(score), 6),
                    text=node.get_content(),
                    product_id=meta.get("product_id"),
                    policy_id=meta.get("policy_id"),
                    section=meta.get("section"),
                    title=meta.get("title"),
                )
            )
        return hits
