"""GraphQL enums: the domain enums, exposed by member name (ACTIVE, USER...), each value
described (the domain enums stay plain `StrEnum`s, so the descriptions are attached here)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import strawberry

from conversation_service.domain import enums
from conversation_service.domain.records import CrmSyncStatus as DomainCrmSyncStatus

E = TypeVar("E", bound=type[StrEnum])


def described_enum(cls: E, name: str, description: str, values: dict[str, str]) -> E:
    """`strawberry.enum` plus one description per member; a member without one fails here,
    at import, rather than reaching the schema undocumented."""
    missing = {m.name for m in cls} ^ set(values)
    if missing:
        raise ValueError(f"{name}: describe exactly its members (mismatch: {sorted(missing)})")
    described = strawberry.enum(cls, name=name, description=description)
    for value in described.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return described


ConversationStatus = described_enum(
    enums.ConversationStatus,
    "ConversationStatus",
    "Lifecycle of a conversation (REST spells the values in lowercase).",
    {
        "ACTIVE": "Ongoing: the default for a new conversation.",
        "COMPLETED": "Finished. Setting it queues a CRM sync when the tenant's CRM has "
        "`auto_sync_on_complete`.",
        "TRANSFERRED": "Handed over (e.g. to a human agent or another system).",
        "ARCHIVED": "Kept for the record; its messages stay readable.",
    },
)
MessageRole = described_enum(
    enums.MessageRole,
    "MessageRole",
    "Who wrote a message (REST spells the values in lowercase and reads `function` as TOOL).",
    {
        "USER": "The end user.",
        "ASSISTANT": "The agent or model; may carry `toolCalls`.",
        "SYSTEM": "Instructions for the model; pinned first in `conversationContext`.",
        "TOOL": "A tool's answer to an assistant's call, named by `toolCallId`.",
    },
)
StateType = described_enum(
    enums.StateType,
    "StateType",
    "What a state entry holds; a label for the caller, every type behaves the same.",
    {
        "CONTEXT": "Context the agent works with.",
        "MEMORY": "Something the agent remembers across turns.",
        "VARIABLE": "A plain variable: the default.",
    },
)
SortOrder = described_enum(
    enums.SortOrder,
    "SortOrder",
    "Direction of a list's order.",
    {"ASC": "Oldest (smallest) first.", "DESC": "Newest (largest) first."},
)
CrmSyncStatus = described_enum(
    DomainCrmSyncStatus,
    "CrmSyncStatus",
    "Where a conversation's sync with the tenant's CRM stands.",
    {
        "NONE": 'Never asked to sync (error "no CRM configured" when the tenant has no CRM).',
        "PENDING": "Queued or being retried; `error` holds the last failure, `attempts` the "
        "attempts so far.",
        "SYNCED": "`lastSyncedSeq` reached the CRM at `syncedAt`.",
        "FAILED": "CRM_SYNC_MAX_ATTEMPTS attempts failed, or the CRM rejected the push (4xx); "
        "asking again starts over.",
    },
)
