"""The production topology from processes on this machine: two `serve` replicas, two `worker`s,
one PostgreSQL, one Redis (as in compose.yaml). A subscriber on server A receives, in order, what
server B and a worker wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.worker.streams import main_stream
from tests.conftest import _unavailable as unavailable
from tests.realtime.conftest import TRANSPORT_WS, WSClient, free_port, wait_ready

pytestmark = pytest.mark.slow

SUBSCRIPTION = (
    "subscription($c: ID) { messageAdded(conversationId: $c) { seq content conversationId } }"
)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "conversation_service", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
async def topology(
    database_urls: dict[str, Any], redis_url: str
) -> AsyncIterator[tuple[list[int], str]]:
    pg = database_urls["postgresql"]
    if isinstance(pg, BaseException):
        unavailable("PostgreSQL", pg)
    setup = await build_container(Settings(auth_mode="none", database_url=pg))
    await upgrade(setup.db.engine)
    await setup.close()
    nooble_env = f"topo{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "AUTH_MODE": "none",
        "REDIS_URL": redis_url,
        "NOOBLE_ENV": nooble_env,
        "LOG_LEVEL": "WARNING",
        "WORKER_BLOCK_MS": "200",
    }
    ports = [free_port(), free_port()]
    procs = [_spawn(["serve", "--port", str(p)], env) for p in ports]
    procs += [_spawn(["worker"], env) for _ in range(2)]
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for port in ports:
                await wait_ready(http, port, 40)
        yield ports, nooble_env
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)


async def test_subscriber_on_a_sees_writes_of_b_and_of_the_workers(
    topology: tuple[list[int], str], redis_url: str, tenant: str
) -> None:
    (port_a, port_b), nooble_env = topology
    headers = {"X-Tenant-ID": tenant}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:

        async def gql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            res = await http.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}
            )
            body: dict[str, Any] = res.json()
            assert "errors" not in body, body
            data: dict[str, Any] = body["data"]
            return data

        created = await gql(port_b, "mutation { createConversation(input: {}) { id } }", {})
        cid = created["createConversation"]["id"]
        client = await WSClient.connect(f"ws://127.0.0.1:{port_a}/graphql", TRANSPORT_WS, tenant)
        op = await client.subscribe(SUBSCRIPTION, {"c": cid})
        async with asyncio.timeout(10):  # subscribed once A's metrics show the feed
            while (
                "broadcast_local_subscribers 1"
                not in (await http.get(f"http://127.0.0.1:{port_a}/metrics")).text
            ):
                await asyncio.sleep(0.02)
        add = (
            "mutation($c: ID!, $t: String!) "
            "{ addMessage(conversationId: $c, input: {role: USER, content: $t}) { seq } }"
        )
        await gql(port_b, add, {"c": cid, "t": "from-server-b"})
        rds = aioredis.from_url(redis_url)
        try:
            action = {
                "action_id": str(uuid.uuid4()),
                "action_type": "conversation.add_message",
                "timestamp": datetime.now(UTC).isoformat(),
                "tenant_id": tenant,
                "session_id": "s-1",
                "task_id": str(uuid.uuid4()),
                "agent_id": "a-1",
                "origin_service": "agent_execution_service",
                "data": {"conversation_id": cid, "role": "assistant", "content": "from-worker"},
            }
            await rds.xadd(main_stream(nooble_env), {"data": orjson.dumps(action)})
        finally:
            await rds.aclose()
        got = [(await client.next_data(op, timeout=20))["data"]["messageAdded"] for _ in range(2)]
        await client.close()
    assert [(m["seq"], m["content"]) for m in got] == [(1, "from-server-b"), (2, "from-worker")]
    assert {m["conversationId"] for m in got} == {cid}
