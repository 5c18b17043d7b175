"""`make bench` (`python -m bench.run [--only graphql] [--duration 5] [--repeats 3]`).

Creates its own PostgreSQL database, migrates it and starts `conversation-service serve` on a free
port against it, runs each section's scenarios with a load generator in a separate process, and
reports requests/s and p50/p95/p99 latency as medians over repeated runs (a table on stdout, JSON in
bench/results/). The database is dropped at the end. Sections are plain functions registered in
SECTIONS, so later work adds its own (REST, subscriptions...) without touching the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.loadgen import Scenario, run_in_process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_RATE_LIMIT = "1000000/second"
ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Server:
    base_url: str
    host: str
    port: int
    database_url: str
    pid: int


@dataclass
class Target:
    """What a scenario is compared with (performance.md and the issue)."""

    rps: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


@dataclass
class Planned:
    scenario: Scenario
    target: Target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def bench_database() -> Iterator[str]:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cli() -> list[str]:
    return [sys.executable, "-m", "conversation_service"]


@contextmanager
def server(database_url: str, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    # The load is one tenant at thousands of requests a second: far above the default RATE_LIMIT,
    # which the benchmark raises explicitly (it measures the service, not the refusals).
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_MODE": "none",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT": BENCH_RATE_LIMIT,
    }
    for key in ("REDIS_URL", "BROADCAST_URL"):
        env.pop(key, None)
    env.update(extra_env or {})
    subprocess.run([*_cli(), "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*_cli(), "serve", "--port", str(port)], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become healthy within 30 s")
            time.sleep(0.1)
        yield Server(base, "127.0.0.1", port, database_url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- the GraphQL section (issue 2) -------------------------------------------------------

TENANT = "bench"
NESTED = (
    "{ conversations(first: 20) { nodes { messages(first: 20) { nodes { seq role content } } } } }"
)
ADD = (
    "mutation($c: ID!, $i: AddMessageInput!) { addMessage(conversationId: $c, input: $i) "
    "{ id seq } }"
)
LAST50 = "query($c: ID!) { messages(conversationId: $c, last: 50) { nodes { seq role content } } }"


async def _seed(base: str, conversations: int, messages: int) -> list[str]:
    """Seeds through the API (createConversation with initialMessages), 10 requests in flight."""
    sem = asyncio.Semaphore(10)
    headers = {"X-Tenant-ID": TENANT}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def gql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            async with sem:
                r = await client.post("/graphql", json={"query": query, "variables": variables})
            body: dict[str, Any] = r.json()
            if "errors" in body:
                raise SystemExit(f"seeding failed: {body['errors']}")
            return body

        async def one(i: int) -> str:
            initial = [
                {"role": "USER" if k % 2 == 0 else "ASSISTANT", "content": f"message {k} " * 8}
                for k in range(messages)
            ]
            body = await gql(
                "mutation($t: String, $m: [AddMessageInput!]) { createConversation("
                'input: {title: $t, userId: "u", initialMessages: $m}) { id lastSeq } }',
                {"t": f"bench {i}", "m": initial},
            )
            cid: str = body["data"]["createConversation"]["id"]
            return cid

        return list(await asyncio.gather(*(one(i) for i in range(conversations))))


def _body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def graphql_section(srv: Server, duration: float) -> list[Planned]:
    from bench.loadgen import graphql_request

    t0 = time.perf_counter()
    ids = asyncio.run(_seed(srv.base_url, 100, 20))
    print(f"seeded 100 conversations x 20 messages in {time.perf_counter() - t0:.1f} s")
    nested = [graphql_request(_body(NESTED), TENANT)]
    adds = [
        graphql_request(
            _body(ADD, {"c": cid, "i": {"role": "USER", "content": "a benchmark message"}}), TENANT
        )
        for cid in ids
    ]
    last50 = [graphql_request(_body(LAST50, {"c": cid}), TENANT) for cid in ids]
    return [
        Planned(
            Scenario("graphql.nested_read_20x20", nested, 10, duration),
            Target(rps=265, p95_ms=100, note="PostGraphile v5 ~265 req/s; issue: p95 < 100 ms"),
        ),
        Planned(
            Scenario("graphql.add_message", adds, 10, duration),
            Target(
                rps=1500,
                p95_ms=50,
                p99_ms=20,
                note="PG v5 ~1,500 req/s p99 ~20 ms; issue: p95 < 50 ms",
            ),
        ),
        Planned(
            Scenario("graphql.last_50_messages", last50, 16, duration),
            Target(rps=545, note="PostGraphile v5 ~545 req/s (16 clients)"),
        ),
    ]


SECTIONS: dict[str, Callable[[Server, float], list[Planned]]] = {"graphql": graphql_section}
#: Sections with their own harness (own database, processes and report), run as modules.
MODULES: dict[str, str] = {
    "realtime": "bench.realtime_bench",
    "worker": "bench.worker_bench",
    "context": "bench.context_bench",
    "cost-growth": "bench.cost_growth_bench",
    "peer": "bench.peer_bench",
    "retention": "bench.retention_bench",
    "auth": "bench.auth_bench",
}


# ---- harness -----------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument(
        "--only", help=f"comma-separated sections of: {', '.join([*SECTIONS, *MODULES])}"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else [*SECTIONS, *MODULES]
    unknown = [c for c in chosen if c not in SECTIONS and c not in MODULES]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    status = 0
    if any(c in SECTIONS for c in chosen):
        status = _http_sections([c for c in chosen if c in SECTIONS], args)
    for section in (c for c in chosen if c in MODULES):
        print(f"\n== {section} ({MODULES[section]})", flush=True)
        status |= subprocess.run([sys.executable, "-m", MODULES[section]], cwd=ROOT).returncode
    return 1 if status else 0


def _http_sections(chosen: list[str], args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    with bench_database() as url, server(url) as srv:
        for section in chosen:
            for planned in SECTIONS[section](srv, args.duration):
                s = planned.scenario
                runs = [run_in_process(srv.host, srv.port, s) for _ in range(args.repeats)]
                row = {
                    "scenario": s.name,
                    "clients": s.clients,
                    "duration_s": s.duration_s,
                    "repeats": args.repeats,
                    "rps": _median(runs, "rps"),
                    "p50_ms": _median(runs, "p50_ms"),
                    "p95_ms": _median(runs, "p95_ms"),
                    "p99_ms": _median(runs, "p99_ms"),
                    "errors": sum(r["errors"] for r in runs),
                    "error_samples": [e for r in runs for e in r["error_samples"]][:3],
                    "runs": [{k: v for k, v in r.items() if k != "error_samples"} for r in runs],
                    "target": vars(planned.target),
                }
                rows.append(row)
                print(
                    f"  {s.name}: {row['rps']:.0f} req/s p95 {row['p95_ms']:.1f} ms "
                    f"({row['errors']} errors)",
                    flush=True,
                )
    _print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"python": sys.version, "results": rows}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 1 if any(r["errors"] for r in rows) else 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'scenario':<28} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}  target"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(
            f"{r['scenario']:<28} {r['clients']:>7} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>6}  {r['target']['note']}"
        )
    for r in rows:
        for e in r["error_samples"]:
            print(f"  error sample ({r['scenario']}): {e}")


if __name__ == "__main__":
    raise SystemExit(main())
