"""WebSocket limits at their edges, with real clients against a real server: sockets and
subscriptions per tenant, the `Origin` allow-list, a client that never reads."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conversation_service.config import Settings
from tests.realtime.conftest import LEGACY_WS, TRANSPORT_WS, LiveServer, WSClient, start_server
from tests.realtime.test_subscriptions import MESSAGE_ADDED, new_conversation, wait_for


@pytest.fixture
async def limited(pg_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    srv = await start_server(
        Settings(
            auth_mode="none",
            database_url=pg_url,
            broadcast_url=redis_url,
            ws_max_connections_per_tenant=3,
            ws_max_subscriptions_per_tenant=3,
            ws_allowed_origins=("https://app.example",),
        )
    )
    try:
        yield srv
    finally:
        await srv.stop()
        await srv.container.close()


async def test_sockets_per_tenant(limited: LiveServer, tenant: str, protocol: str) -> None:
    subs = limited.app.state.subscriptions
    clients = [await WSClient.connect(limited.ws_url, protocol, tenant) for _ in range(3)]
    extra = await WSClient.connect(limited.ws_url, protocol, tenant, ack=False)  # one past
    if protocol == LEGACY_WS:
        error = await extra.next_frame(None)
        assert error["type"] == "connection_error"
        assert error["payload"]["message"] == "Too many connections"
    await asyncio.wait_for(extra.closed.wait(), 5)
    assert extra.ws.close_code == 4429
    assert extra.ws.close_reason == "Too many connections"
    other = await WSClient.connect(limited.ws_url, protocol, f"{tenant}-other")  # its own count
    await clients[0].close()
    await wait_for(lambda: subs.limits.connections.get(tenant) == 2)
    again = await WSClient.connect(limited.ws_url, protocol, tenant)  # a slot came back
    for c in (*clients[1:], other, again, extra):
        await c.close()
    await wait_for(lambda: subs.limits.connections == {})


async def test_subscriptions_per_tenant(limited: LiveServer, tenant: str) -> None:
    subs = limited.app.state.subscriptions
    cid = await new_conversation(limited, tenant)
    a = await WSClient.connect(limited.ws_url, TRANSPORT_WS, tenant)
    b = await WSClient.connect(limited.ws_url, LEGACY_WS, tenant)
    first = await a.subscribe(MESSAGE_ADDED, {"c": cid})
    await a.subscribe(MESSAGE_ADDED, {})
    await b.subscribe(MESSAGE_ADDED, {"c": cid})  # the third: exactly at the limit
    await wait_for(lambda: subs.limits.subscriptions.get(tenant) == 3)
    refused = await b.subscribe(MESSAGE_ADDED, {"c": cid})  # one past
    frame = await b.next_frame(refused)
    assert frame["type"] == "error"
    assert frame["payload"]["extensions"]["code"] == "RATE_LIMITED"
    # a query over the socket is not a subscription
    query = await b.subscribe("query { conversations { totalCount } }")
    assert (await b.next_data(query))["data"]["conversations"]["totalCount"] == 1
    await a.stop(first)
    await wait_for(lambda: subs.limits.subscriptions.get(tenant) == 2)
    again = await a.subscribe(MESSAGE_ADDED, {"c": cid})
    await wait_for(lambda: subs.limits.subscriptions.get(tenant) == 3)
    assert a.frames[again].empty()
    await a.close()
    await b.close()
    await wait_for(lambda: subs.limits.subscriptions == {})


async def refused_status(url: str, **headers: str) -> int | None:
    """The HTTP status of a refused upgrade, None when the upgrade was accepted."""
    try:
        async with connect(url, subprotocols=[TRANSPORT_WS], additional_headers=headers):  # type: ignore[list-item]
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_origin_allow_list(limited: LiveServer, tenant: str) -> None:
    url = limited.ws_url
    assert await refused_status(url, Origin="https://app.example") is None
    assert await refused_status(url, Origin="https://evil.example") == 403
    assert await refused_status(url, Origin="https://app.example.evil.example") == 403
    assert await refused_status(url) is None  # no Origin: not a browser
    assert await refused_status(url, Origin=f"http://127.0.0.1:{limited.port}") is None  # own
    client = await WSClient.connect(
        url, TRANSPORT_WS, tenant, headers={"Origin": "https://app.example"}
    )
    await client.close()


async def test_no_allowed_origins_refuses_every_foreign_page(live: LiveServer) -> None:
    assert await refused_status(live.ws_url, Origin="https://evil.example") == 403
    assert await refused_status(live.ws_url) is None


def _masked(payload: bytes, opcode: int = 0x1) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def never_reading_socket(port: int, tenant: str) -> socket.socket:
    """A raw WebSocket client with a tiny receive buffer that never reads after the upgrade
    (non-blocking: the server runs on this event loop)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(
        sock,
        b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
    )
    head = b""
    async with asyncio.timeout(10):
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    init = {"type": "connection_init", "payload": {"tenantId": tenant}}
    await loop.sock_sendall(sock, _masked(orjson.dumps(init)))
    return sock


async def flood(sock: socket.socket, one: bytes, n: int) -> None:
    """Send `n` copies of a frame without reading; stops when the server drops us."""
    loop = asyncio.get_running_loop()
    chunk = one * 1000
    try:
        for _ in range(n // 1000):
            async with asyncio.timeout(10):
                await loop.sock_sendall(sock, chunk)
    except (OSError, TimeoutError):
        pass


@pytest.fixture
async def small_buffers(pg_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    srv = await start_server(
        Settings(
            auth_mode="none",
            database_url=pg_url,
            broadcast_url=redis_url,
            ws_max_buffer_bytes=65_536,
        )
    )
    try:
        yield srv
    finally:
        await srv.stop()
        await srv.container.close()


async def test_unread_error_frames_close_the_socket(small_buffers: LiveServer, tenant: str) -> None:
    """Control frames a client never reads are bounded: past the budget the socket closes."""
    subs = small_buffers.app.state.subscriptions
    sock = await never_reading_socket(small_buffers.port, tenant)
    await wait_for(lambda: subs.stats()["ws_connections"] == 1)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            for c in subs.connections:
                peak = max(peak, c.outbox.control_bytes)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    bad = _masked(orjson.dumps({"id": "x", "type": "subscribe", "payload": {"query": "{"}}))
    await flood(sock, bad, 100_000)
    await wait_for(lambda: subs.stats()["ws_connections"] == 0, timeout=30)
    watcher.cancel()
    assert peak <= 65_536
    sock.close()


@pytest.mark.parametrize("kind", ["graphql", "websocket"])
async def test_unread_pongs_stay_bounded(small_buffers: LiveServer, tenant: str, kind: str) -> None:
    """100,000 pings with unread pongs: GraphQL pongs are not queued twice (the socket stays,
    nothing grows); WebSocket pongs past the transport bound drop the connection."""
    subs = small_buffers.app.state.subscriptions
    sock = await never_reading_socket(small_buffers.port, tenant)
    await wait_for(lambda: subs.stats()["ws_connections"] == 1)
    conn: Any = next(iter(subs.connections))
    if kind == "graphql":
        await flood(sock, _masked(orjson.dumps({"type": "ping", "payload": {"n": 1}})), 100_000)
        await wait_for(lambda: conn.outbox.control_bytes <= 100 and conn.acked)
        assert subs.stats()["ws_connections"] == 1
    else:
        await flood(sock, _masked(b"p" * 125, opcode=0x9), 100_000)
        await wait_for(lambda: subs.stats()["ws_connections"] == 0, timeout=30)
    sock.close()
