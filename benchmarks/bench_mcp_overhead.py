"""Benchmark: what a tool call over MCP (Streamable HTTP on loopback) adds to the tool's own time.

Imports the tau2 retail data into a scratch SQLite store, starts the MCP app (`api.mcp_server.
http_app`, as `aisle mcp serve --transport http` serves it, with a rate limit the benchmark does
not reach) in a process of its own, and calls each tool alternately through the SDK's client
(one session, a shopper's API key), directly through `tools.base.invoke` in this process (the
baseline: same store, same arguments), and through the same MCP handlers over the SDK's memory
transport in this process (MCP without HTTP). Every path audits each call.

    .venv/bin/python benchmarks/bench_mcp_overhead.py --calls 300 --runs 3

Prints, per tool and run, the direct and the MCP p50/p95, and the overhead: MCP minus direct at
p50 and at p95 (goal: p95 at most 20 ms above the tool's own), then the medians over the runs
and a JSON summary, with the load average at the start and end of each run.

Wall time on a shared box measures the queue for its cores as much as the work, so each path's
CPU time per call is measured too (`time.process_time`): the direct call's and the in-process
MCP call's in this process, an MCP call's as this process's (the client) plus the server's,
which it reports at `/bench/cpu` before and after the calls (the server does nothing else).
The CPU overhead, MCP minus direct, is the work MCP adds whatever the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from rich.console import Console

from benchmarks.worlds import REPO, free_port, machine, percentiles

SHOPPER = "shopper:olivia_ito_3591"
TOOLS: dict[str, dict[str, Any]] = {
    "product_details": {"product_id": "9523456873"},
    "search_products": {"categories": ["T-Shirt"], "max_price": 60},
    "order_details": {"order_id": "#W5442520"},
}
GOAL_P95_MS = 20.0


def serve(database_url: str, var_dir: str, port: int) -> None:
    """The server process: the MCP app over the scratch store."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from api.mcp_server import http_app
    from api.ratelimit import LocalRateLimiter, RateLimit
    from retail.settings import Settings
    from retail.store.open import open_store
    from tools.base import Services

    settings = Settings(database_url=database_url, var_dir=Path(var_dir), environment="test")
    services = Services(open_store(settings), settings)
    limiter = LocalRateLimiter(RateLimit(burst=10**6, per_second=1e6))
    app = http_app(services, limiter)

    async def cpu(request: Request) -> JSONResponse:
        return JSONResponse({"cpu_s": time.process_time()})

    app.add_route("/bench/cpu", cpu, methods=["GET"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _cpu_ms(seconds: float, calls: int) -> float:
    return round(seconds * 1000 / calls, 3)


async def measure(url: str, key: str, ctx: Any, calls: int) -> dict[str, dict[str, Any]]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from api.mcp_server import AisleMcp
    from tools.base import invoke

    results: dict[str, dict[str, Any]] = {}
    cpu_url = url.removesuffix("/mcp") + "/bench/cpu"
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
        # The same handlers over the SDK's memory transport: what MCP costs without HTTP.
        Client(AisleMcp(ctx.services, principal=ctx.principal).server()) as local,
    ):
        for name, arguments in TOOLS.items():
            for _ in range(10):  # warm every path: connections, caches, SQLite's plans
                assert invoke(ctx, name, arguments).ok
                assert not (await client.call_tool(name, arguments)).is_error
                assert not (await local.call_tool(name, arguments)).is_error
            direct: list[float] = []
            over_mcp: list[float] = []
            in_process: list[float] = []
            cpu = {"direct": 0.0, "client": 0.0, "in_process": 0.0}
            server_before = (await http.get(cpu_url)).json()["cpu_s"]
            for _ in range(calls):
                started, cpu_started = time.perf_counter(), time.process_time()
                outcome = invoke(ctx, name, arguments)
                direct.append((time.perf_counter() - started) * 1000)
                cpu["direct"] += time.process_time() - cpu_started
                assert outcome.ok
                started, cpu_started = time.perf_counter(), time.process_time()
                result = await client.call_tool(name, arguments)
                over_mcp.append((time.perf_counter() - started) * 1000)
                cpu["client"] += time.process_time() - cpu_started
                assert not result.is_error
                started, cpu_started = time.perf_counter(), time.process_time()
                result = await local.call_tool(name, arguments)
                in_process.append((time.perf_counter() - started) * 1000)
                cpu["in_process"] += time.process_time() - cpu_started
                assert not result.is_error
            server = (await http.get(cpu_url)).json()["cpu_s"] - server_before
            d, m = percentiles(direct), percentiles(over_mcp)
            mcp_cpu = _cpu_ms(cpu["client"] + server, calls)
            results[name] = {
                "direct": d,
                "mcp": m,
                "mcp_in_process": percentiles(in_process),
                "overhead_p50_ms": round(float(m["p50_ms"]) - float(d["p50_ms"]), 2),
                "overhead_p95_ms": round(float(m["p95_ms"]) - float(d["p95_ms"]), 2),
                "cpu_ms_per_call": {
                    "direct": _cpu_ms(cpu["direct"], calls),
                    "mcp_client": _cpu_ms(cpu["client"], calls),
                    "mcp_server": _cpu_ms(server, calls),
                    "mcp": mcp_cpu,
                    "mcp_in_process": _cpu_ms(cpu["in_process"], calls),
                },
                "cpu_overhead_ms": round(mcp_cpu - _cpu_ms(cpu["direct"], calls), 3),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="Calls per tool, per path, per run.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", nargs=3, metavar=("DATABASE_URL", "VAR_DIR", "PORT"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return

    from api.auth import issue_key
    from retail.importers.tau2 import import_tau2
    from retail.settings import Settings
    from retail.store.open import open_store
    from tools.base import Principal, Services, ToolContext

    console = Console(stderr=True)
    runs: list[dict[str, dict[str, Any]]] = []
    loads: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="aisle-bench-mcp-") as folder:
        root = Path(folder)
        settings = Settings(
            database_url=f"sqlite:///{root / 'aisle.db'}", var_dir=root / "var", environment="test"
        )
        engine = open_store(settings)
        import_tau2(engine, REPO.parent / "shared" / "data" / "tau2_retail")
        principal = Principal.parse(SHOPPER)
        key = issue_key(engine, principal, label="bench")
        services = Services(engine, settings)
        ctx = ToolContext(principal=principal, services=services, agent_name="bench-direct")
        port = free_port()
        log = root / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", settings.resolved_database_url]
                + [str(settings.var_dir), str(port)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            deadline = time.monotonic() + 120
            while True:  # up once it refuses a request without a key
                assert server.poll() is None, log.read_text()
                try:
                    if httpx.post(url, json={}, timeout=5).status_code == 401:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the MCP server did not start"
                time.sleep(0.25)
            for run in range(args.runs):
                load_before = os.getloadavg()[0]
                result = anyio.run(measure, url, key, ctx, args.calls)
                loads.append((round(load_before, 2), round(os.getloadavg()[0], 2)))
                runs.append(result)
                console.print(f"run {run + 1}: load average {loads[-1][0]} -> {loads[-1][1]}")
                for name, r in result.items():
                    c = r["cpu_ms_per_call"]
                    console.print(
                        f"run {run + 1} {name:16} direct p50 {r['direct']['p50_ms']:6.2f} "
                        f"p95 {r['direct']['p95_ms']:6.2f} | mcp p50 {r['mcp']['p50_ms']:6.2f} "
                        f"p95 {r['mcp']['p95_ms']:6.2f} | in-process p50 "
                        f"{r['mcp_in_process']['p50_ms']:6.2f} | overhead p50 "
                        f"{r['overhead_p50_ms']:5.2f} p95 {r['overhead_p95_ms']:5.2f} ms | "
                        f"cpu/call direct {c['direct']:.2f} mcp {c['mcp']:.2f} "
                        f"(client {c['mcp_client']:.2f} + server {c['mcp_server']:.2f}) "
                        f"in-process {c['mcp_in_process']:.2f}"
                        f" ms, cpu overhead {r['cpu_overhead_ms']:.2f} ms"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
            services.close()
            engine.dispose()
    summary = {
        name: {
            f"median_{field}": round(statistics.median(float(r[name][field]) for r in runs), 2)
            for field in ("overhead_p50_ms", "overhead_p95_ms")
        }
        | {
            "median_direct_p95_ms": round(
                statistics.median(float(r[name]["direct"]["p95_ms"]) for r in runs), 2
            ),
            "median_mcp_p95_ms": round(
                statistics.median(float(r[name]["mcp"]["p95_ms"]) for r in runs), 2
            ),
            "median_direct_cpu_ms": round(
                statistics.median(float(r[name]["cpu_ms_per_call"]["direct"]) for r in runs), 3
            ),
            "median_mcp_cpu_ms": round(
                statistics.median(float(r[name]["cpu_ms_per_call"]["mcp"]) for r in runs), 3
            ),
            "median_cpu_overhead_ms": round(
                statistics.median(float(r[name]["cpu_overhead_ms"]) for r in runs), 3
            ),
        }
        for name in TOOLS
    }
    for name, s in summary.items():
        verdict = "meets" if s["median_overhead_p95_ms"] <= GOAL_P95_MS else "misses"
        console.print(
            f"{name:16} median overhead p50 {s['median_overhead_p50_ms']:.2f} ms, "
            f"p95 {s['median_overhead_p95_ms']:.2f} ms ({verdict} the {GOAL_P95_MS:.0f} ms goal);"
            f" cpu per call direct {s['median_direct_cpu_ms']:.2f} ms, mcp "
            f"{s['median_mcp_cpu_ms']:.2f} ms, cpu overhead {s['median_cpu_overhead_ms']:.2f} ms"
        )
    json.dump(
        {
            "calls": args.calls,
            "runs": runs,
            "load_average": loads,
            "summary": summary,
            "machine": machine(),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
