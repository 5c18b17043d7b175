"""Root Query."""

from __future__ import annotations

import strawberry

from conversation_service.resolvers import agents, audit, conversations, messages, state
from conversation_service.schema.agent_types import (
    AgentUsage,
    ConversationContext,
    MessageSearchConnection,
)
from conversation_service.schema.audit_types import AuditEntryConnection
from conversation_service.schema.types import (
    Conversation,
    ConversationConnection,
    MessageConnection,
    StateEntry,
)


@strawberry.type(
    description="Reads, all scoped to the caller's tenant. Errors carry `extensions.code` "
    "(BAD_USER_INPUT with `extensions.field`, NOT_FOUND, UNAUTHENTICATED, FORBIDDEN, "
    "RATE_LIMITED, UNAVAILABLE, INTERNAL)."
)
class Query:
    conversation: Conversation | None = strawberry.field(
        resolver=conversations.conversation,
        description="A conversation of the caller's tenant; null when unknown (or another "
        "tenant's).",
    )
    conversations: ConversationConnection = strawberry.field(
        resolver=conversations.conversations,
        description="Conversations of the tenant, newest first by default. Offset "
        "(page/pageSize) or keyset (first/after) pages, never both (BAD_USER_INPUT).",
    )
    messages: MessageConnection = strawberry.field(
        resolver=messages.messages,
        description="Messages of one conversation in seq order (50 per page by default); an "
        "unknown conversation is NOT_FOUND.",
    )
    conversation_state: StateEntry | None = strawberry.field(
        resolver=state.conversation_state,
        description="A live state entry; null when absent or expired, NOT_FOUND when the "
        "conversation is unknown.",
    )
    conversation_context: ConversationContext = strawberry.field(
        resolver=agents.conversation_context,
        description="The newest messages that fit maxTokens / maxMessages (defaults: the "
        "model's window, the tenant tier's message limit); system messages pinned.",
    )
    messages_by_source: MessageConnection = strawberry.field(
        resolver=agents.messages_by_source,
        description="Every message that cited a RAG document, oldest first (keyset on "
        "createdAt, id; a message citing it twice is listed once).",
    )
    agent_usage: AgentUsage = strawberry.field(
        resolver=agents.agent_usage,
        description="Messages and tokens of an agent's conversations in a period.",
    )
    search_messages: MessageSearchConnection = strawberry.field(
        resolver=agents.search_messages,
        description="Full-text search over message content, best match first: every word "
        "must match.",
    )
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit.audit_log,
        description="The tenant's audit log, newest first (keyset: first/after): one entry per "
        "write by any door and per admin action. Admins only (other roles get FORBIDDEN).",
    )
