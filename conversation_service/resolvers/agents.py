"""Resolvers of the agents' queries: context, messages by source, usage, search."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import strawberry

from conversation_service.domain import context, search, sources, usage
from conversation_service.schema.agent_types import (
    AgentUsage,
    ConversationContext,
    MessageSearchConnection,
    sourced_connection,
)
from conversation_service.schema.types import MessageConnection


async def conversation_context(
    info: strawberry.Info,
    conversation_id: strawberry.ID,
    max_tokens: int | None = None,
    max_messages: int | None = None,
    model: str | None = None,
    include_system: bool | None = True,
) -> ConversationContext:
    ctx = info.context
    result = await ctx.db.query(
        ctx.tenant_id,
        context.build_context,
        conversation_id,
        max_tokens=max_tokens,
        max_messages=max_messages,
        model=model,
        include_system=include_system is not False,
    )
    return ConversationContext.from_result(result)


async def messages_by_source(
    info: strawberry.Info, document_id: str, first: int | None = None, after: str | None = None
) -> MessageConnection:
    ctx = info.context
    result = await ctx.db.query(
        ctx.tenant_id, sources.messages_by_source, document_id, first, after
    )
    return sourced_connection(result)


async def agent_usage(
    info: strawberry.Info,
    agent_id: str,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
) -> AgentUsage:
    ctx = info.context
    record = await ctx.db.query(ctx.tenant_id, usage.agent_usage, agent_id, from_date, to_date)
    return AgentUsage.from_record(record)


async def search_messages(
    info: strawberry.Info,
    query: str,
    conversation_id: strawberry.ID | None = None,
    agent_id: str | None = None,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
    first: int | None = None,
    after: str | None = None,
) -> MessageSearchConnection:
    ctx = info.context
    tenant = ctx.tenant_id
    q = search.SearchQuery(query, conversation_id, agent_id, from_date, to_date).validated()
    result = await ctx.db.query(tenant, search.search_messages, q, first, after)
    return MessageSearchConnection.from_result(
        result, partial(ctx.db.query, tenant, search.count_search, q)
    )
