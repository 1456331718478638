"""Benchmark: the RAG index's retrieval quality, ingestion throughput, incremental re-ingestion
and filtered hybrid query latency.

On the small generated world (seed 42, seeded into a temporary folder) plus the tau2 and
DummyJSON imports:
1. Quality: the derived query set (`rag.evalset`), recall@5 and nDCG@10 for dense, sparse and
   hybrid in the same run, overall and per kind (`rag.evaluate`).
2. Ingestion: the first full ingest into a fresh Qdrant Edge shard, docs/s; the bound beside
   it: MiniLM embedding alone over the same texts.
3. A 1% catalogue change: 1% of the product pages get a new description sentence and a few
   products are deleted (their page, reviews and size guide), then ingest again: time and how
   many documents were embedded.
4. Latency: `--latency-docs` synthetic product documents built from the world's vocabulary
   (brands, categories, colours, features), filtered hybrid queries (category, max price, in
   stock) in process; p50 / p95 / p99 of the index search, and the query's MiniLM embedding
   timed apart. The synthetic documents' dense vectors are a deterministic hashed bag of words,
   not MiniLM: embedding 50,000 texts on a 2-core machine takes minutes and does not change
   what the search costs (same dimension, same index).

    .venv/bin/python benchmarks/bench_rag.py

Prints rich tables on stderr and one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
from llama_index.core.schema import TextNode
from rich.console import Console
from rich.table import Table
from worlds import world_var_dir

from ml_core.recommend.features import TEXT_DIM, embed_texts
from rag.documents import RagDocument, build_documents
from rag.evalset import build_evalset
from rag.evaluate import MODES, evaluate
from rag.index import EdgeBackend, QdrantRagStore, ingest_documents
from rag.retrieve import Retriever, parse_filters
from retail.importers.dummyjson import import_dummyjson
from retail.importers.tau2 import import_tau2
from retail.store.db import make_engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {f"p{p}_ms": round(float(np.percentile(ms, p)), 3) for p in (50, 95, 99)}


def quality(retriever: Retriever, engine: Any, docs: list[RagDocument]) -> dict[str, Any]:
    queries = build_evalset(engine, docs)
    return {"queries": len(queries), "modes": evaluate(retriever, queries)}


def ingestion(docs: list[RagDocument], folder: Path, runs: int) -> dict[str, Any]:
    """Full ingest into a fresh shard `runs` times (median), embedding alone as often."""
    full, embed_only = [], []
    texts = [d.text for d in docs]
    for run in range(runs):
        backend = EdgeBackend(folder / f"full-{run}")
        report = ingest_documents(docs, QdrantRagStore(backend))
        backend.close()
        full.append(report.docs_per_second)
        started = time.perf_counter()
        embed_texts(texts)
        embed_only.append(len(texts) / (time.perf_counter() - started))
    return {
        "documents": len(docs),
        "ingest_docs_per_s": round(statistics.median(full), 1),
        "embed_only_docs_per_s": round(statistics.median(embed_only), 1),
        "runs": runs,
    }


def incremental(docs: list[RagDocument], store: QdrantRagStore, seed: int) -> dict[str, Any]:
    """Change 1% of product pages and delete a few products, then re-ingest."""
    rng = random.Random(seed)
    pages = sorted(
        d.doc_id for d in docs if d.doc_id.count(":") == 1 and d.doc_id[:8] == "product:"
    )
    changed = set(rng.sample(pages, max(1, len(pages) // 100)))
    deleted = {p.split(":", 1)[1] for p in rng.sample(sorted(set(pages) - changed), 3)}
    after = [
        RagDocument(d.doc_id, d.text + "\nNow with a refreshed design.", d.metadata)
        if d.doc_id in changed
        else d
        for d in docs
        if d.metadata.get("product_id") not in deleted
    ]
    report = ingest_documents(after, store)
    return {
        "documents": report.documents,
        "pages_changed": len(changed),
        "products_deleted": len(deleted),
        "embedded": report.added + report.updated,
        "deleted_documents": report.deleted,
        "unchanged": report.unchanged,
        "seconds": round(report.seconds, 3),
    }


def _hashed_vector(text: str) -> np.ndarray:
    """A deterministic unit vector from the text's words (a stand-in for MiniLM, see above)."""
    vector = np.zeros(TEXT_DIM, dtype=np.float32)
    for word in text.lower().split():
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector += np.random.default_rng(int.from_bytes(digest)).standard_normal(TEXT_DIM)
    return vector / (np.linalg.norm(vector) or 1.0)


def latency(
    docs: list[RagDocument], folder: Path, n_docs: int, n_queries: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    pages = [d for d in docs if d.metadata.get("doc_type") == "product" and d.metadata["category"]]
    brands = sorted({b for d in pages for b in d.metadata["brand"]}) or ["aisle"]
    colours = sorted({c for d in pages for c in d.metadata["colour"]}) or ["black"]
    words = sorted({w for d in pages for w in d.text.lower().split() if w.isalpha()})
    categories = sorted({c for d in pages for c in d.metadata["category"] if " " not in c})
    backend = EdgeBackend(folder / "latency")
    store = QdrantRagStore(backend)
    started = time.perf_counter()
    for first in range(0, n_docs, 2_000):
        nodes = []
        for n in range(first, min(n_docs, first + 2_000)):
            category, brand = rng.choice(categories), rng.choice(brands)
            text = f"{brand} {category} {' '.join(rng.sample(words, 40))}"
            price = round(rng.uniform(5, 400), 2)
            nodes.append(
                TextNode(
                    id_=f"product:S{n:06d}",
                    text=text,
                    embedding=_hashed_vector(text).tolist(),
                    metadata={
                        "doc_type": "product",
                        "product_id": f"S{n:06d}",
                        "category": [category],
                        "brand": [brand],
                        "colour": rng.sample(colours, min(2, len(colours))),
                        "price_min": price,
                        "price_max": price,
                        "available": int(rng.random() < 0.8),
                    },
                )
            )
        store.add(nodes)
    backend.finish()
    build_s = time.perf_counter() - started
    retriever = Retriever(store)
    queries = [
        (
            f"{rng.choice(colours)} {' '.join(rng.sample(words, 3))}",
            parse_filters(
                {
                    "category": rng.choice(categories),
                    "max_price": str(rng.choice((50, 150, 300))),
                    "in_stock": "any",
                }
            ),
        )
        for _ in range(n_queries)
    ]
    embed_s, search_s, found = [], [], []
    for text, where in queries[:10]:  # warm-up: model load, first segment reads
        retriever.search(text, k=10, filters=where)
    for text, where in queries:
        started = time.perf_counter()
        vector = embed_texts([text])[0]
        embed_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        hits = retriever.search(text, k=10, filters=where, query_vector=vector)
        search_s.append(time.perf_counter() - started)
        found.append(len(hits))
    backend.close()
    return {
        "documents": n_docs,
        "queries": n_queries,
        "build_seconds": round(build_s, 1),
        "dense_vectors": "hashed bag of words (deterministic stand-in for MiniLM)",
        "filters": "category, max_price, in_stock=any",
        "mean_hits": round(statistics.mean(found), 2),
        "search": _percentiles(search_s),
        "query_embedding": _percentiles(embed_s),
    }


def _tables(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"RAG quality ({result['quality']['queries']} derived queries)")
    table.add_column("kind")
    for mode in MODES:
        table.add_column(f"{mode} R@5", justify="right")
        table.add_column(f"{mode} nDCG@10", justify="right")
    modes = result["quality"]["modes"]
    kinds = ["overall", *modes["hybrid"]["by_kind"]]
    for kind in kinds:
        row = [kind]
        for mode in MODES:
            m = modes[mode]["overall"] if kind == "overall" else modes[mode]["by_kind"][kind]
            row += [f"{m['recall@5']:.3f}", f"{m['ndcg@10']:.3f}"]
        table.add_row(*row)
    console.print(table)
    for name in ("ingestion", "incremental", "latency"):
        console.print_json(json.dumps({name: result[name]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3, help="full ingests timed (median)")
    parser.add_argument("--latency-docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    console = Console(stderr=True)
    with (
        world_var_dir(None, scale="small", seed=args.seed, console=console) as (var, seeded_s),
        TemporaryDirectory(prefix="aisle-rag-") as tmp,
    ):
        engine = make_engine(f"sqlite:///{var / 'aisle.db'}")
        import_tau2(engine, DATA / "tau2_retail")
        import_dummyjson(engine, DATA / "dummyjson" / "products.json")
        docs = build_documents(engine)
        folder = Path(tmp)
        console.print(f"{len(docs):,} documents; ingesting ...")
        result: dict[str, Any] = {"ingestion": ingestion(docs, folder, args.runs)}
        backend = EdgeBackend(folder / "full-0")
        store = QdrantRagStore(backend)
        console.print("evaluating ...")
        result["quality"] = quality(Retriever(store), engine, docs)
        result["incremental"] = incremental(docs, store, args.seed)
        backend.close()
        engine.dispose()
        console.print(f"latency over {args.latency_docs:,} synthetic documents ...")
        result["latency"] = latency(docs, folder, args.latency_docs, args.queries, args.seed)
    result["meta"] = {
        "date": dt.date.today().isoformat(),
        "seed": args.seed,
        "seed_seconds": seeded_s,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    _tables(console, result)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
