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


@strawberry.type(
    description="What an agent sends its model: the pinned system messages, then the longest "
    "contiguous run of newest messages that fits the budget, oldest first. A message is never "
    "skipped to fit an older one; an assistant message with toolCalls and the TOOL messages "
    "answering it go in whole or not at all."
)
class ConversationContext:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation.")
    messages: list[Message] = strawberry.field(
        description="The context's messages, oldest first (system messages first when pinned)."
    )
    total_tokens: int = strawberry.field(
        description="Sum of the returned messages' tokenCount, system messages included."
    )
    truncated: bool = strawberry.field(
        description="True when older non-system messages were left out."
    )
    omitted_messages: int = strawberry.field(
        description="How many non-system messages were left out."
    )
    oversized_message_ids: list[strawberry.ID] = strawberry.field(
        description="Messages that alone exceed the token budget (left after the system "
        "messages), which ended the walk."
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


@strawberry.type(
    description="An agent's usage in a period: the messages created then in the conversations "
    "whose agentId is the agent. Token sums saturate at 2147483647 (GraphQL's Int bound)."
)
class AgentUsage:
    agent_id: str = strawberry.field(description="The agent asked about.")
    conversations: int = strawberry.field(
        description="The agent's conversations that have a message in the period."
    )
    messages: int = strawberry.field(description="Messages created in the period.")
    prompt_tokens: int = strawberry.field(
        description="Sum of the executions' reported promptTokens."
    )
    completion_tokens: int = strawberry.field(
        description="Sum of the executions' reported completionTokens."
    )
    total_tokens: int = strawberry.field(
        description="The sum promptTokens + completionTokens: what the agent's executions cost."
    )
    content_tokens: int = strawberry.field(description="Sum of the messages' tokenCount.")
    conversation_tokens: int = strawberry.field(
        description="What these messages add to their conversations' totalTokens (the "
        "execution's total when reported, else the token count)."
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


@strawberry.type(description="A message that matched a search, with its rank and snippet.")
class MessageSearchEdge:
    cursor: str = strawberry.field(
        description="Opaque position (rank, id) of this hit: pass it as `after` to searchMessages."
    )
    node: Message = strawberry.field(description="The matching message.")
    rank: float = strawberry.field(
        description="Relevance: higher is better; comparable only within one search."
    )
    snippet: str = strawberry.field(
        description="The content around the matches, matched words wrapped in <b>...</b>. "
        "The content is not HTML-escaped: escape it before rendering, keeping the markers."
    )


@strawberry.type(description="A page of search hits, best match first (ties by message id).")
class MessageSearchConnection:
    edges: list[MessageSearchEdge] = strawberry.field(description="The page's hits.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the hits.")
    count_query: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="Messages matching (counted only when asked). On PostgreSQL at most "
        "SEARCH_MAX_CANDIDATES (default 1000), the newest matches the search ranks."
    )
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
