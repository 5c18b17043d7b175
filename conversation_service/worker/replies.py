"""What goes back to the sender: the DomainActionResponse (pseudo-sync) or a callback DomainAction
(async callback), and the mapping of failures to the platform's error types and codes."""

from __future__ import annotations

import uuid
from typing import Any

from conversation_service.domain.errors import DomainError, NotFound, ValidationFailed
from conversation_service.worker.envelope import (
    ActionError,
    DomainAction,
    DomainActionResponse,
    _now,
    dumps,
)
from conversation_service.worker.streams import SERVICE_NAME

_TYPES = {
    "BAD_USER_INPUT": ("ValidationError", "VALIDATION_ERROR"),
    "NOT_FOUND": ("NotFoundError", "NOT_FOUND"),
    "CONFLICT": ("ConflictError", "CONFLICT"),
    "UNAUTHENTICATED": ("ValidationError", "VALIDATION_ERROR"),
}


def domain_error(exc: DomainError) -> ActionError:
    error_type, code = _TYPES.get(exc.code, ("ProcessingError", "HANDLER_EXECUTION_ERROR"))
    details: dict[str, Any] = {}
    if exc.field:
        details["field"] = exc.field
        details["fields"] = [exc.field]
    return ActionError(error_type=error_type, error_code=code, message=exc.message, details=details)


def validation_error(message: str, fields: list[str] | None = None) -> ActionError:
    return ActionError(
        error_type="ValidationError",
        error_code="VALIDATION_ERROR",
        message=message,
        details={"fields": fields or []},
    )


def unknown_action(action_type: str) -> ActionError:
    return ActionError(
        error_type="ValidationError",
        error_code="UNKNOWN_ACTION",
        message=f"unknown action type {action_type!r}",
        details={"action_type": action_type},
    )


def processing_error(message: str = "the action could not be processed") -> ActionError:
    # Never a stack trace: the detail is in the worker's log and the dead-letter entry.
    return ActionError(
        error_type="ProcessingError", error_code="HANDLER_EXECUTION_ERROR", message=message
    )


def is_not_found(exc: DomainError) -> bool:
    return isinstance(exc, NotFound)


def is_validation(exc: DomainError) -> bool:
    return isinstance(exc, ValidationFailed)


def build_reply(
    action: DomainAction, data: dict[str, Any] | None, error: ActionError | None
) -> tuple[str, bytes] | None:
    """(queue, payload) to LPUSH for this action's reply mode; None for fire-and-forget."""
    queue = action.callback_queue_name
    if not queue:
        return None
    if action.callback_action_type:
        # The platform's DomainAction requires `data` to be an object: a failure carries `{}`
        # there and its error in `metadata`.
        callback = DomainAction(
            action_id=str(uuid.uuid4()),
            action_type=action.callback_action_type,
            timestamp=_now(),
            tenant_id=action.tenant_id,
            session_id=action.session_id,
            task_id=action.task_id,
            agent_id=action.agent_id,
            user_id=action.user_id,
            correlation_id=action.correlation_id,
            trace_id=action.trace_id,
            origin_service=SERVICE_NAME,
            data=(data or {}) if error is None else {},
            metadata={
                "source_action_id": action.action_id,
                "source_action_type": action.action_type,
                "success": error is None,
                **({"error": error.model_dump(mode="json")} if error is not None else {}),
            },
        )
        return queue, dumps(callback)
    response = DomainActionResponse(
        action_id=action.action_id,
        correlation_id=action.correlation_id,
        trace_id=action.trace_id,
        task_id=action.task_id,
        tenant_id=action.tenant_id,
        session_id=action.session_id,
        success=error is None,
        data=data if error is None else None,
        error=error,
    )
    return queue, dumps(response)


class Unanswerable(Exception):
    """The entry names a reply queue, but lacks what the caller's own model requires of the
    answer (e.g. tenant_id): an answer with null there would fail the caller's parse."""


_RESPONSE_NEEDS = ("tenant_id", "session_id")
_CALLBACK_NEEDS = ("tenant_id", "session_id", "task_id", "agent_id")


def build_raw_error_reply(raw: dict[str, Any], error: ActionError) -> tuple[str, bytes] | None:
    """Best-effort answer to an entry too broken to parse, when it names a reply queue, so the
    caller fails fast instead of waiting for its timeout. The answer copies what the request
    had; when that is not enough for the caller's model, raises Unanswerable."""
    queue = raw.get("callback_queue_name")
    if not isinstance(queue, str) or not queue:
        return None

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) and value else None

    callback_type = text("callback_action_type")
    missing = [n for n in (_CALLBACK_NEEDS if callback_type else _RESPONSE_NEEDS) if not text(n)]
    if missing:
        raise Unanswerable(f"no reply sent: the action lacks {', '.join(missing)}")
    action_id = text("action_id")
    if action_id is None or not _is_uuid(action_id):
        action_id = str(uuid.uuid4())  # callers match replies by correlation_id
    if callback_type:
        callback = DomainAction(
            action_id=str(uuid.uuid4()),
            action_type=callback_type,
            timestamp=_now(),
            tenant_id=text("tenant_id") or "",
            session_id=text("session_id") or "",
            task_id=text("task_id") or "",
            agent_id=text("agent_id") or "",
            user_id=text("user_id"),
            correlation_id=text("correlation_id"),
            trace_id=text("trace_id"),
            origin_service=SERVICE_NAME,
            data={},
            metadata={
                "source_action_id": action_id,
                "source_action_type": text("action_type"),
                "success": False,
                "error": error.model_dump(mode="json"),
            },
        )
        return queue, dumps(callback)
    response = DomainActionResponse(
        action_id=action_id,
        correlation_id=text("correlation_id"),
        trace_id=text("trace_id"),
        task_id=text("task_id"),
        tenant_id=text("tenant_id"),
        session_id=text("session_id"),
        success=False,
        error=error,
    )
    return queue, dumps(response)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
