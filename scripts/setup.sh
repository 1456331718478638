#!/usr/bin/env bash
# Create .venv and install Aisle with its pinned dependency set. Safe to re-run: it reinstalls
# only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "error: Aisle needs Python 3.11; set PYTHON=/path/to/python3.11." >&2
    exit 2
fi

stamp=.venv/.aisle-installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25"
# torch first, from the CPU wheel: left to the resolver it would fetch a multi-GB CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
echo "$want" > "$stamp"
