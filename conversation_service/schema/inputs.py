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


@strawberry.input(description="A participant to record on a conversation (at most 100).")
class ParticipantInput:
    id: str = strawberry.field(
        description="The participant's own id (a user's or agent's id; 1-255 printable "
        "characters); read back as `Participant.participantId`."
    )
    kind: str = strawberry.field(
        default="user",
        description="What the participant is, in the caller's own terms (1-255 printable "
        'characters, e.g. "user", "agent"); an open String: any kind is accepted.',
    )
    display_name: str | None = strawberry.field(
        default=None, description="Name to show (up to 500 characters)."
    )
    joined_at: datetime | None = strawberry.field(
        default=None, description="When the participant joined; stored in UTC."
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "display_name": self.display_name,
            "joined_at": self.joined_at.isoformat() if self.joined_at else None,
        }


@strawberry.input(description="A RAG document the message used or cites (at most 100 per message).")
class MessageSourceInput:
    document_id: str = strawberry.field(
        description="The document's id in the caller's knowledge base (1-255 characters)."
    )
    title: str | None = strawberry.field(default=None, description="The document's title.")
    url: str | None = strawberry.field(default=None, description="Where the document lives.")
    snippet: str | None = strawberry.field(
        default=None, description="The passage of the document the message used."
    )
    score: float | None = strawberry.field(
        default=None,
        description="The retriever's relevance score (a finite number; no scale imposed).",
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Free-form JSON object; absent or null: `{}`."
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "score": self.score,
            "metadata": self.metadata or {},
        }


@strawberry.input(
    description="What the agent execution that produced the message reported. Counts are "
    "0..2147483647; larger is BAD_USER_INPUT."
)
class AgentExecutionInput:
    execution_id: str | None = strawberry.field(default=None, description="The execution's own id.")
    mode: str | None = strawberry.field(default=None, description="How the agent ran.")
    iterations: int | None = strawberry.field(
        default=None, description="Reasoning or tool-call rounds the execution took."
    )
    execution_time_ms: int | None = strawberry.field(
        default=None, description="Wall time of the execution, in milliseconds."
    )
    prompt_tokens: int | None = strawberry.field(default=None, description="Tokens the model read.")
    completion_tokens: int | None = strawberry.field(
        default=None, description="Tokens the model wrote."
    )
    total_tokens: int | None = strawberry.field(
        default=None,
        description="What the execution cost in tokens; absent: promptTokens + "
        "completionTokens when both are given (their sum above 2147483647 is BAD_USER_INPUT).",
    )
    detail: JSON | None = strawberry.field(
        default=None, description="Any other JSON object the execution reports."
    )

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


@strawberry.input(
    description="A message to append. Every field is checked before anything is written; a bad "
    "one is BAD_USER_INPUT with `extensions.field` naming it."
)
class AddMessageInput:
    role: MessageRole = strawberry.field(description="Who wrote the message.")
    content: str = strawberry.field(
        description="The message text: not blank, at most 100,000 characters, no NUL."
    )
    content_type: str = strawberry.field(
        default="text", description="The content's format (1-64 characters)."
    )
    sender_id: str | None = strawberry.field(
        default=None, description="Whoever sent the message (1-255 printable characters)."
    )
    agent_id: str | None = strawberry.field(
        default=None, description="The agent that wrote or handled it (1-255 printable characters)."
    )
    model_used: str | None = strawberry.field(
        default=None, description="The model that generated it (1-255 printable characters)."
    )
    token_count: int | None = strawberry.field(
        default=None,
        description="Tokens of the content (0..2147483647); absent: the service counts them "
        "(cl100k_base, content only).",
    )
    processing_time_ms: int | None = strawberry.field(
        default=None,
        description="How long producing the message took, in milliseconds (0..2147483647).",
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Free-form JSON object, up to 64 KiB; absent or null: `{}`."
    )
    tool_calls: JSON | None = strawberry.field(
        default=None,
        description="Assistant message: the tools it calls, a list of objects "
        "`[{id, name, arguments}]` (OpenAI shape), up to 64 KiB.",
    )
    tool_call_id: str | None = strawberry.field(
        default=None, description="TOOL message: the id of the call it answers."
    )
    sources: list[MessageSourceInput] | None = strawberry.field(
        default=None, description="RAG documents the message used or cites (at most 100)."
    )
    execution: AgentExecutionInput | None = strawberry.field(
        default=None, description="What the agent execution reported, when it produced this."
    )
    client_message_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key (1-255 printable characters): a retried add with the same "
        "key in the same conversation returns the first message, never a duplicate.",
    )
    analysis: MessageAnalysisInput | None = strawberry.field(
        default=None, description="Sentiment, intent and entities, when already known."
    )

    def to_command(self) -> commands.NewMessage:
        return commands.NewMessage.from_input(self)


@strawberry.input(
    description="A conversation to create. A bad field is BAD_USER_INPUT with "
    "`extensions.field` naming it, and nothing is written."
)
class CreateConversationInput:
    id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Caller-chosen UUID; creating an existing id returns it unchanged "
        "(idempotent). Absent: a new UUID.",
    )
    user_id: str | None = strawberry.field(
        default=None, description="The end user (1-255 printable characters)."
    )
    agent_id: str | None = strawberry.field(
        default=None, description="The agent running it (1-255 printable characters)."
    )
    session_id: str | None = strawberry.field(
        default=None, description="The caller's session id (1-255 printable characters)."
    )
    title: str | None = strawberry.field(default=None, description="A title (1-500 characters).")
    status: ConversationStatus | None = strawberry.field(
        default=None, description="Initial status; absent or null: ACTIVE."
    )
    tags: list[str] | None = strawberry.field(
        default=None,
        description="Labels: at most 50, 1-64 printable characters each; duplicates dropped.",
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Free-form JSON object, up to 64 KiB; absent or null: `{}`."
    )
    participants: list[ParticipantInput] | None = strawberry.field(
        default=None, description="Who takes part (at most 100)."
    )
    customer_info: JSON | None = strawberry.field(
        default=None,
        description="JSON object about the customer, up to 64 KiB; its `email` links the CRM "
        "customer when `crmReferences.customer_id` is absent.",
    )
    crm_references: JSON | None = strawberry.field(
        default=None,
        description="JSON object of ids in the tenant's CRM (`customer_id` links the customer); "
        "absent or null: `{}`.",
    )
    initial_messages: list[AddMessageInput] | None = strawberry.field(
        default=None,
        description="Messages to append in the same transaction, seq 1, 2... (at most 100). "
        "Ignored when `id` names an existing conversation.",
    )

    def to_command(self) -> commands.NewConversation:
        return commands.NewConversation.from_input(self)


@strawberry.input(
    description="Changes to a conversation: a field not sent is left as it is; a field sent "
    "replaces the stored value whole."
)
class UpdateConversationInput:
    title: str | None = strawberry.field(
        default=strawberry.UNSET, description="New title (1-500 characters); null clears it."
    )
    status: ConversationStatus | None = strawberry.field(
        default=strawberry.UNSET,
        description="New status; null leaves it as it is. COMPLETED queues a CRM sync when the "
        "tenant's CRM has `auto_sync_on_complete`.",
    )
    user_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New end user; null clears it."
    )
    agent_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New agent; null clears it."
    )
    session_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New session id; null clears it."
    )
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces every tag (at most 50, 1-64 characters each); null: no tags.",
    )
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the metadata (a JSON object, up to 64 KiB); null: `{}`.",
    )
    participants: list[ParticipantInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces every participant (at most 100); null: none.",
    )
    customer_info: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the customer info (a JSON object); null clears it.",
    )
    crm_references: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the CRM references (a JSON object); null: `{}`.",
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="Apply only if the conversation is at this version (else CONFLICT, with "
        "`extensions.field` expectedVersion); absent: unconditional.",
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


@strawberry.input(description="One state write: set, delete or compare-and-set a key.")
class UpdateStateInput:
    key: str = strawberry.field(description="The state key (1-255 characters, no NUL).")
    value: JSON | None = strawberry.field(
        description="Any JSON value up to 64 KiB; null deletes the key (deleting an absent "
        "key changes nothing)."
    )
    state_type: StateType = strawberry.field(
        default=StateType.VARIABLE, description="What kind of state this is."
    )
    ttl_seconds: int | None = strawberry.field(
        default=None,
        description="Expire the entry this many seconds after the write (1 to 315,360,000, "
        "ten years); absent: never expires. Expired entries are never returned.",
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="Write only if the stored version matches (0: only if absent); else "
        "CONFLICT. Absent: unconditional.",
    )

    def to_command(self) -> commands.StateWrite:
        return commands.StateWrite(
            key=self.key,
            value=self.value,
            state_type=self.state_type,
            ttl_seconds=self.ttl_seconds,
            expected_version=self.expected_version,
        )


@strawberry.input(
    description="Which conversations to list: every field given must match; absent or null "
    "fields do not filter."
)
class ConversationFilter:
    user_id: str | None = strawberry.field(
        default=None, description="Conversations with this userId."
    )
    agent_id: str | None = strawberry.field(
        default=None, description="Conversations with this agentId."
    )
    session_id: str | None = strawberry.field(
        default=None, description="Conversations with this sessionId."
    )
    status: ConversationStatus | None = strawberry.field(
        default=None, description="Conversations in this status."
    )
    from_date: datetime | None = strawberry.field(
        default=None, description="On createdAt, inclusive."
    )
    to_date: datetime | None = strawberry.field(
        default=None,
        description="On createdAt, inclusive; before fromDate is BAD_USER_INPUT.",
    )
    tags: list[str] | None = strawberry.field(
        default=None, description="Conversations having ALL of these tags (at most 50)."
    )
    any_tags: list[str] | None = strawberry.field(
        default=None, description="Conversations having ANY of these tags (at most 50)."
    )
    metadata: JSON | None = strawberry.field(
        default=None,
        description="Conversations whose metadata contains this JSON object (nested at most "
        "5 levels; keys non-empty, without quotes or backslashes).",
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
