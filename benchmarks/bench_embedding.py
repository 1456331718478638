"""Benchmark: MiniLM text embeddings, ONNX Runtime (what Aisle runs) against torch.

Two workloads, each timed in the same run on both backends:
- a query: one short shopper message, as every conversation turn embeds, one thread;
- a batch: `--docs` product texts of mixed length (20-220 words, catalogue-like), in batches of
  64, with the threads torch has (`--threads`), as `aisle rag ingest` and the recommender embed.

The baseline is sentence-transformers' `encode` on the same weights (torch). Vectors of the two
are compared too (largest absolute difference). Every figure is the median over `--passes`.

    .venv/bin/python benchmarks/bench_embedding.py --passes 5

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from worlds import percentiles

WORDS = (
    "waterproof breathable jacket hood taped seams merino wool base layer trail running shoe "
    "cast iron skillet enamel ceramic stainless steel insulated bottle keeps drinks cold hiking "
    "boots leather ankle support lightweight down parka recycled nylon shell zip pockets machine "
    "washable fits true to size rated warm comfortable durable stretch fabric reflective details"
).split()


def _texts(rng: np.random.Generator, n: int, low: int, high: int) -> list[str]:
    return [
        " ".join(rng.choice(WORDS, size=int(rng.integers(low, high)))) + f" #{i}" for i in range(n)
    ]


def _time_each(encode: Callable[[list[str]], object], texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        encode([text])
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200, help="Query texts per pass.")
    parser.add_argument("--docs", type=int, default=256, help="Batch texts per pass.")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    console = Console(stderr=True)

    import torch

    from ml_core.recommend import features

    model = features.text_model()
    features.embed_texts(["warm-up"])  # exports the ONNX graph once, as a process does
    rng = np.random.default_rng(7)

    def torch_encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, batch_size=features.ENCODE_BATCH))

    query_ms: dict[str, list[float]] = {"torch": [], "onnx": []}
    docs_per_s: dict[str, list[float]] = {"torch": [], "onnx": []}
    max_difference = 0.0
    for number in range(args.passes):
        console.log(f"pass {number + 1} of {args.passes}")
        # Fresh texts each pass: the query cache must not answer.
        queries = _texts(rng, args.queries, 3, 9)
        torch.set_num_threads(1)
        query_ms["torch"] += _time_each(torch_encode, queries)
        # `_encode`, not `embed_texts`: the latter would answer a repeated query from its cache.
        query_ms["onnx"] += _time_each(features._encode, [f"{q}." for q in queries])
        docs = _texts(rng, args.docs, 20, 220)
        torch.set_num_threads(args.threads)
        for name, encode in (("torch", torch_encode), ("onnx", features._encode)):
            started = time.perf_counter()
            vectors = encode(docs)
            docs_per_s[name].append(len(docs) / (time.perf_counter() - started))
            if name == "torch":
                reference = vectors
        max_difference = max(max_difference, float(np.abs(vectors - reference).max()))

    report = {
        "benchmark": "embedding",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "load_average": os.getloadavg(),
        "passes": args.passes,
        "query_one_thread": {name: percentiles(ms) for name, ms in query_ms.items()},
        "batch_docs_per_s_median": {
            name: round(statistics.median(rates), 1) for name, rates in docs_per_s.items()
        },
        "batch_threads": args.threads,
        "max_abs_difference": max_difference,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
