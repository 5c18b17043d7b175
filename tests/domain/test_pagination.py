"""Lists on both backends: conversation filters, offset and keyset pages, message windows."""

from __future__ import annotations

import asyncio

import pytest

from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import messages as msg_domain
from conversation_service.domain.commands import ConversationQuery, NewConversation, NewMessage
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.pagination import ConversationPage, MessageWindow, message_cursor


async def create(db, tenant, **kw):
    rec, _ = await db.run(tenant, conv_domain.create_conversation, NewConversation(**kw))
    return rec


async def listed(db, tenant, page=None, **filters) -> list[str]:
    result = await db.query(
        tenant,
        conv_domain.list_conversations,
        ConversationQuery(**filters),
        page or ConversationPage(page_size=100),
    )
    return [c.id for c in result.items]


async def test_filters(db, tenant):
    a = await create(db, tenant, user_id="u1", agent_id="ag1", session_id="s1", tags=["x", "y"])
    b = await create(db, tenant, user_id="u1", agent_id="ag2", tags=["y"])
    c = await create(
        db, tenant, user_id="u2", agent_id="ag1", tags=["z"], status=ConversationStatus.ARCHIVED
    )
    assert set(await listed(db, tenant)) == {a.id, b.id, c.id}
    assert set(await listed(db, tenant, user_id="u1")) == {a.id, b.id}
    assert await listed(db, tenant, agent_id="ag2") == [b.id]
    assert await listed(db, tenant, session_id="s1") == [a.id]
    assert await listed(db, tenant, status=ConversationStatus.ARCHIVED) == [c.id]
    assert set(await listed(db, tenant, status=ConversationStatus.ACTIVE)) == {a.id, b.id}
    assert await listed(db, tenant, tags=["x", "y"]) == [a.id]
    assert set(await listed(db, tenant, tags=["y"])) == {a.id, b.id}
    assert await listed(db, tenant, tags=["x", "z"]) == []
    assert set(await listed(db, tenant, any_tags=["x", "z"])) == {a.id, c.id}
    assert await listed(db, tenant, any_tags=["nope"]) == []
    assert await listed(db, tenant, user_id="u1", any_tags=["z"]) == []
    assert await listed(db, tenant, tags=["y"], any_tags=["x"]) == [a.id]
    count = await db.query(tenant, conv_domain.count_conversations, ConversationQuery(user_id="u1"))
    assert count == 2


async def test_date_range_is_inclusive(db, tenant):
    recs = [await create(db, tenant) for _ in range(4)]
    lo, hi = recs[1].created_at, recs[2].created_at
    assert set(await listed(db, tenant, from_date=lo, to_date=hi)) == {recs[1].id, recs[2].id}
    assert set(await listed(db, tenant, from_date=recs[3].created_at)) == {recs[3].id}
    assert set(await listed(db, tenant, to_date=recs[0].created_at)) == {recs[0].id}
    with pytest.raises(ValidationFailed) as err:
        await listed(db, tenant, from_date=hi, to_date=lo)
    assert err.value.field == "from_date"


async def test_offset_pages(db, tenant):
    ids = [(await create(db, tenant)).id for _ in range(7)]
    newest_first = list(reversed(ids))
    pages = []
    for number in (1, 2, 3):
        s = await db.query(
            tenant,
            conv_domain.list_conversations,
            ConversationQuery(),
            ConversationPage(page=number, page_size=3),
        )
        pages.append(s)
    assert [c.id for p in pages for c in p.items] == newest_first
    assert [(p.has_next, p.has_previous, p.page, p.page_size) for p in pages] == [
        (True, False, 1, 3),
        (True, True, 2, 3),
        (False, True, 3, 3),
    ]
    beyond = await db.query(
        tenant,
        conv_domain.list_conversations,
        ConversationQuery(),
        ConversationPage(page=9, page_size=3),
    )
    assert beyond.items == []
    default = await db.query(
        tenant, conv_domain.list_conversations, ConversationQuery(), ConversationPage()
    )
    assert (default.page, default.page_size, len(default.items)) == (1, 20, 7)
    asc = await listed(db, tenant, ConversationPage(page=1, page_size=100, descending=False))
    assert asc == ids


@pytest.mark.parametrize(
    ("page", "field"),
    [
        (ConversationPage(page=0), "page"),
        (ConversationPage(page_size=0), "pageSize"),
        (ConversationPage(page_size=101), "pageSize"),
        (ConversationPage(first=101), "first"),
        (ConversationPage(first=-1), "first"),
        (ConversationPage(page=1, first=5), "first"),
        (ConversationPage(page_size=5, after="abc"), "first"),
        (ConversationPage(first=5, after="not a cursor"), "after"),
        (ConversationPage(first=5, after=message_cursor(3)), "after"),
    ],
)
async def test_bad_page_arguments(db, tenant, page, field):
    with pytest.raises(ValidationFailed) as err:
        await db.query(tenant, conv_domain.list_conversations, ConversationQuery(), page)
    assert err.value.field == field


async def keyset_walk(db, tenant, descending: bool, size: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        s = await db.query(
            tenant,
            conv_domain.list_conversations,
            ConversationQuery(),
            ConversationPage(first=size, after=after, descending=descending),
        )
        seen += [c.id for c in s.items]
        assert s.has_previous == (after is not None)
        if not s.has_next:
            return seen
        after = _cursor(s.items[-1])
        await asyncio.sleep(0)  # let the concurrent writer in between pages


def _cursor(rec) -> str:
    from conversation_service.domain.pagination import conversation_cursor

    return conversation_cursor(rec.created_at, rec.id)


@pytest.mark.parametrize("descending", [True, False])
async def test_keyset_pages_cover_every_row_once_during_inserts(db, tenant, descending):
    existing = [(await create(db, tenant)).id for _ in range(23)]
    inserted: list[str] = []
    done = asyncio.Event()

    async def writer():
        while not done.is_set() and len(inserted) < 40:
            inserted.append((await create(db, tenant)).id)
            await asyncio.sleep(0)

    async def reader():
        try:
            return await keyset_walk(db, tenant, descending, size=4)
        finally:
            done.set()

    seen, _ = await asyncio.gather(reader(), writer())
    assert inserted, "the writer must have run while paging"
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert set(existing) <= set(seen), "a row that existed all along was skipped"
    assert set(seen) <= set(existing) | set(inserted)
    if descending:
        assert seen[: len(existing)] == list(reversed(existing))
    # A walk after the writes sees everything exactly once.
    final = await keyset_walk(db, tenant, descending, size=7)
    assert sorted(final) == sorted(existing + inserted)


async def test_after_without_first_is_a_keyset_page(db, tenant):
    ids = [(await create(db, tenant)).id for _ in range(3)]
    first = await db.query(
        tenant, conv_domain.list_conversations, ConversationQuery(), ConversationPage(first=1)
    )
    rest = await db.query(
        tenant,
        conv_domain.list_conversations,
        ConversationQuery(),
        ConversationPage(after=_cursor(first.items[0])),
    )
    assert [c.id for c in rest.items] == [ids[1], ids[0]]
    assert (rest.has_previous, rest.has_next, rest.page) == (True, False, None)


async def test_keyset_first_zero_and_end(db, tenant):
    await create(db, tenant)
    empty = await db.query(
        tenant, conv_domain.list_conversations, ConversationQuery(), ConversationPage(first=0)
    )
    assert empty.items == []
    assert empty.has_next is True


# ---- message windows -------------------------------------------------------------------


async def conversation_with_messages(db, tenant, n: int):
    conv = await create(db, tenant)
    for i in range(n):
        await db.run(
            tenant,
            msg_domain.add_message,
            conv.id,
            NewMessage(role=MessageRole.USER, content=f"m{i + 1}"),
        )
    return conv.id


async def window(db, tenant, cid, **kw):
    s = await db.query(tenant, msg_domain.list_messages, cid, MessageWindow(**kw))
    return [m.seq for m in s.items], s.has_next, s.has_previous, s.total


async def test_message_windows_forward(db, tenant):
    cid = await conversation_with_messages(db, tenant, 10)
    assert await window(db, tenant, cid, first=4) == ([1, 2, 3, 4], True, False, 10)
    assert await window(db, tenant, cid, first=4, after=message_cursor(4)) == (
        [5, 6, 7, 8],
        True,
        True,
        10,
    )
    assert await window(db, tenant, cid, first=4, after=message_cursor(8)) == (
        [9, 10],
        False,
        True,
        10,
    )
    assert await window(db, tenant, cid, first=4, after=message_cursor(10)) == (
        [],
        False,
        True,
        10,
    )
    assert await window(db, tenant, cid) == (list(range(1, 11)), False, False, 10)


async def test_message_windows_backward(db, tenant):
    cid = await conversation_with_messages(db, tenant, 10)
    assert await window(db, tenant, cid, last=3) == ([8, 9, 10], False, True, 10)
    assert await window(db, tenant, cid, last=3, before=message_cursor(8)) == (
        [5, 6, 7],
        True,
        True,
        10,
    )
    assert await window(db, tenant, cid, last=5, before=message_cursor(3)) == (
        [1, 2],
        True,
        False,
        10,
    )
    assert await window(db, tenant, cid, last=50) == (list(range(1, 11)), False, False, 10)


async def test_message_window_from_timestamp_and_limit(db, tenant):
    cid = await conversation_with_messages(db, tenant, 10)
    all_msgs = (
        await db.query(tenant, msg_domain.list_messages, cid, MessageWindow(first=100))
    ).items
    since = all_msgs[5].created_at  # seq 6
    seqs, has_next, _, total = await window(db, tenant, cid, from_timestamp=since, limit=3)
    expected_first = min(m.seq for m in all_msgs if m.created_at >= since)
    assert seqs == [expected_first, expected_first + 1, expected_first + 2]
    assert has_next is True
    assert total == 10 - expected_first + 1
    future = all_msgs[-1].created_at.replace(year=all_msgs[-1].created_at.year + 1)
    assert await window(db, tenant, cid, from_timestamp=future, limit=3) == ([], False, False, 0)


async def test_message_window_of_empty_conversation(db, tenant):
    cid = (await create(db, tenant)).id
    assert await window(db, tenant, cid, first=5) == ([], False, False, 0)
    assert await window(db, tenant, cid, last=5) == ([], False, False, 0)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"first": 101}, "first"),
        ({"last": 101}, "last"),
        ({"first": -1}, "first"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"first": 1, "last": 1}, "last"),
        ({"after": "garbage!"}, "after"),
        ({"before": "Yw"}, "before"),
    ],
)
async def test_bad_message_windows(db, tenant, kw, field):
    cid = await conversation_with_messages(db, tenant, 1)
    with pytest.raises(ValidationFailed) as err:
        await db.query(tenant, msg_domain.list_messages, cid, MessageWindow(**kw))
    assert err.value.field == field
