"""Inputs of the domain functions, already parsed by a door but not yet validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType


class _Unset:
    """Marks an optional field the caller did not send (distinct from an explicit null)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


@dataclass(slots=True)
class NewMessage:
    role: MessageRole
    content: str
    content_type: str = "text"
    sender_id: str | None = None
    agent_id: str | None = None
    model_used: str | None = None
    token_count: int | None = None
    processing_time_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    execution: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    client_message_id: str | None = None
    id: str | None = None
    created_at: datetime | None = None


@dataclass(slots=True)
class NewConversation:
    id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    title: str | None = None
    status: ConversationStatus = ConversationStatus.ACTIVE
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    participants: list[dict[str, Any]] = field(default_factory=list)
    customer_info: dict[str, Any] | None = None
    crm_references: dict[str, Any] = field(default_factory=dict)
    initial_messages: list[NewMessage] = field(default_factory=list)


@dataclass(slots=True)
class ConversationChanges:
    """Fields left UNSET are not touched; `expected_version` makes the update compare-and-set."""

    title: str | _Unset | None = UNSET
    status: ConversationStatus | _Unset = UNSET
    user_id: str | _Unset | None = UNSET
    agent_id: str | _Unset | None = UNSET
    session_id: str | _Unset | None = UNSET
    tags: list[str] | _Unset = UNSET
    metadata: dict[str, Any] | _Unset = UNSET
    participants: list[dict[str, Any]] | _Unset = UNSET
    customer_info: dict[str, Any] | _Unset | None = UNSET
    crm_references: dict[str, Any] | _Unset = UNSET
    expected_version: int | None = None


@dataclass(slots=True)
class StateWrite:
    """`value=None` deletes the key; `expected_version=0` means "only if absent"."""

    key: str
    value: Any
    state_type: StateType = StateType.VARIABLE
    ttl_seconds: int | None = None
    expected_version: int | None = None


@dataclass(slots=True)
class ConversationQuery:
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    status: ConversationStatus | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None
    tags: list[str] | None = None
    any_tags: list[str] | None = None
    metadata: dict[str, Any] | None = None  # containment: conversations whose metadata holds it
