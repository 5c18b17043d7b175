"""Garbage collection under large request bodies.

Regression: with the young-generation threshold raised for throughput (`tune_gc`), the garbage
of large requests (a 400 KB message is few tracked objects but megabytes of strings held by
cycles) waited for a collection that object counts did not trigger: 1,200 writes of 400 KB
took the server from 95 to 574 MB and kept it there. `CollectAfterLargeBodies` collects after
every `GC_BODY_BUDGET_BYTES` of bodies.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conversation_service.runtime import CollectAfterLargeBodies
from tests.test_cli import clean_env, free_port, wait_until_healthy


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def _echo_length(scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def test_collects_old_garbage_once_bodies_pass_the_budget() -> None:
    app = CollectAfterLargeBodies(_echo_length, budget=1_000_000)
    cycle = _Cycle()
    gc.collect()  # the cycle survives into the oldest generation, as a request's garbage can
    ref = weakref.ref(cycle)
    del cycle
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(3):
            assert (await client.post("/", content=b"x" * 200_000)).text == "200000"
        assert ref() is not None  # 600 KB: under the budget, nothing collected yet
        assert app.collections == 0
        for _ in range(3):
            await client.post("/", content=b"x" * 200_000)
    assert app.collections == 1
    assert ref() is None
    assert app.pending < app.budget


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
async def test_burst_of_large_writes_does_not_hold_memory(tmp_path: Path) -> None:
    """A real `serve` process: 300 writes of 400 KB (120 MB of bodies) must not stay resident.
    Before the fix the server grew by ~0.4 MB per write (120 MB here); now by ~the budget."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conversation_service", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_until_healthy, proc, f"{base}/healthz")
        async with httpx.AsyncClient(
            base_url=base, headers={"X-Tenant-ID": "gc-test"}, timeout=60
        ) as client:

            async def gql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                body: dict[str, Any] = (
                    await client.post("/graphql", json={"query": query, "variables": variables})
                ).json()
                assert "errors" not in body, str(body)[:500]
                return body

            created = await gql("mutation { createConversation(input: {}) { id } }", {})
            cid = created["data"]["createConversation"]["id"]
            add = """mutation($c: ID!, $i: AddMessageInput!) {
                       addMessage(conversationId: $c, input: $i) { seq } }"""
            small = {"role": "USER", "content": "warm up", "tokenCount": 1}
            for _ in range(20):
                await gql(add, {"c": cid, "i": small})
            before = _rss_mb(proc.pid)
            big = {"role": "USER", "content": "\U0001f600" * 100_000, "tokenCount": 1}

            async def writer(n: int) -> None:
                for _ in range(n):
                    await gql(add, {"c": cid, "i": big})

            await asyncio.gather(*(writer(75) for _ in range(4)))
            grown = _rss_mb(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(15)
    assert grown < 60, f"RSS grew by {grown:.0f} MB after 300 writes of 400 KB"
