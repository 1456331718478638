"""The child process of the crash tests: run the `aisle` CLI, a LangGraph resume or the API
server with one side-effect boundary of `approvals.decisions` patched so that reaching it prints
`REACHED <point>` and waits; the test then kills the process with SIGKILL from outside, as a
power cut would. The patch lives only in this script: production code has no crash hook.

    python -m tests.approvals.crashing POINT cli ARGS...     # aisle ARGS...
    python -m tests.approvals.crashing POINT resume THREAD DECISIONS_JSON
    python -m tests.approvals.crashing POINT http PORT       # uvicorn api.app:create_app
    python -m tests.approvals.crashing POINT workers PORT    # the same, two worker processes
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from typing import Any

# Where the process is stopped, in the order a decision reaches them.
POINTS = (
    "decided",  # inside the transaction: the decision written, the order not yet
    "executing",  # inside the transaction: the order's rows flushed, not committed
    "committed",  # after the commit, before any audit event
    "decision-audited",  # the decision audited, its execution not yet
)


# Names the point for uvicorn's worker processes, which import `patched_app` afresh.
POINT_ENV = "AISLE_TEST_CRASH_POINT"


# With several workers, only the first to reach the point stops there: the others carry on,
# so that one of them can answer the retry. Names a file that marks the point reached.
ONCE_ENV = "AISLE_TEST_CRASH_ONCE"


def _wait_to_be_killed(point: str) -> None:
    if once := os.environ.get(ONCE_ENV):
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    # The process id tells the test which of several workers to kill.
    sys.stdout.write(f"REACHED {point} pid={os.getpid()}\n")
    sys.stdout.flush()
    time.sleep(3600)


def install(point: str) -> None:
    """Patch `point` (see POINTS) to announce itself and wait."""
    import approvals.decisions as decisions
    from approvals import kinds

    if point == "decided":
        record = decisions.record_decision

        def decided(*args: Any, **kwargs: Any) -> Any:
            proposal = record(*args, **kwargs)
            _wait_to_be_killed(point)
            return proposal

        decisions.record_decision = decided
    elif point == "executing":
        for name, kind in list(kinds.KINDS.items()):

            def execute(session: Any, proposal: Any, _execute: Any = kind.execute) -> str:
                ref = _execute(session, proposal)
                session.flush()
                _wait_to_be_killed(point)
                return str(ref)

            kinds.KINDS[name] = dataclasses.replace(kind, execute=execute)
    elif point == "committed":
        audit_decision = decisions._audit_decision

        def committed(*args: Any, **kwargs: Any) -> None:
            _wait_to_be_killed(point)
            audit_decision(*args, **kwargs)

        decisions._audit_decision = committed
    elif point == "decision-audited":
        audit_execution = decisions._audit_execution

        def audited(*args: Any, **kwargs: Any) -> None:
            _wait_to_be_killed(point)
            audit_execution(*args, **kwargs)

        decisions._audit_execution = audited
    else:
        raise SystemExit(f"unknown point {point!r}; use one of {', '.join(POINTS)}")


def patched_app() -> Any:
    """The API with the boundary `POINT_ENV` names patched: the factory each worker calls."""
    from api.app import create_app

    install(os.environ[POINT_ENV])
    return create_app()


def main(argv: list[str]) -> None:
    point, mode, *rest = argv
    install(point)
    if mode == "cli":
        from api.cli import app

        app(args=rest, prog_name="aisle")
    elif mode == "resume":
        from langgraph.types import Command

        from agents.checkpoint import open_checkpointer
        from agents.operations import advance
        from agents.replenishment import build_graph
        from retail.settings import get_settings
        from retail.store.open import open_store
        from tools.base import Services

        thread, decisions = rest
        settings = get_settings()
        engine = open_store(settings)
        with open_checkpointer(settings) as saver:
            graph = build_graph(Services(engine, settings), saver)
            advance(graph, Command(resume=json.loads(decisions)), thread)
    elif mode == "http":
        import uvicorn

        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host="127.0.0.1",
            port=int(rest[0]),
            log_level="warning",
        )
    elif mode == "workers":
        import uvicorn

        os.environ[POINT_ENV] = point
        os.environ[ONCE_ENV] = f"{tempfile.gettempdir()}/aisle-crash-{os.getpid()}"
        uvicorn.run(
            "tests.approvals.crashing:patched_app",
            factory=True,
            workers=2,
            host="127.0.0.1",
            port=int(rest[0]),
            log_level="warning",
        )
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
