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
            data=data if error is None else None,
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


def build_raw_error_reply(raw: dict[str, Any], error: ActionError) -> tuple[str, bytes] | None:
    """Best-effort answer to an entry too broken to parse, when it names a reply queue, so the
    caller fails fast instead of waiting for its timeout."""
    queue = raw.get("callback_queue_name")
    if not isinstance(queue, str) or not queue:
        return None

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) else None

    response = DomainActionResponse(
        action_id=text("action_id") or "",
        correlation_id=text("correlation_id"),
        trace_id=text("trace_id"),
        task_id=text("task_id"),
        tenant_id=text("tenant_id"),
        session_id=text("session_id"),
        success=False,
        error=error,
    )
    return queue, dumps(response)
