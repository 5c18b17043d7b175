"""Conversation resolvers: parse arguments, call one domain function, shape the result."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import strawberry

from conversation_service.domain import conversations as domain
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.enums import SortOrder
from conversation_service.domain.pagination import ConversationPage
from conversation_service.domain.validation import uuid_id
from conversation_service.schema.arguments import AFTER_CURSOR, described
from conversation_service.schema.inputs import (
    ConversationFilter,
    CreateConversationInput,
    UpdateConversationInput,
)
from conversation_service.schema.types import Conversation, ConversationConnection


async def conversation(
    info: strawberry.Info,
    id: Annotated[
        strawberry.ID,
        described("The conversation's id (a UUID; anything else is BAD_USER_INPUT)."),
    ],
) -> Conversation | None:
    ctx = info.context
    tenant = ctx.tenant_id
    record = await ctx.db.query(tenant, domain.get_conversation_or_none, uuid_id(id, "id"))
    return Conversation.from_record(record) if record is not None else None


async def conversations(
    info: strawberry.Info,
    filter: Annotated[
        ConversationFilter | None,
        described("Which conversations; every given field must match. Absent: all of them."),
    ] = None,
    page: Annotated[
        int | None,
        described("Offset page number, from 1 (default 1). Not with `first`/`after`."),
    ] = None,
    page_size: Annotated[
        int | None,
        described("Offset page size, 1-100 (default 20). Not with `first`/`after`."),
    ] = None,
    first: Annotated[
        int | None,
        described(
            "Keyset page size, 0-100 (default 20), on (createdAt, id). Not with `page`/`pageSize`."
        ),
    ] = None,
    after: Annotated[str | None, AFTER_CURSOR] = None,
    order: Annotated[
        SortOrder, described("Order by createdAt (then id): DESC, newest first, by default.")
    ] = SortOrder.DESC,
) -> ConversationConnection:
    ctx = info.context
    tenant = ctx.tenant_id
    query = filter.to_query() if filter is not None else ConversationQuery()
    window = ConversationPage(page, page_size, first, after, order == SortOrder.DESC)
    result = await ctx.db.query(tenant, domain.list_conversations, query, window)
    return ConversationConnection.from_slice(
        result, partial(ctx.db.query, tenant, domain.count_conversations, query)
    )


async def create_conversation(
    info: strawberry.Info,
    input: Annotated[CreateConversationInput, described("The conversation to create.")],
) -> Conversation:
    ctx = info.context
    record, _ = await ctx.db.run(ctx.tenant_id, domain.create_conversation, input.to_command())
    return Conversation.from_record(record)


async def update_conversation(
    info: strawberry.Info,
    id: Annotated[strawberry.ID, described("The conversation's id (a UUID); unknown: NOT_FOUND.")],
    input: Annotated[
        UpdateConversationInput,
        described("The fields to change; fields not sent stay as they are."),
    ],
) -> Conversation:
    ctx = info.context
    record = await ctx.db.run(ctx.tenant_id, domain.update_conversation, id, input.to_command())
    return Conversation.from_record(record)
