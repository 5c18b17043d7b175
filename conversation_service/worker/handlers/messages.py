"""conversation.add_message, the platform's conversation.message.create (a whole turn) and the
older conversation.save_message."""

from __future__ import annotations

from typing import Any

from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.messages import add_message as add_message_rule
from conversation_service.domain.sessions import record_turn, save_session_message
from conversation_service.serializers import conversation_json, message_json
from conversation_service.worker.handlers.fields import (
    opt_dict,
    opt_int,
    opt_list,
    opt_str,
    req_str,
)
from conversation_service.worker.registry import Call
from conversation_service.worker.translate import turn_from_action


def _role(d: dict[str, Any], field: str = "role") -> MessageRole:
    raw = req_str(d, "role")
    try:
        return MessageRole.parse(raw)
    except ValueError:
        raise ValidationFailed(
            "role must be user, assistant, system or tool", field=field
        ) from None


def new_message(d: Any, prefix: str = "") -> NewMessage:
    """The message fields of an action's `data` (the GraphQL input's fields, snake_case)."""
    if not isinstance(d, dict):
        raise ValidationFailed(f"{prefix or 'message'} must be an object", field=prefix or None)
    return NewMessage(
        role=_role(d, f"{prefix}.role" if prefix else "role"),
        content=req_str(d, "content"),
        content_type=opt_str(d, "content_type") or "text",
        sender_id=opt_str(d, "sender_id"),
        agent_id=opt_str(d, "agent_id"),
        model_used=opt_str(d, "model_used"),
        token_count=opt_int(d, "token_count"),
        processing_time_ms=opt_int(d, "processing_time_ms"),
        metadata=opt_dict(d, "metadata") or {},
        sources=opt_list(d, "sources") or [],
        execution=opt_dict(d, "execution"),
        tool_calls=opt_list(d, "tool_calls"),
        tool_call_id=opt_str(d, "tool_call_id"),
        client_message_id=opt_str(d, "client_message_id"),
        analysis=MessageAnalysis.of(opt_dict(d, "analysis")),
    )


async def add_message(call: Call) -> dict[str, Any]:
    d = call.data
    m = new_message(d)
    appended = await add_message_rule(call.uow, req_str(d, "conversation_id"), m)
    return {**message_json(appended.message), "created": appended.created}


async def message_create(call: Call) -> dict[str, Any]:
    conversation, user, assistant = turn_from_action(call.action)
    turn = await record_turn(call.uow, conversation, user, assistant)
    return {
        "conversation_id": turn.conversation.id,
        "conversation_created": turn.conversation_created,
        "conversation": conversation_json(turn.conversation),
        "user_message": message_json(turn.user_message),
        "assistant_message": message_json(turn.assistant_message),
    }


def _processing_ms(value: Any) -> int | None:
    """The older senders reported `processing_time` in seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, round(value * 1000))


async def save_message(call: Call) -> dict[str, Any]:
    d, a = call.data, call.action
    metadata = dict(opt_dict(d, "metadata") or {})
    if d.get("processing_time") is not None:
        metadata.setdefault("processing_time", d["processing_time"])
    role = _role(d)
    m = NewMessage(
        role=role,
        content=req_str(d, "content"),
        content_type=opt_str(d, "message_type") or opt_str(d, "content_type") or "text",
        sender_id=a.user_id if role is MessageRole.USER else a.agent_id,
        agent_id=a.agent_id if role is not MessageRole.USER else None,
        processing_time_ms=_processing_ms(d.get("processing_time")),
        metadata=metadata,
        client_message_id=f"action:{a.action_id}",
    )
    conversation = NewConversation(
        id=opt_str(d, "conversation_id"),
        user_id=a.user_id,
        agent_id=a.agent_id,
        session_id=opt_str(d, "session_id") or a.session_id,
    )
    appended = await save_session_message(call.uow, conversation, m)
    return {**message_json(appended.message), "created": appended.created}
