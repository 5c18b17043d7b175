"""What the per-tenant rate limit costs a normal request: `python -m bench.rate_limit_bench`.

In-process on PostgreSQL (a fresh `cs_bench_<random>` database, dropped at the end): a small
query and the 20 x 20 nested read through the ASGI app, timed without a limiter, with the
in-memory limiter and with the Redis limiter (`BENCH_REDIS_URL`), interleaved in rounds so that
the machine's noise falls on all three alike. Prints microseconds per request (medians) and the
limiter's own cost per check, measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import time
import uuid

import httpx

from bench.context_bench import seed
from bench.run import bench_database
from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.web.app import create_app

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TENANT = "bench"  # the tenant bench.context_bench.seed writes
QUERIES = {
    "small query conversations(first: 5)": "{ conversations(first: 5) { nodes { id title } } }",
    "nested read 20 x 20": "{ conversations(first: 20) { nodes { messages(first: 20) "
    "{ nodes { seq role content } } } } }",
}
HIGH = "1000000/second"


async def _per_request_us(client: httpx.AsyncClient, query: str, n: int) -> float:
    body = {"query": query}
    headers = {"X-Tenant-ID": TENANT}
    t = time.perf_counter()
    for _ in range(n):
        r = await client.post("/graphql", json=body, headers=headers)
        assert r.status_code == 200, r.text
    return (time.perf_counter() - t) / n * 1e6


async def _check_us(limiter: RateLimiter, n: int) -> float:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    for _ in range(n):
        await limiter.check(tenant, "http")
    return (time.perf_counter() - t) / n * 1e6


async def main(url: str, args: argparse.Namespace) -> None:
    container = await build_container(
        Settings(auth_mode="none", database_url=url, redis_url=REDIS_URL)
    )
    try:
        await upgrade(container.db.engine)
        await seed(container.db, 20, 20, 1)
        limiters: dict[str, RateLimiter | None] = {
            "no rate limit": None,
            "memory": RateLimiter(HIGH),
            "redis": RateLimiter(HIGH, redis=container.redis, redis_url=REDIS_URL),
        }
        clients = {
            name: httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    app=create_app(container=dataclasses.replace(container, rate_limiter=lim))
                ),
                base_url="http://bench",
            )
            for name, lim in limiters.items()
        }
        results: dict[tuple[str, str], list[float]] = {}
        for query in QUERIES.values():  # warm the caches of every app
            for client in clients.values():
                await _per_request_us(client, query, 5)
        for _ in range(args.rounds):
            for qname, query in QUERIES.items():
                for name, client in clients.items():
                    us = await _per_request_us(client, query, args.requests)
                    results.setdefault((qname, name), []).append(us)
        checks: dict[str, float] = {}
        for name, lim in limiters.items():
            if lim is not None:
                checks[name] = statistics.median(
                    [await _check_us(lim, args.requests * 4) for _ in range(args.rounds)]
                )
        for client in clients.values():
            await client.aclose()
    finally:
        await container.close()
    print(f"{'request':<40} {'limiter':<14} {'us/request':>10}")
    for (qname, name), values in results.items():
        median = statistics.median(values)
        print(f"{qname:<40} {name:<14} {median:>10.0f}")
    for name, us in checks.items():
        print(f"{'one check alone':<40} {name:<14} {us:>10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100)
    with bench_database() as database_url:
        asyncio.run(main(database_url, parser.parse_args()))
