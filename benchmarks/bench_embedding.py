"""Benchmark: one query embedded with MiniLM, ONNX Runtime (what Aisle runs) against torch.

A query is one short shopper message (3-9 words), as every conversation turn embeds, on one
thread. The baseline, in the same run on the same texts' twins, is sentence-transformers'
`encode` on the same weights (torch), which Aisle still uses for batches. The vectors of the two
are compared too (largest absolute difference).

    .venv/bin/python benchmarks/bench_embedding.py --passes 5

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from worlds import percentiles

VOCABULARY = (
    "waterproof breathable jacket hood taped seams merino wool base layer trail running shoe "
    "cast iron skillet enamel ceramic stainless steel insulated bottle keeps drinks cold "
    "hiking boots leather ankle support lightweight down parka recycled nylon shell zip "
    "pockets machine washable fits true to size rated warm comfortable durable stretch fabric "
    "reflective details"
)


def _texts(rng: np.random.Generator, n: int, low: int, high: int) -> list[str]:
    return [
        " ".join(rng.choice(VOCABULARY.split(), size=int(rng.integers(low, high)))) + f" #{i}"
        for i in range(n)
    ]


def _time_each(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> list[float]:
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
    torch.set_num_threads(1)
    for number in range(args.passes):
        console.log(f"pass {number + 1} of {args.passes}")
        # Fresh texts each pass: the query cache must not answer.
        queries = _texts(rng, args.queries, 3, 9)
        query_ms["torch"] += _time_each(torch_encode, queries)
        # `_encode`, not `embed_texts`: the latter would answer a repeated query from its cache.
        query_ms["onnx"] += _time_each(features._encode, [f"{q}." for q in queries])
    sample = _texts(rng, 50, 3, 9)
    max_difference = max(
        float(np.abs(features._encode([text]) - torch_encode([text])).max()) for text in sample
    )

    report = {
        "benchmark": "embedding",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "load_average": os.getloadavg(),
        "passes": args.passes,
        "query_one_thread": {name: percentiles(ms) for name, ms in query_ms.items()},
        "max_abs_difference": max_difference,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
