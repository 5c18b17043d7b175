"""Agent execution records: the usage an Agent Execution reports on its assistant message."""

from __future__ import annotations

from typing import Any

from conversation_service.domain import validation as v
from conversation_service.domain.errors import ValidationFailed

#: Integer fields of `Message.execution`; everything else is free-form (`detail`, ids, mode).
INT_FIELDS = (
    "iterations",
    "execution_time_ms",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)


def normalize_execution(execution: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """Check the numeric fields and fill `total_tokens` from prompt + completion when missing,
    so usage sums never depend on which of the three the reporter sent."""
    if execution is None:
        return None
    v.json_object(execution, field)
    for name in INT_FIELDS:
        if execution.get(name) is not None:
            v.non_negative(execution[name], f"{field}.{name}")
    for name in ("execution_id", "mode"):
        value = execution.get(name)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(f"{field}.{name} must be a string", field=f"{field}.{name}")
    prompt, completion = execution.get("prompt_tokens"), execution.get("completion_tokens")
    if execution.get("total_tokens") is None and prompt is not None and completion is not None:
        if prompt + completion > v.MAX_INT:  # the total must fit where the others fit
            raise ValidationFailed(
                f"{field}.prompt_tokens + {field}.completion_tokens must be at most {v.MAX_INT}",
                field=f"{field}.total_tokens",
            )
        execution = {**execution, "total_tokens": prompt + completion}
    return execution


def usage_tokens(token_count: int, execution: dict[str, Any] | None) -> int:
    """What a message adds to `Conversation.totalTokens`: the execution's reported total when
    the agent reported one (what the turn cost), else the message's own token count."""
    if execution is not None and execution.get("total_tokens") is not None:
        return int(execution["total_tokens"])
    return token_count
