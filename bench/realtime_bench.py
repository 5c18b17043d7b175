"""Subscriptions under load (`python -m bench.realtime_bench`, part of `make bench`).

A `serve` process on its own PostgreSQL database with Redis fan-out; in a separate process,
N WebSocket subscribers (graphql-transport-ws) and one writer adding messages over HTTP at a
fixed rate. Two scenarios: N subscribers of ONE conversation (one shared execution per event),
and N subscribers of N different conversations. Reported: completeness (deliveries received /
expected), latency from the writer's request to receipt (so it includes the commit) p50/p99,
the server's CPU while delivering and its resident memory per idle connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.run import RESULTS, bench_database, server

TENANT = "bench-rt"
SUB = "subscription($c: ID) { messageAdded(conversationId: $c) { seq content conversationId } }"
ADD = (
    "mutation($c: ID!, $t: String!) { addMessage(conversationId: $c, input: {role: USER, "
    "content: $t}) { seq } }"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used, resident bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    return cpu, rss


async def _scenario(
    base: str, ws_url: str, pid: int, subscribers: int, shared: bool, rate: float, seconds: float
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base, headers={"X-Tenant-ID": TENANT}, timeout=30
    ) as http:

        async def gql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            r = await http.post("/graphql", json={"query": query, "variables": variables})
            body: dict[str, Any] = r.json()
            if "errors" in body:
                raise RuntimeError(body["errors"])
            data: dict[str, Any] = body["data"]
            return data

        n_convs = 1 if shared else subscribers
        convs = []
        for _ in range(n_convs):
            data = await gql("mutation { createConversation(input: {}) { id } }", {})
            convs.append(data["createConversation"]["id"])
        _, rss_before = _proc_stats(pid)
        received: list[list[tuple[int, float, float]]] = [[] for _ in range(subscribers)]

        async def subscriber(i: int, ready: asyncio.Event, all_ready: list[int]) -> None:
            cid = convs[0] if shared else convs[i]
            async with connect(
                ws_url,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                compression=None,
                max_queue=None,
            ) as ws:
                await ws.send(
                    orjson.dumps(
                        {"type": "connection_init", "payload": {"tenantId": TENANT}}
                    ).decode()
                )
                await ws.recv()
                await ws.send(
                    orjson.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUB, "variables": {"c": cid}},
                        }
                    ).decode()
                )
                all_ready[0] += 1
                if all_ready[0] == subscribers:
                    ready.set()
                async for raw in ws:
                    now = time.time()
                    frame = orjson.loads(raw)
                    if frame.get("type") == "ping":
                        await ws.send('{"type":"pong"}')
                        continue
                    if frame.get("type") != "next":
                        continue
                    m = frame["payload"]["data"]["messageAdded"]
                    received[i].append((m["seq"], float(m["content"]), now))

        ready = asyncio.Event()
        count = [0]
        tasks = []
        for i in range(subscribers):
            tasks.append(asyncio.create_task(subscriber(i, ready, count)))
            if i % 50 == 49:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(ready.wait(), 120)
        # wait until the server has registered every feed
        deadline = time.monotonic() + 60
        want = 1 if shared else subscribers
        while time.monotonic() < deadline:
            text = (await http.get("/metrics")).text
            prefix = "conversation_service_broadcast_local_subscribers"
            line = next(x for x in text.splitlines() if x.startswith(prefix))
            if int(line.split()[1]) >= want:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # idle: let the connections settle before measuring memory
        cpu0, rss_idle = _proc_stats(pid)
        total = int(rate * seconds)
        t_start = time.perf_counter()
        for k in range(total):
            cid = convs[0] if shared else convs[k % n_convs]
            await gql(ADD, {"c": cid, "t": repr(time.time())})
            delay = t_start + (k + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        write_wall = time.perf_counter() - t_start
        expected = total * subscribers if shared else total
        deadline = time.monotonic() + 30
        while sum(len(r) for r in received) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        cpu1, _ = _proc_stats(pid)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    got = sum(len(r) for r in received)
    in_order = all([s for s, _, _ in r] == sorted(s for s, _, _ in r) for r in received)
    duplicates = sum(len(r) - len({s for s, _, _ in r}) for r in received)
    lat = sorted((now - sent) * 1000 for r in received for _, sent, now in r)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {
        "scenario": f"{subscribers} subscribers on {'one conversation' if shared else f'{subscribers} conversations'}",
        "messages": total,
        "rate_per_s": rate,
        "deliveries_expected": expected,
        "deliveries_received": got,
        "complete": got == expected,
        "in_order": in_order,
        "duplicates": duplicates,
        "latency_p50_ms": round(pct(0.50), 1),
        "latency_p99_ms": round(pct(0.99), 1),
        "latency_max_ms": round(lat[-1], 1) if lat else None,
        "server_cpu_percent_while_writing": round(100 * (cpu1 - cpu0) / max(write_wall, 1e-9), 1),
        "server_rss_mib_idle": round(rss_idle / 2**20, 1),
        "server_kib_per_connection": round((rss_idle - rss_before) / 1024 / subscribers, 1),
    }


def _child(base: str, ws_url: str, pid: int, args: dict[str, Any], out: Any) -> None:
    out.send(asyncio.run(_scenario(base, ws_url, pid, **args)))


def run_scenario(base: str, ws_url: str, pid: int, **args: Any) -> dict[str, Any]:
    """Runs the clients in their own process, so their CPU is not the server's."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(base, ws_url, pid, args, child))
    p.start()
    result: dict[str, Any] = parent.recv()
    p.join()
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.realtime_bench")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--scenarios", default="shared,spread", help="shared (one conversation), spread (one each)"
    )
    args = parser.parse_args(argv)
    wanted = {s.strip() for s in args.scenarios.split(",")}
    rows = []
    with bench_database() as url, server(url, {"REDIS_URL": REDIS_URL}) as srv:
        ws_url = srv.base_url.replace("http://", "ws://") + "/graphql"
        for shared in (True, False):
            if ("shared" if shared else "spread") not in wanted:
                continue
            row = run_scenario(
                srv.base_url,
                ws_url,
                srv.pid,
                subscribers=args.subscribers,
                shared=shared,
                rate=args.rate,
                seconds=args.seconds,
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"\n{'scenario':<42} {'complete':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu %':>6} {'KiB/conn':>9}"
    )
    for r in rows:
        print(
            f"{r['scenario']:<42} {r['deliveries_received']:>5}/{r['deliveries_expected']:<5} "
            f"{r['latency_p50_ms']:>7} {r['latency_p99_ms']:>7} {r['server_cpu_percent_while_writing']:>6} "
            f"{r['server_kib_per_connection']:>9}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"realtime-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
