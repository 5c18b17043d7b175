"""Message resolvers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from conversation_service.domain import messages as domain
from conversation_service.domain.pagination import MessageWindow
from conversation_service.schema.arguments import (
    AFTER_MESSAGE,
    BEFORE_MESSAGE,
    CONVERSATION_ID,
    FIRST_MESSAGES,
    FROM_TIMESTAMP,
    LAST_MESSAGES,
    LIMIT_MESSAGES,
    described,
)
from conversation_service.schema.inputs import AddMessageInput
from conversation_service.schema.types import Message, MessageConnection


async def messages(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, CONVERSATION_ID],
    from_timestamp: Annotated[datetime | None, FROM_TIMESTAMP] = None,
    limit: Annotated[int | None, LIMIT_MESSAGES] = 50,
    first: Annotated[int | None, FIRST_MESSAGES] = None,
    after: Annotated[str | None, AFTER_MESSAGE] = None,
    last: Annotated[int | None, LAST_MESSAGES] = None,
    before: Annotated[str | None, BEFORE_MESSAGE] = None,
) -> MessageConnection:
    ctx = info.context
    window = MessageWindow(first, after, last, before, from_timestamp, limit)
    result = await ctx.db.query(ctx.tenant_id, domain.list_messages, conversation_id, window)
    return MessageConnection.from_slice(result)


async def add_message(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, CONVERSATION_ID],
    input: Annotated[AddMessageInput, described("The message to append.")],
) -> Message:
    ctx = info.context
    result = await ctx.db.run(
        ctx.tenant_id, domain.add_message, conversation_id, input.to_command()
    )
    return Message.from_record(result.message)
