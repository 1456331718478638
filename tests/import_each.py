"""Import each module named on the command line in a process of its own; print JSON results.

Run by tests/test_architecture.py as `python tests/import_each.py MODULE...`. This process
imports the third-party libraries the project uses (named with --preload) and no module of the
project; it then forks one child per project module, so each module is imported as in a fresh
interpreter (nothing of the project loaded before it) without paying seconds of torch and
llama-index start-up per module. A module that only works when another project module was
imported first (an import cycle resolved by luck, a name that a sibling puts in place) fails in
its child. Up to --jobs children run at once.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback

_REPORT_LIMIT = 8000  # bytes of traceback per module: well under a pipe's buffer


def _child(module: str, write_fd: int) -> None:
    # What a module prints while it loads must not end up inside the JSON report.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    started = time.perf_counter()
    try:
        importlib.import_module(module)
        error = ""
    except BaseException:  # the report is the point, whatever was raised (SystemExit too)
        error = traceback.format_exc()[-_REPORT_LIMIT:]
    report = {"module": module, "error": error, "seconds": time.perf_counter() - started}
    os.write(write_fd, json.dumps(report).encode("utf-8"))
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--project", action="append", default=[], help="A project package.")
    parser.add_argument("--preload", action="append", default=[], help="A third-party module.")
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    for name in args.preload:
        try:
            importlib.import_module(name)
        except Exception:  # a child whose module needs it will report the failure itself
            continue
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in set(args.project))
    if leaked:
        sys.stdout.write(json.dumps({"leaked": leaked}) + "\n")
        return 1
    pending = list(args.modules)
    running: dict[int, tuple[str, int]] = {}
    results = []
    while pending or running:
        while pending and len(running) < args.jobs:
            module = pending.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _child(module, write_fd)
            os.close(write_fd)
            running[pid] = (module, read_fd)
        pid, status = os.wait()
        module, read_fd = running.pop(pid)
        with os.fdopen(read_fd, "rb") as pipe:
            raw = pipe.read()
        if raw:
            results.append(json.loads(raw))
        else:
            results.append(
                {"module": module, "error": f"the child died (wait status {status})", "seconds": 0}
            )
    sys.stdout.write(json.dumps({"results": results}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
