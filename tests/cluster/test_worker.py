"""The worker on a Redis Cluster: the nooble4 stream and reply names as senders use them, streams
of different slots read by one loop each, the end of an entry (reply, dead letter, XACK) done once
each although its keys live on different masters, and a master restart mid-action healed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from conversation_service.adapters.database import Database
from conversation_service.adapters.redis_client import slot_of
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.domain.commands import NewConversation
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.messages import list_messages
from conversation_service.domain.pagination import MessageWindow
from conversation_service.worker.actions import default_registry
from conversation_service.worker.consumer import DEAD_MAXLEN, Worker
from conversation_service.worker.registry import Call, Registry
from conversation_service.worker.settle import ClusterSettler, Settlement
from conversation_service.worker.streams import main_stream
from tests.cluster.conftest import ClusterProcesses
from tests.worker.conftest import Wire, wait_for

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
def env() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def cluster_client(redis_cluster: ClusterProcesses) -> AsyncIterator[RedisCluster]:
    client = redis_cluster.client()
    try:
        yield client
    finally:
        await client.aclose()


def _starter(
    container: Container, client: RedisCluster, env: str, started: list[Worker]
) -> StartWorker:
    async def start(registry: Registry | None = None, **settings: Any) -> Worker:
        base: dict[str, Any] = {
            "nooble_env": env,
            "worker_block_ms": 100,
            "worker_retry_base_ms": 5,
            "worker_order_poll_ms": 10,
            **settings,
        }
        s = Settings(auth_mode="none", database_url=container.settings.database_url, **base)
        worker = Worker(container.db, client, s, registry)
        await worker.start()
        started.append(worker)
        return worker

    return start


@pytest.fixture
async def start_worker(
    container: Container, cluster_client: RedisCluster, env: str
) -> AsyncIterator[StartWorker]:
    started: list[Worker] = []
    try:
        yield _starter(container, cluster_client, env, started)
    finally:
        for w in started:
            await w.stop()


@pytest.fixture
def wire(cluster_client: RedisCluster, env: str, tenant: str) -> Wire:
    return Wire(cluster_client, env, tenant)


def on_another_slot(wire: Wire, action: dict[str, Any]) -> dict[str, Any]:
    """The action with a reply queue of the protocol's form on another slot than the stream."""
    while slot_of(action["callback_queue_name"]) == slot_of(wire.stream):
        action = wire.pseudo_sync(action["action_type"], action["data"])
    return action


async def _contents(db: Database, tenant: str, cid: str) -> list[str]:
    page = await db.query(tenant, list_messages, cid, MessageWindow(first=100))
    return [m.content for m in page.items]


async def test_actions_on_two_streams_of_two_slots_are_applied_and_answered(
    wire: Wire, start_worker: StartWorker, db: Database, tenant: str, env: str
) -> None:
    service_stream = main_stream(env, "conversation_service")
    worker = await start_worker(worker_listen_service_stream=True)
    assert slot_of(wire.stream) != slot_of(service_stream)
    assert sorted(worker.read_groups) == sorted([(wire.stream,), (service_stream,)])
    created = await wire.call("conversation.create", {"title": "on a cluster"})
    assert created["success"] is True, created
    cid = created["data"]["id"]
    add = on_another_slot(
        wire,
        wire.pseudo_sync(
            "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "hi"}
        ),
    )
    await wire.send(add, stream=service_stream)
    reply = await wire.reply(add)
    assert reply["success"] is True
    assert reply["data"]["content"] == "hi"
    turn = wire.action(  # the Agent Execution Service's fire-and-forget turn
        "conversation.message.create",
        {
            "conversation_id": cid,
            "message_id": str(uuid.uuid4()),
            "user_message": "question",
            "agent_message": "answer",
            "metadata": {"mode": "advance"},
        },
    )
    await wire.send(turn)
    await wire.drained()
    await wire.drained(stream=service_stream)
    assert await _contents(db, tenant, cid) == ["hi", "question", "answer"]
    assert await wire.dead_entries() == []


async def test_a_failing_action_is_dead_lettered_and_answered_once(
    wire: Wire, start_worker: StartWorker, cluster_client: RedisCluster
) -> None:
    async def explode(call: Call) -> dict[str, Any]:
        raise RuntimeError("boom")

    registry = default_registry()
    registry.register("conversation.explode", explode)
    await start_worker(registry, worker_max_attempts=2)
    a = on_another_slot(wire, wire.pseudo_sync("conversation.explode", {}))
    await wire.send(a)
    await wire.drained()
    assert await cluster_client.llen(a["callback_queue_name"]) == 1
    reply = await wire.reply(a)
    assert reply["error"]["error_code"] == "HANDLER_EXECUTION_ERROR"
    dead = await wire.dead_entries()
    assert [d["action_id"] for d in dead] == [a["action_id"]]
    assert dead[0]["attempts"] == "2"


async def test_settling_an_entry_again_writes_nothing_twice(
    wire: Wire, cluster_client: RedisCluster, env: str
) -> None:
    """What a redelivery after a crash between the steps does: the same settlement again. The
    reply and the dead letter are written once; the XACK happens."""
    await cluster_client.xgroup_create(wire.stream, wire.group, id="0", mkstream=True)
    entry = await wire.send(wire.action("conversation.create", {}))
    await cluster_client.xreadgroup(wire.group, "c1", {wire.stream: ">"})
    queue = on_another_slot(wire, wire.pseudo_sync("conversation.create", {}))[
        "callback_queue_name"
    ]
    settler = ClusterSettler(cluster_client, wire.dead, f"nooble4:{env}:released", 60, DEAD_MAXLEN)
    s = Settlement(wire.stream, entry, wire.group, None, (queue, b'{"answer": 1}'), {"why": "x"})
    for _ in range(3):
        await settler.settle(s)
    assert await cluster_client.lrange(queue, 0, -1) == [b'{"answer": 1}']
    assert 0 < await cluster_client.ttl(queue) <= 60
    assert [e["why"] for e in await wire.dead_entries()] == ["x"]
    await wire.drained()


async def test_unwritable_reply_queue_is_retried_then_dead_lettered(
    wire: Wire, start_worker: StartWorker, cluster_client: RedisCluster, db: Database, tenant: str
) -> None:
    cid = (await db.run(tenant, create_conversation, NewConversation()))[0].id
    msg = {"conversation_id": cid, "role": "user", "content": "m0"}
    bad = on_another_slot(wire, wire.pseudo_sync("conversation.add_message", msg))
    await cluster_client.set(bad["callback_queue_name"], "not a list")
    later = wire.pseudo_sync("conversation.add_message", {**msg, "content": "m1"})
    await start_worker(worker_max_attempts=3, worker_retry_base_ms=20)
    await wire.send(bad)
    await wire.send(later)
    assert (await wire.reply(later, wait_s=10))["success"] is True
    await wire.drained(wait_s=10)
    assert await _contents(db, tenant, cid) == ["m0", "m1"]
    assert await cluster_client.get(bad["callback_queue_name"]) == b"not a list"
    dead = await wire.dead_entries()
    assert [d["action_id"] for d in dead] == [bad["action_id"]]
    assert dead[0]["error_type"] == "ReplyFailed"
    assert "WRONGTYPE" in dead[0]["error"]


async def test_master_restart_while_an_action_settles_heals_and_answers_once(
    own_cluster: ClusterProcesses, container: Container, db: Database, tenant: str, env: str
) -> None:
    """The stream's master goes away while an action is being applied: the reply (another
    master) is pushed, the XACK waits for the master, and once it is back the entry is
    acknowledged, the caller has one answer and new actions flow again."""
    client = own_cluster.client()
    started: list[Worker] = []
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def slow(call: Call) -> dict[str, Any]:
        entered.set()
        await gate.wait()
        return {"ok": True}

    registry = default_registry()
    registry.register("conversation.slow", slow)
    try:
        wire = Wire(client, env, tenant)
        worker = await _starter(container, client, env, started)(registry, worker_retry_max_ms=500)
        victim = await own_cluster.master_of(wire.stream)
        a = wire.pseudo_sync("conversation.slow", {})
        while await own_cluster.master_of(a["callback_queue_name"]) == victim:
            a = wire.pseudo_sync("conversation.slow", {})  # the reply goes to another master
        await wire.send(a)
        await asyncio.wait_for(entered.wait(), 10)
        own_cluster.stop_node(victim)
        gate.set()
        reply = await wire.reply(a)  # pushed although the stream's master is down
        assert reply["success"] is True
        assert reply["data"] == {"ok": True}
        await own_cluster.start_node(victim)
        await wire.drained(wait_s=30)
        assert worker.processed >= 1
        assert await client.llen(a["callback_queue_name"]) == 0  # answered exactly once
        created = await wire.call("conversation.create", {"title": "after the restart"})
        assert created["success"] is True
        assert await wire.dead_entries() == []
    finally:
        for w in started:
            await w.stop()
        await client.aclose()


async def test_readiness_and_stats_name_every_stream(
    wire: Wire, start_worker: StartWorker, env: str
) -> None:
    worker = await start_worker(worker_listen_service_stream=True)
    await wire.call("conversation.create", {})

    async def both_known() -> bool:
        return set(worker.stream_stats) == set(worker.names.streams)

    await wait_for(both_known, 15, "stream stats")
