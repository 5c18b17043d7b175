"""Message resolvers."""

from __future__ import annotations

from datetime import datetime

import strawberry

from conversation_service.domain import messages as domain
from conversation_service.domain.pagination import MessageWindow
from conversation_service.schema.inputs import AddMessageInput
from conversation_service.schema.types import Message, MessageConnection


async def messages(
    info: strawberry.Info,
    conversation_id: strawberry.ID,
    from_timestamp: datetime | None = None,
    limit: int | None = 50,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> MessageConnection:
    ctx = info.context
    window = MessageWindow(first, after, last, before, from_timestamp, limit)
    result = await ctx.db.query(ctx.tenant_id, domain.list_messages, conversation_id, window)
    return MessageConnection.from_slice(result)


async def add_message(
    info: strawberry.Info, conversation_id: strawberry.ID, input: AddMessageInput
) -> Message:
    ctx = info.context
    result = await ctx.db.run(
        ctx.tenant_id, domain.add_message, conversation_id, input.to_command()
    )
    return Message.from_record(result.message)
