"""Small builders for the domain tests: conversations and messages through the domain API."""

from __future__ import annotations

from typing import Any

from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.messages import add_message
from conversation_service.domain.records import MessageRecord


def msg(role: str, content: str = "x", tokens: int | None = None, **kw: Any) -> NewMessage:
    return NewMessage(role=MessageRole(role), content=content, token_count=tokens, **kw)


async def conversation(db: Any, tenant: str, *messages: NewMessage, **kw: Any) -> str:
    record, _ = await db.run(
        tenant, create_conversation, NewConversation(initial_messages=list(messages), **kw)
    )
    return record.id


async def add(db: Any, tenant: str, cid: str, m: NewMessage) -> MessageRecord:
    return (await db.run(tenant, add_message, cid, m)).message
