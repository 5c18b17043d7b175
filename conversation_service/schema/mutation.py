"""Root Mutation: the same operations as the REST shim and the worker."""

from __future__ import annotations

import strawberry

from conversation_service.resolvers import conversations, crm, lifecycle, messages, state
from conversation_service.schema.lifecycle_types import ErasureReceipt, RetentionPolicy
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
    update_conversation_state: StateEntry = strawberry.mutation(
        resolver=state.update_conversation_state,
        description="Compare-and-set with expectedVersion; value null deletes the key.",
    )
    sync_conversation_to_crm: CrmSync = strawberry.mutation(
        resolver=crm.sync_conversation_to_crm,
        description="Queues a sync of the conversation to the tenant's CRM; PENDING until done.",
    )
    set_retention_policy: RetentionPolicy = strawberry.mutation(
        resolver=lifecycle.set_retention_policy_,
        description="Sets some of the tenant's retention periods (admin; audited).",
    )
    erase_subject: ErasureReceipt = strawberry.mutation(
        resolver=lifecycle.erase_subject,
        description="Erases everything stored about a subject, leaving tombstones so history "
        "stays gapless; idempotent (admin; audited). Subscribers of messageErased see each "
        "erased message.",
    )
