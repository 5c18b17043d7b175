"""Root Query."""

from __future__ import annotations

import strawberry

from conversation_service.resolvers import conversations, messages, state
from conversation_service.schema.types import (
    Conversation,
    ConversationConnection,
    MessageConnection,
    StateEntry,
)


@strawberry.type
class Query:
    conversation: Conversation | None = strawberry.field(
        resolver=conversations.conversation,
        description="A conversation of the caller's tenant; null when unknown.",
    )
    conversations: ConversationConnection = strawberry.field(
        resolver=conversations.conversations,
        description="Newest first by default. Offset (page/pageSize) or keyset (first/after).",
    )
    messages: MessageConnection = strawberry.field(
        resolver=messages.messages, description="Messages of one conversation in seq order."
    )
    conversation_state: StateEntry | None = strawberry.field(
        resolver=state.conversation_state, description="A live state entry; null when absent."
    )
