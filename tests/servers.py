"""Real servers for tests: uvicorn serving `api.app:create_app` in a process of its own on a free
loopback port, over a given store and var dir, waited for and stopped as an operator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from retail.settings import Settings

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn over `settings`' database, var dir, environment and secret; (process, base url).
    Its output goes to `log`."""
    port = free_port()
    env = {
        **os.environ,
        "AISLE_DATABASE_URL": settings.resolved_database_url,
        "AISLE_VAR_DIR": str(settings.var_dir),
        "AISLE_ENVIRONMENT": settings.environment,
        "AISLE_SECRET_KEY": settings.secret_key,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def wait_for(process: subprocess.Popen[bytes], url: str, log: Path, path: str = "/ready") -> None:
    """Wait until `path` answers 200: `/health` once the server listens, `/ready` once the
    assistant is loaded and the index open (so that no test's first answer waits for them)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url}{path} was not 200 within {START_TIMEOUT_S:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
