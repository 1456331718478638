"""A promotion or rollback killed part way (a real SIGKILL, in a real `aisle` process) leaves the
registry consistent: one champion, a ledger that verifies, every version it names on disk with a
manifest that verifies, and each version's stage the one its last stage change says; the next
command reads that state and goes on from it.

The child process is the CLI itself, with one change made before it starts: the atomic replace
that publishes the stage ledger kills the process just before or just after it (so "before"
means the new ledger was fully written beside the old one, and "after" means it was published
but nothing after it ran: the command never printed or returned)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from ml_core.registry import LEDGER, ArtifactRegistry
from retail.settings import get_settings

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
REPO = Path(__file__).resolve().parents[2]
KIND = "knowledge-graph"  # a kind whose gate needs no backtest: the test stays fast
# `-c CHILD LEDGER KILL_AT ARGS...`: `aisle ARGS` with os.replace killing the process at the
# stage ledger, just before or just after publishing it.
CHILD = """
import os, signal, sys
real_replace = os.replace
_, LEDGER, KILL_AT, *ARGS = sys.argv
def replace(src, dst, *args, **kwargs):
    ledger = os.path.basename(os.fspath(dst)) == LEDGER
    if ledger and KILL_AT == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst, *args, **kwargs)
    if ledger and KILL_AT == "after":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv = ["aisle", *ARGS]
from api.cli import main
main()
"""


def _killed_aisle(kill_at: str, *args: str) -> None:
    settings = get_settings()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AISLE_VAR_DIR": str(settings.var_dir),
        "AISLE_DATABASE_URL": settings.database_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, LEDGER, kill_at, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def _versions(registry: ArtifactRegistry, n: int) -> list[str]:
    made = []
    for i in range(n):
        manifest = registry.save(
            name=KIND,
            kind=KIND,
            data_hash=f"data-{i}",
            write=lambda folder, i=i: (folder / "graph.json").write_text(json.dumps({"v": i})),
            stage="candidate",
            by="test",
        )
        made.append(manifest.version)
    return made


def assert_consistent(registry: ArtifactRegistry) -> str:
    """The registry's state for KIND is whole; its champion."""
    ledger = registry.ledger(KIND)  # refuses a ledger that does not verify
    on_disk = registry.version_ids(KIND)
    assert set(ledger.stages) <= set(on_disk)
    for version in on_disk:
        registry.load(KIND, version)  # manifest and files verify
    champions = [v for v, stage in ledger.stages.items() if stage == "champion"]
    assert len(champions) == 1, ledger.stages
    for version, stage in ledger.stages.items():
        last = [c for c in ledger.history if c.version == version][-1]
        assert last.stage == stage, (version, stage, last)
    return champions[0]


@pytest.mark.parametrize("kill_at", ["before", "after"])
def test_a_killed_promotion_leaves_one_champion_and_the_next_command_goes_on(
    aisle: Aisle, kill_at: str
) -> None:
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    first, second, third = _versions(registry, 3)
    registry.set_stage(KIND, first, "champion", by="test", reason="first champion")

    _killed_aisle(kill_at, "models", "promote", KIND, second, "--reason", "newer graph")

    champion = assert_consistent(registry)
    # Killed before the ledger was published: nothing changed. After: the promotion stands,
    # with who and why, although the command never reported it.
    assert champion == (first if kill_at == "before" else second)
    change = registry.ledger(KIND).history[-1]
    if kill_at == "after":
        assert (change.version, change.by, change.reason) == (second, "admin:cli", "newer graph")
        assert registry.ledger(KIND).stages[first] == "retired"
    listed = aisle("models", "list", KIND, "--json")
    assert listed.exit_code == 0, listed.output
    assert [r["version"] for r in json.loads(listed.stdout) if r["stage"] == "champion"] == [
        champion
    ]
    # The next promotion works from that state.
    promoted = aisle("models", "promote", KIND, third, "--reason", "newest graph")
    assert promoted.exit_code == 0, promoted.output
    assert assert_consistent(registry) == third


@pytest.mark.parametrize("kill_at", ["before", "after"])
def test_a_killed_rollback_leaves_one_champion_and_the_next_rollback_goes_on(
    aisle: Aisle, kill_at: str
) -> None:
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    first, second, third = _versions(registry, 3)
    for version in (first, second, third):
        registry.set_stage(KIND, version, "champion", by="test", reason="promoted")

    _killed_aisle(kill_at, "models", "rollback", KIND, "--reason", "bad graph")

    champion = assert_consistent(registry)
    assert champion == (third if kill_at == "before" else second)
    # Rolling back again restores the champion before the one now serving, exactly once each.
    again = aisle("models", "rollback", KIND, "--reason", "again")
    assert again.exit_code == 0, again.output
    assert assert_consistent(registry) == (second if kill_at == "before" else first)


def test_a_version_killed_while_it_is_saved_is_never_half_there(tmp_path: Path) -> None:
    """Killed after its folder was published but before the ledger named it: the version is
    whole and verifies, and it is a candidate (what the ledger does not name); the champion
    stays."""
    registry = ArtifactRegistry(tmp_path / "artifacts")
    (first,) = _versions(registry, 1)
    registry.set_stage(KIND, first, "champion", by="test", reason="first champion")
    child = f"""
import os, signal, sys
from pathlib import Path
from ml_core.registry import ArtifactRegistry
real_rename = Path.rename
def rename(self, target):
    moved = real_rename(self, target)
    os.kill(os.getpid(), signal.SIGKILL)
    return moved
Path.rename = rename
ArtifactRegistry(Path({str(tmp_path / "artifacts")!r})).save(
    name={KIND!r}, kind={KIND!r}, data_hash="new", by="test", stage="champion",
    write=lambda folder: (folder / "graph.json").write_text("{{}}"),
)
"""
    done = subprocess.run(
        [sys.executable, "-c", child],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert assert_consistent(registry) == first
    (added,) = set(registry.version_ids(KIND)) - {first}
    assert added not in registry.ledger(KIND).stages
