"""A query embedded alone (ONNX Runtime) gets the vector the same text gets in a batch
(sentence-transformers, torch), whatever its length, padding or truncation: every stored vector
(RAG index, recommender features, intent examples) is made in batches and searched with queries.
"""

from __future__ import annotations

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
