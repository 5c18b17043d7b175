"""Context and search benchmark on PostgreSQL: `python -m bench.context_bench`.

* context: p50/p95 of `build_context` for a 50-message context from a 10,000-message
  conversation (target p95 < 20 ms);
* search: p50/p95 of `search_messages` (first page of 20, with snippets) over 100,000 messages
  of one tenant, for words of high, medium and low frequency;
* sources read path: 50 messages with their sources from the denormalised column vs. the same
  plus the DataLoader-style query on `message_sources`.

Seeds with bulk inserts (not through the API) into a fresh database it drops at the end.
`BENCH_PG_DSN` (default postgresql://postgres@127.0.0.1:5432/postgres) names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, select, update

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain import tokens
from conversation_service.domain.context import build_context
from conversation_service.domain.search import SearchQuery, search_messages
from conversation_service.migrate import upgrade
from conversation_service.models import conversations, message_sources, messages

ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "bench"
WORDS = [f"w{i}" for i in range(3000)] + [
    "factura",
    "pedido",
    "reembolso",
    "envío",
    "cliente",
    "agente",
    "invoice",
    "order",
    "refund",
    "shipping",
    "customer",
    "agent",
    "policy",
    "política",
    "devolución",
    "days",
    "días",
    "account",
    "cuenta",
    "password",
    "contraseña",
]


def sentence(rng: random.Random, n: int) -> str:
    # Zipf-like: low indexes are frequent, so queries of every selectivity exist.
    return " ".join(WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(n))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def conv_row(cid: str, n: int, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": TENANT, "id": cid, "status": "active", "tags": [], "metadata": {},
        "participants": [], "crm_references": {}, "message_count": n, "total_tokens": 0,
        "last_seq": n, "last_message_at": now, "created_at": now, "updated_at": now,
        "version": 1, "agent_id": "bench-agent",
    }  # fmt: skip


def message_rows(cid: str, n: int, rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    rows = []
    for seq in range(1, n + 1):
        role = "system" if seq == 1 else ("user" if seq % 2 == 0 else "assistant")
        content = sentence(rng, rng.randint(12, 60))
        rows.append(
            {
                "tenant_id": TENANT, "id": str(uuid.uuid4()), "conversation_id": cid, "seq": seq,
                "role": role, "content": content, "content_type": "text",
                "token_count": tokens.count(content), "metadata": {}, "sources": [],
                "created_at": start + timedelta(milliseconds=seq),
            }
        )  # fmt: skip
    return rows


async def seed(db: Any, conversations_n: int, per_conversation: int, seed_: int) -> list[str]:
    rng = random.Random(seed_)
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(conversations_n)]
    async with db.engine.begin() as conn:
        await conn.execute(insert(conversations), [conv_row(c, per_conversation, now) for c in ids])
        for cid in ids:
            rows = message_rows(cid, per_conversation, rng, now - timedelta(days=1))
            for i in range(0, len(rows), 5000):
                await conn.execute(insert(messages), rows[i : i + 5000])
    return ids


async def add_sources(db: Any, cid: str, last: int = 50) -> None:
    async with db.engine.begin() as conn:
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.created_at)
                .where(messages.c.tenant_id == TENANT, messages.c.conversation_id == cid)
                .order_by(messages.c.seq.desc())
                .limit(last)
            )
        ).all()
        srcs = [{"document_id": f"doc-{i}", "title": "t", "url": "u", "snippet": "s" * 80,
                 "score": 0.5, "metadata": {}} for i in range(3)]  # fmt: skip
        for r in rows:
            await conn.execute(
                update(messages)
                .where(messages.c.tenant_id == TENANT, messages.c.id == r.id)
                .values(sources=srcs)
            )
            await conn.execute(
                insert(message_sources),
                [{"tenant_id": TENANT, "message_id": r.id, "position": i, "conversation_id": cid,
                  "document_id": s["document_id"], "title": "t", "url": "u", "snippet": s["snippet"],
                  "score": 0.5, "metadata": {}, "created_at": r.created_at}
                 for i, s in enumerate(srcs)],
            )  # fmt: skip


async def timed(fn: Any, runs: int) -> list[float]:
    for _ in range(max(5, runs // 10)):
        await fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name:<48} p50 {statistics.median(ms):7.2f} ms   p95 {pct(ms, 95):7.2f} ms   (n={len(ms)})"
    )


async def main(args: argparse.Namespace) -> None:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    container = await build_container(Settings(auth_mode="none", database_url=url))
    try:
        db = container.db
        await upgrade(db.engine)
        t = time.perf_counter()
        [big] = await seed(db, 1, 10_000, 1)
        print(f"seeded 10,000 messages in {time.perf_counter() - t:.1f} s")
        await add_sources(db, big)
        async with db.read() as conn:
            await conn.exec_driver_sql("ANALYZE")

        async def ctx50() -> None:
            r = await db.query(TENANT, build_context, big, max_messages=50, max_tokens=1_000_000)
            assert len(r.messages) == 51

        async def ctx_budget() -> None:
            await db.query(TENANT, build_context, big, max_messages=50, max_tokens=2_000)

        report("context: 50 messages of 10,000 (+1 system)", await timed(ctx50, args.runs))
        report("context: 2,000-token budget, 10,000 messages", await timed(ctx_budget, args.runs))

        ids = (
            await db.query(TENANT, build_context, big, max_messages=50, max_tokens=10**6)
        ).messages

        async def denormalised() -> None:
            async with db.read() as conn:
                (await conn.execute(select(messages).where(
                    messages.c.tenant_id == TENANT, messages.c.id.in_([m.id for m in ids])))).all()  # fmt: skip

        async def with_loader() -> None:
            await denormalised()
            async with db.read() as conn:
                (await conn.execute(select(message_sources).where(
                    message_sources.c.tenant_id == TENANT,
                    message_sources.c.message_id.in_([m.id for m in ids])))).all()  # fmt: skip

        report("sources: 50 messages, denormalised column", await timed(denormalised, args.runs))
        report("sources: 50 messages + message_sources query", await timed(with_loader, args.runs))

        if args.search_messages:
            per = 1000
            t = time.perf_counter()
            await seed(db, max(1, args.search_messages // per) - 1, per, 2)
            print(
                f"seeded {args.search_messages - 10_000:,} more messages in {time.perf_counter() - t:.1f} s"
            )
            async with db.read() as conn:
                await conn.exec_driver_sql("ANALYZE messages")
            for label, word in (("frequent", "w0 w1"), ("medium", "w40"), ("rare", "w2500")):

                async def run(word: str = word) -> None:
                    await db.query(TENANT, search_messages, SearchQuery(word), first=20)

                report(
                    f"search {label} ({word!r}) over {args.search_messages:,}",
                    await timed(run, args.search_runs),
                )
    finally:
        await container.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--search-runs", type=int, default=50)
    parser.add_argument("--search-messages", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
