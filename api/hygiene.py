"""Request hygiene: input the app can neither store nor answer is a 422 at the door, and an
exhausted database connection pool is a quick 503.

Python's `json` accepts more than JSON and UTF-8 allow: `NaN`, `Infinity`, numbers that overflow
to infinity (`1e400`), and lone UTF-16 surrogates (`"\\ud800"`, which no UTF-8 encoder will
write); and HTTP carries NUL characters, which PostgreSQL refuses to store. Each of them got as
far as the database or the response encoder and ended in a 500, or, in a streamed answer, a
dropped connection. `RequestHygiene` refuses them wherever they come (path, query, headers,
JSON body) with a 422 in the shape of every other 422 (`detail`, one sentence, and `errors`), so
no route has to think of them.

The JSON body is parsed by the standard library's parser with hooks that refuse what JSON does
not have (`parse_constant`, `parse_float`); malformed JSON is left to FastAPI's own parse, which
reports it as every other 422 does.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request, status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import InvalidRequest

log = logging.getLogger(__name__)

# What a client is told to wait before retrying when every database connection is taken: long
# enough for a burst's queries (milliseconds each) to drain, short enough not to lose it.
POOL_RETRY_AFTER_S = 2

Loc = tuple[str | int, ...]
# A name shown back (a query parameter's, a body field's) is cut here: the client has it whole.
_SHOWN_CHARS = 60


def _shown(name: str) -> str:
    """`name` as it can be written back in a JSON answer: NULs and lone surrogates escaped."""
    if len(name) > _SHOWN_CHARS:
        name = name[:_SHOWN_CHARS] + "..."
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with a request, and where (a pydantic-style `loc`)."""

    where: str
    what: str
    loc: Loc
    kind: str

    @property
    def sentence(self) -> str:
        # The shape of every other 422's sentence (`api.app.describe_validation_errors`).
        return f"Invalid request: {self.where}: {self.what}."

    def response(self) -> JSONResponse:
        loc = [_shown(part) if isinstance(part, str) else part for part in self.loc]
        body = InvalidRequest(self.sentence, loc=loc, kind=self.kind).body()
        return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


class UnacceptableBody(StarletteHTTPException):
    """A body refused while the route reads it. An HTTP error, because FastAPI passes those
    raised during its body read through to the app's handlers (any other error there becomes
    a 400 "There was an error parsing the body")."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem.sentence)
        self.problem = problem


def _text_problem(text: str, where: str, loc: Loc) -> Problem | None:
    if "\x00" in text:
        return Problem(where, "text must not contain NUL characters", loc, "nul_character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Only a lone surrogate cannot be encoded: it is half of a UTF-16 pair, not a character.
        return Problem(where, "text must not contain a lone surrogate", loc, "unicode")
    return None


def _decoded(raw: bytes, where: str, loc: Loc) -> str | Problem:
    """Percent-decoded UTF-8 (Starlette would replace what is not UTF-8 and carry on)."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return Problem(where, "text must be valid UTF-8", loc, "unicode")


def _path_problem(scope: Scope) -> Problem | None:
    # raw_path, as sent (percent-encoded), is optional in ASGI; path is already decoded.
    raw = scope.get("raw_path")
    path = _decoded(raw, "request path", ("path",)) if raw else scope["path"]
    if isinstance(path, Problem):
        return path
    return _text_problem(path, "request path", ("path",))


def _query_problem(scope: Scope) -> Problem | None:
    query: bytes = scope.get("query_string", b"")
    for field in query.split(b"&"):
        raw_name, _, raw_value = field.replace(b"+", b" ").partition(b"=")
        name = _decoded(raw_name, "a query parameter name", ("query",))
        if isinstance(name, Problem):
            return name
        if problem := _text_problem(name, "a query parameter name", ("query",)):
            return problem
        where, loc = f"query parameter '{_shown(name)}'", ("query", name)
        value = _decoded(raw_value, where, loc)
        if isinstance(value, Problem):
            return value
        if problem := _text_problem(value, where, loc):
            return problem
    return None


def _header_problem(scope: Scope) -> Problem | None:
    # Header bytes are read as Latin-1, where every byte is a character: only NUL is refused.
    for name, value in scope["headers"]:
        if b"\x00" in name or b"\x00" in value:
            shown = _shown(name.decode("latin-1"))
            return Problem(
                f"header '{shown}'",
                "text must not contain NUL characters",
                ("header", shown),
                "nul_character",
            )
    return None


class _NotJsonNumber(ValueError):
    """A number JSON has no value for; raised from the parser's hooks."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonNumber(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJsonNumber(f"the number {literal[:20]} is too large to represent")
    return value


def _bounded_int(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # over Python's limit on the digits of an integer
        raise _NotJsonNumber(f"an integer of {len(literal)} digits is too long") from None


def _walk(document: Any) -> Iterator[tuple[Loc, str]]:
    """Every string of a parsed JSON document (keys included) with its location. Iterative:
    a document nested as deep as the parser allows would overflow a recursive walk."""
    stack: list[tuple[Loc, Any]] = [(("body",), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            yield loc, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield (*loc, key), key
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))


# Only an escape puts a NUL or a lone surrogate into a parsed string (the strict decoding refused
# raw surrogates, and JSON refuses raw control characters): a body without one needs no walk.
_ESCAPED_NUL_OR_SURROGATE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


def _body_where(loc: Loc) -> str:
    return f"body field '{_shown('.'.join(map(str, loc[1:])))}'" if len(loc) > 1 else "request body"


def json_body_problem(body: bytes) -> Problem | None:
    """What in a JSON body the app cannot take, or None (malformed JSON included: FastAPI's own
    parse reports that)."""
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        what = f"text must be valid UTF-8 (byte {exc.start} is not)"
        return Problem("request body", what, ("body",), "unicode")
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _NotJsonNumber as exc:
        return Problem("request body", str(exc), ("body",), "json_number")
    except RecursionError:
        return Problem("request body", "JSON nested too deeply", ("body",), "json_depth")
    except ValueError:
        return None
    if not _ESCAPED_NUL_OR_SURROGATE.search(text):
        return None
    for loc, text_value in _walk(document):
        if problem := _text_problem(text_value, _body_where(loc), loc):
            return problem
    return None


def _carries_json(scope: Scope) -> bool:
    # The same rule as FastAPI's: no content type, application/json or application/*+json.
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return True


class RequestHygiene:
    """Refuse NUL characters and invalid Unicode in the path, the query and the headers before
    the app sees them, and a JSON body with those or with numbers JSON has not when the route
    reads it (a route that takes no body never pays for the check)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _path_problem(scope) or _query_problem(scope) or _header_problem(scope)
        if problem is not None:
            await problem.response()(scope, receive, send)
            return
        if not _carries_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    if body and (found := json_body_problem(body)) is not None:
                        raise UnacceptableBody(found)
            return message

        await self.app(scope, checked, send)


async def on_unacceptable_body(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnacceptableBody)
    return exc.problem.response()


async def on_pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    """`sqlalchemy.exc.TimeoutError`: no pooled connection came free within the pool's timeout."""
    log.warning("database pool exhausted on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "Aisle is busy: every database connection is in use; retry in a moment."},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(POOL_RETRY_AFTER_S)},
    )
