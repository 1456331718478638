"""The generated world a benchmark reads (an existing var directory, or a fresh one seeded into a
scratch folder that is removed afterwards), the server a benchmark talks to over HTTP, the
latency percentiles benchmarks report, and the machine they report them from."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from rich.console import Console

from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, seed_world

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60


@contextmanager
def world_var_dir(
    var_dir: str | Path | None, *, scale: str, seed: int, console: Console
) -> Iterator[tuple[Path, float | None]]:
    """(a folder holding aisle.db and world/, the seconds spent seeding it or None if given)."""
    if var_dir:
        yield Path(var_dir), None
        return
    with TemporaryDirectory(prefix="aisle-bench-") as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        try:
            upgrade(engine)
            console.print(f"seeding the {scale} world (seed {seed}) ...")
            started = time.perf_counter()
            seed_world(
                engine,
                scale=scale,
                seed=seed,
                end=PINNED_END,
                world_dir=folder / "world",
                show_progress=False,
            )
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        yield folder, seconds


def machine() -> dict[str, object]:
    """The machine a benchmark ran on, as its JSON reports it."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    """The box's 1, 5 and 15 minute load averages, to report beside a timing."""
    return [round(x, 2) for x in os.getloadavg()]


def percentiles(ms: list[float]) -> dict[str, float | int]:
    """n, p50, p95, p99 and max of latencies in milliseconds (nearest rank)."""
    if not ms:
        return {"n": 0}
    ordered = sorted(ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(
    command: list[str], env: dict[str, str], log: Path, console: Console, *, cwd: Path = REPO
) -> Iterator[tuple[str, int]]:
    """`command --port PORT` (uvicorn or `aisle serve`) on a free loopback port, run from `cwd`
    (this repository, or another checkout to compare with) with `env` and its output in `log`:
    (its base URL, its pid) once `/ready` says 200. Stopped afterwards: SIGTERM, then SIGKILL
    after STOP_TIMEOUT_S."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # A session of its own: a Ctrl-C meant for the benchmark does not reach the server
            # mid-request; the benchmark stops it below.
            start_new_session=True,
        )
    try:
        console.print(f"waiting for {base}/ready ...")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}; see {log}")
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server was not ready within {READY_TIMEOUT_S} s; see {log}")
            time.sleep(0.25)
        yield base, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
