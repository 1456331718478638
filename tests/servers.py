"""Real servers for tests: uvicorn serving `api.app:create_app`, or `aisle mcp serve --transport
http`, in a process of its own on a free loopback port, over a given store and var dir, waited for
and stopped as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from retail.settings import Settings

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def process_env(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings`' database, var dir, environment and secret:
    what a server or an `aisle` command started from a test needs to work on the same store."""
    return {
        **os.environ,
        "AISLE_DATABASE_URL": settings.resolved_database_url,
        "AISLE_VAR_DIR": str(settings.var_dir),
        "AISLE_ENVIRONMENT": settings.environment,
        "AISLE_SECRET_KEY": settings.secret_key,
    }


def _spawn(
    settings: Settings, log: Path, command: Callable[[int], list[str]]
) -> tuple[subprocess.Popen[bytes], int]:
    """`command(port)` on a free port in a process of its own over `settings`' store, writing its
    output to `log`; (process, port)."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(port),
            cwd=REPO,
            env=process_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            # A group of its own, so that `stop` reaches the worker processes too.
            start_new_session=True,
        )
    return process, port


def start_server(
    settings: Settings, log: Path, *, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn over `settings`' database, var dir, environment and secret, with `workers` worker
    processes; (process, base url). Its output goes to `log`."""
    process, port = _spawn(
        settings,
        log,
        lambda port: (
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            + ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
            + ["--log-level", "warning"]
        ),
    )
    return process, f"http://127.0.0.1:{port}"


def start_mcp_server(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`aisle mcp serve --transport http` over `settings`' database, var dir, environment and
    secret; (process, endpoint url). Its output goes to `log`."""
    process, port = _spawn(
        settings,
        log,
        lambda port: (
            [sys.executable, "-c", "from api.cli import main; main()", "mcp", "serve"]
            + ["--transport", "http", "--port", str(port)]
        ),
    )
    return process, f"http://127.0.0.1:{port}/mcp"


def wait_for(
    process: subprocess.Popen[Any],
    url: str,
    log: Path | None,
    path: str = "/ready",
    *,
    status: int = 200,
) -> None:
    """Wait until `path` answers `status`: 200 on `/health` once the server listens, on
    `/ready` once the assistant is loaded and the index open (so that no test's first answer
    waits for them); 401 from an MCP endpoint asked without a key. A failure quotes the end of
    `log`, where the server writes its output (None: it writes elsewhere, to a pipe its caller
    reads)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}{path}", timeout=5.0).status_code == status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url}{path} was not {status} within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM to the server's process group (it and its workers), SIGKILL if it has not exited
    within STOP_TIMEOUT_S; nothing if it has already exited (a test may have killed it)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log is not None else ""
