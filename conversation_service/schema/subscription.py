"""Root Subscription (served over WebSocket by web/ws/)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from conversation_service.resolvers import subscriptions
from conversation_service.schema.types import Conversation, Message, StateEntry


@strawberry.type(
    description="Live feeds over WebSocket (graphql-transport-ws or the legacy graphql-ws) on "
    "/graphql, whichever instance or door wrote the change."
)
class Subscription:
    message_added: AsyncGenerator[Message, None] = strawberry.subscription(
        resolver=subscriptions.message_added,
        description="Every committed message of the tenant matching the filter, once each and in "
        "seq order per conversation. afterSeq (with conversationId) first replays stored "
        "messages after it. agentId/userId filter on the conversation's agent and user.",
    )
    message_erased: AsyncGenerator[Message, None] = strawberry.subscription(
        resolver=subscriptions.message_erased,
        description="Each message of the tenant (or of one conversation, agent or user) as it "
        "is erased by retention or eraseSubject: the tombstone (same id and seq, erased: true, "
        "content empty), so a client cache drops what it held. Live only: after a reconnect, "
        "re-read (every erased message reads erased: true).",
    )
    message_annotated: AsyncGenerator[Message, None] = strawberry.subscription(
        resolver=subscriptions.message_annotated,
        description="Messages annotated by annotateMessage (the `annotated` event), each "
        "annotation once, newest wins per message; an analysis sent with addMessage arrives on "
        "messageAdded instead. Filters as messageAdded's.",
    )
    conversation_changed: AsyncGenerator[Conversation, None] = strawberry.subscription(
        resolver=subscriptions.conversation_changed,
        description="Changes of a conversation (or of all of the tenant's); newer versions only.",
    )
    state_changed: AsyncGenerator[StateEntry, None] = strawberry.subscription(
        resolver=subscriptions.state_changed,
        description="Changes of a conversation's state; a deleted key arrives with value null.",
    )
