#!/usr/bin/env bash
# The test command: install if needed, lint and type-check, then the whole suite on SQLite and
# PostgreSQL, on both cores. Arguments go to pytest (e.g. -k importers -x, or -n 0 to debug).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh --dev --with-llm
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
# --durations: the slowest tests are named at the end, so the suite can be kept under 20 minutes.
.venv/bin/python -m pytest -n 2 --dist loadgroup --durations=15 "$@"
