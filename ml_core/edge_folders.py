"""Qdrant Edge folders that several processes use at once.

Qdrant Edge (`qdrant-edge-py` 0.9) has no read-only mode: opening a shard takes an exclusive lock
on its write-ahead log, so a second process that opens the same folder fails ("Can't init WAL:
WouldBlock"). Serving runs several processes on one var dir (`aisle serve --workers 2`, two
servers on two ports, an `aisle rag query` beside them), so:

- a process that reads (`ShardFolder(shared, copies=...)`) opens a private copy of the folder,
  taken under a shared lock on `<folder>.lock` and removed when it closes;
- a writer (`ShardFolder(shared)`: `aisle rag ingest`, a world build) holds the exclusive lock
  on `<folder>.lock` for as long as it has the folder open, so a copy never catches half a
  write. Copies taken before keep serving what they copied; `ShardFolder.stale` tells a reader
  that a writer has finished since.

Copies live under `copies/<pid>-<random>/`; each new copy sweeps the ones left by processes that
no longer exist (a killed process cannot clean up after itself). A Qdrant server
(`AISLE_QDRANT_URL`) needs none of this: its processes share the server's collection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path
from types import TracebackType

import qdrant_edge as edge

from retail.errors import AisleError

# A reader waits this long for a writer to finish: copying is quick, but an ingest holds the
# folder for as long as it embeds, and a reader that cannot copy says so instead of hanging.
READ_WAIT_S = 5.0
# A writer waits this long for readers' copies in progress to end.
WRITE_WAIT_S = 60.0
_POLL_S = 0.05


class FolderBusyError(AisleError):
    """Another process is writing the folder, for longer than this one would wait."""


class ShardUnavailableError(AisleError):
    """A shard's folder exists but Qdrant Edge cannot open it."""


class FolderLock:
    """An advisory lock (flock) on `<folder>.lock`, shared or exclusive, held until released."""

    def __init__(self, folder: Path, *, exclusive: bool, wait_s: float) -> None:
        path = lock_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, mode)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.release()
                    raise FolderBusyError(
                        f"{folder} is being written by another process (an `aisle rag ingest`?)"
                        f"; it was still busy after {wait_s:g} s."
                    ) from None
                time.sleep(_POLL_S)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


def has_shard(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def copies_folder(var_dir: Path) -> Path:
    """Where reading processes keep their private copies of the var dir's Edge folders."""
    return var_dir / "tmp" / "edge-copies"


def written_at(folder: Path) -> int:
    """When a writer last let go of `folder` (ns; 0 if never): the lock file's mtime, touched by
    every writer as it releases the folder."""
    try:
        return lock_path(folder).stat().st_mtime_ns
    except FileNotFoundError:
        return 0


class ShardFolder:
    """The folder one process opens a shard in: `shared` itself, held exclusively (a writer),
    or, given `copies`, a private copy of `shared` (a reader; an empty private folder when
    `shared` has no shard yet, see `copied`)."""

    def __init__(self, shared: Path, *, copies: Path | None = None, frozen: bool = False) -> None:
        """`frozen`: `shared` is never written again (a registry version), so a reader copies
        it without the lock (whose file beside it would change the version's files)."""
        self.shared = shared
        self._lock: FolderLock | None = None
        self._private: Path | None = None
        self._changed = False
        if copies is None:
            self._lock = FolderLock(shared, exclusive=True, wait_s=WRITE_WAIT_S)
            self.path = shared
            self.copied = False
            self.version = 0
            return
        _sweep(copies)
        self._private = copies / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = self._private / shared.name
        with (
            contextlib.nullcontext()
            if frozen
            else FolderLock(shared, exclusive=False, wait_s=READ_WAIT_S)
        ):
            self.version = written_at(shared)
            self.copied = has_shard(shared)
            try:
                if self.copied:
                    shutil.copytree(shared, self.path)
                else:
                    self.path.mkdir(parents=True)
            except BaseException:  # a disk that fills up half-way leaves no half copy behind
                self.close()
                raise

    @property
    def stale(self) -> bool:
        """Whether a writer has finished with the shared folder since this copy was taken."""
        return self._private is not None and written_at(self.shared) != self.version

    def publish(self) -> None:
        """Offer a private folder built from nothing as the shared one, so the next process
        copies it instead of building it again; skipped if another process got there first or
        holds the folder."""
        if self._private is None or self.copied:
            return
        try:
            with FolderLock(self.shared, exclusive=True, wait_s=0):
                if has_shard(self.shared):
                    return
                partial = self.shared.with_name(f"{self.shared.name}.{uuid.uuid4().hex[:8]}.tmp")
                shutil.copytree(self.path, partial)
                if self.shared.is_dir():
                    self.shared.rmdir()  # empty: has_shard said so
                partial.rename(self.shared)  # whole or not at all
                self.copied = True
        except FolderBusyError:
            return

    def changed(self) -> None:
        """Note that points were written: readers' copies are stale once the writer closes."""
        self._changed = True

    def close(self) -> None:
        if self._lock is not None:
            if self._changed:
                # Touched before the lock goes: readers compare this time with their copy's.
                os.utime(lock_path(self.shared))
            self._lock.release()
            self._lock = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None


def load_shard(folder: ShardFolder, config: edge.EdgeConfig) -> edge.EdgeShard:
    """`EdgeShard.load` of the folder's shard, its failures (a damaged or locked folder) as one
    sentence naming the shared folder (a copy's path would mean nothing to an operator)."""
    try:
        return edge.EdgeShard.load(str(folder.path), config)
    except Exception as exc:  # qdrant-edge raises bare Exception
        reason = str(exc).rstrip(".")
        raise ShardUnavailableError(
            f"The index at {folder.shared} cannot be opened ({reason})."
        ) from exc


def _sweep(copies: Path) -> None:
    """Remove the copies of processes that are gone."""
    if not copies.is_dir():
        return
    for entry in copies.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
