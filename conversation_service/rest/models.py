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


def identifier_query() -> Any:
    """A query parameter holding an external id (one FieldInfo per parameter)."""
    return Query(
        json_schema_extra={"minLength": 1, "maxLength": v.MAX_ID_CHARS, "pattern": _PRINTABLE}
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
    id: Identifier
    kind: Identifier = "user"
    display_name: Title | None = None
    joined_at: UtcDateTime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "display_name": self.display_name,
            "joined_at": self.joined_at.isoformat() if self.joined_at else None,
        }


class MessageSourceIn(BaseModel):
    document_id: DocumentId
    title: JsonText | None = None
    url: JsonText | None = None
    snippet: JsonText | None = None
    score: Score | None = None
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)

    def to_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "metadata": self.metadata or {}}


class AgentExecutionIn(BaseModel):
    """Counts are 0..2^31-1; without `total_tokens`, prompt + completion must fit that too."""

    execution_id: JsonText | None = None
    mode: JsonText | None = None
    iterations: Count | None = None
    execution_time_ms: Count | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
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
    content_type: ContentType = "text"
    sender_id: Identifier | None = None
    agent_id: Identifier | None = None
    model_used: Identifier | None = None
    token_count: Count | None = Field(
        default=None,
        validation_alias=AliasChoices("token_count", "tokens_used"),
        description="Counted by the service (cl100k_base) when omitted.",
    )
    processing_time_ms: Count | None = None
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    sources: list[MessageSourceIn] | None = Field(
        default=None,
        json_schema_extra={"maxItems": v.MAX_SOURCES},
        description="RAG documents this message used or cites.",
    )
    execution: AgentExecutionIn | None = None
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
    user_id: Identifier | None = None
    agent_id: Identifier | None = None
    session_id: Identifier | None = None
    title: Title | None = None
    status: ConversationStatus | None = None
    tags: Tags | None = None
    metadata: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    participants: list[ParticipantIn] | None = Field(
        default=None, json_schema_extra={"maxItems": v.MAX_PARTICIPANTS}
    )
    customer_info: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    crm_references: JSONObject | None = Field(default=None, description=_JSON_NOTE)
    initial_messages: list[CreateMessageRequest] | None = Field(
        default=None, json_schema_extra={"maxItems": 100}
    )

    def to_command(self) -> commands.NewConversation:
        return commands.NewConversation.from_input(self)


class UpdateStateRequest(BaseModel):
    """`key`/`value` are also accepted as the legacy `state_key`/`state_value`."""

    key: StateKeyText = Field(validation_alias=AliasChoices("key", "state_key"))
    value: JSONValue = Field(
        validation_alias=AliasChoices("value", "state_value"),
        description="Any JSON value (at most "
        f"{v.MAX_JSON_BYTES} bytes, no NUL characters); null deletes the key.",
    )
    state_type: StateType = StateType.VARIABLE
    ttl_seconds: Annotated[int, BeforeValidator(_json_number)] | None = Field(
        default=None,
        description="Expire after this many seconds.",
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


class MessageAnalysis(BaseModel):
    sentiment: float | None
    intent: str | None
    entities: JSONValue
    analyzed_at: datetime


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
    analysis: MessageAnalysis | None = Field(description="Null when never analysed.")


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
