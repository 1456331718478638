"""Qdrant Edge folders shared by processes: readers open private copies while a writer writes.

Tried on the Qdrant adapter's `EdgeIndex` (the RAG index and the recommender's item index both
open their folders through it); the copies of this process stand in for other processes' copies,
and a real second process reads beside a writer in `tests/api/test_serving_processes.py`.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from ml_core import edge_folders
from ml_core.edge_folders import FolderBusyError, FolderLock, ShardUnavailableError
from ml_core.vectors import EdgeIndex, Point, Schema

DIM = 8
SCHEMA = Schema(namespace=uuid.UUID(int=8), dim=DIM, fields={"item_id": "keyword"})


def _vectors(n: int, seed: int = 3) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return [f"I{i:03d}" for i in range(n)], vectors / np.linalg.norm(vectors, axis=1)[:, None]


def _build(folder: Path, n: int) -> tuple[list[str], np.ndarray]:
    ids, vectors = _vectors(n)
    writer = EdgeIndex(folder, SCHEMA)
    writer.upsert(_points(ids, vectors))
    writer.finish()
    writer.close()
    return ids, vectors


def _points(ids: list[str], vectors: np.ndarray) -> list[Point]:
    return [Point(i, v, {"item_id": i}) for i, v in zip(ids, vectors, strict=True)]


def _top(index: EdgeIndex, vector: np.ndarray, k: int) -> list[str]:
    return [p.payload["item_id"] for p in index.query(dense=vector, limit=k)]


def test_readers_copy_the_folder_and_a_writer_writes_beside_them(tmp_path: Path) -> None:
    shared, copies = tmp_path / "indexes" / "items", tmp_path / "copies"
    ids, vectors = _build(shared, 20)
    first = EdgeIndex(shared, SCHEMA, copies=copies)
    second = EdgeIndex(shared, SCHEMA, copies=copies)  # the shard itself admits one holder
    assert first.count() == second.count() == 20
    top = _top(first, vectors[4], 3)
    assert top[0] == ids[4] and _top(second, vectors[4], 3) == top
    assert not first.stale
    EdgeIndex(shared, SCHEMA).close()  # a writer that wrote nothing
    assert not first.stale

    writer = EdgeIndex(shared, SCHEMA)  # an ingest while they serve
    writer.delete(ids[:5])
    writer.finish()
    writer.close()
    assert first.stale and second.stale
    assert first.count() == 20  # it serves what it copied until it opens the index again
    fresh = EdgeIndex(shared, SCHEMA, copies=copies)
    assert fresh.count() == 15 and not fresh.stale

    for reader in (first, second, fresh):
        reader.close()
    assert list(copies.iterdir()) == []


def test_a_reader_does_not_wait_long_for_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "items"
    _build(shared, 4)
    monkeypatch.setattr(edge_folders, "READ_WAIT_S", 0.2)
    with FolderLock(shared, exclusive=True, wait_s=0), pytest.raises(FolderBusyError, match="busy"):
        EdgeIndex(shared, SCHEMA, copies=tmp_path / "copies")
    reader = EdgeIndex(shared, SCHEMA, copies=tmp_path / "copies")  # the writer is done
    assert reader.count() == 4
    reader.close()


def test_an_index_built_privately_is_published_for_the_next_reader(tmp_path: Path) -> None:
    shared, copies = tmp_path / "items", tmp_path / "copies"
    ids, vectors = _vectors(6)
    built = EdgeIndex(shared, SCHEMA, copies=copies)
    assert built.count() == 0 and not shared.exists()
    built.upsert(_points(ids, vectors))
    built.finish()
    built.publish()
    built.close()
    again = EdgeIndex(shared, SCHEMA, copies=copies)
    assert again.folder.copied and again.count() == 6
    again.close()


def test_copies_of_processes_that_are_gone_are_swept(tmp_path: Path) -> None:
    shared, copies = tmp_path / "items", tmp_path / "copies"
    _build(shared, 3)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    left = copies / f"{gone.stdout.strip()}-abandoned" / "items"
    left.mkdir(parents=True)
    reader = EdgeIndex(shared, SCHEMA, copies=copies)
    assert not left.parent.exists()
    reader.close()


def test_a_damaged_shard_is_one_sentence(tmp_path: Path) -> None:
    shared = tmp_path / "items"
    _build(shared, 3)
    (shared / "edge_config.json").write_text("not json")
    with pytest.raises(ShardUnavailableError, match="cannot be opened"):
        EdgeIndex(shared, SCHEMA, copies=tmp_path / "copies")
    assert list((tmp_path / "copies").iterdir()) == []  # nothing left behind
