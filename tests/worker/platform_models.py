"""The platform's own wire models (its `common/models/actions.py`), mirrored from the documented
facts: what a nooble4 caller parses the replies of this service with. A reply that does not
validate here is one the real caller rejects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class PlatformDomainAction(BaseModel):
    model_config = ConfigDict(extra="allow")

    action_id: uuid.UUID
    action_type: str
    timestamp: datetime
    tenant_id: str
    session_id: str
    task_id: str
    agent_id: str
    origin_service: str
    data: dict[str, Any]  # required, an object: never null
    user_id: str | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    callback_queue_name: str | None = None
    callback_action_type: str | None = None
    execution_config: dict[str, Any] | None = None
    query_config: dict[str, Any] | None = None
    rag_config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class PlatformErrorDetail(BaseModel):
    error_type: str
    error_code: str | None = None
    message: str
    details: dict[str, Any] | None = None


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")

    action_id: uuid.UUID
    correlation_id: str | None = None
    trace_id: str | None = None
    task_id: str | None = None
    tenant_id: Any
    session_id: Any
    success: bool
    timestamp: datetime
    data: dict[str, Any] | None = None
    error: PlatformErrorDetail | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _Response:
        if self.success and self.error is not None:
            raise ValueError("success=true requires error=null")
        if not self.success and self.error is None:
            raise ValueError("success=false requires an error")
        return self


class PlatformDomainActionResponse(_Response):
    tenant_id: uuid.UUID  # UUID-typed on the platform: null or a non-UUID fails the parse
    session_id: uuid.UUID


class TextIdsResponse(_Response):
    """The same shape for tests whose tenants and sessions are not UUIDs: ids must be text."""

    tenant_id: str
    session_id: str


def check_reply(request: dict[str, Any], reply: dict[str, Any]) -> None:
    """The reply parses with the model the caller of `request` reads it with."""
    if request.get("callback_action_type"):
        PlatformDomainAction.model_validate(reply)
        return
    ids = (request.get("tenant_id"), request.get("session_id"))
    if all(isinstance(i, str) and _is_uuid(i) for i in ids):
        PlatformDomainActionResponse.model_validate(reply)
    else:
        TextIdsResponse.model_validate(reply)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
