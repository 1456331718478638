#!/usr/bin/env bash
# The test command: install if needed, lint, then the whole suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
