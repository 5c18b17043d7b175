"""Request and response bodies of the REST shim (snake_case, lowercase enum values).

Request models only parse and convert to domain commands: the rules (lengths, sizes, ranges)
live in `domain/validation.py` and come back as 422s through `rest/errors.py`. Response models
document the shape that `serializers.py` writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, Field, WithJsonSchema

from conversation_service.domain import commands
from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (as the legacy service read them); aware ones are converted."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


def _role(value: Any) -> Any:
    return MessageRole.parse(value) if isinstance(value, str) else value


Role = Annotated[
    MessageRole,
    BeforeValidator(_role),
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["user", "assistant", "system", "tool", "function"],
            "description": "`function` is the platform's older name for `tool`.",
        }
    ),
]
JSONObject = dict[str, Any]


class ParticipantIn(BaseModel):
    id: str
    kind: str = "user"
    display_name: str | None = None
    joined_at: UtcDateTime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "display_name": self.display_name,
            "joined_at": self.joined_at.isoformat() if self.joined_at else None,
        }


class MessageSourceIn(BaseModel):
    document_id: str
    title: str | None = None
    url: str | None = None
    snippet: str | None = None
    score: float | None = None
    metadata: JSONObject | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "metadata": self.metadata or {}}


class AgentExecutionIn(BaseModel):
    execution_id: str | None = None
    mode: str | None = None
    iterations: int | None = None
    execution_time_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    detail: Any = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CreateMessageRequest(BaseModel):
    """A message to add. `sender` and `tokens_used` are accepted as the legacy names of
    `role` and `token_count`."""

    role: Role = Field(validation_alias=AliasChoices("role", "sender"))
    content: str
    content_type: str = "text"
    sender_id: str | None = None
    agent_id: str | None = None
    model_used: str | None = None
    token_count: int | None = Field(
        default=None,
        validation_alias=AliasChoices("token_count", "tokens_used"),
        description="Counted by the service (cl100k_base) when omitted.",
    )
    processing_time_ms: int | None = None
    metadata: JSONObject | None = None
    sources: list[MessageSourceIn] | None = Field(
        default=None, description="RAG documents this message used or cites."
    )
    execution: AgentExecutionIn | None = None
    tool_calls: list[JSONObject] | None = Field(
        default=None, description="Assistant message: [{id, name, arguments}] (OpenAI shape)."
    )
    tool_call_id: str | None = Field(
        default=None, description="Tool message: the id of the call it answers."
    )
    client_message_id: str | None = Field(
        default=None,
        description="Idempotency key: a retried add with the same key returns the first message.",
    )

    def to_command(self) -> commands.NewMessage:
        return commands.NewMessage.from_input(self)


class CreateConversationRequest(BaseModel):
    id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("id", "conversation_id"),
        description="Caller-chosen UUID (also accepted as `conversation_id`); creating an "
        "existing id of the same tenant returns it unchanged.",
    )
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    title: str | None = None
    status: ConversationStatus | None = None
    tags: list[str] | None = None
    metadata: JSONObject | None = None
    participants: list[ParticipantIn] | None = None
    customer_info: JSONObject | None = None
    crm_references: JSONObject | None = None
    initial_messages: list[CreateMessageRequest] | None = None

    def to_command(self) -> commands.NewConversation:
        return commands.NewConversation.from_input(self)


class UpdateStateRequest(BaseModel):
    """`key`/`value` are also accepted as the legacy `state_key`/`state_value`."""

    key: str = Field(validation_alias=AliasChoices("key", "state_key"))
    value: Any = Field(
        validation_alias=AliasChoices("value", "state_value"),
        description="Any JSON value; null deletes the key.",
    )
    state_type: StateType = StateType.VARIABLE
    ttl_seconds: int | None = Field(default=None, description="Expire after this many seconds.")
    expected_version: int | None = Field(
        default=None,
        description="Write only if the stored version matches (0: only if absent); else 409.",
    )

    def to_command(self) -> commands.StateWrite:
        return commands.StateWrite(
            key=self.key,
            value=self.value,
            state_type=self.state_type,
            ttl_seconds=self.ttl_seconds,
            expected_version=self.expected_version,
        )


# Responses (documentation of what serializers.py writes) ----------------------------------


class Participant(BaseModel):
    id: str
    kind: str
    display_name: str | None
    joined_at: str | None = Field(description="ISO-8601")


class ConversationResponse(BaseModel):
    id: str
    conversation_id: str = Field(description="Same as `id`.")
    tenant_id: str
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    title: str | None
    status: ConversationStatus
    tags: list[str]
    metadata: JSONObject
    participants: list[Participant]
    customer_info: JSONObject | None
    crm_references: JSONObject
    message_count: int
    total_tokens: int
    last_message_at: datetime | None
    last_seq: int = Field(description="seq of the newest message, 0 when none")
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Bumps on every change of the conversation.")


class MessageSource(BaseModel):
    document_id: str
    title: str | None
    url: str | None
    snippet: str | None
    score: float | None
    metadata: JSONObject


class AgentExecution(BaseModel):
    execution_id: str | None
    mode: str | None
    iterations: int | None
    execution_time_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    detail: Any


class MessageResponse(BaseModel):
    id: str
    message_id: str = Field(description="Same as `id`.")
    conversation_id: str
    seq: int = Field(description="1, 2, 3... per conversation, gapless, in commit order.")
    role: MessageRole
    content: str
    content_type: str
    sender_id: str | None
    agent_id: str | None
    model_used: str | None
    token_count: int | None
    processing_time_ms: int | None
    metadata: JSONObject
    sources: list[MessageSource]
    execution: AgentExecution | None
    tool_calls: list[JSONObject] | None
    tool_call_id: str | None
    client_message_id: str | None
    created_at: datetime


class StateResponse(BaseModel):
    conversation_id: str
    key: str
    value: Any
    state_type: StateType
    version: int = Field(description="Keeps rising across delete and re-create.")
    expires_at: datetime | None
    updated_at: datetime


class ConversationListResponse(BaseModel):
    items: list[ConversationResponse]
    total: int
    page: int
    page_size: int
    pages: int


class MessageListResponse(BaseModel):
    items: list[MessageResponse] = Field(description="In seq order.")
    total: int = Field(description="Messages at or after from_timestamp.")
    has_more: bool


class ErrorResponse(BaseModel):
    """404 (unknown or foreign-tenant id) and 409 (state version conflict)."""

    detail: str
