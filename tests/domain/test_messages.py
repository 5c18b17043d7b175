"""Message rules on both backends: gapless seq under concurrency, idempotent adds, counters."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import messages as domain
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.models import messages
from tests.helpers import row_counts


def msg(content: str = "hello", **kw) -> NewMessage:
    return NewMessage(role=kw.pop("role", MessageRole.USER), content=content, **kw)


async def new_conversation(db, tenant) -> str:
    rec, _ = await db.run(tenant, conv_domain.create_conversation, NewConversation())
    return rec.id


async def stored_seqs(db, tenant, cid) -> list[int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(messages.c.seq)
            .where(messages.c.tenant_id == tenant, messages.c.conversation_id == cid)
            .order_by(messages.c.seq)
        )
        return [r[0] for r in rows]


async def test_forty_concurrent_adds_get_seq_1_to_40(db, tenant):
    cid = await new_conversation(db, tenant)
    results = await asyncio.gather(
        *(db.run(tenant, domain.add_message, cid, msg(f"m{i}", token_count=2)) for i in range(40))
    )
    assert sorted(r.message.seq for r in results) == list(range(1, 41))
    assert await stored_seqs(db, tenant, cid) == list(range(1, 41))
    conv = await db.query(tenant, conv_domain.get_conversation, cid)
    assert (conv.message_count, conv.last_seq, conv.total_tokens) == (40, 40, 80)
    assert conv.version == 41
    # created_at never goes backwards along seq
    page = await db.query(tenant, domain.list_messages, cid, domain.MessageWindow(first=40))
    stamps = [m.created_at for m in page.items]
    assert stamps == sorted(stamps)


async def test_client_message_id_is_idempotent(db, tenant):
    cid = await new_conversation(db, tenant)
    first = await db.run(tenant, domain.add_message, cid, msg("a", client_message_id="k1"))
    retry = await db.run(tenant, domain.add_message, cid, msg("different", client_message_id="k1"))
    assert first.created is True
    assert retry.created is False
    assert retry.message.id == first.message.id
    assert retry.message.content == "a"
    conv = await db.query(tenant, conv_domain.get_conversation, cid)
    assert (conv.message_count, conv.last_seq) == (1, 1)


async def test_same_client_message_id_in_other_conversation_is_new(db, tenant):
    c1, c2 = await new_conversation(db, tenant), await new_conversation(db, tenant)
    a = await db.run(tenant, domain.add_message, c1, msg(client_message_id="k"))
    b = await db.run(tenant, domain.add_message, c2, msg(client_message_id="k"))
    assert a.message.id != b.message.id
    assert b.created is True


async def test_concurrent_duplicate_client_message_ids_make_one_row(db, tenant):
    cid = await new_conversation(db, tenant)
    results = await asyncio.gather(
        *(
            db.run(tenant, domain.add_message, cid, msg(f"try {i}", client_message_id="dup"))
            for i in range(8)
        )
    )
    assert len({r.message.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await stored_seqs(db, tenant, cid) == [1]
    conv = await db.query(tenant, conv_domain.get_conversation, cid)
    assert (conv.message_count, conv.last_seq) == (1, 1)


async def test_concurrent_mixed_adds_stay_gapless(db, tenant):
    cid = await new_conversation(db, tenant)
    calls = [msg(f"p{i}", client_message_id=f"k{i % 5}") for i in range(15)]
    calls += [msg(f"plain{i}") for i in range(10)]
    await asyncio.gather(*(db.run(tenant, domain.add_message, cid, m) for m in calls))
    assert await stored_seqs(db, tenant, cid) == list(range(1, 16))


async def test_add_to_unknown_conversation_is_not_found(db, tenant):
    with pytest.raises(NotFound):
        await db.run(tenant, domain.add_message, str(uuid.uuid4()), msg())
    assert (await row_counts(db, tenant))["messages"] == 0


async def test_invalid_message_writes_nothing(db, tenant):
    cid = await new_conversation(db, tenant)
    with pytest.raises(ValidationFailed) as err:
        await db.run(tenant, domain.add_message, cid, msg("x" * 100_001))
    assert err.value.field == "content"
    with pytest.raises(ValidationFailed) as err:
        await db.run(tenant, domain.add_message, cid, msg(token_count=-1))
    assert err.value.field == "token_count"
    conv = await db.query(tenant, conv_domain.get_conversation, cid)
    assert (conv.message_count, conv.last_seq, conv.version) == (0, 0, 1)


async def test_content_at_the_limit_is_accepted(db, tenant):
    cid = await new_conversation(db, tenant)
    r = await db.run(tenant, domain.add_message, cid, msg("x" * 100_000, token_count=1))
    assert len(r.message.content) == 100_000
