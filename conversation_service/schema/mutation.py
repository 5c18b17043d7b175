"""Root Mutation: the same operations as the REST shim and the worker."""

from __future__ import annotations

import strawberry

from conversation_service.resolvers import conversations, crm, lifecycle, messages, state
from conversation_service.schema.lifecycle_types import ErasureReceipt, RetentionPolicy
from conversation_service.schema.types import Conversation, CrmSync, Message, StateEntry


@strawberry.type(
    description="Writes, each in one transaction, with the same rules as the REST shim and "
    "the worker. A bad input is BAD_USER_INPUT and writes nothing."
)
class Mutation:
    create_conversation: Conversation = strawberry.mutation(
        resolver=conversations.create_conversation,
        description="Creates a conversation (and its initialMessages); idempotent with a "
        "caller-chosen id, which returns the existing one unchanged.",
    )
    update_conversation: Conversation = strawberry.mutation(
        resolver=conversations.update_conversation,
        description="Changes the fields sent; compare-and-set with expectedVersion (CONFLICT "
        "when the version differs). Unknown id: NOT_FOUND.",
    )
    add_message: Message = strawberry.mutation(
        resolver=messages.add_message,
        description="Appends a message with the next seq; idempotent with clientMessageId. "
        "Unknown conversation: NOT_FOUND.",
    )
    annotate_message: Message = strawberry.mutation(
        resolver=messages.annotate_message,
        description="Writes a message's analysis after the fact (writer role), replacing any "
        "earlier one; subscribers of messageAnnotated get the message.",
    )
    update_conversation_state: StateEntry = strawberry.mutation(
        resolver=state.update_conversation_state,
        description="Sets a state key; value null deletes it; compare-and-set with "
        "expectedVersion (CONFLICT when it differs). Returns the entry as written.",
    )
    sync_conversation_to_crm: CrmSync = strawberry.mutation(
        resolver=crm.sync_conversation_to_crm,
        description="Queues a sync of the conversation, at its current lastSeq, to the "
        "tenant's CRM: PENDING until done (SYNCED at once when that seq was already pushed; "
        "NONE when the tenant has no CRM). Never waits for the CRM.",
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
