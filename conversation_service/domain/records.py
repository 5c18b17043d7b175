"""Plain read models returned by the domain: cheap to build from rows, to serialise and to publish."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType

# Stored value -> enum member by dict lookup: calling the enum class costs ~2 us per row.
_ROLES = {r.value: r for r in MessageRole}
_STATUSES = {st.value: st for st in ConversationStatus}
_STATE_TYPES = {t.value: t for t in StateType}


def _analysis(m: Any) -> dict[str, Any] | None:
    """The analysis columns of a message row as one value (None when never analysed)."""
    at = m["analyzed_at"]
    if at is None:
        return None
    return {
        "sentiment": m["sentiment"],
        "intent": m["intent"],
        "entities": m["entities"],
        "analyzed_at": at,
    }


def _shallow(record: Any) -> dict[str, Any]:
    """Field name -> value, without `asdict`'s deep copy (events are serialised right away)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


@dataclass(slots=True)
class ConversationRecord:
    tenant_id: str
    id: str
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    title: str | None
    status: ConversationStatus
    tags: list[str]
    metadata: dict[str, Any]
    participants: list[dict[str, Any]]
    customer_info: dict[str, Any] | None
    crm_references: dict[str, Any]
    message_count: int
    total_tokens: int
    last_seq: int
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: Any) -> ConversationRecord:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Any) -> ConversationRecord:
        """From any mapping of the columns (a SQLAlchemy row mapping, a dict)."""
        return cls(
            tenant_id=m["tenant_id"],
            id=m["id"],
            user_id=m["user_id"],
            agent_id=m["agent_id"],
            session_id=m["session_id"],
            title=m["title"],
            status=_STATUSES[m["status"]],
            tags=m["tags"] or [],
            metadata=m["metadata"] or {},
            participants=m["participants"] or [],
            customer_info=m["customer_info"],
            crm_references=m["crm_references"] or {},
            message_count=m["message_count"],
            total_tokens=m["total_tokens"],
            last_seq=m["last_seq"],
            last_message_at=m["last_message_at"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            version=m["version"],
        )

    def to_dict(self) -> dict[str, Any]:
        return _shallow(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConversationRecord:
        d = dict(d)
        d["status"] = ConversationStatus(d["status"])
        for k in ("last_message_at", "created_at", "updated_at"):
            if isinstance(d.get(k), str):
                d[k] = datetime.fromisoformat(d[k])
        return cls(**d)


@dataclass(slots=True)
class MessageRecord:
    tenant_id: str
    id: str
    conversation_id: str
    seq: int
    role: MessageRole
    content: str
    content_type: str
    sender_id: str | None
    agent_id: str | None
    model_used: str | None
    token_count: int | None
    processing_time_ms: int | None
    metadata: dict[str, Any]
    sources: list[dict[str, Any]]
    execution: dict[str, Any] | None
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    client_message_id: str | None
    created_at: datetime
    #: a tombstone: content, metadata, sources, tool calls and execution removed (id, seq kept)
    erased: bool = False
    #: {sentiment, intent, entities, analyzed_at}, None when the message has no analysis
    analysis: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> MessageRecord:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Any) -> MessageRecord:
        """From any mapping of the columns (a SQLAlchemy row mapping, an asyncpg Record)."""
        return cls(
            tenant_id=m["tenant_id"],
            id=m["id"],
            conversation_id=m["conversation_id"],
            seq=m["seq"],
            role=_ROLES[m["role"]],
            content=m["content"],
            content_type=m["content_type"],
            sender_id=m["sender_id"],
            agent_id=m["agent_id"],
            model_used=m["model_used"],
            token_count=m["token_count"],
            processing_time_ms=m["processing_time_ms"],
            metadata=m["metadata"] or {},
            sources=m["sources"] or [],
            execution=m["execution"],
            tool_calls=m["tool_calls"],
            tool_call_id=m["tool_call_id"],
            client_message_id=m["client_message_id"],
            created_at=m["created_at"],
            erased=bool(m["erased"]),
            analysis=_analysis(m),
        )

    def to_dict(self) -> dict[str, Any]:
        return _shallow(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MessageRecord:
        d = dict(d)
        d["role"] = MessageRole(d["role"])
        if isinstance(d.get("created_at"), str):
            d["created_at"] = datetime.fromisoformat(d["created_at"])
        analysis = d.get("analysis")
        if analysis is not None and isinstance(analysis.get("analyzed_at"), str):
            d["analysis"] = {
                **analysis,
                "analyzed_at": datetime.fromisoformat(analysis["analyzed_at"]),
            }
        return cls(**d)


@dataclass(slots=True)
class StateRecord:
    tenant_id: str
    conversation_id: str
    key: str
    value: Any
    state_type: StateType
    version: int
    expires_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> StateRecord:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Any) -> StateRecord:
        return cls(
            tenant_id=m["tenant_id"],
            conversation_id=m["conversation_id"],
            key=m["key"],
            value=m["value"],
            state_type=_STATE_TYPES[m["state_type"]],
            version=m["version"],
            expires_at=m["expires_at"],
            updated_at=m["updated_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return _shallow(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StateRecord:
        d = dict(d)
        d["state_type"] = StateType(d["state_type"])
        for k in ("expires_at", "updated_at"):
            if isinstance(d.get(k), str):
                d[k] = datetime.fromisoformat(d[k])
        return cls(**d)


@dataclass(slots=True)
class AgentUsageRecord:
    agent_id: str
    conversations: int
    messages: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    content_tokens: int
    conversation_tokens: int


class CrmSyncStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


@dataclass(slots=True)
class CrmSyncRecord:
    tenant_id: str
    conversation_id: str
    status: CrmSyncStatus
    requested_seq: int | None = None
    last_synced_seq: int | None = None
    synced_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    crm_id: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> CrmSyncRecord:
        m = row._mapping
        return cls(
            tenant_id=m["tenant_id"],
            conversation_id=m["conversation_id"],
            status=CrmSyncStatus(m["status"]),
            requested_seq=m["requested_seq"],
            last_synced_seq=m["last_synced_seq"],
            synced_at=m["synced_at"],
            attempts=m["attempts"],
            error=m["error"],
            next_attempt_at=m["next_attempt_at"],
            crm_id=m["crm_id"],
        )

    @classmethod
    def none(cls, tenant_id: str, conversation_id: str, error: str | None = None) -> CrmSyncRecord:
        return cls(tenant_id, conversation_id, CrmSyncStatus.NONE, error=error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strings and ISO-8601 times): the worker's reply data."""
        d = asdict(self)
        d["status"] = self.status.value.upper()  # the contract names: NONE, PENDING, SYNCED, FAILED
        for k in ("synced_at", "next_attempt_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


@dataclass(frozen=True, slots=True)
class Claim:
    """A due sync taken by one runner under a lease (`token`)."""

    tenant_id: str
    conversation_id: str
    token: str
    last_synced_seq: int | None


@dataclass(slots=True)
class Recorded:
    """The worker's idempotency record of one action: did it succeed, and what did it answer."""

    success: bool
    reply: dict[str, Any] | None  # the result data, or the error object when not success


@dataclass(slots=True)
class RetentionPolicyRecord:
    """A tenant's stored retention settings in days; None where the tenant uses the default."""

    tenant_id: str
    messages_days: int | None = None
    state_days: int | None = None
    archive_after_days: int | None = None
    audit_days: int | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class ErasureReceiptRecord:
    """What one erasure removed (counts per kind) and of whom; kept as its proof."""

    tenant_id: str
    id: str
    at: datetime
    subject: dict[str, Any]
    subject_key: str
    actor: str | None
    conversations: int
    messages: int
    state_entries: int
    sources: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One `audit_log` entry: who (`actor`) did what (`action`) to which row, and when."""

    id: str
    at: datetime
    tenant_id: str
    actor: str
    action: str
    target_id: str | None
    request_id: str | None
