"""Benchmark: `aisle rag ingest` of a world from scratch, this tree against a baseline tree (main's
code by default) in the same run, and the held-out retrieval recall of the indexes each built.

For each of `--runs` rounds, each tree's `aisle rag ingest --json` runs as its own process on
its own copy of the world's database (opening a store migrates it, and a baseline of another
schema must not touch the world's) into an empty var dir (no index), the two trees taking turns so
both see the same machine load; reported per tree: the command's own docs/s (its documents over
its own seconds), the whole process's wall and CPU seconds (Python's start and imports
included), the word pieces it embedded (counted from the indexed texts at each tree's cut), and
the load average around each run; medians over the rounds.

Both trees' runs find the document encoder's graphs already exported in the var dir (built once
beforehand, as any ingest after a var dir's first does; a tree looks up its own graphs' names);
one more run of this tree in a var dir without them reports what the first ingest of a fresh var
dir costs (the export included).

Quality: the queries of `rag.evalset.build_heldout` (development half, or the frozen test half
with `--halves dev,test`) against each tree's index: recall@5 and nDCG@10, hybrid (what the
shopper's search uses) and dense (where the encoder shows), queries embedded by the fp32 query
encoder as the server does; for this tree also with queries through the int8 encoder.

    .venv/bin/python benchmarks/bench_rag_ingest.py --var-dir VAR [--baseline-ref REF]

The baseline is the commit this tree branched from main at (`git merge-base HEAD main`) unless
`--baseline-ref` names another.

VAR holds a built world's aisle.db (scripts/demo.sh's steps before `rag ingest`). Prints a table
on stderr and one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from worlds import REPO, machine

from ml_core.document_encoder import document_encoder
from ml_core.document_encoder import graph as export_graph
from ml_core.vectors import EdgeIndex
from rag.documents import RagDocument
from rag.evalset import EvalQuery, build_heldout
from rag.evaluate import evaluate
from rag.index import RAG_SCHEMA, QdrantRagStore
from rag.retrieve import Retriever
from retail.store.db import make_engine

_CLI = "import sys; sys.argv[0] = 'aisle'; from api.cli import main; main()"
_FIELDS = ["doc_id", "text", "doc_type", "product_id", "policy_id", "title", "section"]


def baseline_tree(ref: str, into: Path) -> Path:
    """The repository's files at `ref` (`git archive`), unpacked under `into`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def ingest_once(source: Path, database: Path, var_dir: Path) -> dict[str, Any]:
    """`aisle rag ingest --json` of `source`'s code into `var_dir`: its report, wall and CPU
    seconds of the whole process, and the load average before and after."""
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "AISLE_VAR_DIR": str(var_dir),
        "AISLE_DATABASE_URL": f"sqlite:///{database}",
    }
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    cpu_before = _children_cpu_seconds()
    child = subprocess.Popen(
        [sys.executable, "-c", _CLI, "rag", "ingest", "--json"],
        cwd=source,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"ingest of {source} failed ({child.returncode}):\n{err.decode()}")
    report = json.loads(out)
    return {
        "report": report,
        "process_wall_s": round(wall, 2),
        "cpu_s": round(_children_cpu_seconds() - cpu_before, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def _children_cpu_seconds() -> float:
    """CPU seconds of every child process waited for so far (differences time one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def indexed_documents(var_dir: Path) -> list[RagDocument]:
    """The documents as the index holds them (the text each tree chunked and embedded)."""
    backend = EdgeIndex(var_dir / "indexes" / "rag", RAG_SCHEMA, create=False)
    try:
        return [
            RagDocument(p["doc_id"], p["text"], {k: v for k, v in p.items() if k != "text"})
            for p in backend.payloads(_FIELDS)
        ]
    finally:
        backend.close()


def quality(
    var_dir: Path, engine: Any, halves: list[str], int8_queries: Path | None
) -> dict[str, Any]:
    """Recall@5 and nDCG@10 (hybrid and dense) of the index in `var_dir` on the held-out
    query set's `halves`; queries by the fp32 query encoder, and by the int8 encoder of the
    cache folder `int8_queries` when given."""
    docs = indexed_documents(var_dir)
    heldout = build_heldout(engine, docs)
    backend = EdgeIndex(var_dir / "indexes" / "rag", RAG_SCHEMA, create=False)
    store = QdrantRagStore(backend)
    encoders: dict[str, Any] = {"fp32 queries": None}
    if int8_queries is not None:
        encoders["int8 queries"] = document_encoder(int8_queries).encode
    result: dict[str, Any] = {"test_digest": heldout.test_digest}
    try:
        for half in halves:
            queries: list[EvalQuery] = getattr(heldout, half)
            for label, encode in encoders.items():
                retriever = Retriever(store) if encode is None else Retriever(store, encode)
                report = evaluate(retriever, queries, modes=("hybrid", "dense"))
                result[f"{half}, {label}"] = {
                    "queries": len(queries),
                    **{
                        mode: {k: round(v, 4) for k, v in report[mode]["overall"].items()}
                        for mode in ("hybrid", "dense")
                    },
                    **{
                        f"{mode}_by_kind": {
                            kind: round(m["recall@5"], 4)
                            for kind, m in report[mode]["by_kind"].items()
                        }
                        for mode in ("hybrid", "dense")
                    },
                }
    finally:
        backend.close()
    return result


def word_pieces(var_dir: Path, max_tokens: int) -> int:
    """Word pieces of the indexed texts an encoder cutting at `max_tokens` reads."""
    from ml_core.document_encoder import _tokenizer

    texts = [d.text for d in indexed_documents(var_dir)]
    return sum(len(e.ids) for e in _tokenizer(max_tokens).encode_batch(texts))


def _summary(runs: list[dict[str, Any]], pieces: int) -> dict[str, Any]:
    docs = runs[0]["report"]["documents"]
    wall = statistics.median(r["process_wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    return {
        "documents": docs,
        "word_pieces_embedded": pieces,
        "docs_per_s_reported": round(
            statistics.median(r["report"]["docs_per_second"] for r in runs), 1
        ),
        "seconds_reported": round(statistics.median(r["report"]["seconds"] for r in runs), 2),
        "process_wall_s": round(wall, 2),
        "docs_per_s_process": round(docs / wall, 1),
        "process_cpu_s": round(cpu, 2),
        "cpu_ms_per_doc": round(cpu / docs * 1000, 1),
        "cpu_us_per_word_piece": round(cpu / pieces * 1e6, 1),
        "load_average": [min(r["load_before"] for r in runs), max(r["load_after"] for r in runs)],
        "runs": [
            {k: v for k, v in r.items() if k != "report"}
            | {"docs_per_s_reported": r["report"]["docs_per_second"]}
            for r in runs
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", required=True, type=Path, help="holds the world's aisle.db")
    parser.add_argument(
        "--baseline-ref", default=None, help="git ref of the baseline tree (default: merge-base)"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds timed (median)")
    parser.add_argument("--halves", default="dev", help="held-out halves scored: dev, test")
    parser.add_argument("--baseline-max-tokens", type=int, default=256)
    args = parser.parse_args()
    console = Console(stderr=True)
    database = (args.var_dir / "aisle.db").resolve()
    if not database.is_file():
        raise SystemExit(f"No aisle.db in {args.var_dir}: build the world first.")
    halves = [h.strip() for h in args.halves.split(",") if h.strip()]
    ref = args.baseline_ref or _git("merge-base", "HEAD", "main")
    with tempfile.TemporaryDirectory(prefix="aisle-ingest-") as tmp:
        scratch = Path(tmp)
        trees = {"baseline": baseline_tree(ref, scratch / "baseline"), "this": REPO}
        databases = {}
        for name in trees:
            databases[name] = scratch / f"{name}.db"
            shutil.copy(database, databases[name])
        console.print("exporting the encoder's graphs once ...")
        for precision in ("int8", "fp32"):
            export_graph(scratch / "models", precision)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for n in range(args.runs):
            for name, source in trees.items():
                var = scratch / f"var-{name}"
                shutil.rmtree(var, ignore_errors=True)
                (var / "models").mkdir(parents=True)
                for graph in (scratch / "models").glob("*.onnx"):
                    shutil.copy(graph, var / "models" / graph.name)
                run = ingest_once(source, databases[name], var)
                runs[name].append(run)
                console.print(
                    f"round {n + 1} {name}: {run['report']['docs_per_second']} docs/s reported, "
                    f"process {run['process_wall_s']} s wall, {run['cpu_s']} s CPU, "
                    f"load {run['load_before']}-{run['load_after']}"
                )
        cold_var = scratch / "var-cold"
        cold = ingest_once(REPO, databases["this"], cold_var)
        console.print(f"fresh var dir (export included): {cold['process_wall_s']} s wall")
        from ml_core.document_encoder import MAX_TOKENS

        result: dict[str, Any] = {
            "baseline": _summary(
                runs["baseline"], word_pieces(scratch / "var-baseline", args.baseline_max_tokens)
            ),
            "this": _summary(runs["this"], word_pieces(scratch / "var-this", MAX_TOKENS)),
            "this_fresh_var_dir": cold,
        }
        console.print("scoring the held-out queries ...")
        engine = make_engine(f"sqlite:///{databases['this']}")
        result["quality"] = {
            "baseline": quality(scratch / "var-baseline", engine, halves, None),
            "this": quality(scratch / "var-this", engine, halves, scratch / "models"),
        }
        engine.dispose()
    result["meta"] = {
        "date": dt.date.today().isoformat(),
        "baseline_ref": ref,
        "runs": args.runs,
        **machine(),
    }
    table = Table(title="aisle rag ingest from scratch (median)")
    for column in ("tree", "docs", "word pieces", "docs/s (reported)", "process s", "CPU ms/doc"):
        table.add_column(column, justify="right")
    for name in ("baseline", "this"):
        s = result[name]
        table.add_row(
            name,
            str(s["documents"]),
            str(s["word_pieces_embedded"]),
            str(s["docs_per_s_reported"]),
            str(s["process_wall_s"]),
            str(s["cpu_ms_per_doc"]),
        )
    console.print(table)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
