"""Inputs of the domain functions, already parsed by a door but not yet validated."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from conversation_service.domain import validation as v
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType
from conversation_service.domain.errors import ValidationFailed


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
    analysis: MessageAnalysis | None = None

    @classmethod
    def from_input(cls, src: Any) -> NewMessage:
        """From any door's parsed input (GraphQL input, REST body) with the same field names:
        the defaults for absent values are decided here, once."""
        return cls(
            role=src.role,
            content=src.content,
            content_type=src.content_type,
            sender_id=src.sender_id,
            agent_id=src.agent_id,
            model_used=src.model_used,
            token_count=src.token_count,
            processing_time_ms=src.processing_time_ms,
            metadata=src.metadata if src.metadata is not None else {},
            sources=[_dict_of(s) for s in src.sources or []],
            execution=_dict_of(src.execution) if src.execution is not None else None,
            tool_calls=src.tool_calls,
            tool_call_id=src.tool_call_id,
            client_message_id=src.client_message_id,
            analysis=MessageAnalysis.of(src.analysis),
        )


def _dict_of(item: Any) -> dict[str, Any]:
    return item.to_dict() if hasattr(item, "to_dict") else dict(item)


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

    @classmethod
    def from_input(cls, src: Any) -> NewConversation:
        """From any door's parsed input with the same field names (see NewMessage.from_input)."""
        return cls(
            id=src.id,
            user_id=src.user_id,
            agent_id=src.agent_id,
            session_id=src.session_id,
            title=src.title,
            status=src.status or ConversationStatus.ACTIVE,
            tags=list(src.tags or []),
            metadata=src.metadata if src.metadata is not None else {},
            participants=[_dict_of(p) for p in src.participants or []],
            customer_info=src.customer_info,
            crm_references=src.crm_references if src.crm_references is not None else {},
            initial_messages=[NewMessage.from_input(m) for m in src.initial_messages or []],
        )


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
    intent: str | None = None  # conversations with at least one message of this intent


MAX_QUERY_CHARS = 500
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    conversation_id: str | None = None
    agent_id: str | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None

    def validated(self) -> SearchQuery:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValidationFailed("query must not be empty", field="query")
        if len(self.query) > MAX_QUERY_CHARS:
            raise ValidationFailed(
                f"query must be at most {MAX_QUERY_CHARS} characters", field="query"
            )
        if "\x00" in self.query:
            raise ValidationFailed("query must not contain NUL characters", field="query")
        cid = self.conversation_id
        if cid is not None:
            cid = v.uuid_id(cid, "conversation_id")
        v.identifier(self.agent_id, "agent_id")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValidationFailed("from_date must not be after to_date", field="from_date")
        return SearchQuery(self.query, cid, self.agent_id, self.from_date, self.to_date)

    @property
    def words(self) -> list[str]:
        return _WORD_RE.findall(self.query)


#: What an export holds, in the order it is written: a reader meets a conversation before its
#: messages and state entries.
KINDS: tuple[Literal["conversation", "message", "state"], ...] = (
    "conversation",
    "message",
    "state",
)
Kind = Literal["conversation", "message", "state"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which conversations an export covers: a subject's (by the conversation's user id or its
    customer's e-mail, compared case-insensitively) or the tenant's ARCHIVED ones last active
    before a time."""

    user_id: str | None = None
    customer_email: str | None = None
    archived_before: datetime | None = None

    @property
    def label(self) -> str:
        """The audit target of an export of this selection."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.customer_email is not None:
            return f"email:{self.customer_email}"
        return f"archived-before:{self.archived_before.isoformat() if self.archived_before else ''}"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of `auditLog`: exact action and actor, an inclusive time range."""

    action: str | None = None
    actor: str | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None

    def validated(self) -> AuditQuery:
        v.identifier(self.action, "action")
        v.identifier(self.actor, "actor")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValidationFailed("fromDate must not be after toDate", field="fromDate")
        return self
