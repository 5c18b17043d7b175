"""Message resolvers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from conversation_service.domain import messages as domain
from conversation_service.domain.analysis import AnalysisFilter
from conversation_service.domain.identity import Role
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
from conversation_service.schema.inputs import AddMessageInput, MessageAnalysisInput
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
    intent: Annotated[
        str | None, strawberry.argument(description="Only messages of this intent.")
    ] = None,
    min_sentiment: Annotated[
        float | None,
        strawberry.argument(description="Only messages with a sentiment >= this (-1..1)."),
    ] = None,
    max_sentiment: Annotated[
        float | None,
        strawberry.argument(description="Only messages with a sentiment <= this (-1..1)."),
    ] = None,
) -> MessageConnection:
    ctx = info.context
    window = MessageWindow(first, after, last, before, from_timestamp, limit)
    analysis = AnalysisFilter(intent, min_sentiment, max_sentiment)
    result = await ctx.db.query(
        ctx.tenant_id, domain.list_messages, conversation_id, window, analysis
    )
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


async def annotate_message(
    info: strawberry.Info,
    message_id: Annotated[strawberry.ID, strawberry.argument(description="The message's id.")],
    input: Annotated[
        MessageAnalysisInput,
        strawberry.argument(description="The analysis; it replaces the stored one."),
    ],
) -> Message:
    ctx = info.context
    ctx.require(Role.WRITER)
    record = await ctx.db.run(
        ctx.tenant_id, domain.annotate_message, message_id, input.to_command()
    )
    return Message.from_record(record)
