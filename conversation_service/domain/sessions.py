"""Rules for the platform's session-shaped traffic: a turn (user + assistant) recorded into a
conversation created on first use, messages saved by session, and a session closed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain import validation as v
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import ConversationChanges, NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation, update_conversation
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.messages import Appended, add_message
from conversation_service.domain.records import ConversationRecord, MessageRecord
from conversation_service.models import conversations

C = conversations.c


async def find_session_conversation(
    db: Database,
    tenant_id: str,
    session_id: str,
    agent_id: str | None = None,
    *,
    uow: UnitOfWork | None = None,
) -> ConversationRecord | None:
    """The newest conversation of a session (and agent, when given)."""
    v.identifier(session_id, "session_id")
    stmt = select(conversations).where(C.tenant_id == tenant_id, C.session_id == session_id)
    if agent_id is not None:
        stmt = stmt.where(C.agent_id == agent_id)
    stmt = stmt.order_by(C.created_at.desc(), C.id.desc()).limit(1)
    if uow is not None:
        row = (await uow.conn.execute(stmt)).first()
    else:
        async with db.read() as conn:
            row = (await conn.execute(stmt)).first()
    return ConversationRecord.from_row(row) if row is not None else None


async def ensure_conversation(
    db: Database, tenant_id: str, new: NewConversation, *, uow: UnitOfWork | None = None
) -> tuple[ConversationRecord, bool]:
    """Create on first use: by the caller's id when given, else the session's newest
    conversation, else a new one. Returns the record and whether it was created now."""
    async with db.transaction(uow) as tx:
        if new.id is None:
            if new.session_id is None:
                raise ValidationFailed(
                    "conversation_id or session_id is required", field="conversation_id"
                )
            found = await find_session_conversation(
                db, tenant_id, new.session_id, new.agent_id, uow=tx
            )
            if found is not None:
                return found, False
        return await create_conversation(db, tenant_id, new, uow=tx)


@dataclass(slots=True)
class Turn:
    conversation: ConversationRecord
    user_message: MessageRecord
    assistant_message: MessageRecord
    conversation_created: bool


async def record_turn(
    db: Database,
    tenant_id: str,
    conversation: NewConversation,
    user: NewMessage,
    assistant: NewMessage,
    *,
    uow: UnitOfWork | None = None,
) -> Turn:
    """One agent turn: the conversation is created on first use, then the user's message and
    the assistant's are appended in that order, all in one transaction. Give both messages a
    `client_message_id` to make a retried turn a no-op."""
    async with db.transaction(uow) as tx:
        record, created = await ensure_conversation(db, tenant_id, conversation, uow=tx)
        first = await add_message(db, tenant_id, record.id, user, uow=tx)
        second = await add_message(db, tenant_id, record.id, assistant, uow=tx)
        latest = second.conversation or first.conversation or record
    return Turn(latest, first.message, second.message, created)


async def save_session_message(
    db: Database,
    tenant_id: str,
    conversation: NewConversation,
    message: NewMessage,
    *,
    uow: UnitOfWork | None = None,
) -> Appended:
    """Append one message to the conversation named by id or by session, created on first use."""
    async with db.transaction(uow) as tx:
        record, _ = await ensure_conversation(db, tenant_id, conversation, uow=tx)
        return await add_message(db, tenant_id, record.id, message, uow=tx)


async def close_session(
    db: Database,
    tenant_id: str,
    session_id: str,
    agent_id: str | None = None,
    *,
    uow: UnitOfWork | None = None,
) -> list[ConversationRecord]:
    """The user left: the session's active conversations become COMPLETED, stamped with
    `metadata.session_closed_at`. Closing an already closed session changes nothing."""
    v.identifier(session_id, "session_id")
    v.identifier(agent_id, "agent_id")
    stmt = select(conversations).where(
        C.tenant_id == tenant_id,
        C.session_id == session_id,
        C.status == ConversationStatus.ACTIVE.value,
    )
    if agent_id is not None:
        stmt = stmt.where(C.agent_id == agent_id)
    closed: list[ConversationRecord] = []
    async with db.transaction(uow) as tx:
        stmt = stmt.order_by(C.created_at, C.id)
        if tx.dialect == "postgresql":
            stmt = stmt.with_for_update()  # no concurrent metadata update lost in between
        rows = (await tx.conn.execute(stmt)).all()
        now = utcnow().isoformat()
        for row in rows:
            current = ConversationRecord.from_row(row)
            changes = ConversationChanges(
                status=ConversationStatus.COMPLETED,
                metadata={**current.metadata, "session_closed_at": now},
                expected_version=current.version,
            )
            closed.append(await update_conversation(db, tenant_id, current.id, changes, uow=tx))
    return closed
