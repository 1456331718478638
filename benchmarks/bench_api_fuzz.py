"""Benchmark: schemathesis over the OpenAPI document of a running Aisle process, every generated
request followed by a bad-input twin; the count that matters is 5xx (and dropped connections).

Starts one `uvicorn api.app:create_app` process on a free loopback port over a copy of a built
world (`--var-dir`; the copy takes the API keys and whatever the requests write), waits until
`/ready` (the assistant loaded, so the chat routes answer), and issues admin keys, used in turn
so that no key runs into its rate limit. Then, for every operation of the document and both
schemathesis generation modes (positive: valid per the schema; negative: invalid),
`--examples` generated requests are sent as schemathesis sends them, and after each one its
twin: the same request with one bad value injected (drawn with the case) where the app has to
refuse it with a 422: a NUL character or a lone surrogate (as UTF-8-style bytes) in the query or
the path, a NUL in a header, or in the JSON body a lone surrogate (escaped, or as bytes), a NUL,
NaN, Infinity, -Infinity or 1e400. The twins are written byte for byte on a socket, so what no
HTTP client library would send still reaches the server.

    .venv/bin/python benchmarks/bench_api_fuzz.py --var-dir var --examples 60

Prints a table by operation (requests, status classes, dropped connections) and the twins'
statuses, then a JSON summary on stdout. Exit status 1 when any request got a 5xx or a dropped
connection. `tests/api/test_schemathesis.py` runs the same `fuzz` in-process, smaller.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rich.console import Console
from rich.table import Table
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from worlds import served

ADMIN = "admin:root"
# Enough keys that each stays under its rate limit's burst (120) over a long run.
KEYS = 200
REQUEST_TIMEOUT_S = 120.0

# A bad value as it travels in a URL: percent-encoded bytes.
BAD_IN_URL = {"nul": "a%00b", "surrogate": "a%ED%A0%80b"}
# A bad value as JSON text in a body.
BAD_JSON = {
    "surrogate escape": b'"\\ud800"',
    "surrogate bytes": b'"\xed\xa0\x80"',
    "nul escape": b'"a\\u0000b"',
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "1e400": b"1e400",
}
INJECTIONS: list[tuple[str, str]] = [
    ("query", "nul"),
    ("query", "surrogate"),
    ("path", "nul"),
    ("path", "surrogate"),
    ("header", "nul"),
    *(("body", name) for name in BAD_JSON),
]
_MARK = "@@bad-value@@"

# A request as bytes go: method, target (path and query, already encoded), headers, body.
Raw = tuple[str, str, dict[str, str], bytes | None]
# Sends a raw request; its status, or None when the connection dropped without one.
SendRaw = Callable[[Raw], int | None]
# Sends a schemathesis case with these extra headers; its status, or None as above.
SendCase = Callable[[schemathesis.Case, dict[str, str]], int | None]


@dataclass
class Tally:
    """Statuses by operation, for the generated requests and for their bad-input twins."""

    cases: dict[str, Counter[str]] = field(default_factory=dict)
    twins: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    """The first few 5xx and dropped connections, to reproduce."""
    by_injection: dict[str, Counter[int | None]] = field(default_factory=dict)
    """The twins' statuses by what was injected where."""
    not_refused: list[str] = field(default_factory=list)
    """The first few twins answered other than 422 (another 4xx is no fault, but says where)."""

    def add(self, kind: str, label: str, status: int | None, what: str) -> None:
        counts = (self.cases if kind == "case" else self.twins).setdefault(label, Counter())
        counts["requests"] += 1
        counts["dropped" if status is None else f"{status // 100}xx"] += 1
        if kind == "twin" and status == 422:
            counts["422"] += 1
        if (status is None or status >= 500) and len(self.failures) < 20:
            self.failures.append(f"{kind} {label}: {status} <- {what}")
        elif kind == "twin" and status != 422 and len(self.not_refused) < 20:
            self.not_refused.append(f"{label}: {status} <- {what}")

    def total(self, key: str) -> int:
        return sum(c[key] for table in (self.cases, self.twins) for c in table.values())


def _json_body(case: schemathesis.Case) -> Any:
    if isinstance(case.body, NotSet) or "json" not in (case.media_type or ""):
        return NotSet
    return case.body


def twin(case: schemathesis.Case, injection: tuple[str, str], auth: dict[str, str]) -> Raw:
    """`case` with one bad value injected; where the case has no such place (no path
    parameter, no JSON body), the value goes into the query instead."""
    where, what = injection
    # schemathesis hands path parameters already percent-encoded.
    path_values = {k: quote(str(v), safe="%") for k, v in (case.path_parameters or {}).items()}
    query = [(k, str(v)) for k, v in (case.query or {}).items() if not isinstance(v, list)]
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    headers.update(auth)
    document = _json_body(case)
    # Negative generation may send bytes that are no JSON at all under a JSON media type.
    body = (
        None
        if document is NotSet
        else document
        if isinstance(document, bytes)
        else json.dumps(document).encode()
    )
    encoded_query = urlencode(query)
    if where == "path" and path_values:
        path_values[sorted(path_values)[0]] = BAD_IN_URL[what]
    elif where == "header":
        headers["X-Fuzz"] = "a\x00b"
    elif where == "body" and isinstance(document, bytes):
        body = BAD_JSON[what]
    elif where == "body" and document is not NotSet:
        if isinstance(document, dict) and document:
            holder = {**document, sorted(document)[0]: _MARK}
        else:
            holder = [document, _MARK]
        body = json.dumps(holder).encode().replace(json.dumps(_MARK).encode(), BAD_JSON[what])
    else:
        bad = BAD_IN_URL.get(what, BAD_IN_URL["nul"])
        encoded_query = "&".join(filter(None, [encoded_query, f"fuzz={bad}"]))
    if body is not None:
        headers["Content-Type"] = "application/json"
    target = case.path.format(**path_values) + (f"?{encoded_query}" if encoded_query else "")
    return case.method.upper(), target, headers, body


def fuzz(
    schema: Any,
    *,
    examples: int,
    auth: Callable[[], dict[str, str]],
    send_case: SendCase,
    send_raw: SendRaw,
    progress: Callable[[str], None] = lambda _: None,
) -> Tally:
    """Every operation, both generation modes, `examples` cases each, each with its twin."""
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        progress(label)
        for mode in GenerationMode:
            # An operation without parameters or body has nothing to make invalid.
            with suppress(Unsatisfiable):
                _fuzz_one(operation, mode, label, examples, auth, send_case, send_raw, tally)
    return tally


def _fuzz_one(
    operation: Any,
    mode: GenerationMode,
    label: str,
    examples: int,
    auth: Callable[[], dict[str, str]],
    send_case: SendCase,
    send_raw: SendRaw,
    tally: Tally,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode), injection=st.sampled_from(INJECTIONS))
    def run(case: schemathesis.Case, injection: tuple[str, str]) -> None:
        status = send_case(case, auth())
        tally.add("case", label, status, f"{mode.value} {case.as_curl_command()}")
        raw = twin(case, injection, auth())
        status = send_raw(raw)
        tally.add("twin", label, status, f"{injection} {raw[0]} {raw[1]!r} {raw[3]!r}")
        tally.by_injection.setdefault(" ".join(injection), Counter())[status] += 1

    run()


# --- over HTTP ------------------------------------------------------------------------------


def raw_sender(host: str, port: int) -> SendRaw:
    def send(raw: Raw) -> int | None:
        method, target, headers, body = raw
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")
        received = b""
        with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_S) as conn:
            conn.sendall(request)
            while chunk := conn.recv(65536):  # to the end: the server closes when it is done
                received += chunk
        status_line = received.split(b"\r\n", 1)[0].split(b" ")
        return int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else None

    return send


def http_case_sender(base: str) -> SendCase:
    session = requests.Session()

    def send(case: schemathesis.Case, headers: dict[str, str]) -> int | None:
        try:
            response = case.call(
                base_url=base, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S
            )
        except requests.exceptions.RequestException:
            return None
        return response.status_code

    return send


def _issue_keys(var_dir: Path, count: int) -> list[str]:
    from api.auth import issue_key
    from retail.store.db import make_engine
    from tools.base import Principal

    engine = make_engine(f"sqlite:///{var_dir / 'aisle.db'}")
    try:
        return [issue_key(engine, Principal.parse(ADMIN), label="fuzz") for _ in range(count)]
    finally:
        engine.dispose()


def render(tally: Tally, console: Console) -> None:
    table = Table(title="schemathesis + bad-input twins, by operation")
    columns = ["requests", "2xx", "3xx", "4xx", "5xx", "dropped"]
    for name in ["operation", *columns, "twins", "twins 422", "twins 5xx"]:
        table.add_column(name, justify="left" if name == "operation" else "right")
    for label in sorted(tally.cases.keys() | tally.twins.keys()):
        cases, twins = tally.cases.get(label, Counter()), tally.twins.get(label, Counter())
        both = cases + twins
        table.add_row(
            label,
            *(str(both[c]) for c in columns),
            str(twins["requests"]),
            str(twins["422"]),
            str(twins["5xx"] + twins["dropped"]),
        )
    console.print(table)
    injections = Table(title="bad-input twins by injection (where, what): statuses")
    injections.add_column("injection")
    injections.add_column("statuses")
    for name, statuses in sorted(tally.by_injection.items()):
        injections.add_row(name, ", ".join(f"{k}: {v}" for k, v in statuses.most_common()))
    console.print(injections)
    for failure in tally.failures:
        console.print(f"5xx or dropped: {failure}", style="red", markup=False, highlight=False)
    for twin_answer in tally.not_refused:
        console.print(f"twin not refused with 422: {twin_answer}", markup=False, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, required=True, help="A built world (copied).")
    parser.add_argument("--examples", type=int, default=60, help="Per operation and mode.")
    args = parser.parse_args()
    console = Console(stderr=True, width=130)
    with tempfile.TemporaryDirectory(prefix="aisle-fuzz-") as tmp:
        var_dir = Path(tmp) / "var"
        shutil.copytree(args.var_dir, var_dir)
        keys = _issue_keys(var_dir, KEYS)
        turn = iter(range(sys.maxsize))
        # The copy's own database, whatever AISLE_DATABASE_URL says.
        env = {**os.environ, "AISLE_VAR_DIR": str(var_dir), "AISLE_ENVIRONMENT": "dev"}
        env.pop("AISLE_DATABASE_URL", None)
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
        with served(uvicorn, env, var_dir / "fuzz-server.log", console) as (base, _):
            schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
            started = time.perf_counter()
            tally = fuzz(
                schema,
                examples=args.examples,
                auth=lambda: {"Authorization": f"Bearer {keys[next(turn) % KEYS]}"},
                send_case=http_case_sender(base),
                send_raw=raw_sender("127.0.0.1", int(base.rsplit(":", 1)[1])),
                progress=lambda label: console.print(f"fuzzing {label} ..."),
            )
            seconds = time.perf_counter() - started
    render(tally, console)
    summary = {
        "benchmark": "api_fuzz",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "schemathesis": schemathesis.__version__,
        "examples_per_operation_and_mode": args.examples,
        "requests": tally.total("requests"),
        "twins": sum(c["requests"] for c in tally.twins.values()),
        "twins_422": sum(c["422"] for c in tally.twins.values()),
        "twins_by_injection": {k: dict(v.most_common()) for k, v in tally.by_injection.items()},
        "status_classes": {k: tally.total(k) for k in ("2xx", "3xx", "4xx", "5xx", "dropped")},
        "seconds": round(seconds, 1),
        "failures": tally.failures,
    }
    print(json.dumps(summary, indent=2))  # noqa: T201
    if summary["status_classes"]["5xx"] or summary["status_classes"]["dropped"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
