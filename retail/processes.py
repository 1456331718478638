"""Which process holds a piece of work, and whether it is gone.

A claim that outlives its process (an in-flight idempotent request, a running job) names its
holder: host, process id and the process's start time, since a process id alone may be reused by
a later process. On the holder's own host, a holder whose process is gone is known dead at once;
elsewhere only a lease (a heartbeat that stops) can tell.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux's /proc); None where that
    cannot be read (no such process, a dead one, another system)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ")" are plain: the
    # state first (a killed process its parent has not yet reaped is a zombie, "Z": gone).
    fields = stat.rsplit(")", 1)[-1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def holder() -> dict[str, str]:
    """This process, as a claim names it: host, process id and start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": str(pid), "start": process_start(pid) or ""}


def holder_gone(named: object) -> bool:
    """Whether the holder a claim names ran on this host and its process is gone (False when
    that cannot be known here: another host, or a claim that names no process)."""
    if not isinstance(named, dict) or named.get("host") != socket.gethostname():
        return False
    if not str(named.get("pid", "")).isdigit() or not named.get("start"):
        return False
    return process_start(int(named["pid"])) != named["start"]
