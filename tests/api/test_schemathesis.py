"""schemathesis over the OpenAPI document: generated requests (valid and invalid) to every route,
authenticated as an admin (who may use them all), against the real app on the tool world with
the assistant loaded. No request may get a 5xx, a status code the document does not list, or a
body or content type that does not match it.

`AISLE_SCHEMATHESIS_EXAMPLES` sets the examples per operation and mode (valid, invalid; default
12: a few hundred requests in all, under a minute here); a long run sets it in the hundreds.

A second test sends every generated request with a bad-input twin (a NUL, a lone surrogate, NaN,
Infinity or 1e400 where the app must refuse it with a 422), through `benchmarks/bench_api_fuzz.py`'s
`fuzz`, in-process and smaller (`AISLE_FUZZ_EXAMPLES`, default 4) than the benchmark's HTTP run.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from agents.assistant import Assistant
from api.ratelimit import RateLimit

# `assistant` is test_chat's module-scoped fixture: imported, it builds one for this module too.
from tests.api.test_chat import Served, serve
from tests.api.test_chat import assistant as assistant  # noqa: F401
from tests.tools.world import ToolWorld

EXAMPLES = int(os.environ.get("AISLE_SCHEMATHESIS_EXAMPLES", "12"))
FUZZ_EXAMPLES = int(os.environ.get("AISLE_FUZZ_EXAMPLES", "4"))
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
ADMIN = "admin:root"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(
    tool_world: ToolWorld, assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    yield from serve(
        tool_world,
        tmp_path_factory.mktemp("schemathesis-app"),
        [ADMIN],
        assistant=assistant,
        rate_limit=RateLimit(burst=1_000_000, per_second=1_000_000.0),
    )


@pytest.mark.slow
def test_the_api_keeps_to_its_schema(served: Served) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.client.app)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def conforms(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=served.auth(ADMIN), checks=CHECKS)

            try:
                conforms()
            except Unsatisfiable:
                # An operation without parameters or body has nothing to send invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls >= len(list(schema.get_all_operations())) * 2


@pytest.fixture(scope="module")
def bench_api_fuzz() -> Iterator[ModuleType]:
    # The benchmark is a script, not a package: import it as the script runs.
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCHMARKS))
        yield importlib.import_module("bench_api_fuzz")


@pytest.mark.slow
def test_generated_requests_and_their_bad_twins_get_no_5xx(
    served: Served, bench_api_fuzz: ModuleType
) -> None:
    client = served.client
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)

    def send_case(case: schemathesis.Case, headers: dict[str, str]) -> int | None:
        try:
            return case.call(headers=headers).status_code
        except Exception:  # the app raised instead of answering: what a dropped connection is
            return None

    def send_raw(raw: tuple[str, str, dict[str, str], bytes | None]) -> int | None:
        method, target, headers, body = raw
        try:
            return client.request(method, target, headers=headers, content=body).status_code
        except Exception:
            return None

    tally = bench_api_fuzz.fuzz(
        schema,
        examples=FUZZ_EXAMPLES,
        auth=lambda: served.auth(ADMIN),
        send_case=send_case,
        send_raw=send_raw,
    )
    assert tally.total("requests") >= len(list(schema.get_all_operations())) * 2
    assert tally.total("5xx") == tally.total("dropped") == 0, tally.failures
    twins = sum(tally.twins.values(), Counter())
    assert twins["422"] == twins["requests"], tally.not_refused
