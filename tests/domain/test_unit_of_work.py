"""The unit of work on both backends: one commit, events only after it, reactions inside the
transaction (they commit or roll back with their cause), lost races run again by `run`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from conversation_service.adapters.database import Database
from conversation_service.domain import conversations, messages
from conversation_service.domain.commands import ConversationChanges, NewConversation, NewMessage
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.errors import ValidationFailed, WriteConflict
from conversation_service.domain.events import ConversationCompleted, Event
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.reactions import Reactions
from conversation_service.models import conversations as conversations_table
from conversation_service.models import messages as messages_table


class Recorder:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, events: list[Event]) -> None:
        self.published.extend(events)


def wired(db: Database, reactions: Reactions) -> tuple[Database, Recorder]:
    recorder = Recorder()
    return Database(db.engine, recorder, settings=db.settings, reactions=reactions), recorder


async def _titles(db: Database, tenant: str) -> list[str | None]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(conversations_table.c.title).where(conversations_table.c.tenant_id == tenant)
        )
        return [r[0] for r in rows]


async def test_events_are_published_after_commit_and_never_after_rollback(
    db: Database, tenant: str
) -> None:
    mine, recorder = wired(db, Reactions())
    async with mine(tenant) as uow:
        await conversations.create_conversation(uow, NewConversation(title="kept"))
        assert recorder.published == []  # not before the commit
        await uow.commit()
    assert [type(e).__name__ for e in recorder.published] == ["ConversationChanged"]

    async def door_fails() -> None:
        async with mine(tenant) as uow:
            await conversations.create_conversation(uow, NewConversation(title="dropped"))
            raise RuntimeError("the door fails before committing")

    with pytest.raises(RuntimeError):
        await door_fails()
    assert len(recorder.published) == 1
    assert await _titles(db, tenant) == ["kept"]


async def test_an_in_transaction_reaction_rolls_back_with_its_cause(
    db: Database, tenant: str
) -> None:
    """A reaction that fails makes the commit fail: the change that caused it is not kept."""
    reactions = Reactions()
    seen: list[str] = []

    async def fail(uow: UnitOfWork, event: ConversationCompleted) -> None:
        seen.append(event.conversation.id)
        raise RuntimeError("reaction failed")

    reactions.on(ConversationCompleted, fail)
    after: list[Any] = []
    reactions.after(ConversationCompleted, after.append)
    mine, recorder = wired(db, reactions)
    record, _ = await mine.run(tenant, conversations.create_conversation, NewConversation())
    done = ConversationChanges(status=ConversationStatus.COMPLETED)
    with pytest.raises(RuntimeError):
        await mine.run(tenant, conversations.update_conversation, record.id, done)
    assert seen == [record.id]
    assert after == []  # after-commit reactions never run without a commit
    stored = await mine.query(tenant, conversations.get_conversation, record.id)
    assert stored.status is ConversationStatus.ACTIVE
    assert [type(e).__name__ for e in recorder.published] == ["ConversationChanged"]


async def test_reactions_run_once_per_event_and_after_commit_ones_after_it(
    db: Database, tenant: str
) -> None:
    reactions = Reactions()
    inside: list[str] = []
    after: list[str] = []

    async def stamp(uow: UnitOfWork, event: ConversationCompleted) -> None:
        inside.append(event.conversation.id)
        changes = ConversationChanges(title="stamped by the reaction")
        await conversations.update_conversation(uow, event.conversation.id, changes)

    reactions.on(ConversationCompleted, stamp)
    reactions.after(ConversationCompleted, lambda e: after.append(e.conversation.id))
    mine, _ = wired(db, reactions)
    record, _ = await mine.run(tenant, conversations.create_conversation, NewConversation())
    done = ConversationChanges(status=ConversationStatus.COMPLETED)
    await mine.run(tenant, conversations.update_conversation, record.id, done)
    assert inside == [record.id]
    assert after == [record.id]
    assert await _titles(db, tenant) == ["stamped by the reaction"]


async def test_run_retries_a_lost_race_and_raises_the_final_error(
    db: Database, tenant: str
) -> None:
    attempts: list[int] = []

    async def flaky(uow: UnitOfWork, fail_times: int) -> str:
        attempts.append(1)
        if len(attempts) <= fail_times:
            raise WriteConflict("lost", final=ValidationFailed("gave up", field="id"))
        return "done"

    assert await db.run(tenant, flaky, 2) == "done"
    assert len(attempts) == 3
    attempts.clear()
    with pytest.raises(ValidationFailed, match="gave up"):
        await db.run(tenant, flaky, 5)
    assert len(attempts) == 3

    async def not_retryable(uow: UnitOfWork) -> None:
        attempts.append(1)
        raise WriteConflict("lost", retryable=False)

    attempts.clear()
    with pytest.raises(WriteConflict):
        await db.run(tenant, not_retryable)
    assert len(attempts) == 1


async def test_concurrent_adds_with_one_key_are_one_message(db: Database, tenant: str) -> None:
    """The race the retry exists for: every caller gets the one stored message."""
    record, _ = await db.run(tenant, conversations.create_conversation, NewConversation())
    m = [NewMessage(role=MessageRole.USER, content=f"{i}", client_message_id="k") for i in range(6)]
    results = await asyncio.gather(*(db.run(tenant, messages.add_message, record.id, x) for x in m))
    assert len({r.message.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    async with db.read() as conn:
        count = await conn.scalar(select(func.count()).where(messages_table.c.tenant_id == tenant))
    assert count == 1


async def test_a_read_only_unit_of_work_holds_no_write_lock(db: Database, tenant: str) -> None:
    """Readers never wait for SQLite's process write lock (a writer holds it meanwhile)."""
    record, _ = await db.run(tenant, conversations.create_conversation, NewConversation())
    async with db(tenant) as writer:
        await conversations.update_conversation(writer, record.id, ConversationChanges(title="x"))
        async with db.reading(tenant) as reader:
            found = await asyncio.wait_for(conversations.get_conversation(reader, record.id), 5)
        assert found.id == record.id
        await writer.commit()
