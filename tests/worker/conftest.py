"""Worker fixtures: a unique NOOBLE_ENV per test (so stream names never collide), a raw Redis
client to send actions exactly as the other nooble4 services do, and an in-process worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from conversation_service.adapters.redis_client import RedisClient
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.worker.consumer import Worker
from conversation_service.worker.registry import Registry
from conversation_service.worker.streams import dead_stream, group_name, main_stream
from tests.worker.platform_models import check_reply


def _text(value: bytes | str) -> str:
    """A reply of the test's Redis client (bytes: no decode_responses) as text."""
    assert isinstance(value, bytes), value
    return value.decode()


class Wire:
    """The sender's side of the protocol: raw XADD of {"data": <json>} and BRPOP for replies."""

    def __init__(self, redis: RedisClient, env: str, tenant: str) -> None:
        self.redis = redis
        self.env = env
        self.tenant = tenant
        self.stream = main_stream(env)
        self.dead = dead_stream(env)
        self.group = group_name()

    def action(self, action_type: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        a: dict[str, Any] = {
            "action_id": str(uuid.uuid4()),
            "action_type": action_type,
            "timestamp": datetime.now(UTC).isoformat(),
            "tenant_id": self.tenant,
            "session_id": "sess-1",
            "task_id": str(uuid.uuid4()),
            "agent_id": "agent-1",
            "user_id": "user-1",
            "origin_service": "agent_execution_service",
            "data": data,
        }
        a.update(extra)
        return a

    def pseudo_sync(self, action_type: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        corr = str(uuid.uuid4())
        queue = f"nooble4:{self.env}:test_caller:responses:{action_type.replace('.', '_')}:{corr}"
        return self.action(
            action_type, data, correlation_id=corr, callback_queue_name=queue, **extra
        )

    async def send(self, action: dict[str, Any], stream: str | None = None) -> str:
        entry_id = await self.redis.xadd(stream or self.stream, {"data": orjson.dumps(action)})
        return _text(entry_id)

    async def send_raw(self, fields: dict[FieldT, EncodableT]) -> str:
        return _text(await self.redis.xadd(self.stream, fields))

    async def reply(self, action: dict[str, Any], wait_s: float = 15) -> dict[str, Any]:
        got = await self.redis.brpop([action["callback_queue_name"]], timeout=wait_s)
        assert got is not None, f"no reply to {action['action_type']} within {wait_s}s"
        value: dict[str, Any] = orjson.loads(got[1])
        check_reply(action, value)  # every reply parses with the platform's own models
        return value

    async def call(self, action_type: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        a = self.pseudo_sync(action_type, data, **extra)
        await self.send(a)
        return await self.reply(a)

    async def drained(self, wait_s: float = 20, stream: str | None = None) -> None:
        """Every entry added so far was delivered and acknowledged."""
        await wait_for(lambda: self._drained(stream or self.stream), wait_s, "stream drained")

    async def _drained(self, stream: str) -> bool:
        groups = await self.redis.xinfo_groups(stream)
        for g in groups:
            if g["name"].decode() == self.group:
                return bool(g["pending"] == 0 and g["lag"] == 0)
        return False

    async def dead_entries(self) -> list[dict[str, str]]:
        rows = await self.redis.xrange(self.dead)
        assert rows is not None
        entries: list[dict[str, str]] = []
        for _, fields in rows:
            assert fields is not None
            entries.append({_text(k): _text(v) for k, v in fields.items()})
        return entries


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], wait_s: float, what: str = "condition"
) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def env() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def rds(redis_url: str, env: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"nooble4:{env}:*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def wire(rds: aioredis.Redis, env: str, tenant: str) -> Wire:
    return Wire(rds, env, tenant)


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(
    container: Container, rds: aioredis.Redis, env: str
) -> AsyncIterator[StartWorker]:
    """Starts in-process workers on the test's streams; stops them at the end."""
    started: list[Worker] = []

    async def start(registry: Registry | None = None, **settings: Any) -> Worker:
        base: dict[str, Any] = {
            "nooble_env": env,
            "worker_block_ms": 100,
            "worker_retry_base_ms": 5,
            "worker_order_poll_ms": 10,
        }
        base.update(settings)
        s = Settings(database_url=container.settings.database_url, **base)
        worker = Worker(container.db, rds, s, registry)
        await worker.start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for w in started:
            await w.stop()
