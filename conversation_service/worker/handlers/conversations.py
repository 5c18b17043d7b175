"""conversation.create / update_state / sync_crm / session_closed."""

from __future__ import annotations

from typing import Any

from conversation_service.domain.commands import NewConversation, StateWrite
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.crm_sync import request_crm_sync
from conversation_service.domain.enums import ConversationStatus, StateType
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.sessions import close_session
from conversation_service.domain.state import write_state
from conversation_service.serializers import conversation_json, state_json
from conversation_service.worker.handlers.fields import (
    opt_dict,
    opt_int,
    opt_list,
    opt_str,
    parse_enum,
    req_str,
)
from conversation_service.worker.handlers.messages import new_message
from conversation_service.worker.registry import Call


async def create(call: Call) -> dict[str, Any]:
    d, a = call.data, call.action
    status = opt_str(d, "status")
    new = NewConversation(
        id=opt_str(d, "conversation_id") or opt_str(d, "id"),
        user_id=opt_str(d, "user_id") or a.user_id,
        agent_id=opt_str(d, "agent_id") or a.agent_id,
        session_id=opt_str(d, "session_id") or a.session_id,
        title=opt_str(d, "title"),
        status=parse_enum(ConversationStatus, status, "status")
        if status
        else ConversationStatus.ACTIVE,
        tags=opt_list(d, "tags") or [],
        metadata=opt_dict(d, "metadata") or {},
        participants=opt_list(d, "participants") or [],
        customer_info=opt_dict(d, "customer_info"),
        crm_references=opt_dict(d, "crm_references") or {},
        initial_messages=[
            new_message(item, f"initial_messages.{i}")
            for i, item in enumerate(opt_list(d, "initial_messages") or [])
        ],
    )
    record, created = await create_conversation(call.uow, new)
    return {**conversation_json(record), "created": created}


def _state_type(raw: str | None) -> StateType:
    return StateType.VARIABLE if raw is None else parse_enum(StateType, raw, "state_type")


async def update_state(call: Call) -> dict[str, Any]:
    d = call.data
    key = opt_str(d, "state_key") or req_str(d, "key")
    if "state_value" in d:
        value = d["state_value"]
    elif "value" in d:
        value = d["value"]
    else:
        raise ValidationFailed("state_value is required (null deletes)", field="state_value")
    write = StateWrite(
        key=key,
        value=value,
        state_type=_state_type(opt_str(d, "state_type")),
        ttl_seconds=opt_int(d, "ttl_seconds"),
        expected_version=opt_int(d, "expected_version"),
    )
    record = await write_state(call.uow, req_str(d, "conversation_id"), write)
    return state_json(record)


async def sync_crm(call: Call) -> dict[str, Any]:
    d = call.data
    # `crm_type` names a connector; the tenant's CRM configuration decides which one is used.
    record = await request_crm_sync(
        call.uow,
        req_str(d, "conversation_id"),
        customer_id=opt_str(d, "crm_entity_id"),
        customer_info=opt_dict(d, "customer_info"),
    )
    return record.to_dict()


async def session_closed(call: Call) -> dict[str, Any]:
    d = call.data
    session_id = opt_str(d, "session_id") or call.action.session_id
    closed = await close_session(call.uow, session_id, opt_str(d, "agent_id"))
    return {
        "session_id": session_id,
        "closed": len(closed),
        "conversations": [conversation_json(c) for c in closed],
    }
