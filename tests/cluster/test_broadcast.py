"""Subscriptions over a Redis Cluster: sharded pub/sub between two servers, on every master, and
a master restart healed as a single Redis restart is (mirrors tests/realtime/test_resilience)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from conversation_service.adapters.events import channel
from conversation_service.adapters.redis_client import slot_of
from conversation_service.adapters.sharded_broadcast import ShardedRedisBroadcast
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.events import NullPublisher
from conversation_service.domain.messages import add_message
from tests.cluster.conftest import ClusterProcesses, slot_owners, tenant_on
from tests.realtime.conftest import TRANSPORT_WS, LiveServer, WSClient, start_server
from tests.realtime.test_subscriptions import MESSAGE_ADDED, collect, subscribed, wait_for

ADD = """mutation($c: ID!, $t: String!) {
  addMessage(conversationId: $c, input: {role: USER, content: $t}) { seq } }"""
CREATE = 'mutation { createConversation(input: {userId: "u", agentId: "a"}) { id } }'


async def _gql(http: httpx.AsyncClient, url: str, tenant: str, query: str, **v: Any) -> Any:
    r = await http.post(
        f"{url}/graphql", json={"query": query, "variables": v}, headers={"X-Tenant-ID": tenant}
    )
    body = r.json()
    assert r.status_code == 200, body
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
async def two_servers(
    pg_url: str, redis_cluster: ClusterProcesses
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    settings = Settings(auth_mode="none", database_url=pg_url, broadcast_url=redis_cluster.url)
    a = await start_server(settings)
    b = await start_server(settings)
    try:
        yield a, b
    finally:
        for srv in (a, b):
            await srv.stop()
            await srv.container.close()


async def _shard_channels(port: int) -> set[str]:
    client = aioredis.Redis(port=port, decode_responses=True)
    try:
        return {str(c) for c in await client.pubsub_shardchannels()}
    finally:
        await client.aclose()


async def test_a_subscriber_on_one_server_receives_what_another_wrote(
    two_servers: tuple[LiveServer, LiveServer], redis_cluster: ClusterProcesses
) -> None:
    a, b = two_servers
    assert isinstance(a.container.broadcast, ShardedRedisBroadcast)
    owners = await slot_owners(redis_cluster)
    # One tenant per master: every master's link carries subscriptions and delivers.
    tenants = [tenant_on(port, owners) for port in redis_cluster.ports]
    async with httpx.AsyncClient() as http:
        feeds = []
        for tenant in tenants:
            cid = (await _gql(http, b.http_url, tenant, CREATE))["createConversation"]["id"]
            client = await WSClient.connect(a.ws_url, TRANSPORT_WS, tenant)
            feeds.append((tenant, cid, client, await client.subscribe(MESSAGE_ADDED, {"c": cid})))
        await subscribed(a, len(tenants))
        for tenant, cid, _, _ in feeds:  # the shard channel is on its tenant's master only
            master = await redis_cluster.master_of(channel(tenant, "message_added", cid))
            assert channel(tenant, "message_added", cid) in await _shard_channels(master)
            for other in set(redis_cluster.ports) - {master}:
                assert channel(tenant, "message_added", cid) not in await _shard_channels(other)
        for tenant, cid, _, _ in feeds:
            for i in range(3):
                await _gql(http, b.http_url, tenant, ADD, c=cid, t=f"{tenant}-{i}")
        for tenant, _, client, op in feeds:
            got = await collect(client, op, 3)
            assert [m["seq"] for m in got] == [1, 2, 3]
            assert [m["content"] for m in got] == [f"{tenant}-{i}" for i in range(3)]
            await client.close()
    # Nothing was subscribed with classic SUBSCRIBE but the listeners' control channel.
    plain = aioredis.Redis(port=redis_cluster.ports[0], decode_responses=True)
    try:
        assert set(await plain.pubsub_channels()) <= {"cs:__control__"}
    finally:
        await plain.aclose()


async def test_leaving_subscribers_unsubscribe_their_shard_channel(
    two_servers: tuple[LiveServer, LiveServer], redis_cluster: ClusterProcesses
) -> None:
    a, _ = two_servers
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    cid = (await a.container.db.run(tenant, create_conversation, NewConversation()))[0].id
    name = channel(tenant, "message_added", cid)
    master = await redis_cluster.master_of(name)
    client = await WSClient.connect(a.ws_url, TRANSPORT_WS, tenant)
    await client.subscribe(MESSAGE_ADDED, {"c": cid})
    await subscribed(a)
    assert name in await _shard_channels(master)
    await client.close()
    async with asyncio.timeout(10):
        while name in await _shard_channels(master):
            await asyncio.sleep(0.02)


# -- a master restart heals (as tests/realtime/test_resilience does for one Redis) ------------


async def test_master_restart_mid_stream_loses_nothing(
    pg_url: str, own_cluster: ClusterProcesses
) -> None:
    owners = await slot_owners(own_cluster)
    victim = own_cluster.ports[1]
    tenant = tenant_on(victim, owners)
    settings = Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_cluster.url)
    reader = await start_server(settings)
    writer = await build_container(settings)
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
        # The tenant's master goes away: the writer's publishes fail, the reader's link drops.
        broadcast = reader.container.broadcast
        assert isinstance(broadcast, ShardedRedisBroadcast)
        generation = broadcast.generation
        own_cluster.stop_node(victim)
        await wait_for(lambda: not broadcast.connected.is_set(), timeout=15)
        await write(5, "b")
        await own_cluster.start_node(victim)
        await wait_for(lambda: broadcast.generation > generation, timeout=15)
        await wait_for(broadcast.connected.is_set, timeout=15)
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


async def test_master_restart_is_detected_without_traffic(
    pg_url: str, own_cluster: ClusterProcesses
) -> None:
    """Messages committed while the master was down arrive after it returns, with no later
    message; subscribers of the other masters are not disturbed meanwhile."""
    owners = await slot_owners(own_cluster)
    victim, healthy = own_cluster.ports[2], own_cluster.ports[0]
    tenant, bystander = tenant_on(victim, owners), tenant_on(healthy, owners)
    reader = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_cluster.url)
    )
    try:
        db = reader.container.db
        cid = (await db.run(tenant, create_conversation, NewConversation()))[0].id
        other = (await db.run(bystander, create_conversation, NewConversation()))[0].id
        client = await WSClient.connect(reader.ws_url, TRANSPORT_WS, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        calm = await WSClient.connect(reader.ws_url, TRANSPORT_WS, bystander)
        calm_op = await calm.subscribe(MESSAGE_ADDED, {"c": other})
        await subscribed(reader, 2)
        silent = db.with_publisher(NullPublisher())
        broadcast = reader.container.broadcast
        assert isinstance(broadcast, ShardedRedisBroadcast)
        own_cluster.stop_node(victim)
        await wait_for(lambda: not broadcast.connected.is_set(), timeout=15)
        for i in range(3):
            await silent.run(
                tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=f"x{i}")
            )
        # The bystander's master is up: its live events still flow.
        await db.run(bystander, add_message, other, NewMessage(role=MessageRole.USER, content="y"))
        assert [m["content"] for m in await collect(calm, calm_op, 1)] == ["y"]
        await own_cluster.start_node(victim)
        got = await collect(client, op, 3)
        assert [m["seq"] for m in got] == [1, 2, 3]
        await client.close()
        await calm.close()
    finally:
        await reader.stop()
        await reader.container.close()


async def test_a_slot_moved_to_another_master_is_followed(
    pg_url: str, own_cluster: ClusterProcesses
) -> None:
    """Resharding: the old master drops its shard subscribers (an unsolicited SUNSUBSCRIBE);
    the broadcast subscribes the channel on the new master and the feed goes on in order."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    settings = Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_cluster.url)
    reader = await start_server(settings)
    writer = await build_container(settings)
    try:
        db = writer.db
        cid = (await db.run(tenant, create_conversation, NewConversation()))[0].id
        client = await WSClient.connect(reader.ws_url, TRANSPORT_WS, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await subscribed(reader)
        name = channel(tenant, "message_added", cid)
        await db.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content="m1"))
        assert [m["seq"] for m in await collect(client, op, 1)] == [1]
        source = await own_cluster.master_of(name)
        target = next(p for p in own_cluster.ports if p != source)
        await own_cluster.move_slot(slot_of(name), target)
        async with asyncio.timeout(15):
            while name not in await _shard_channels(target):
                await asyncio.sleep(0.02)
        assert name not in await _shard_channels(source)
        for text in ("m2", "m3"):
            await db.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=text))
        got = await collect(client, op, 2)
        assert [m["seq"] for m in got] == [2, 3]
        await client.close()
    finally:
        await reader.stop()
        await reader.container.close()
        await writer.close()


async def test_a_failover_to_a_replica_is_followed(
    pg_url: str, own_cluster: ClusterProcesses
) -> None:
    """A master dies and its replica takes over its slots: the dead master's link keeps failing,
    so the broadcast reads the topology again, subscribes on the new master and resynchronises
    (a message committed during the failover arrives too)."""
    owners = await slot_owners(own_cluster)
    victim = own_cluster.ports[1]
    tenant = tenant_on(victim, owners)
    replica = await own_cluster.add_replica(victim)
    settings = Settings(auth_mode="none", database_url=pg_url, broadcast_url=own_cluster.url)
    reader = await start_server(settings)
    writer = await build_container(settings)
    try:
        db = writer.db
        cid = (await db.run(tenant, create_conversation, NewConversation()))[0].id
        client = await WSClient.connect(reader.ws_url, TRANSPORT_WS, tenant)
        op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
        await subscribed(reader)
        name = channel(tenant, "message_added", cid)
        await db.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content="m1"))
        assert [m["seq"] for m in await collect(client, op, 1)] == [1]
        own_cluster.stop_node(victim)
        silent = db.with_publisher(NullPublisher())
        await silent.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content="m2"))
        async with asyncio.timeout(30):  # the replica is elected (cluster-node-timeout 2 s)
            while await own_cluster.master_of(name) != replica:
                await asyncio.sleep(0.05)
        async with asyncio.timeout(15):
            while name not in await _shard_channels(replica):
                await asyncio.sleep(0.02)
        await db.run(tenant, add_message, cid, NewMessage(role=MessageRole.USER, content="m3"))
        got = await collect(client, op, 2)
        assert [m["seq"] for m in got] == [2, 3]
        await client.close()
    finally:
        await reader.stop()
        await reader.container.close()
        await writer.close()
