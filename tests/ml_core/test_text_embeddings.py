"""A query embedded alone (ONNX Runtime) gets the vector the same text gets in a batch
(sentence-transformers, torch), whatever its length, padding or truncation: every stored vector
(RAG index, recommender features, intent examples) is made in batches and searched with queries.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ml_core.recommend.features import TEXT_DIM, embed_texts, text_model

TEXTS = [
    "waterproof jacket under $150",
    "  Trailing spaces and CAPITALS  ",
    "a",
    "Merino wool base layer, 200 g/m², machine washable at 30 °C; fits true to size. " * 3,
    "word " * 600,  # far past the 256-token limit
]


def _reference(texts: list[str]) -> np.ndarray:
    return np.asarray(text_model().encode(texts, normalize_embeddings=True), dtype=np.float32)


def test_one_query_matches_sentence_transformers() -> None:
    for text in TEXTS:
        vector = embed_texts([text])
        assert vector.shape == (1, TEXT_DIM) and vector.dtype == np.float32
        np.testing.assert_allclose(vector, _reference([text]), atol=1e-5)


def test_each_row_of_a_padded_batch_is_its_texts_query_vector() -> None:
    many = [f"{text} #{i}" for i in range(30) for text in TEXTS]  # 150 rows: three batches
    vectors = embed_texts(many)
    for row in (0, 3, 4, 77, 149):
        np.testing.assert_allclose(vectors[row], embed_texts([many[row]])[0], atol=1e-5)


def test_texts_past_the_token_limit_are_truncated_not_refused() -> None:
    long, longer = embed_texts(["word " * 300, "word " * 900])
    np.testing.assert_allclose(long, longer, atol=1e-6)


def test_writers_of_one_cache_at_once_leave_it_whole(tmp_path: Path) -> None:
    """Serving processes starting together each write what the cache lacked (threads stand in
    for them here): none fails, and the cache left behind reads."""

    def embed(writer: int) -> None:
        for n in range(6):
            embed_texts([f"writer {writer} text {n}", f"writer {writer} other {n}"], tmp_path)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(embed, range(4)))  # re-raises the first failure
    [cache] = tmp_path.iterdir()  # no partial file left behind
    with np.load(cache, allow_pickle=False) as npz:
        assert npz["vectors"].shape[1] == TEXT_DIM and len(npz["keys"]) >= 2
