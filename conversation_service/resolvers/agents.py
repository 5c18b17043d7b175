"""Resolvers of the agents' queries: context, messages by source, usage, search."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

import strawberry

from conversation_service.domain import context, search, sources, usage
from conversation_service.schema.agent_types import (
    AgentUsage,
    ConversationContext,
    MessageSearchConnection,
    sourced_connection,
)
from conversation_service.schema.arguments import (
    AFTER_CURSOR,
    CONVERSATION_ID,
    FIRST_PAGE,
    FROM_DATE,
    TO_DATE,
    described,
)
from conversation_service.schema.types import MessageConnection


async def conversation_context(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, CONVERSATION_ID],
    max_tokens: Annotated[
        int | None,
        described(
            "Token budget (1-10,000,000), system messages included. Absent: the window of "
            "`model` when given and known (else DEFAULT_CONTEXT_TOKENS), else no token limit."
        ),
    ] = None,
    max_messages: Annotated[
        int | None,
        described(
            "Most non-system messages to include (0-1000). Absent: the tenant tier's limit "
            "(TENANT_TIERS / DEFAULT_TIER)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        described(
            'The model the context is for (e.g. "gpt-4o-2024-08-06"): its context window, '
            "found by longest matching prefix, is the default `maxTokens`."
        ),
    ] = None,
    include_system: Annotated[
        bool | None,
        described(
            "Pin the system messages first (counted in maxTokens, not in maxMessages); "
            "false leaves them out."
        ),
    ] = True,
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
    info: strawberry.Info,
    document_id: Annotated[
        str, described("The RAG document's id, as in `MessageSourceInput.documentId`.")
    ],
    first: Annotated[int | None, FIRST_PAGE] = None,
    after: Annotated[str | None, AFTER_CURSOR] = None,
) -> MessageConnection:
    ctx = info.context
    result = await ctx.db.query(
        ctx.tenant_id, sources.messages_by_source, document_id, first, after
    )
    return sourced_connection(result)


async def agent_usage(
    info: strawberry.Info,
    agent_id: Annotated[
        str, described("The agent, as in `Conversation.agentId` (1-255 characters).")
    ],
    from_date: Annotated[datetime | None, FROM_DATE] = None,
    to_date: Annotated[datetime | None, TO_DATE] = None,
) -> AgentUsage:
    ctx = info.context
    record = await ctx.db.query(ctx.tenant_id, usage.agent_usage, agent_id, from_date, to_date)
    return AgentUsage.from_record(record)


async def search_messages(
    info: strawberry.Info,
    query: Annotated[
        str,
        described(
            "Words to find (1-500 characters); every word must match. Operators and quotes "
            "are plain text, never a syntax error."
        ),
    ],
    conversation_id: Annotated[
        strawberry.ID | None, described("Only messages of this conversation (a UUID).")
    ] = None,
    agent_id: Annotated[
        str | None, described("Only messages whose conversation this agent runs.")
    ] = None,
    from_date: Annotated[datetime | None, FROM_DATE] = None,
    to_date: Annotated[datetime | None, TO_DATE] = None,
    first: Annotated[int | None, FIRST_PAGE] = None,
    after: Annotated[str | None, AFTER_CURSOR] = None,
) -> MessageSearchConnection:
    ctx = info.context
    tenant = ctx.tenant_id
    q = search.SearchQuery(query, conversation_id, agent_id, from_date, to_date).validated()
    result = await ctx.db.query(tenant, search.search_messages, q, first, after)
    return MessageSearchConnection.from_result(
        result, partial(ctx.db.query, tenant, search.count_search, q)
    )
