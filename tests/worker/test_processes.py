"""Real `conversation-service worker` processes on PostgreSQL: two of them sharing the stream,
one killed with SIGKILL in the middle of its batch, then restarted: every action is applied
exactly once and in order per conversation. SIGTERM stops a worker cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from conversation_service.bootstrap import Container
from conversation_service.models import messages, worker_actions
from tests.worker.conftest import Wire, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("container", ["postgresql"], indirect=True),
]

TURNS = 60
CONVERSATIONS = 4


def spawn(
    container: Container, redis_url: str, env: str, name: str | None, **settings: str
) -> subprocess.Popen[bytes]:
    """A `conversation-service worker` process; name None keeps the default consumer name."""
    exe = os.path.join(os.path.dirname(sys.executable), "conversation-service")
    child_env = {
        **os.environ,
        "DATABASE_URL": container.settings.database_url,
        "AUTH_MODE": "none",
        "REDIS_URL": redis_url,
        "NOOBLE_ENV": env,
        "WORKER_CLAIM_IDLE_MS": "500",
        "WORKER_BATCH_SIZE": "8",
        "WORKER_CONCURRENCY": "4",
        "WORKER_RETRY_BASE_MS": "20",
        "WORKER_BLOCK_MS": "200",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    child_env.pop("WORKER_CONSUMER_NAME", None)
    if name is not None:
        child_env["WORKER_CONSUMER_NAME"] = name
    return subprocess.Popen([exe, "worker"], env=child_env)


async def send_turns(wire: Wire, cids: list[str], turns: int) -> None:
    """`turns` platform turns per conversation, interleaved across the conversations."""
    pipe = wire.redis.pipeline(transaction=False)
    for i in range(turns):
        for c in cids:
            action = wire.action(
                "conversation.message.create",
                {
                    "conversation_id": c,
                    "message_id": str(uuid.uuid4()),
                    "user_message": f"u{i}",
                    "agent_message": f"a{i}",
                    "metadata": {"mode": "simple"},
                },
            )
            pipe.xadd(wire.stream, {"data": orjson.dumps(action)})
    await pipe.execute()


async def assert_applied_once_in_order(db: Any, tenant: str, cids: list[str], turns: int) -> None:
    """Every turn applied exactly once (ledger and messages), gapless seq, in send order."""
    assert await _count(db, worker_actions, tenant) == len(cids) * turns
    assert await _count(db, messages, tenant) == 2 * len(cids) * turns
    expected = [x for i in range(turns) for x in (f"u{i}", f"a{i}")]
    for c in cids:
        async with db.read() as conn:
            items = (
                await conn.execute(
                    select(messages.c.seq, messages.c.content)
                    .where(messages.c.tenant_id == tenant, messages.c.conversation_id == c)
                    .order_by(messages.c.seq)
                )
            ).all()
        assert [m.content for m in items] == expected
        assert [m.seq for m in items] == list(range(1, 2 * turns + 1))


async def _count(db: Any, table: Any, tenant: str) -> int:
    async with db.read() as conn:
        return int(
            await conn.scalar(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
            )
            or 0
        )


async def test_kill_9_mid_batch_then_restart_applies_everything_once_in_order(
    container: Container, wire: Wire, redis_url: str, env: str, tenant: str, rds: Any
) -> None:
    db = container.db
    cids = [str(uuid.uuid4()) for _ in range(CONVERSATIONS)]
    await send_turns(wire, cids, TURNS)
    procs = {n: spawn(container, redis_url, env, n) for n in ("w1", "w2")}
    try:

        async def progressed() -> bool:
            return await _count(db, messages, tenant) >= 2 * CONVERSATIONS * 10

        await wait_for(progressed, 30, "workers to make progress")

        async def w1_holds_entries() -> bool:
            # A live consumer's entries can be claimed by the other one past the claim idle
            # time (500 ms here), so kill w1 at a moment it holds some: mid-batch.
            held = await rds.xpending_range(
                wire.stream, wire.group, "-", "+", 100, consumername="w1"
            )
            return bool(held)

        await wait_for(w1_holds_entries, 30, "w1 to hold entries")
        procs["w1"].send_signal(signal.SIGKILL)
        procs["w1"].wait(10)
        held = await rds.xpending_range(wire.stream, wire.group, "-", "+", 100, consumername="w1")
        assert held, "w1 held no entries when killed"
        assert await _count(db, messages, tenant) < 2 * CONVERSATIONS * TURNS
        procs["w1"] = spawn(container, redis_url, env, "w1")  # restart under the same name
        restarted = time.monotonic()

        async def w1_reads_again() -> bool:
            """The restarted w1 has read the group since its restart (so it is up and its
            SIGTERM handler installed): the survivor may drain everything before that."""
            for c in await rds.xinfo_consumers(wire.stream, wire.group):
                name = c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
                if name == "w1" and c["idle"] / 1000 < time.monotonic() - restarted:
                    return True
            return False

        await wait_for(w1_reads_again, 60, "the restarted w1 to read")
        await wire.drained(wait_s=60)
        assert await _count(db, worker_actions, tenant) == CONVERSATIONS * TURNS
        for c in cids:
            async with db.read() as conn:
                items = (
                    await conn.execute(
                        select(messages.c.seq, messages.c.content)
                        .where(messages.c.tenant_id == tenant, messages.c.conversation_id == c)
                        .order_by(messages.c.seq)
                    )
                ).all()
            expected = [x for i in range(TURNS) for x in (f"u{i}", f"a{i}")]
            assert [m.content for m in items] == expected
            assert [m.seq for m in items] == list(range(1, 2 * TURNS + 1))
        # SIGTERM: both stop cleanly
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            assert await asyncio.to_thread(p.wait, 20) == 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)


async def test_kill_9_with_default_names_is_reclaimed_by_the_survivor_within_claim_idle(
    container: Container, wire: Wire, redis_url: str, env: str, tenant: str, rds: Any
) -> None:
    """No restart: the survivor alone must take over the dead consumer's entries, although its
    own hands are full of entries waiting behind them (same conversations)."""
    db = container.db
    idle_s = 1.0
    cids = [str(uuid.uuid4()) for _ in range(CONVERSATIONS)]
    await send_turns(wire, cids, TURNS)
    tuning = {"WORKER_CLAIM_IDLE_MS": str(int(idle_s * 1000))}
    procs = [spawn(container, redis_url, env, None, **tuning) for _ in range(2)]
    try:

        async def progressed() -> bool:
            return await _count(db, messages, tenant) >= 2 * CONVERSATIONS * 10

        await wait_for(progressed, 30, "workers to make progress")
        victim = procs[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed = asyncio.get_running_loop().time()
        consumers = await rds.xinfo_consumers(wire.stream, wire.group)
        names = [c["name"].decode() for c in consumers]
        dead = [n for n in names if f"-{victim.pid}-" in n]
        assert len(dead) == 1, names  # the default name carries the pid
        held = await rds.xpending_range(
            wire.stream, wire.group, "-", "+", 100, consumername=dead[0]
        )
        assert held, "the killed worker held no entries"
        assert await _count(db, messages, tenant) < 2 * CONVERSATIONS * TURNS

        async def reclaimed() -> bool:
            left = await rds.xpending_range(
                wire.stream, wire.group, "-", "+", 100, consumername=dead[0]
            )
            return not left

        # Taken over within claim-idle + a few seconds of the kill.
        await wait_for(reclaimed, idle_s + 4, "the dead consumer's entries to be reclaimed")
        assert asyncio.get_running_loop().time() - killed < idle_s + 4
        await wire.drained(wait_s=30)
        await assert_applied_once_in_order(db, tenant, cids, TURNS)
        assert procs[1].poll() is None  # the survivor did it alone
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
