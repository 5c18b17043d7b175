"""A retention purge while writers append and subscribers resume: no gap, no duplicate,
counters equal to what is stored, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from conversation_service.bootstrap import Container
from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import messages as msg_domain
from conversation_service.domain import retention as domain
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.feeds import erased_feed, message_feed
from conversation_service.domain.records import MessageRecord
from conversation_service.retention_runner import run_retention
from tests.lifecycle.helpers import conversation, stored_messages, stored_usage

OLD = 120
WRITERS = 2
PER_WRITER = 40


def message(i: int) -> NewMessage:
    return NewMessage(
        role=MessageRole.USER if i % 2 else MessageRole.ASSISTANT,
        content=f"message {i}",
        sources=[{"document_id": f"d{i % 3}"}],
        execution={"total_tokens": 5} if i % 2 == 0 else None,
    )


async def collect(feed: Any, into: list[MessageRecord], last_seq: int) -> None:
    async with contextlib.aclosing(feed) as records:
        async for record in records:
            into.append(record)
            if record.seq >= last_seq:
                return


async def test_purge_while_writing_and_resuming(container: Container, tenant: str) -> None:
    db = container.db
    conv, _ = await db.run(tenant, conv_domain.create_conversation, NewConversation())
    cid = conv.id
    for i in range(OLD):
        await db.run(tenant, msg_domain.add_message, cid, message(i))
    old = await stored_messages(db, tenant, cid)
    await db.run(tenant, domain.set_retention_policy, domain.RetentionChanges(messages_days=1))
    # as of one day after the last old message: exactly the OLD messages are due
    now = old[-1].created_at + timedelta(days=1, microseconds=1)
    total = OLD + WRITERS * PER_WRITER

    def feed(after_seq: int) -> Any:
        return message_feed(
            db, container.broadcast, tenant, conversation_id=cid, after_seq=after_seq
        )

    resumed: list[MessageRecord] = []  # resumes mid-history, before the purge
    erased: list[MessageRecord] = []
    tasks = [
        asyncio.create_task(collect(feed(OLD // 2), resumed, total)),
        asyncio.create_task(
            collect(
                erased_feed(container.db, container.broadcast, tenant, conversation_id=cid),
                erased,
                OLD,
            )
        ),
    ]

    async def writer(w: int) -> None:
        for i in range(PER_WRITER):
            await db.run(tenant, msg_domain.add_message, cid, message(1000 + w * 100 + i))

    settings = db.settings.with_(retention_batch=7, retention_pause_ms=0)
    purge = asyncio.create_task(run_retention(db, settings, now=now, tenant=tenant))
    await asyncio.gather(purge, *(writer(w) for w in range(WRITERS)))
    report = purge.result()
    assert report.tenants[0].messages == OLD
    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    # the subscriber that resumed before the purge: every seq after its position, once
    assert [m.seq for m in resumed] == list(range(OLD // 2 + 1, total + 1))
    # one that resumes after the purge from the start: the tombstones in their place
    after: list[MessageRecord] = []
    await asyncio.wait_for(collect(feed(0), after, total), 30)
    assert [m.seq for m in after] == list(range(1, total + 1))
    assert [m.erased for m in after] == [True] * OLD + [False] * (WRITERS * PER_WRITER)
    assert sorted(m.seq for m in erased) == list(range(1, OLD + 1))

    stored = await stored_messages(db, tenant, cid)
    assert [m.seq for m in stored] == list(range(1, total + 1))
    final = await conversation(db, tenant, cid)
    assert (final.message_count, final.last_seq) == (total, total)
    assert final.total_tokens == stored_usage(stored)
    assert final.total_tokens == sum(
        stored_usage([m]) for m in stored if not m.erased
    )  # the tombstones count nothing
    # the source index lost the erased messages only
    page, count = await db.query(tenant, _by_document, "d0")
    assert count == sum(1 for m in stored if not m.erased and m.sources[0]["document_id"] == "d0")
    assert all(not m.erased for m in page)


async def _by_document(uow: Any, document_id: str) -> tuple[list[MessageRecord], int]:
    rows, count = await uow.sources.by_document(document_id, 1000, None)
    return list(rows), int(count)
