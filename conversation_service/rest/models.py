"""Request and response bodies of the REST shim (snake_case, lowercase enum values).

Request models parse and convert to domain commands: the rules (lengths, sizes, ranges) live in
`domain/validation.py` and come back as 422s through `rest/errors.py`. The request fields also
declare those limits (built from the same constants) so that the OpenAPI document states every
limit the service enforces: a client generated from it, or a fuzzer, meets no undeclared 422.
What JSON Schema cannot say (a JSON document's size, NUL inside free-form JSON, from_date <=
to_date, prompt + completion <= 2^31-1) is in the descriptions. Response models document the
shape that `serializers.py` writes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, Field, WithJsonSchema

from conversation_service.domain import commands
from conversation_service.domain import validation as v
from conversation_service.domain.analysis import MAX_ENTITIES_BYTES, MAX_INTENT_CHARS
from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (as the legacy service read them); aware ones are converted."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None


_NUMBER_RE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_only(value: Any) -> Any:
    """The document says `format: date-time`; pydantic alone would also read numbers (and
    numeric strings such as `0.5`) as Unix times."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER_RE.fullmatch(value)):
        raise ValueError("must be an ISO-8601 date-time")
    return value


UtcDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_as_utc)]


def _json_number(value: Any) -> Any:
    """The document says `integer` / `number`: pydantic alone would also read `"5"` and `true`
    as numbers (JSON Schema's `integer` does allow `5.0`, and so does pydantic)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


# Declared limits: JSON Schema only, the domain enforces them (one rule, one 422 shape). -------


def _limits(**schema: Any) -> Any:
    """`Field` that adds JSON Schema keywords to the document without a second validator."""
    return Field(json_schema_extra=schema)


_NO_NUL = r"^[^\x00]*$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
# What Python's str.strip() removes, spelled out: regex `\s` differs between engines.
_SPACE = r"\t\n\x0b\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTENT = rf"^[^\x00]*[^{_SPACE}\x00][^\x00]*$"
#: Free-form external ids (user, agent, session...): 1-255 printable characters.
Identifier = Annotated[str, _limits(minLength=1, maxLength=v.MAX_ID_CHARS, pattern=_PRINTABLE)]
Title = Annotated[str, _limits(minLength=1, maxLength=v.MAX_TITLE_CHARS, pattern=_NO_NUL)]
Tag = Annotated[str, _limits(minLength=1, maxLength=v.MAX_TAG_CHARS, pattern=_PRINTABLE)]
Tags = Annotated[list[Tag], _limits(maxItems=v.MAX_TAGS)]
Count = Annotated[int, BeforeValidator(_json_number), _limits(minimum=0, maximum=v.MAX_INT)]
Score = Annotated[float, BeforeValidator(_json_number)]
Content = Annotated[
    str,
    Field(
        description=f"1-{v.MAX_CONTENT_CHARS} characters, not only whitespace, no NUL.",
        json_schema_extra={"minLength": 1, "maxLength": v.MAX_CONTENT_CHARS, "pattern": _CONTENT},
    ),
]
ContentType = Annotated[
    str, _limits(minLength=1, maxLength=v.MAX_CONTENT_TYPE_CHARS, pattern=_NO_NUL)
]
JsonText = Annotated[str, _limits(pattern=_NO_NUL)]
DocumentId = Annotated[str, _limits(minLength=1, maxLength=v.MAX_ID_CHARS, pattern=_NO_NUL)]
StateKeyText = Annotated[
    str, _limits(minLength=1, maxLength=v.MAX_STATE_KEY_CHARS, pattern=_NO_NUL)
]
ConversationUuid = Annotated[
    str,
    Field(
        description="A UUID (canonical form on output).",
        json_schema_extra={
            "maxLength": 40,
            "pattern": r"^(urn:)?(uuid:)?\{?([0-9a-fA-F]-?){31}[0-9a-fA-F]\}?$",
        },
    ),
]


def identifier_query(description: str) -> Any:
    """A query parameter holding an external id (one FieldInfo per parameter)."""
    return Query(
        description=f"{description} 1-{v.MAX_ID_CHARS} printable characters.",
        json_schema_extra={"minLength": 1, "maxLength": v.MAX_ID_CHARS, "pattern": _PRINTABLE},
    )


def tags_query() -> Any:
    return Query(
        description="Repeat (`?tags=a&tags=b`): conversations with all.",
        json_schema_extra={"maxItems": v.MAX_TAGS},
    )


_JSON_NOTE = f"A JSON object of at most {v.MAX_JSON_BYTES} bytes, no NUL characters."


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
#: Free-form JSON without NUL characters (PostgreSQL cannot store them), at any depth: the
#: recursive schemas are `components.schemas.JsonValue` / `JsonObject` (added in rest/app.py).
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value; strings (and keys) without NUL characters.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": r"^[^\x00]*$"},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"$ref": "#/components/schemas/JsonObject"},
    ],
}
JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": r"^[^\x00]*$"},
    "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
}
JSONObject = Annotated[
    dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/JsonObject"}]})
]
JSONValue = Annotated[Any, WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/JsonValue"}]})]


class ParticipantIn(BaseModel):
    id: Identifier = Field(description="The participant's own id (a user's or agent's id).")
    kind: Identifier = Field(
        default="user",
        description='What the participant is, in the caller\'s own terms ("user", "agent"...): '
        "any kind is accepted.",
    )
    display_name: Title | None = Field(default=None, description="Name to show.")
    joined_at: UtcDateTime | None = Field(
        default=None, description="When the participant joined (ISO-8601; naive is UTC)."
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "display_name": self.display_name,
            "joined_at": self.joined_at.isoformat() if self.joined_at else None,
        }


class MessageSourceIn(BaseModel):
    document_id: DocumentId = Field(
        description="The RAG document's id in the caller's knowledge base."
    )
    title: JsonText | None = Field(default=None, description="The document's title.")
    url: JsonText | None = Field(default=None, description="Where the document lives.")
    snippet: JsonText | None = Field(
        default=None, description="The passage of the document the message used."
    )
    score: Score | None = Field(
        default=None, description="The retriever's relevance score (finite; no scale imposed)."
    )
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)

    def to_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "metadata": self.metadata or {}}


class AgentExecutionIn(BaseModel):
    """Counts are 0..2^31-1; without `total_tokens`, prompt + completion must fit that too."""

    execution_id: JsonText | None = Field(default=None, description="The execution's own id.")
    mode: JsonText | None = Field(default=None, description="How the agent ran.")
    iterations: Count | None = Field(
        default=None, description="Reasoning or tool-call rounds the execution took."
    )
    execution_time_ms: Count | None = Field(
        default=None, description="Wall time of the execution, in milliseconds."
    )
    prompt_tokens: Count | None = Field(default=None, description="Tokens the model read.")
    completion_tokens: Count | None = Field(default=None, description="Tokens the model wrote.")
    total_tokens: Count | None = Field(
        default=None,
        description="What the execution cost in tokens; omitted: prompt_tokens + "
        "completion_tokens when both are given.",
    )
    detail: Any = Field(
        default=None,
        description="Any JSON; the execution as a whole is at most "
        f"{v.MAX_JSON_BYTES} bytes, no NUL characters.",
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


_INTENT = rf"^[^\x00-\x1f\x7f]*[^{_SPACE}\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_ENTITIES_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"$ref": "#/components/schemas/JsonObject"},
    ]
}


def _entities(value: Any) -> Any:
    """The document says object, list or null: pydantic's `Any` would take a string too."""
    if value is not None and not isinstance(value, dict | list):
        raise ValueError("must be a JSON object or list")
    return value


class MessageAnalysisIn(BaseModel):
    """What an NLP step said about the message; every field optional."""

    sentiment: Score | None = Field(
        default=None,
        description="From -1 (negative) to 1 (positive).",
        json_schema_extra={"minimum": -1, "maximum": 1},
    )
    intent: (
        Annotated[str, _limits(minLength=1, maxLength=MAX_INTENT_CHARS, pattern=_INTENT)] | None
    ) = Field(default=None, description="The intent label, not only whitespace.")
    entities: Annotated[Any, WithJsonSchema(_ENTITIES_SCHEMA), BeforeValidator(_entities)] = Field(
        default=None,
        description="Named entities: a JSON object or list of at most "
        f"{MAX_ENTITIES_BYTES} bytes, no NUL characters.",
    )


class CreateMessageRequest(BaseModel):
    """A message to add. `sender` and `tokens_used` are accepted as the legacy names of
    `role` and `token_count`."""

    role: Role = Field(validation_alias=AliasChoices("role", "sender"))
    content: Content
    content_type: ContentType = Field(default="text", description="The content's format.")
    sender_id: Identifier | None = Field(
        default=None, description="Whoever sent the message (the caller's id)."
    )
    agent_id: Identifier | None = Field(
        default=None, description="The agent that wrote or handled the message."
    )
    model_used: Identifier | None = Field(
        default=None, description="The model that generated the message."
    )
    token_count: Count | None = Field(
        default=None,
        validation_alias=AliasChoices("token_count", "tokens_used"),
        description="Counted by the service (cl100k_base) when omitted.",
    )
    processing_time_ms: Count | None = Field(
        default=None, description="How long producing the message took, in milliseconds."
    )
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    sources: list[MessageSourceIn] | None = Field(
        default=None,
        json_schema_extra={"maxItems": v.MAX_SOURCES},
        description="RAG documents this message used or cites.",
    )
    execution: AgentExecutionIn | None = Field(
        default=None, description="What the agent execution that produced it reported."
    )
    tool_calls: list[JSONObject] | None = Field(
        default=None,
        description="Assistant message: [{id, name, arguments}] (OpenAI shape); at most "
        f"{v.MAX_JSON_BYTES} bytes as JSON, no NUL characters.",
    )
    tool_call_id: Identifier | None = Field(
        default=None, description="Tool message: the id of the call it answers."
    )
    client_message_id: Identifier | None = Field(
        default=None,
        description="Idempotency key: a retried add with the same key returns the first message.",
    )
    analysis: MessageAnalysisIn | None = Field(
        default=None, description="Sentiment, intent and entities, when already known."
    )

    def to_command(self) -> commands.NewMessage:
        return commands.NewMessage.from_input(self)


class CreateConversationRequest(BaseModel):
    id: ConversationUuid | None = Field(
        default=None,
        validation_alias=AliasChoices("id", "conversation_id"),
        description="Caller-chosen UUID (also accepted as `conversation_id`); creating an "
        "existing id of the same tenant returns it unchanged.",
    )
    user_id: Identifier | None = Field(default=None, description="The end user.")
    agent_id: Identifier | None = Field(default=None, description="The agent running it.")
    session_id: Identifier | None = Field(default=None, description="The caller's session id.")
    title: Title | None = Field(default=None, description="A title.")
    status: ConversationStatus | None = Field(
        default=None, description="Initial status; omitted or null: `active`."
    )
    tags: Tags | None = Field(default=None, description="Labels; duplicates are dropped.")
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    participants: list[ParticipantIn] | None = Field(
        default=None,
        json_schema_extra={"maxItems": v.MAX_PARTICIPANTS},
        description="Who takes part.",
    )
    customer_info: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    crm_references: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    initial_messages: list[CreateMessageRequest] | None = Field(
        default=None,
        json_schema_extra={"maxItems": 100},
        description="Messages added in the same transaction, seq 1, 2... (ignored when `id` "
        "names an existing conversation).",
    )

    def to_command(self) -> commands.NewConversation:
        return commands.NewConversation.from_input(self)


class UpdateStateRequest(BaseModel):
    """`key`/`value` are also accepted as the legacy `state_key`/`state_value`."""

    key: StateKeyText = Field(
        validation_alias=AliasChoices("key", "state_key"),
        description="The state key (also accepted as `state_key`).",
    )
    value: JSONValue = Field(
        validation_alias=AliasChoices("value", "state_value"),
        description="Any JSON value (at most "
        f"{v.MAX_JSON_BYTES} bytes, no NUL characters); null deletes the key.",
    )
    state_type: StateType = Field(
        default=StateType.VARIABLE, description="What kind of state this is."
    )
    ttl_seconds: Annotated[int, BeforeValidator(_json_number)] | None = Field(
        default=None,
        description="Expire after this many seconds; omitted: never. Expired entries are never "
        "returned.",
        json_schema_extra={"minimum": 1, "maximum": v.MAX_TTL_SECONDS},
    )
    expected_version: Count | None = Field(
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
    id: str = Field(description="The participant's own id, as given.")
    kind: str = Field(description='What the participant is, as given ("user" by default).')
    display_name: str | None = Field(description="Name to show; null when not given.")
    joined_at: str | None = Field(description="ISO-8601 in UTC; null when not given.")


class ConversationResponse(BaseModel):
    id: str = Field(description="The conversation's UUID.")
    conversation_id: str = Field(description="Same as `id`.")
    tenant_id: str = Field(description="The tenant that owns it.")
    user_id: str | None = Field(description="The end user; null when not given.")
    agent_id: str | None = Field(description="The agent running it; null when not given.")
    session_id: str | None = Field(description="The caller's session id; null when not given.")
    title: str | None = Field(description="The title; null when not given.")
    status: ConversationStatus = Field(description="Lifecycle status.")
    tags: list[str] = Field(description="Labels, in the order given.")
    metadata: JSONObject = Field(description="Free-form JSON object; `{}` when none.")
    participants: list[Participant] = Field(description="Who takes part.")
    customer_info: JSONObject | None = Field(
        description="JSON object about the customer; null when not given."
    )
    crm_references: JSONObject = Field(
        description="Ids in the tenant's CRM (`customer_id` links the customer); `{}` when none."
    )
    message_count: int = Field(description="Messages in the conversation.")
    total_tokens: int = Field(
        description="Sum of the messages' usage tokens (the execution's total, else the token "
        "count), exact (GraphQL's Int saturates)."
    )
    last_message_at: datetime | None = Field(
        description="When the newest message was committed; null when none."
    )
    last_seq: int = Field(description="Seq of the newest message, 0 when none.")
    created_at: datetime = Field(description="When the conversation was created (UTC).")
    updated_at: datetime = Field(
        description="When the conversation last changed (UTC), an added message included."
    )
    version: int = Field(description="Bumps on every change of the conversation.")


class MessageSource(BaseModel):
    document_id: str = Field(description="The RAG document's id.")
    title: str | None = Field(description="The document's title, as sent.")
    url: str | None = Field(description="Where the document lives, as sent.")
    snippet: str | None = Field(description="The passage used, as sent.")
    score: float | None = Field(description="The retriever's relevance score, as sent.")
    metadata: JSONObject = Field(description="Free-form JSON object; `{}` when none.")


class AgentExecution(BaseModel):
    execution_id: str | None = Field(description="The execution's own id, as reported.")
    mode: str | None = Field(description="How the agent ran, as reported.")
    iterations: int | None = Field(description="Rounds the execution took, as reported.")
    execution_time_ms: int | None = Field(description="Wall time, in milliseconds.")
    prompt_tokens: int | None = Field(description="Tokens the model read, as reported.")
    completion_tokens: int | None = Field(description="Tokens the model wrote, as reported.")
    total_tokens: int | None = Field(
        description="As reported, else prompt_tokens + completion_tokens when both were."
    )
    detail: Any = Field(description="Any other JSON the execution reported; null when none.")


class MessageAnalysis(BaseModel):
    sentiment: float | None = Field(description="From -1 (negative) to 1; null when not given.")
    intent: str | None = Field(description="The intent label; null when not given.")
    entities: JSONValue = Field(description="Named entities (JSON object or list), or null.")
    analyzed_at: datetime = Field(description="When the analysis was written (UTC).")


class MessageResponse(BaseModel):
    id: str = Field(description="The message's UUID.")
    message_id: str = Field(description="Same as `id`.")
    conversation_id: str = Field(description="The conversation it belongs to.")
    seq: int = Field(description="1, 2, 3... per conversation, gapless, in commit order.")
    role: MessageRole = Field(description="Who wrote it.")
    content: str = Field(description="The message text; not HTML-escaped.")
    content_type: str = Field(description='The content\'s format; "text" by default.')
    sender_id: str | None = Field(description="Whoever sent it; null when not given.")
    agent_id: str | None = Field(description="The agent that wrote or handled it; null if none.")
    model_used: str | None = Field(description="The model that generated it; null if none.")
    token_count: int | None = Field(
        description="Tokens of the content: the caller's count, else the service's "
        "(cl100k_base); never null once stored."
    )
    processing_time_ms: int | None = Field(
        description="How long producing it took, in milliseconds; null when not given."
    )
    metadata: JSONObject = Field(description="Free-form JSON object; `{}` when none.")
    sources: list[MessageSource] = Field(description="RAG documents it used or cites.")
    execution: AgentExecution | None = Field(
        description="What the agent execution reported; null when none."
    )
    tool_calls: list[JSONObject] | None = Field(
        description="Assistant message: [{id, name, arguments}]; null when none."
    )
    tool_call_id: str | None = Field(
        description="Tool message: the id of the call it answers; null otherwise."
    )
    client_message_id: str | None = Field(
        description="The caller's idempotency key, echoed; null when none."
    )
    created_at: datetime = Field(description="When the message was committed (UTC).")
    erased: bool = Field(
        False,
        description="A tombstone left by retention or erasure: id and seq kept; content, "
        "metadata, sources, tool calls and execution removed.",
    )
    analysis: MessageAnalysis | None = Field(description="Null when never analysed.")


class StateResponse(BaseModel):
    conversation_id: str = Field(description="The conversation it belongs to.")
    key: str = Field(description="The state key.")
    value: Any = Field(description="The stored JSON value; null after a delete.")
    state_type: StateType = Field(description="What kind of state it holds.")
    version: int = Field(description="Keeps rising across delete and re-create.")
    expires_at: datetime | None = Field(description="When it expires (UTC); null: never.")
    updated_at: datetime = Field(description="When it was last written (UTC).")


class ConversationListResponse(BaseModel):
    items: list[ConversationResponse] = Field(description="This page, newest first.")
    total: int = Field(description="Conversations matching the filters, on every page.")
    page: int = Field(description="This page's number, from 1.")
    page_size: int = Field(description="Conversations per page, as asked.")
    pages: int = Field(description="Pages in all: ceil(total / page_size).")


class MessageListResponse(BaseModel):
    items: list[MessageResponse] = Field(description="In seq order.")
    total: int = Field(description="Messages at or after from_timestamp.")
    has_more: bool = Field(description="True when more messages follow this page.")


class ErrorResponse(BaseModel):
    """404 (unknown or foreign-tenant id) and 409 (state version conflict)."""

    detail: str = Field(description="What went wrong, in words (never a stack trace).")
