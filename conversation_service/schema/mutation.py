"""Root Mutation: the same operations as the REST shim and the worker."""

from __future__ import annotations

import strawberry

from conversation_service.resolvers import conversations, crm, messages, state
from conversation_service.schema.types import Conversation, CrmSync, Message, StateEntry


@strawberry.type
class Mutation:
    create_conversation: Conversation = strawberry.mutation(
        resolver=conversations.create_conversation,
        description="Idempotent with a caller-chosen id.",
    )
    update_conversation: Conversation = strawberry.mutation(
        resolver=conversations.update_conversation
    )
    add_message: Message = strawberry.mutation(
        resolver=messages.add_message,
        description="Appends with the next seq; idempotent with clientMessageId.",
    )
    annotate_message: Message = strawberry.mutation(
        resolver=messages.annotate_message,
        description="Writes a message's analysis after the fact (writer role), replacing any "
        "earlier one; subscribers of messageAnnotated get the message.",
    )
    update_conversation_state: StateEntry = strawberry.mutation(
        resolver=state.update_conversation_state,
        description="Compare-and-set with expectedVersion; value null deletes the key.",
    )
    sync_conversation_to_crm: CrmSync = strawberry.mutation(
        resolver=crm.sync_conversation_to_crm,
        description="Queues a sync of the conversation to the tenant's CRM; PENDING until done.",
    )
