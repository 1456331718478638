"""A real HTTP server on loopback for the LLM brains' tests: scripted replies or a recording proxy.

The `openai` package talks to it exactly as to any endpoint, so what a brain sends and how it
handles what comes back are tested on the wire, never through a mock of the protocol.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and the reply it got."""

    request: dict[str, Any]
    status: int
    response: dict[str, Any]


class LoopbackPeer:
    """Answers each POSTed JSON body with `answer(body)` and keeps every exchange, in order."""

    def __init__(self, answer: Callable[[dict[str, Any]], Reply]) -> None:
        self.answer = answer
        self.exchanges: list[Exchange] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                status, reply = peer.answer(body)
                peer.exchanges.append(Exchange(body, status, reply))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [exchange.request for exchange in self.exchanges]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def recording_proxy(base_url: str, timeout_s: float = 600.0) -> LoopbackPeer:
    """A peer that forwards every chat completion to the endpoint at `base_url`."""

    def forward(body: dict[str, Any]) -> Reply:
        upstream = httpx.post(f"{base_url}/chat/completions", json=body, timeout=timeout_s)
        return upstream.status_code, upstream.json()

    return LoopbackPeer(forward)


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
