"""Retention purge benchmark on PostgreSQL: `python -m bench.retention_bench`.

Seeds one tenant with old messages (bulk inserts, with sources) into a fresh database, then
measures, in-process:

* the live load alone: a writer appending messages and a reader paging a conversation's
  messages, back to back, for `--duration` seconds (p50/p99 of each);
* the same live load while a retention run tombstones every old message in batches of
  RETENTION_BATCH with RETENTION_PAUSE_MS between them: the purge rate (messages/s) and the
  live p50/p99 during the purge.

`BENCH_PG_DSN` (default postgresql://postgres@127.0.0.1:5432/postgres) names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain import messages as msg_domain
from conversation_service.domain import retention
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.pagination import MessageWindow
from conversation_service.migrate import upgrade
from conversation_service.models import conversations, message_sources, messages
from conversation_service.retention_runner import run_retention

ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "bench-retention"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def seed(db: Any, conversations_n: int, per_conversation: int, old: datetime) -> list[str]:
    rng = random.Random(7)
    ids = [str(uuid.uuid4()) for _ in range(conversations_n)]
    conv_rows = [
        {"tenant_id": TENANT, "id": c, "status": "active", "tags": [], "metadata": {},
         "participants": [], "crm_references": {}, "message_count": per_conversation,
         "total_tokens": 20 * per_conversation, "last_seq": per_conversation,
         "last_message_at": old, "created_at": old, "updated_at": old, "version": 1}
        for c in ids
    ]  # fmt: skip
    async with db.engine.begin() as conn:
        await conn.execute(insert(conversations), conv_rows)
        rows: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        for cid in ids:
            for seq in range(1, per_conversation + 1):
                mid = str(uuid.uuid4())
                at = old + timedelta(milliseconds=seq)
                doc = f"doc-{rng.randint(1, 50)}"
                rows.append(
                    {"tenant_id": TENANT, "id": mid, "conversation_id": cid, "seq": seq,
                     "role": "user" if seq % 2 else "assistant",
                     "content": f"old message {seq} about {doc} " * 4, "content_type": "text",
                     "token_count": 20, "metadata": {"k": seq},
                     "sources": [{"document_id": doc}], "created_at": at}
                )  # fmt: skip
                sources.append(
                    {"tenant_id": TENANT, "message_id": mid, "position": 0,
                     "conversation_id": cid, "document_id": doc, "metadata": {}, "created_at": at}
                )  # fmt: skip
                if len(rows) >= 1000:
                    await conn.execute(insert(messages), rows)
                    await conn.execute(insert(message_sources), sources)
                    rows, sources = [], []
        if rows:
            await conn.execute(insert(messages), rows)
            await conn.execute(insert(message_sources), sources)
    return ids


async def live_load(
    db: Any, live: str, read: str, stop: asyncio.Event
) -> tuple[list[float], list[float]]:
    """A writer and a reader of live conversations until `stop`; their latencies in ms."""
    writes: list[float] = []
    reads: list[float] = []

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            await db.run(
                TENANT,
                msg_domain.add_message,
                live,
                NewMessage(role=MessageRole.USER, content=f"live {i}", token_count=3),
            )
            writes.append((time.perf_counter() - t) * 1000)
            i += 1

    async def reader() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await db.query(TENANT, msg_domain.list_messages, read, MessageWindow(last=20))
            reads.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(writer(), reader())
    return writes, reads


async def main(args: argparse.Namespace) -> None:
    name = f"cs_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    settings = Settings(
        database_url=f"{base}/{name}",
        retention_batch=args.batch,
        retention_pause_ms=args.pause_ms,
        rate_limit="1000000/second",
        db_statement_timeout_ms=0,  # the bulk seed; the live load takes milliseconds
    )
    container = await build_container(settings)
    try:
        await upgrade(container.db.engine)
        db = container.db
        now = datetime.now(UTC)
        t = time.perf_counter()
        ids = await seed(db, args.conversations, args.messages, now - timedelta(days=400))
        total = args.conversations * args.messages
        print(f"seeded {total:,} old messages in {time.perf_counter() - t:.1f}s", flush=True)
        live, read = ids[0], ids[1]
        async with db.engine.begin() as conn:  # the live conversations are recent
            await conn.execute(
                conversations.update()
                .where(conversations.c.id.in_([live, read]))
                .values(last_message_at=now, updated_at=now)
            )
        await db.run(TENANT, retention.set_retention_policy, retention.RetentionChanges(
            messages_days=30, archive_after_days=1000))  # fmt: skip

        stop = asyncio.Event()
        load = asyncio.create_task(live_load(db, live, read, stop))
        await asyncio.sleep(args.duration)
        stop.set()
        base_w, base_r = await load

        stop = asyncio.Event()
        load = asyncio.create_task(live_load(db, live, read, stop))
        await asyncio.sleep(0.5)
        t = time.perf_counter()
        report = await run_retention(db, settings, tenant=TENANT)
        purge_s = time.perf_counter() - t
        stop.set()
        purge_w, purge_r = await load
        erased = report.tenants[0].messages

        print(f"\npurge: {erased:,} messages tombstoned in {purge_s:.2f}s = "
              f"{erased / purge_s:,.0f} messages/s (batch {args.batch}, pause "
              f"{args.pause_ms} ms)")  # fmt: skip
        print("\n| live operation | alone p50 / p99 (ms) | during the purge p50 / p99 (ms) | n |")
        print("|---|---|---|---|")
        for label, alone, during in (
            ("addMessage (writer)", base_w, purge_w),
            ("messages(last: 20) (reader)", base_r, purge_r),
        ):
            print(f"| {label} | {pct(alone, 50):.1f} / {pct(alone, 99):.1f} | "
                  f"{pct(during, 50):.1f} / {pct(during, 99):.1f} | {len(during)} |")  # fmt: skip
    finally:
        await container.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="bench.retention_bench")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--messages", type=int, default=100, help="old messages per conversation")
    parser.add_argument("--batch", type=int, default=500, help="RETENTION_BATCH")
    parser.add_argument("--pause-ms", type=int, default=20, help="RETENTION_PAUSE_MS")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of live load alone")
    asyncio.run(main(parser.parse_args()))
