"""Output types of the agents' queries: context, usage, search (plain fields, built once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from conversation_service.domain.context import ConversationContextResult
from conversation_service.domain.search import SearchResult
from conversation_service.domain.sources import SourcedMessages, source_cursor
from conversation_service.domain.usage import AgentUsageRecord
from conversation_service.resolvers.loaders import load_conversation, load_customer
from conversation_service.schema.scalars import JSON, saturated_int
from conversation_service.schema.types import Message, MessageConnection, PageInfo


@strawberry.type(description="The newest messages that fit the budget, oldest first.")
class ConversationContext:
    conversation_id: strawberry.ID
    messages: list[Message]
    total_tokens: int
    truncated: bool = strawberry.field(description="true when older messages were left out")
    omitted_messages: int
    oversized_message_ids: list[strawberry.ID] = strawberry.field(
        description="messages that alone exceed the budget"
    )

    @strawberry.field(
        description="The conversation's customer from the tenant's CRM (cached), for agents that "
        "want it in their context; null when none or unreachable (see extensions.warnings)."
    )
    async def customer(self, info: strawberry.Info) -> JSON | None:
        record = await load_conversation(info, self.conversation_id)
        customer: JSON | None = await load_customer(info, record)
        return customer

    @classmethod
    def from_result(cls, r: ConversationContextResult) -> ConversationContext:
        return cls(
            conversation_id=strawberry.ID(r.conversation_id),
            messages=[Message.from_record(m) for m in r.messages],
            total_tokens=r.total_tokens,
            truncated=r.truncated,
            omitted_messages=r.omitted_messages,
            oversized_message_ids=[strawberry.ID(i) for i in r.oversized_message_ids],
        )


@strawberry.type
class AgentUsage:
    agent_id: str
    conversations: int
    messages: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int = strawberry.field(description="promptTokens + completionTokens")
    content_tokens: int = strawberry.field(description="sum of the messages' tokenCount")
    conversation_tokens: int = strawberry.field(
        description="what these messages add to their conversations' totalTokens (the "
        "execution's total when reported, else the token count)"
    )

    @classmethod
    def from_record(cls, r: AgentUsageRecord) -> AgentUsage:
        """Sums of 32-bit counts: saturated at GraphQL's Int bound, like Conversation's."""
        return cls(
            agent_id=r.agent_id,
            conversations=r.conversations,
            messages=r.messages,
            prompt_tokens=saturated_int(r.prompt_tokens),
            completion_tokens=saturated_int(r.completion_tokens),
            total_tokens=saturated_int(r.total_tokens),
            content_tokens=saturated_int(r.content_tokens),
            conversation_tokens=saturated_int(r.conversation_tokens),
        )


@strawberry.type
class MessageSearchEdge:
    cursor: str
    node: Message
    rank: float = strawberry.field(description="higher is better")
    snippet: str = strawberry.field(description="matched words wrapped in <b>...</b>")


@strawberry.type
class MessageSearchConnection:
    edges: list[MessageSearchEdge]
    page_info: PageInfo
    count_query: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Messages matching (counted only when asked).")
    async def total_count(self) -> int:
        return await self.count_query()

    @classmethod
    def from_result(
        cls, r: SearchResult, count_query: Callable[[], Awaitable[int]]
    ) -> MessageSearchConnection:
        edges = [
            MessageSearchEdge(
                cursor=h.cursor, node=Message.from_record(h.message), rank=h.rank, snippet=h.snippet
            )
            for h in r.hits
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=r.has_next,
                has_previous_page=r.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count_query=count_query,
        )


def sourced_connection(s: SourcedMessages) -> MessageConnection:
    """messagesBySource: a MessageConnection whose cursors are (createdAt, id) keys."""
    nodes = [Message.from_record(r) for r in s.items]
    cursors = [source_cursor(r) for r in s.items]
    return MessageConnection(
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=s.has_next,
            has_previous_page=s.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count=s.total,
        cursors=cursors,
    )
