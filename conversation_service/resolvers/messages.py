"""Message resolvers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from conversation_service.domain import messages as domain
from conversation_service.domain.analysis import AnalysisFilter
from conversation_service.domain.identity import Role
from conversation_service.domain.pagination import MessageWindow
from conversation_service.schema.inputs import AddMessageInput, MessageAnalysisInput
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
    info: strawberry.Info, conversation_id: strawberry.ID, input: AddMessageInput
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
