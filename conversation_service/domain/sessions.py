"""Rules for the platform's session-shaped traffic: a turn (user + assistant) recorded into a
conversation created on first use, messages saved by session, and a session closed.

These services compose the conversation and message services in the caller's unit of work
(one transaction); nothing here calls back into this module, so the arrows only go down.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from conversation_service.domain import validation as v
from conversation_service.domain.commands import ConversationChanges, NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation, update_conversation
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import ValidationFailed, WriteConflict
from conversation_service.domain.messages import Appended, add_message
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, MessageRecord

T = TypeVar("T")


async def find_session_conversation(
    uow: UnitOfWork, session_id: str, agent_id: str | None = None
) -> ConversationRecord | None:
    """The newest conversation of a session (and agent, when given)."""
    v.identifier(session_id, "session_id")
    return await uow.conversations.newest_of_session(session_id, agent_id)


async def ensure_conversation(
    uow: UnitOfWork, new: NewConversation
) -> tuple[ConversationRecord, bool]:
    """Create on first use: by the caller's id when given, else the session's newest
    conversation, else a new one. Returns the record and whether it was created now."""
    if new.id is None:
        if new.session_id is None:
            raise ValidationFailed(
                "conversation_id or session_id is required", field="conversation_id"
            )
        found = await find_session_conversation(uow, new.session_id, new.agent_id)
        if found is not None:
            return found, False
    return await _composed(create_conversation(uow, new))


async def _composed(step: Awaitable[T]) -> T:
    """A step of a composed service: a lost race spoils the whole transaction, so it is never
    retried on its own (the caller, e.g. the worker, runs the whole action again)."""
    try:
        return await step
    except WriteConflict as exc:
        exc.retryable = False
        raise


@dataclass(slots=True)
class Turn:
    conversation: ConversationRecord
    user_message: MessageRecord
    assistant_message: MessageRecord
    conversation_created: bool


async def record_turn(
    uow: UnitOfWork, conversation: NewConversation, user: NewMessage, assistant: NewMessage
) -> Turn:
    """One agent turn: the conversation is created on first use, then the user's message and
    the assistant's are appended in that order, all in one transaction. Give both messages a
    `client_message_id` to make a retried turn a no-op."""
    record, created = await ensure_conversation(uow, conversation)
    first = await _composed(add_message(uow, record.id, user))
    second = await _composed(add_message(uow, record.id, assistant))
    latest = second.conversation or first.conversation or record
    return Turn(latest, first.message, second.message, created)


async def save_session_message(
    uow: UnitOfWork, conversation: NewConversation, message: NewMessage
) -> Appended:
    """Append one message to the conversation named by id or by session, created on first use."""
    record, _ = await ensure_conversation(uow, conversation)
    return await _composed(add_message(uow, record.id, message))


async def close_session(
    uow: UnitOfWork, session_id: str, agent_id: str | None = None
) -> list[ConversationRecord]:
    """The user left: the session's active conversations become COMPLETED, stamped with
    `metadata.session_closed_at`. Closing an already closed session changes nothing."""
    v.identifier(session_id, "session_id")
    v.identifier(agent_id, "agent_id")
    closed: list[ConversationRecord] = []
    now = uow.now().isoformat()
    for current in await uow.conversations.active_of_session(session_id, agent_id):
        changes = ConversationChanges(
            status=ConversationStatus.COMPLETED,
            metadata={**current.metadata, "session_closed_at": now},
            expected_version=current.version,
        )
        closed.append(await update_conversation(uow, current.id, changes))
    return closed
