"""The int8 document encoder agrees with the fp32 model it was exported from (sentence-transformers,
torch) on the same word pieces, keeps each text's row whatever the batching, and is built once per
folder as a fused, quantised graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from ml_core.document_encoder import MAX_TOKENS, DocumentEncoder, document_encoder, int8_graph
from ml_core.recommend.features import TEXT_DIM, text_model

TEXTS = [
    "waterproof jacket under $150",
    "a",
    "Merino wool base layer, 200 g/m², machine washable at 30 °C; fits true to size.",
    "Reviews of Flowform Men's Hollowshade Quick-Dry Training Shorts by Flowform (Fitness > "
    "Leggings & Activewear)\n5/5 My new favorite: Sizing was easy: I ordered my usual M and it "
    "fits perfectly. Dries quickly after a sweaty workout.\n4/5 Excellent: It wrinkles a little "
    "in a suitcase.",
    "Returns and refunds - Condition\nOpened items must be complete and in the original "
    "packaging; opened coffee is final sale. " * 40,  # past the cut (MAX_TOKENS)
    "SKU P00042-BLK-M (color black, size M): $49.99",
]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> DocumentEncoder:
    return document_encoder(tmp_path_factory.mktemp("models"))


def _reference(texts: list[str]) -> np.ndarray:
    """The fp32 model's vectors of the same first `MAX_TOKENS` word pieces."""
    model = text_model()
    limit = model.max_seq_length
    model.max_seq_length = MAX_TOKENS
    try:
        return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)
    finally:
        model.max_seq_length = limit


def test_int8_vectors_agree_with_the_fp32_model(encoder: DocumentEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), TEXT_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = (vectors * _reference(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.98 and cosine.mean() > 0.99, cosine
    # Agreement is not closeness alone: each text is nearest its own fp32 vector.
    nearest = (vectors @ _reference(TEXTS).T).argmax(axis=1)
    assert nearest.tolist() == list(range(len(TEXTS)))


def test_the_fp32_graph_gives_the_fp32_models_vectors(tmp_path: Path) -> None:
    # What policy sections are embedded with: the query encoder's vectors, without torch.
    vectors = document_encoder(tmp_path, "fp32").encode(TEXTS)
    np.testing.assert_allclose(vectors, _reference(TEXTS), atol=1e-4)


def test_it_reads_the_word_pieces_sentence_transformers_reads(encoder: DocumentEncoder) -> None:
    tokenizer = text_model().tokenizer
    expected = tokenizer(TEXTS, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    assert [len(ids) for ids in expected] == encoder.word_pieces(TEXTS)
    assert [e.ids for e in encoder.tokenizer.encode_batch(TEXTS)] == expected
    # The long text is cut where sentence-transformers cuts it, and only there.
    assert max(len(ids) for ids in tokenizer(TEXTS)["input_ids"]) > MAX_TOKENS
    assert max(encoder.word_pieces(TEXTS)) == MAX_TOKENS


def test_each_text_keeps_its_row_whatever_the_batching(tmp_path: Path) -> None:
    graph = int8_graph(tmp_path)
    many = [f"{text} #{i}" for i in range(12) for text in TEXTS]  # 72 texts, lengths mixed
    one_batch = DocumentEncoder(graph, batch=len(many), workers=1).encode(many)
    small = DocumentEncoder(graph, batch=5, workers=2).encode(many[::-1])[::-1]
    # Activations are quantised with one scale per batch, so batch-mates move a vector within
    # the int8 error (cosine 0.98-1.0 between two batchings), never onto another text's.
    assert ((one_batch * small).sum(axis=1) > 0.97).all()
    reference = _reference(many)
    for vectors in (one_batch, small):
        assert ((vectors * reference).sum(axis=1) > 0.97).all()
    assert DocumentEncoder(graph).encode([]).shape == (0, TEXT_DIM)


def test_the_graph_is_fused_quantised_and_built_once_per_folder(tmp_path: Path) -> None:
    graph = int8_graph(tmp_path)
    ops = {node.op_type for node in onnx.load(str(graph)).graph.node}
    # Each layer's attention fused (and quantised), the dense layers' products in int8.
    assert {"QAttention", "MatMulInteger", "SkipLayerNormalization"} <= ops
    assert "MatMul" not in ops and "Softmax" not in ops
    built = graph.stat().st_mtime_ns
    assert int8_graph(tmp_path) == graph and graph.stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir()] == [graph.name]  # no partial file left
