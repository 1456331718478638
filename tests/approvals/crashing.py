"""The child process of the crash tests: run the `aisle` CLI, a LangGraph resume or the API
server with one side-effect boundary of `approvals.decisions` patched so that reaching it prints
`REACHED <point>` and waits; the test then kills the process with SIGKILL from outside, as a
power cut would. The patch lives only in this script: production code has no crash hook.

    python -m tests.approvals.crashing POINT cli ARGS...     # aisle ARGS...
    python -m tests.approvals.crashing POINT resume THREAD DECISIONS_JSON
    python -m tests.approvals.crashing POINT http PORT       # uvicorn api.app:create_app
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Any

# Where the process is stopped, in the order a decision reaches them.
POINTS = (
    "decided",  # inside the transaction: the decision written, the order not yet
    "executing",  # inside the transaction: the order's rows flushed, not committed
    "committed",  # after the commit, before any audit event
    "decision-audited",  # the decision audited, its execution not yet
)


def _wait_to_be_killed(point: str) -> None:
    sys.stdout.write(f"REACHED {point}\n")
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
        decisions._audit_decision = lambda *args, **kwargs: _wait_to_be_killed(point)
    elif point == "decision-audited":
        decisions._audit_execution = lambda *args, **kwargs: _wait_to_be_killed(point)
    else:
        raise SystemExit(f"unknown point {point!r}; use one of {', '.join(POINTS)}")


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
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
