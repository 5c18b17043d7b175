"""Input types; each converts itself into the domain command it stands for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from conversation_service.domain import commands
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType
from conversation_service.schema import enums  # noqa: F401
from conversation_service.schema.scalars import JSON


def _opt(value: Any) -> Any:
    """Strawberry's UNSET -> the domain's UNSET (field not sent)."""
    return commands.UNSET if value is strawberry.UNSET else value


@strawberry.input
class ParticipantInput:
    id: str
    kind: str = "user"
    display_name: str | None = None
    joined_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "display_name": self.display_name,
            "joined_at": self.joined_at.isoformat() if self.joined_at else None,
        }


@strawberry.input
class MessageSourceInput:
    document_id: str
    title: str | None = None
    url: str | None = None
    snippet: str | None = None
    score: float | None = None
    metadata: JSON | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "score": self.score,
            "metadata": self.metadata or {},
        }


@strawberry.input
class AgentExecutionInput:
    execution_id: str | None = None
    mode: str | None = None
    iterations: int | None = None
    execution_time_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    detail: JSON | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@strawberry.input(
    description="A message's analysis: every field optional; sentiment from -1 to 1, intent "
    "1-128 characters, entities a JSON object or list of at most 16 KiB."
)
class MessageAnalysisInput:
    sentiment: float | None = strawberry.field(
        default=None, description="From -1 (negative) to 1 (positive)."
    )
    intent: str | None = strawberry.field(
        default=None, description="The intent label (1-128 printable characters)."
    )
    entities: JSON | None = strawberry.field(
        default=None, description="Named entities: a JSON object or list (at most 16 KiB)."
    )

    def to_command(self) -> MessageAnalysis:
        return MessageAnalysis(self.sentiment, self.intent, self.entities)


@strawberry.input
class AddMessageInput:
    role: MessageRole
    content: str
    content_type: str = "text"
    sender_id: str | None = None
    agent_id: str | None = None
    model_used: str | None = None
    token_count: int | None = None
    processing_time_ms: int | None = None
    metadata: JSON | None = None
    tool_calls: JSON | None = strawberry.field(
        default=None, description="Assistant message: [{id, name, arguments}] (OpenAI shape)."
    )
    tool_call_id: str | None = strawberry.field(
        default=None, description="TOOL message: the id of the call it answers."
    )
    sources: list[MessageSourceInput] | None = None
    execution: AgentExecutionInput | None = None
    client_message_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key: a retried add with the same key returns the first message.",
    )
    analysis: MessageAnalysisInput | None = strawberry.field(
        default=None, description="Sentiment, intent and entities, when already known."
    )

    def to_command(self) -> commands.NewMessage:
        return commands.NewMessage.from_input(self)


@strawberry.input
class CreateConversationInput:
    id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Caller-chosen UUID; creating an existing id returns it unchanged.",
    )
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    title: str | None = None
    status: ConversationStatus | None = None
    tags: list[str] | None = None
    metadata: JSON | None = None
    participants: list[ParticipantInput] | None = None
    customer_info: JSON | None = None
    crm_references: JSON | None = None
    initial_messages: list[AddMessageInput] | None = None

    def to_command(self) -> commands.NewConversation:
        return commands.NewConversation.from_input(self)


@strawberry.input
class UpdateConversationInput:
    title: str | None = strawberry.UNSET
    status: ConversationStatus | None = strawberry.UNSET
    user_id: str | None = strawberry.UNSET
    agent_id: str | None = strawberry.UNSET
    session_id: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    participants: list[ParticipantInput] | None = strawberry.UNSET
    customer_info: JSON | None = strawberry.UNSET
    crm_references: JSON | None = strawberry.UNSET
    expected_version: int | None = strawberry.field(
        default=None,
        description="Apply only if the conversation is at this version (else CONFLICT).",
    )

    def to_command(self) -> commands.ConversationChanges:
        participants = _opt(self.participants)
        return commands.ConversationChanges(
            title=_opt(self.title),
            status=_opt(self.status) if self.status is not None else commands.UNSET,
            user_id=_opt(self.user_id),
            agent_id=_opt(self.agent_id),
            session_id=_opt(self.session_id),
            tags=_opt(self.tags) if self.tags is not None else [],
            metadata=_opt(self.metadata) if self.metadata is not None else {},
            participants=(
                [p.to_dict() for p in participants]
                if isinstance(participants, list)
                else ([] if participants is None else participants)
            ),
            customer_info=_opt(self.customer_info),
            crm_references=_opt(self.crm_references) if self.crm_references is not None else {},
            expected_version=self.expected_version,
        )


@strawberry.input
class UpdateStateInput:
    key: str
    value: JSON | None = strawberry.field(description="null deletes the key")
    state_type: StateType = StateType.VARIABLE
    ttl_seconds: int | None = None
    expected_version: int | None = strawberry.field(
        default=None,
        description="Write only if the stored version matches (0: only if absent); else CONFLICT.",
    )

    def to_command(self) -> commands.StateWrite:
        return commands.StateWrite(
            key=self.key,
            value=self.value,
            state_type=self.state_type,
            ttl_seconds=self.ttl_seconds,
            expected_version=self.expected_version,
        )


@strawberry.input
class ConversationFilter:
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    status: ConversationStatus | None = None
    from_date: datetime | None = strawberry.field(
        default=None, description="on createdAt, inclusive"
    )
    to_date: datetime | None = strawberry.field(default=None, description="on createdAt, inclusive")
    tags: list[str] | None = strawberry.field(
        default=None, description="conversations having ALL of these tags"
    )
    any_tags: list[str] | None = strawberry.field(
        default=None, description="conversations having ANY of these tags"
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="conversations whose metadata contains this JSON object"
    )
    intent: str | None = strawberry.field(
        default=None, description="conversations with at least one message of this intent"
    )

    def to_query(self) -> commands.ConversationQuery:
        return commands.ConversationQuery(
            user_id=self.user_id,
            agent_id=self.agent_id,
            session_id=self.session_id,
            status=self.status,
            from_date=self.from_date,
            to_date=self.to_date,
            tags=list(self.tags) if self.tags is not None else None,
            any_tags=list(self.any_tags) if self.any_tags is not None else None,
            metadata=self.metadata,
            intent=self.intent,
        )
