#!/usr/bin/env bash
# One command from a fresh clone to a running demo on embedded defaults:
# install, seed the small generated world, import the public data, forecast, propose reorders,
# train the recommender, propose markdowns, build the search index and the knowledge graph, then
# serve on :8000 and say so once /ready does. Each step's time is printed at the end, and a step
# that runs long says every half minute that it is still going. `--with-llm` (or
# AISLE_LLM=embedded) also installs the embedded LLM, which the default local brain never calls.
set -euo pipefail
cd "$(dirname "$0")/.."

setup_args=()
for arg in "$@"; do
    case "$arg" in
        --with-llm) setup_args+=(--with-llm) ;;
        *) echo "error: unknown option '$arg'; usage: scripts/demo.sh [--with-llm]" >&2; exit 2 ;;
    esac
done

aisle=.venv/bin/aisle
shared="${AISLE_SHARED_DATA_DIR:-../shared/data}"
host="${AISLE_HOST:-127.0.0.1}"
port="${AISLE_PORT:-8000}"
heartbeat_s="${AISLE_DEMO_HEARTBEAT_S:-30}"
step_names=()
step_seconds=()
step_cpu=()
demo_started=$SECONDS
clock_ticks=$(getconf CLK_TCK 2>/dev/null || echo 100)

# CPU time in tenths of a second (user + system, from /proc; 0 where there is none): with no
# argument, of this shell's finished children; with a pid, of that running process. Beside the
# wall-clock time it tells a step that waited for a busy machine from one that worked.
cpu_tenths() {
    local stat fields
    { stat=$(< "/proc/${1:-$$}/stat"); } 2>/dev/null || { echo 0; return; }
    read -ra fields <<< "${stat##*) }"  # from field 3 (state) on: field N is fields[N-3]
    if [ -n "${1:-}" ]; then
        echo $(( (fields[11] + fields[12]) * 10 / clock_ticks ))  # utime + stime
    else
        echo $(( (fields[13] + fields[14]) * 10 / clock_ticks ))  # cutime + cstime
    fi
}

summary() {
    local i total_cpu=0
    echo
    echo "demo: time by step (wall clock, and the CPU time its processes used)"
    for i in "${!step_names[@]}"; do
        printf '  %-36s %5d s %6d.%d CPU s\n' "${step_names[$i]}" "${step_seconds[$i]}" \
            $((step_cpu[i] / 10)) $((step_cpu[i] % 10))
        total_cpu=$((total_cpu + step_cpu[i]))
    done
    printf '  %-36s %5d s %6d.%d CPU s   (load average now: %s)\n' "total" \
        "$((SECONDS - demo_started))" $((total_cpu / 10)) $((total_cpu % 10)) \
        "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
}

# step NAME COMMAND...: run it, say every heartbeat_s seconds that it is still running, and
# record its time. A failing step prints the times so far and ends the demo with its status.
# STEP_CPU_OF=PID adds that process's CPU time (the server, which runs on after its step).
step() {
    local name=$1 started=$SECONDS cpu_before beat status=0
    shift
    cpu_before=$(cpu_tenths)
    echo "==> $name"
    (
        while sleep "$heartbeat_s"; do
            echo "    ... still at '$name': $((SECONDS - started)) s"
        done
    ) &
    beat=$!
    "$@" || status=$?
    kill "$beat" 2>/dev/null || true
    wait "$beat" 2>/dev/null || true
    step_names+=("$name")
    step_seconds+=("$((SECONDS - started))")
    step_cpu+=("$(( $(cpu_tenths) - cpu_before + ${STEP_CPU_OF:+$(cpu_tenths "$STEP_CPU_OF")}+0 ))")
    if [ "$status" != 0 ]; then
        summary
        echo "demo: '$name' failed (exit $status)." >&2
        exit "$status"
    fi
}

# Polls /ready until it answers 200 while the server lives; gives up after ten minutes, quoting
# what /ready still misses.
wait_until_ready() {
    .venv/bin/python - "$1" "http://$host:$port/ready" <<'EOF'
import json, os, sys, time, urllib.error, urllib.request

server, url = int(sys.argv[1]), sys.argv[2]
deadline, missing = time.monotonic() + 600, "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(server, 0)
    except ProcessLookupError:
        sys.exit("the server exited before it was ready; its output is above.")
    try:
        with urllib.request.urlopen(url, timeout=5):
            sys.exit(0)
    except urllib.error.HTTPError as not_ready:  # 503 while it loads
        checks = json.loads(not_ready.read()).get("checks", {})
        missing = "; ".join(c["detail"] for c in checks.values() if not c["ok"])
    except OSError:
        pass  # not listening yet
    time.sleep(0.5)
sys.exit(f"the server was not ready after ten minutes: {missing}")
EOF
}

step "install (scripts/setup.sh)" ./scripts/setup.sh "${setup_args[@]}"
step "database schema" $aisle db upgrade
step "seed the generated world" $aisle data seed --scale "${AISLE_DEMO_SCALE:-small}"
if [ -d "$shared" ]; then
    step "import tau2-bench retail" $aisle data import tau2 "$shared/tau2_retail"
    step "import DummyJSON products" $aisle data import dummyjson "$shared/dummyjson/products.json"
    step "import Walmart weekly sales" \
        $aisle data import walmart "$shared/walmart/walmart_sales_weekly.csv"
fi
step "row counts" $aisle data stats
# Demo users and their API keys (derived from the dev secret: the README lists them).
step "demo users" $aisle users seed-demo
# Train and plan on the generated world: a forecast per SKU and location (and every aggregate up
# to the chain, reconciled), the recommender; then the replenishment and pricing agents propose
# reorders and markdowns and wait for a planner and a pricing manager to decide.
step "forecast (global model, 28 days)" $aisle forecast run --model global --horizon 28 --reconcile ols
step "train the recommender" $aisle recommend train
step "replenishment proposals" $aisle replenish run
step "markdown proposals" $aisle pricing run
# The indexes the shopper's questions and the associate's substitutes stand on.
step "search index (aisle rag ingest)" $aisle rag ingest
step "knowledge graph" $aisle kg build

# The server runs in the background so that the demo can say when it is ready; Ctrl-C (or a
# TERM) stops it and the demo with it, and so does a server that never gets ready.
# Another server already on the port would answer /ready for this one.
if ! .venv/bin/python -c 'import socket, sys; socket.create_server((sys.argv[1], int(sys.argv[2]))).close()' \
    "$host" "$port" 2>/dev/null; then
    summary
    echo "error: $host:$port is in use; stop what listens there or set AISLE_PORT." >&2
    exit 2
fi
$aisle serve --host "$host" --port "$port" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null && wait "$server"' EXIT
trap 'exit 130' INT TERM
STEP_CPU_OF=$server step "start the server (until /ready)" wait_until_ready "$server"
summary
echo "demo: serving on http://$host:$port (ready $((SECONDS - demo_started)) s after the start); Ctrl-C stops it."
wait "$server"
