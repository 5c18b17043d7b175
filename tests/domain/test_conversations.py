"""Conversation rules on both backends: idempotent create, rollback, compare-and-set update."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from conversation_service.domain import conversations as domain
from conversation_service.domain.commands import (
    ConversationChanges,
    ConversationQuery,
    NewConversation,
    NewMessage,
)
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.errors import Conflict, NotFound, ValidationFailed
from conversation_service.domain.pagination import ConversationPage
from tests.helpers import row_counts


async def test_create_with_chosen_id_is_idempotent(db, tenant):
    cid = str(uuid.uuid4())
    first, created = await db.run(
        tenant, domain.create_conversation, NewConversation(id=cid, user_id="u1", tags=["a"])
    )
    assert created is True
    assert first.id == cid
    again, created_again = await db.run(
        tenant,
        domain.create_conversation,
        NewConversation(id=cid, user_id="someone-else", tags=["b"]),
    )
    assert created_again is False
    assert again.user_id == "u1"
    assert again.tags == ["a"]
    assert again.version == first.version
    assert (await row_counts(db, tenant))["conversations"] == 1


async def test_chosen_id_is_canonicalised(db, tenant):
    cid = uuid.uuid4()
    rec, _ = await db.run(tenant, domain.create_conversation, NewConversation(id=str(cid).upper()))
    assert rec.id == str(cid)
    again, created = await db.run(tenant, domain.create_conversation, NewConversation(id=str(cid)))
    assert created is False
    assert again.id == rec.id


async def test_concurrent_creates_of_one_id_make_one_row(db, tenant):
    cid = str(uuid.uuid4())
    results = await asyncio.gather(
        *(db.run(tenant, domain.create_conversation, NewConversation(id=cid)) for _ in range(2))
    )
    assert [r.id for r, _ in results] == [cid, cid]
    assert sorted(created for _, created in results) == [False, True]
    assert (await row_counts(db, tenant))["conversations"] == 1


async def test_create_with_initial_messages(db, tenant):
    rec, _ = await db.run(
        tenant,
        domain.create_conversation,
        NewConversation(
            initial_messages=[
                NewMessage(role=MessageRole.SYSTEM, content="be kind", token_count=3),
                NewMessage(role=MessageRole.USER, content="hi", token_count=1),
            ]
        ),
    )
    assert (rec.message_count, rec.last_seq, rec.total_tokens) == (2, 2, 4)
    assert (await row_counts(db, tenant))["messages"] == 2


async def test_invalid_initial_message_writes_nothing(db, tenant):
    new = NewConversation(
        id=str(uuid.uuid4()),
        tags=["x"],
        initial_messages=[
            NewMessage(role=MessageRole.USER, content="one"),
            NewMessage(role=MessageRole.USER, content="two"),
            NewMessage(role=MessageRole.USER, content="   "),
        ],
    )
    with pytest.raises(ValidationFailed) as err:
        await db.run(tenant, domain.create_conversation, new)
    assert err.value.field == "initial_messages.2.content"
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}


async def test_failure_inside_the_transaction_rolls_back(db, tenant):
    """A failure after rows were inserted (a duplicate message id) undoes the whole create."""
    mid = str(uuid.uuid4())
    new = NewConversation(
        initial_messages=[
            NewMessage(role=MessageRole.USER, content="one", id=mid),
            NewMessage(role=MessageRole.USER, content="two", id=mid),
        ]
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 (the integrity error of the backend)
        await db.run(tenant, domain.create_conversation, new)
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}


async def test_update_compare_and_set(db, tenant):
    rec, _ = await db.run(tenant, domain.create_conversation, NewConversation(title="t"))
    assert rec.version == 1
    updated = await db.run(
        tenant,
        domain.update_conversation,
        rec.id,
        ConversationChanges(title="new", expected_version=1),
    )
    assert (updated.title, updated.version) == ("new", 2)
    with pytest.raises(Conflict) as err:
        await db.run(
            tenant,
            domain.update_conversation,
            rec.id,
            ConversationChanges(title="stale", expected_version=1),
        )
    assert err.value.field == "expected_version"
    current = await db.query(tenant, domain.get_conversation, rec.id)
    assert (current.title, current.version) == ("new", 2)
    # Without expected_version the update always applies.
    last = await db.run(
        tenant,
        domain.update_conversation,
        rec.id,
        ConversationChanges(status=ConversationStatus.ARCHIVED),
    )
    assert (last.status, last.version, last.title) == (ConversationStatus.ARCHIVED, 3, "new")


async def test_update_unknown_is_not_found(db, tenant):
    with pytest.raises(NotFound):
        await db.run(
            tenant, domain.update_conversation, str(uuid.uuid4()), ConversationChanges(title="x")
        )
    with pytest.raises(NotFound):
        await db.run(
            tenant,
            domain.update_conversation,
            str(uuid.uuid4()),
            ConversationChanges(title="x", expected_version=1),
        )


async def test_update_replaces_tags_and_filters_follow(db, tenant):
    rec, _ = await db.run(tenant, domain.create_conversation, NewConversation(tags=["a", "b"]))
    updated = await db.run(
        tenant, domain.update_conversation, rec.id, ConversationChanges(tags=["b", "c"])
    )
    assert updated.tags == ["b", "c"]

    async def ids(**kw):
        page = await db.query(
            tenant, domain.list_conversations, ConversationQuery(**kw), ConversationPage()
        )
        return [c.id for c in page.items]

    assert await ids(tags=["a"]) == []
    assert await ids(tags=["b", "c"]) == [rec.id]
    cleared = await db.run(tenant, domain.update_conversation, rec.id, ConversationChanges(tags=[]))
    assert cleared.tags == []
    assert await ids(any_tags=["a", "b", "c"]) == []


async def test_update_untouched_fields_stay(db, tenant):
    rec, _ = await db.run(
        tenant,
        domain.create_conversation,
        NewConversation(user_id="u", metadata={"k": 1}, tags=["t"]),
    )
    updated = await db.run(
        tenant, domain.update_conversation, rec.id, ConversationChanges(title="only title")
    )
    assert (updated.user_id, updated.metadata, updated.tags) == ("u", {"k": 1}, ["t"])


async def test_update_invalid_writes_nothing(db, tenant):
    rec, _ = await db.run(tenant, domain.create_conversation, NewConversation(tags=["a"]))
    with pytest.raises(ValidationFailed) as err:
        await db.run(
            tenant,
            domain.update_conversation,
            rec.id,
            ConversationChanges(title="x", tags=["ok", ""]),
        )
    assert err.value.field == "tags"
    current = await db.query(tenant, domain.get_conversation, rec.id)
    assert (current.title, current.tags, current.version) == (None, ["a"], 1)
