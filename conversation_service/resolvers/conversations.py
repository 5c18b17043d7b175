"""Conversation resolvers: parse arguments, call one domain function, shape the result."""

from __future__ import annotations

from functools import partial

import strawberry

from conversation_service.domain import conversations as domain
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.enums import SortOrder
from conversation_service.domain.pagination import ConversationPage
from conversation_service.domain.validation import uuid_id
from conversation_service.schema.inputs import (
    ConversationFilter,
    CreateConversationInput,
    UpdateConversationInput,
)
from conversation_service.schema.types import Conversation, ConversationConnection


async def conversation(info: strawberry.Info, id: strawberry.ID) -> Conversation | None:
    ctx = info.context
    tenant = ctx.tenant_id
    record = await ctx.db.query(tenant, domain.get_conversation_or_none, uuid_id(id, "id"))
    return Conversation.from_record(record) if record is not None else None


async def conversations(
    info: strawberry.Info,
    filter: ConversationFilter | None = None,
    page: int | None = None,
    page_size: int | None = None,
    first: int | None = None,
    after: str | None = None,
    order: SortOrder = SortOrder.DESC,
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
    info: strawberry.Info, input: CreateConversationInput
) -> Conversation:
    ctx = info.context
    record, _ = await ctx.db.run(ctx.tenant_id, domain.create_conversation, input.to_command())
    return Conversation.from_record(record)


async def update_conversation(
    info: strawberry.Info, id: strawberry.ID, input: UpdateConversationInput
) -> Conversation:
    ctx = info.context
    record = await ctx.db.run(ctx.tenant_id, domain.update_conversation, id, input.to_command())
    return Conversation.from_record(record)
