"""Subscriptions end to end: real uvicorn, Redis, WebSocket clients of both protocols."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.config import Settings
from conversation_service.domain.commands import (
    ConversationChanges,
    NewConversation,
    NewMessage,
    StateWrite,
)
from conversation_service.domain.conversations import create_conversation, update_conversation
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.messages import add_message
from conversation_service.domain.state import write_state
from tests.realtime.conftest import LEGACY_WS, TRANSPORT_WS, LiveServer, WSClient, start_server

MESSAGE_ADDED = """
subscription($c: ID, $after: Int, $agent: String) {
  messageAdded(conversationId: $c, afterSeq: $after, agentId: $agent) { seq content conversationId }
}
"""


async def new_conversation(live: LiveServer, tenant: str, **kw: Any) -> str:
    record, _ = await live.container.db.run(tenant, create_conversation, NewConversation(**kw))
    return record.id


async def write(live: LiveServer, tenant: str, cid: str, text: str) -> int:
    result = await live.container.db.run(
        tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=text)
    )
    return result.message.seq


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def subscribed(live: LiveServer, n: int = 1) -> None:
    """Wait until `n` feeds are registered and have read their starting point: a write after
    this is, for the subscriber, after its subscription began."""
    hub = live.container.broadcast.hub
    await wait_for(lambda: hub.subscriber_count(ready_only=True) >= n)


async def collect(client: WSClient, op: str, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(timeout):
        for _ in range(n):
            out.append((await client.next_data(op, timeout))["data"]["messageAdded"])
    return out


async def test_message_added_reaches_subscriber(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    cid = await new_conversation(live, tenant)
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
    await subscribed(live)
    for i in range(5):
        await write(live, tenant, cid, f"m{i}")
    got = await collect(client, op, 5)
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    assert [m["content"] for m in got] == [f"m{i}" for i in range(5)]
    await client.close()


async def test_no_tenant_is_refused(live: LiveServer, protocol: str) -> None:
    client = await WSClient.connect(live.ws_url, protocol, None, init_payload={}, ack=False)
    if protocol == TRANSPORT_WS:
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.ws.close_code == 4403
    else:
        frame = await client.next_frame(None)
        assert frame["type"] == "connection_error"
        await asyncio.wait_for(client.closed.wait(), 5)
    await client.close()


@pytest.mark.parametrize(
    "init", [{"X-Tenant-ID": "{t}"}, {"headers": {"X-Tenant-ID": "{t}"}}, None]
)
async def test_tenant_sources(live: LiveServer, tenant: str, init: Any) -> None:
    """connection_init payload forms, and the upgrade header when the payload has none."""
    payload = {
        k: (
            v.format(t=tenant)
            if isinstance(v, str)
            else {kk: vv.format(t=tenant) for kk, vv in v.items()}
        )
        for k, v in (init or {}).items()
    }
    headers = None if init is not None else {"X-Tenant-ID": tenant}
    client = await WSClient.connect(
        live.ws_url, TRANSPORT_WS, None, init_payload=payload, headers=headers
    )
    cid = await new_conversation(live, tenant)
    op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
    await subscribed(live)
    await write(live, tenant, cid, "hello")
    assert (await collect(client, op, 1))[0]["content"] == "hello"
    await client.close()


async def test_tenant_isolation(live: LiveServer, tenant: str, protocol: str) -> None:
    other = tenant + "-other"
    mine = await new_conversation(live, tenant)
    theirs = await new_conversation(live, other)
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    everything = await client.subscribe(MESSAGE_ADDED, {})
    foreign = await client.subscribe(MESSAGE_ADDED, {"c": theirs})
    await subscribed(live)
    err = await client.next_frame(foreign)
    assert err["type"] == "error"
    payload = err["payload"] if isinstance(err["payload"], list) else [err["payload"]]
    assert payload[0]["extensions"]["code"] == "NOT_FOUND"
    await write(live, other, theirs, "secret")
    await write(live, tenant, mine, "visible")
    got = await collect(client, everything, 1)
    assert got[0]["content"] == "visible"
    with pytest.raises(TimeoutError):
        await client.next_data(everything, timeout=0.3)
    await client.close()


async def test_concurrent_writers_exactly_once_in_order(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    convs = [await new_conversation(live, tenant, agent_id="agent-x") for _ in range(3)]
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    per_conv = {cid: await client.subscribe(MESSAGE_ADDED, {"c": cid}) for cid in convs}
    all_op = await client.subscribe(MESSAGE_ADDED, {"agent": "agent-x"})
    await subscribed(live, 4)

    async def writer(cid: str, n: int) -> None:
        for i in range(n):
            await write(live, tenant, cid, f"{cid[:4]}-{i}")

    await asyncio.gather(*(writer(cid, 15) for cid in convs for _ in range(2)))
    for cid, op in per_conv.items():
        got = await collect(client, op, 30)
        assert [m["seq"] for m in got] == list(range(1, 31))
    merged = await collect(client, all_op, 90)
    for cid in convs:
        assert [m["seq"] for m in merged if m["conversationId"] == cid] == list(range(1, 31))
    with pytest.raises(TimeoutError):
        await client.next_data(all_op, timeout=0.3)
    await client.close()


async def test_resume_after_seq_under_concurrent_writes(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    cid = await new_conversation(live, tenant)
    for i in range(20):
        await write(live, tenant, cid, f"before-{i}")
    client = await WSClient.connect(live.ws_url, protocol, tenant)

    async def keep_writing() -> None:
        for i in range(30):
            await write(live, tenant, cid, f"during-{i}")
            if i % 5 == 0:
                await asyncio.sleep(0)

    writing = asyncio.create_task(keep_writing())
    op = await client.subscribe(MESSAGE_ADDED, {"c": cid, "after": 10})
    await writing
    got = await collect(client, op, 40)
    assert [m["seq"] for m in got] == list(range(11, 51))
    with pytest.raises(TimeoutError):
        await client.next_data(op, timeout=0.3)
    await client.close()


async def test_after_seq_needs_conversation(live: LiveServer, tenant: str) -> None:
    client = await WSClient.connect(live.ws_url, TRANSPORT_WS, tenant)
    op = await client.subscribe(MESSAGE_ADDED, {"after": 3})
    frame = await client.next_frame(op)
    assert frame["type"] == "error"
    assert frame["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await client.close()


async def test_identical_subscriptions_share_one_execution(live: LiveServer, tenant: str) -> None:
    cid = await new_conversation(live, tenant)
    clients = [await WSClient.connect(live.ws_url, TRANSPORT_WS, tenant) for _ in range(20)]
    ops = [await c.subscribe(MESSAGE_ADDED, {"c": cid}) for c in clients]
    subs = live.app.state.subscriptions
    await wait_for(lambda: subs.stats()["ws_operations"] == 20)
    await subscribed(live)
    assert subs.stats()["subscription_groups"] == 1
    assert live.container.broadcast.hub.subscriber_count() == 1  # one feed for twenty
    await write(live, tenant, cid, "to all")
    for c, op in zip(clients, ops, strict=True):
        assert (await collect(c, op, 1))[0]["content"] == "to all"
    for c in clients:
        await c.close()


async def test_conversation_and_state_changes(live: LiveServer, tenant: str, protocol: str) -> None:
    cid = await new_conversation(live, tenant)
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    conv_op = await client.subscribe(
        "subscription($c: ID) { conversationChanged(conversationId: $c) { id status version } }",
        {"c": cid},
    )
    state_op = await client.subscribe(
        'subscription($c: ID!) { stateChanged(conversationId: $c, stateKey: "k") { key value version } }',
        {"c": cid},
    )
    await subscribed(live, 2)
    db = live.container.db
    await db.run(
        tenant, update_conversation, cid, ConversationChanges(status=ConversationStatus.COMPLETED)
    )
    await db.run(tenant, write_state, cid, StateWrite(key="other", value=1))
    await db.run(tenant, write_state, cid, StateWrite(key="k", value={"a": 1}))
    await db.run(tenant, write_state, cid, StateWrite(key="k", value=None))
    changed = (await client.next_data(conv_op))["data"]["conversationChanged"]
    assert changed["status"] == "COMPLETED"
    assert changed["version"] == 2
    first = (await client.next_data(state_op))["data"]["stateChanged"]
    deleted = (await client.next_data(state_op))["data"]["stateChanged"]
    assert (first["value"], first["version"]) == ({"a": 1}, 1)
    assert (deleted["value"], deleted["version"]) == (None, 2)
    await client.close()


async def test_subscription_limit_per_connection(pg_url: str, redis_url: str, tenant: str) -> None:
    srv = await start_server(
        Settings(
            auth_mode="none",
            database_url=pg_url,
            broadcast_url=redis_url,
            max_subscriptions_per_connection=2,
        )
    )
    try:
        cid = await new_conversation(srv, tenant)
        client = await WSClient.connect(srv.ws_url, TRANSPORT_WS, tenant)
        await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await client.subscribe(MESSAGE_ADDED, {"c": cid})
        third = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        frame = await client.next_frame(third)
        assert frame["type"] == "error"
        assert frame["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        await client.close()
    finally:
        await srv.stop()
        await srv.container.close()


async def test_queries_and_mutations_over_the_socket(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    op = await client.subscribe(
        'mutation { createConversation(input: {title: "ws"}) { id title } }'
    )
    data = await client.next_data(op)
    assert data["data"]["createConversation"]["title"] == "ws"
    assert (await client.next_frame(op))["type"] == "complete"
    await client.close()


async def test_graceful_shutdown_completes_subscriptions(
    pg_url: str, redis_url: str, tenant: str, protocol: str
) -> None:
    srv = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=redis_url)
    )
    try:
        cid = await new_conversation(srv, tenant)
        client = await WSClient.connect(srv.ws_url, protocol, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await subscribed(srv)
        await srv.app.state.subscriptions.shutdown()
        assert (await client.next_frame(op))["type"] == "complete"
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.ws.close_code == 1001
        await client.close()
    finally:
        await srv.stop()
        await srv.container.close()


async def test_dead_peer_is_dropped(pg_url: str, redis_url: str, tenant: str) -> None:
    """A client that stops answering transport pings is disconnected by the keep-alive."""
    srv = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=redis_url, ws_keepalive_s=0.3)
    )
    try:
        import socket as pysocket

        sock = pysocket.create_connection(("127.0.0.1", srv.port))
        sock.sendall(
            b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        subs = srv.app.state.subscriptions
        await wait_for(lambda: subs.stats()["ws_connections"] == 1)
        # never read, never pong: the server must give up on us
        await wait_for(lambda: subs.stats()["ws_connections"] == 0, timeout=10)
        sock.close()
    finally:
        await srv.stop()
        await srv.container.close()


async def test_disconnects_leak_nothing(live: LiveServer, tenant: str) -> None:
    # 1,000 connects and subscribes of one tenant in a few seconds: above the default RATE_LIMIT.
    live.container.rate_limiter = RateLimiter("1000000/second")
    cid = await new_conversation(live, tenant)
    subs = live.app.state.subscriptions
    hub = live.container.broadcast.hub
    tasks_before = len(asyncio.all_tasks())
    for i in range(1000):
        protocol = TRANSPORT_WS if i % 2 else LEGACY_WS
        client = await WSClient.connect(live.ws_url, protocol, tenant)
        await client.subscribe(MESSAGE_ADDED, {"c": cid} if i % 3 else {})
        if i % 10 == 0:
            await subscribed(live)
        await client.close()
    await wait_for(lambda: subs.stats()["ws_connections"] == 0)
    await wait_for(lambda: hub.subscriber_count() == 0)
    assert subs.stats() == {
        "ws_connections": 0,
        "ws_operations": 0,
        "subscription_groups": 0,
        "solo_subscriptions": 0,
    }
    assert hub.channels == []
    await wait_for(lambda: len(asyncio.all_tasks()) <= tasks_before)


async def test_rest_and_graphql_writes_reach_subscribers(
    live: LiveServer, tenant: str, protocol: str
) -> None:
    """Every door publishes after commit: a REST write and a GraphQL write arrive alike."""
    import httpx

    async with httpx.AsyncClient(base_url=live.http_url, headers={"X-Tenant-ID": tenant}) as http:
        created = await http.post("/api/v1/conversations", json={"title": "doors"})
        assert created.status_code == 201
        cid = created.json()["id"]
        client = await WSClient.connect(live.ws_url, protocol, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await subscribed(live)
        r = await http.post(
            f"/api/v1/conversations/{cid}/messages", json={"role": "user", "content": "via rest"}
        )
        assert r.status_code == 201
        g = await http.post(
            "/graphql",
            json={
                "query": 'mutation($c: ID!) { addMessage(conversationId: $c, input: {role: ASSISTANT, content: "via graphql"}) { seq } }',
                "variables": {"c": cid},
            },
        )
        assert "errors" not in g.json()
        got = await collect(client, op, 2)
        assert [(m["seq"], m["content"]) for m in got] == [(1, "via rest"), (2, "via graphql")]
        await client.close()
