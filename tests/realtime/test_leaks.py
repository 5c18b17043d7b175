"""Nothing of a closed socket remains: subscribers, Redis channels, tasks, group members."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from tests.realtime.conftest import TRANSPORT_WS, ServeProcess, serve_process

MESSAGE_ADDED = "subscription { messageAdded { seq content } }"
CONVERSATION_CHANGED = "subscription { conversationChanged { id status } }"


async def subscribe_and_close(url: str, tenant: str) -> None:
    """Connect, init, subscribe twice and close at once, without waiting for anything else."""
    async with connect(url, subprotocols=[TRANSPORT_WS], compression=None) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {"tenantId": tenant}}))
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        for op_id, query in (("1", MESSAGE_ADDED), ("2", CONVERSATION_CHANGED)):
            frame = {"id": op_id, "type": "subscribe", "payload": {"query": query}}
            await ws.send(orjson.dumps(frame).decode())


async def settled(srv: ServeProcess, redis: Any, prefix: str, timeout: float) -> dict[str, Any]:
    """Wait until the server's own counters and Redis show nothing left of the run."""
    state: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                metrics = await srv.metrics()
                channels = await redis.pubsub_channels(f"cs:{prefix}-*")
                state = {
                    "ws_connections": metrics["ws_connections"],
                    "ws_operations": metrics["ws_operations"],
                    "subscription_groups": metrics["subscription_groups"],
                    "solo_subscriptions": metrics["solo_subscriptions"],
                    "broadcast_channels": metrics["broadcast_channels"],
                    "broadcast_local_subscribers": metrics["broadcast_local_subscribers"],
                    "redis_channels": len(channels),
                }
                if not any(state.values()):
                    return state
                await asyncio.sleep(0.1)
    except TimeoutError:
        return state


async def test_rapid_subscribe_then_close_leaves_nothing(
    pg_url: str, redis_url: str, tenant: str
) -> None:
    """A socket closed right after subscribing used to leave its feeds running: the group task's
    cancellation landed inside redis-py's `asyncio.wait_for` (socket timeout) while SUBSCRIBE was
    being sent, and Python 3.11's `wait_for` swallows a cancellation whose inner task is done."""
    redis = aioredis.from_url(redis_url)
    try:
        async with serve_process(pg_url, redis_url) as srv:
            cycles = 400
            for start in range(0, cycles, 4):  # a few sockets at once, as an attacker would
                await asyncio.gather(
                    *(
                        subscribe_and_close(srv.ws_url, f"{tenant}-{i}")
                        for i in range(start, start + 4)
                    )
                )
            state = await settled(srv, redis, tenant, timeout=20)
            assert state == dict.fromkeys(state, 0), state
            numsub = await redis.pubsub_numsub(
                *(f"cs:{tenant}-{i}:message_added" for i in range(20))
            )
            assert all(n == 0 for _, n in numsub), numsub
    finally:
        await redis.aclose()
