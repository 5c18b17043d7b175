"""Worker throughput: `conversation.message.create` actions/s with 1 and 2 worker processes,
against a raw asyncpg loop doing the same inserts directly, in the same run.

    python -m bench.worker_bench [--actions 2000] [--conversations 200] [--repeat 3]

Needs PostgreSQL (BENCH_PG_DSN, default postgresql://postgres@127.0.0.1:5432/postgres) and Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/0). Creates and drops its own database; uses its
own NOOBLE_ENV per run and deletes its keys. Workers run as real `conversation-service worker`
processes; the clock starts once they are all reading and stops when the stream is drained.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from conversation_service.migrate import upgrade_url
from conversation_service.worker.streams import group_name, main_stream

PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _action(tenant: str, cid: str, i: int) -> dict[str, Any]:
    return {
        "action_id": str(uuid.uuid4()),
        "action_type": "conversation.message.create",
        "timestamp": datetime.now(UTC).isoformat(),
        "tenant_id": tenant,
        "session_id": f"s-{cid[:8]}",
        "task_id": str(uuid.uuid4()),
        "agent_id": "agent-1",
        "user_id": "user-1",
        "origin_service": "agent_execution_service",
        "data": {
            "conversation_id": cid,
            "message_id": str(uuid.uuid4()),
            "user_message": f"question {i}",
            "agent_message": f"answer {i}",
            "metadata": {
                "mode": "simple",
                "token_usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            },
        },
    }


async def _drained(r: aioredis.Redis, stream: str) -> bool:
    for g in await r.xinfo_groups(stream):
        if g["name"].decode() == group_name():
            return bool(g["pending"] == 0 and g["lag"] == 0)
    return False


async def run_workers(db_url: str, n_procs: int, actions: int, convs: int) -> float:
    env = f"bench{uuid.uuid4().hex[:8]}"
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    stream = main_stream(env)
    r = aioredis.from_url(REDIS_URL)
    exe = os.path.join(os.path.dirname(sys.executable), "conversation-service")
    child_env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "AUTH_MODE": "none",
        "REDIS_URL": REDIS_URL,
        "NOOBLE_ENV": env,
        "LOG_LEVEL": "WARNING",
    }
    procs = [subprocess.Popen([exe, "worker"], env=child_env) for _ in range(n_procs)]
    try:
        deadline = time.monotonic() + 60
        while True:  # every worker has issued its first XREADGROUP
            try:
                if len(await r.xinfo_consumers(stream, group_name())) >= n_procs:
                    break
            except aioredis.ResponseError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            await asyncio.sleep(0.05)
        cids = [str(uuid.uuid4()) for _ in range(convs)]
        payloads = [orjson.dumps(_action(tenant, cids[i % convs], i)) for i in range(actions)]
        t0 = time.perf_counter()
        pipe = r.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(stream, {"data": payload})
        await pipe.execute()
        while not await _drained(r, stream):
            await asyncio.sleep(0.01)
        return actions / (time.perf_counter() - t0)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        keys = [k async for k in r.scan_iter(match=f"nooble4:{env}:*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()


async def run_raw(dsn: str, actions: int, convs: int) -> float:
    """The same writes with asyncpg, no framework: create on first use, bump the counters and
    insert the two messages, one transaction per turn, one connection."""
    tenant = f"raw-{uuid.uuid4().hex[:8]}"
    cids = [str(uuid.uuid4()) for _ in range(convs)]
    conn = await asyncpg.connect(dsn)
    bump = (
        "UPDATE conversations SET last_seq = last_seq + 1, message_count = message_count + 1,"
        " total_tokens = total_tokens + $3, last_message_at = now(), updated_at = now(),"
        " version = version + 1 WHERE tenant_id = $1 AND id = $2 RETURNING last_seq"
    )
    ins = (
        "INSERT INTO messages (tenant_id, id, conversation_id, seq, role, content, content_type,"
        " token_count, metadata, sources, client_message_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'text', $7, '{}'::jsonb, '[]'::jsonb, $8, now())"
    )
    create = (
        "INSERT INTO conversations (tenant_id, id, user_id, agent_id, session_id, status, tags,"
        " metadata, participants, crm_references, created_at, updated_at)"
        " VALUES ($1, $2, 'user-1', 'agent-1', $3, 'active', '[]', '{}', '[]', '{}', now(), now())"
        " ON CONFLICT DO NOTHING"
    )
    try:
        t0 = time.perf_counter()
        for i in range(actions):
            cid = cids[i % convs]
            async with conn.transaction():
                await conn.execute(create, tenant, cid, f"s-{cid[:8]}")
                for role, text, tokens in (
                    ("user", f"question {i}", 0),
                    ("assistant", f"answer {i}", 5),
                ):
                    seq = await conn.fetchval(bump, tenant, cid, tokens)
                    await conn.execute(
                        ins, tenant, str(uuid.uuid4()), cid, seq, role, text, tokens, f"{i}:{role}"
                    )
        return actions / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_worker_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    db_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade_url, db_url)
        results: dict[str, list[float]] = {"raw_asyncpg": [], "worker_x1": [], "worker_x2": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits every variant alike
            results["raw_asyncpg"].append(await run_raw(dsn, args.actions, args.conversations))
            results["worker_x1"].append(
                await run_workers(db_url, 1, args.actions, args.conversations)
            )
            results["worker_x2"].append(
                await run_workers(db_url, 2, args.actions, args.conversations)
            )
        medians = {k: round(statistics.median(v), 1) for k, v in results.items()}
        raw = medians["raw_asyncpg"]
        return {
            "section": "worker",
            "actions": args.actions,
            "conversations": args.conversations,
            "repeat": args.repeat,
            "actions_per_s_median": medians,
            "ratio_to_raw": {k: round(v / raw, 2) for k, v in medians.items()},
            "runs": {k: [round(x, 1) for x in v] for k, v in results.items()},
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_bench")
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    result = asyncio.run(main_async(parser.parse_args(argv)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
