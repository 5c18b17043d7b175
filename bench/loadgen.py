"""The load generator: runs in its own process so its CPU is not the server's event loop.

A deliberately lean HTTP/1.1 keep-alive client (pre-encoded requests, Content-Length framing):
a general-purpose client would cost more CPU per request than the server path being measured.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: list[bytes]  # cycled through by the clients
    clients: int
    duration_s: float
    warmup_s: float = 1.0


def graphql_request(body: bytes, tenant: str, path: str = "/graphql") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nX-Tenant-ID: {tenant}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    host: str,
    port: int,
    s: Scenario,
    offset: int,
    warm_until: float,
    stop_at: float,
    latencies: list[float],
    failures: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    n = len(s.requests)
    try:
        while time.perf_counter() < stop_at:
            req = s.requests[i % n]
            i += s.clients
            t0 = time.perf_counter()
            writer.write(req)
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 < warm_until:
                continue
            latencies.append(t1 - t0)
            if b" 200 " not in status or b'"errors"' in body:
                if len(failures) < 5:
                    failures.append(
                        status.decode().strip() + " " + body[:300].decode(errors="replace")
                    )
                else:
                    failures.append("")
    finally:
        writer.close()


async def _run(host: str, port: int, s: Scenario) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    warm_until = start + s.warmup_s
    stop_at = warm_until + s.duration_s
    await asyncio.gather(
        *(
            _client(host, port, s, k, warm_until, stop_at, latencies, failures)
            for k in range(s.clients)
        )
    )
    elapsed = time.perf_counter() - warm_until
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "errors": len(failures),
        "error_samples": [f for f in failures if f][:3],
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def _child(host: str, port: int, s: Scenario, out: Any) -> None:
    out.put(asyncio.run(_run(host, port, s)))


def run_in_process(host: str, port: int, s: Scenario) -> dict[str, Any]:
    """Runs one scenario in a fresh process and returns its figures."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(host, port, s, out), daemon=True)
    proc.start()
    try:
        result: dict[str, Any] = out.get(timeout=s.warmup_s + s.duration_s + 60)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return result
