"""The nooble4 wire shapes: DomainAction (requests and async callbacks) and DomainActionResponse.

Unknown extra fields are allowed and kept, as the platform's own models do, so that a newer sender
never gets rejected for a field this service does not know yet.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


def _now() -> datetime:
    return datetime.now(UTC)


class DomainAction(BaseModel):
    model_config = ConfigDict(extra="allow")

    action_id: str
    action_type: str = Field(min_length=1, max_length=255)
    timestamp: datetime
    tenant_id: str
    session_id: str
    task_id: str
    agent_id: str
    origin_service: str
    data: dict[str, Any] | None
    user_id: str | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    callback_queue_name: str | None = None
    callback_action_type: str | None = None
    execution_config: dict[str, Any] | None = None
    query_config: dict[str, Any] | None = None
    rag_config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("action_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        uuid.UUID(value)
        return value

    @field_validator("tenant_id", "session_id", "task_id", "agent_id", "user_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Some senders serialise UUID-typed ids; they are opaque strings to this service.
        return str(value) if isinstance(value, uuid.UUID) else value

    @property
    def payload(self) -> dict[str, Any]:
        return self.data or {}

    @property
    def reply_mode(self) -> str:
        if not self.callback_queue_name:
            return "fire_and_forget"
        if self.callback_action_type:
            return "callback"
        return "pseudo_sync"


class ActionError(BaseModel):
    error_type: str
    error_code: str
    message: str
    details: dict[str, Any] | None = None


class DomainActionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    action_id: str
    correlation_id: str | None = None
    trace_id: str | None = None
    task_id: str | None = None
    tenant_id: str | None = None
    session_id: str | None = None
    success: bool
    timestamp: datetime = Field(default_factory=_now)
    data: dict[str, Any] | None = None
    error: ActionError | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DomainActionResponse:
        if self.success and self.error is not None:
            raise ValueError("a successful response carries no error")
        if not self.success and self.error is None:
            raise ValueError("a failed response needs an error")
        return self


class MalformedEntry(Exception):
    """A stream entry that is not a DomainAction; it goes to the dead-letter stream."""

    def __init__(self, reason: str, raw: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw  # the decoded JSON object when there was one (to answer a callback)


def parse_entry(fields: dict[bytes, bytes]) -> DomainAction:
    """One stream entry (`{"data": <json>}`) to a DomainAction, or MalformedEntry."""
    raw = fields.get(b"data")
    if raw is None:
        raise MalformedEntry("entry has no 'data' field")
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        decoded = _python_json(raw)
    if not isinstance(decoded, dict):
        raise MalformedEntry("'data' is not a JSON object")
    try:
        action = DomainAction.model_validate(decoded)
    except ValidationError as exc:
        fields_ = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise MalformedEntry(f"invalid DomainAction: {', '.join(fields_)}", decoded) from None
    if action.data is None:
        raise MalformedEntry("invalid DomainAction: data", decoded)
    return action


def _python_json(raw: bytes) -> Any:
    """Python senders' `json.dumps` writes inf and nan as `Infinity` / `NaN`, which orjson
    refuses. Read them (only on this failure path) so the action is answered: the domain then
    refuses the non-finite numbers with VALIDATION_ERROR instead of a silent dead letter."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedEntry("'data' is not JSON") from None


def dumps(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))
