"""What pub/sub alone cannot promise: lost publishes, Redis restarts, slow clients, two instances."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from conversation_service.adapters.redis_broadcast import RedisBroadcast
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.events import NullPublisher
from conversation_service.domain.messages import add_message
from conversation_service.migrate import upgrade
from tests.realtime.conftest import (
    TRANSPORT_WS,
    LiveServer,
    WSClient,
    free_port,
    start_server,
    wait_ready,
)
from tests.realtime.test_subscriptions import MESSAGE_ADDED, collect, subscribed, wait_for


async def test_lost_publish_is_filled_from_the_database(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    db = live.container.db
    cid = (await db.run(tenant, create_conversation, NewConversation()))[0].id
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
    await subscribed(live)
    silent = db.with_publisher(NullPublisher())  # commits whose publish is lost
    for i in range(3):
        await silent.run(
            tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=f"lost-{i}")
        )
    await db.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content="seen"))
    got = await collect(client, op, 4)
    assert [m["seq"] for m in got] == [1, 2, 3, 4]
    assert got[-1]["content"] == "seen"
    await client.close()


class RedisProcess:
    """A redis-server of the test's own on a spare port, to stop and start at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for this test")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        await client.ping()
                        return
                    except Exception:
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisProcess]:
    redis = RedisProcess(free_port())
    await redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_redis_restart_mid_stream_loses_nothing(
    pg_url: str, tenant: str, own_redis: RedisProcess
) -> None:
    reader = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_redis.url)
    )
    writer = await build_container(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_redis.url)
    )
    try:
        cid = (await writer.db.run(tenant, create_conversation, NewConversation()))[0].id
        groups = await WSClient.connect(reader.ws_url, TRANSPORT_WS, tenant)
        shared = await groups.subscribe(MESSAGE_ADDED, {"c": cid})
        tenant_wide = await groups.subscribe(MESSAGE_ADDED, {})
        await subscribed(reader, 2)

        async def write(n: int, prefix: str) -> None:
            for i in range(n):
                await writer.db.run(
                    tenant,
                    add_message,
                    cid,
                    NewMessage(role=MessageRole.USER, content=f"{prefix}{i}"),
                )

        await write(5, "a")
        assert [m["seq"] for m in await collect(groups, shared, 5)] == [1, 2, 3, 4, 5]
        # Redis goes away: the writer's publishes fail, the reader's listener drops.
        broadcast = reader.container.broadcast
        assert isinstance(broadcast, RedisBroadcast)
        generation = broadcast.generation
        own_redis.stop()
        await wait_for(lambda: not broadcast.connected.is_set(), timeout=15)
        await write(5, "b")
        await own_redis.start()
        await wait_for(lambda: broadcast.generation > generation, timeout=15)
        await write(5, "c")
        got = await collect(groups, shared, 10)
        assert [m["seq"] for m in got] == list(range(6, 16))
        everything = await collect(groups, tenant_wide, 15)
        assert [m["seq"] for m in everything] == list(range(1, 16))
        await groups.close()
    finally:
        await reader.stop()
        await reader.container.close()
        await writer.close()


async def test_redis_restart_is_detected_without_traffic(
    pg_url: str, tenant: str, own_redis: RedisProcess
) -> None:
    """Messages committed while Redis was down arrive after it returns, with no later message."""
    reader = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_redis.url)
    )
    try:
        cid = (await reader.container.db.run(tenant, create_conversation, NewConversation()))[0].id
        client = await WSClient.connect(reader.ws_url, TRANSPORT_WS, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await subscribed(reader)
        silent = reader.container.db.with_publisher(NullPublisher())
        broadcast = reader.container.broadcast
        assert isinstance(broadcast, RedisBroadcast)
        own_redis.stop()
        await wait_for(lambda: not broadcast.connected.is_set(), timeout=15)
        for i in range(3):
            await silent.run(
                tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=f"x{i}")
            )
        await own_redis.start()
        got = await collect(client, op, 3)
        assert [m["seq"] for m in got] == [1, 2, 3]
        await client.close()
    finally:
        await reader.stop()
        await reader.container.close()


async def test_slow_subscriber_is_bounded_and_gets_everything(
    pg_url: str, redis_url: str, tenant: str
) -> None:
    srv = await start_server(
        Settings(
            auth_mode="none", database_url=pg_url, broadcast_url=redis_url, subscriber_buffer=16
        )
    )
    try:
        cid = (await srv.container.db.run(tenant, create_conversation, NewConversation()))[0].id
        fast = await WSClient.connect(srv.ws_url, TRANSPORT_WS, tenant)
        fast_op = await fast.subscribe(MESSAGE_ADDED, {"c": cid})
        # The slow client: the library stops reading the socket after 2 buffered frames.
        import socket as pysocket

        sock = pysocket.socket()
        sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        slow = await connect(
            srv.ws_url,
            sock=sock,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=2,
            compression=None,
        )
        await slow.send(
            orjson.dumps({"type": "connection_init", "payload": {"tenantId": tenant}}).decode()
        )
        assert orjson.loads(await slow.recv())["type"] == "connection_ack"
        await slow.send(
            orjson.dumps(
                {
                    "id": "s",
                    "type": "subscribe",
                    "payload": {"query": MESSAGE_ADDED, "variables": {"c": cid}},
                }
            ).decode()
        )
        subs = srv.app.state.subscriptions
        await wait_for(lambda: subs.stats()["ws_operations"] == 2)
        await subscribed(srv)
        body = "x" * 60_000
        n = 300
        peak = 0
        for i in range(n):
            await srv.container.db.run(
                tenant,
                add_message,
                cid,
                NewMessage(role=MessageRole.USER, content=f"{i}:{body}"),
            )
            peak = max(peak, max(c.outbox._data for c in subs.connections))
        assert peak <= 16  # never more than the bound queued for a connection
        got_fast = await collect(fast, fast_op, n, timeout=60)
        assert [m["seq"] for m in got_fast] == list(range(1, n + 1))
        assert subs.stats()["solo_subscriptions"] >= 1  # the slow one left the shared group
        seqs: list[int] = []
        async with asyncio.timeout(60):
            while len(seqs) < n:
                frame = orjson.loads(await slow.recv())
                if frame.get("type") == "next":
                    seqs.append(frame["payload"]["data"]["messageAdded"]["seq"])
        assert seqs == list(range(1, n + 1))
        await slow.close()
        await fast.close()
    finally:
        await srv.stop()
        await srv.container.close()


def _serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "conversation_service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_two_instances_share_subscribers(pg_url: str, redis_url: str, tenant: str) -> None:
    setup = await build_container(Settings(auth_mode="none", database_url=pg_url))
    await upgrade(setup.db.engine)
    await setup.close()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "AUTH_MODE": "none",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    procs = [_serve(p, env) for p in ports]
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for p in ports:
                async with asyncio.timeout(30):
                    while True:
                        with contextlib.suppress(httpx.HTTPError):
                            if (await http.get(f"http://127.0.0.1:{p}/readyz")).status_code == 200:
                                break
                        await asyncio.sleep(0.1)

            async def gql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
                r = await http.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": query, "variables": variables},
                    headers={"X-Tenant-ID": tenant},
                )
                body: dict[str, Any] = r.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            cid = (await gql(ports[0], "mutation { createConversation(input: {}) { id } }", {}))[
                "createConversation"
            ]["id"]
            client = await WSClient.connect(
                f"ws://127.0.0.1:{ports[0]}/graphql", TRANSPORT_WS, tenant
            )
            op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
            async with asyncio.timeout(10):  # subscribed once the metrics show the feed
                while (
                    "broadcast_local_subscribers 1"
                    not in (await http.get(f"http://127.0.0.1:{ports[0]}/metrics")).text
                ):
                    await asyncio.sleep(0.02)
            add = "mutation($c: ID!, $t: String!) { addMessage(conversationId: $c, input: {role: USER, content: $t}) { seq } }"
            for i in range(10):
                await gql(ports[1], add, {"c": cid, "t": f"from-b-{i}"})
            got = await collect(client, op, 10)
            assert [m["seq"] for m in got] == list(range(1, 11))
            assert got[0]["content"] == "from-b-0"
            await client.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


async def test_sigterm_completes_subscriptions(pg_url: str, redis_url: str, tenant: str) -> None:
    """A real `serve` process told to stop (SIGTERM) completes its subscriptions first."""
    setup = await build_container(Settings(auth_mode="none", database_url=pg_url))
    await upgrade(setup.db.engine)
    cid = (await setup.db.run(tenant, create_conversation, NewConversation()))[0].id
    await setup.close()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "AUTH_MODE": "none",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    proc = _serve(port, env)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_ready(http, port)
        clients = [
            await WSClient.connect(f"ws://127.0.0.1:{port}/graphql", p, tenant)
            for p in (TRANSPORT_WS, "graphql-ws")
        ]
        ops = [await c.subscribe(MESSAGE_ADDED, {"c": cid}) for c in clients]
        async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(10):
            while (
                "conversation_service_ws_operations 2"
                not in (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            ):
                await asyncio.sleep(0.05)
        proc.terminate()
        for c, op in zip(clients, ops, strict=True):
            assert (await c.next_frame(op, timeout=15))["type"] == "complete"
            await asyncio.wait_for(c.closed.wait(), 15)
            assert c.ws.close_code == 1001
            await c.close()
        # uvicorn re-raises the signal it handled once it has shut down cleanly
        assert await asyncio.to_thread(proc.wait, 20) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
