"""conversation.get_history and conversation.get_context / conversation.context.get (reads)."""

from __future__ import annotations

from typing import Any

from conversation_service.domain.context import build_context
from conversation_service.domain.conversations import get_conversation
from conversation_service.domain.crm_customers import lookup_customer
from conversation_service.domain.sessions import find_session_conversation
from conversation_service.serializers import message_json
from conversation_service.worker.handlers.fields import opt_bool, opt_int, opt_str
from conversation_service.worker.registry import Call


async def _conversation_id(call: Call) -> str | None:
    """The conversation named in `data`, else the session's (for this agent); None when the
    session has none yet (a first turn asks for its context before any message exists)."""
    d = call.data
    cid = opt_str(d, "conversation_id")
    if cid:
        return cid
    session_id = opt_str(d, "session_id") or call.action.session_id
    found = await find_session_conversation(
        call.uow, session_id, opt_str(d, "agent_id") or call.action.agent_id
    )
    return found.id if found is not None else None


async def get_history(call: Call) -> dict[str, Any]:
    d = call.data
    limit = opt_int(d, "limit")
    limit = 10 if limit is None else limit
    include_system = opt_bool(d, "include_system", False)
    cid = await _conversation_id(call)
    session_id = opt_str(d, "session_id") or call.action.session_id
    if cid is None:
        return {"conversation_id": None, "session_id": session_id, "messages": [], "total": 0}
    ctx = await build_context(call.uow, cid, max_messages=limit, include_system=include_system)
    return {
        "conversation_id": ctx.conversation_id,
        "session_id": session_id,
        "messages": [message_json(m) for m in ctx.messages],
        "total": len(ctx.messages),
    }


async def get_context(call: Call) -> dict[str, Any]:
    d = call.data
    model = opt_str(d, "model_name") or opt_str(d, "model")
    cid = await _conversation_id(call)
    if cid is None:
        return {
            "conversation_id": None,
            "session_id": opt_str(d, "session_id") or call.action.session_id,
            "model_name": model,
            "messages": [],
            "message_count": 0,
            "total_tokens": 0,
            "truncated": False,
            "truncation_applied": False,
            "omitted_messages": 0,
            "oversized_message_ids": [],
        }
    ctx = await build_context(
        call.uow,
        cid,
        max_tokens=opt_int(d, "max_tokens"),
        max_messages=opt_int(d, "max_messages"),
        model=model,
        include_system=opt_bool(d, "include_system", True),
    )
    reply: dict[str, Any] = {
        "conversation_id": ctx.conversation_id,
        "session_id": opt_str(d, "session_id") or call.action.session_id,
        "model_name": model,
        "messages": [message_json(m) for m in ctx.messages],
        "message_count": len(ctx.messages),
        "total_tokens": ctx.total_tokens,
        "truncated": ctx.truncated,
        "truncation_applied": ctx.truncated,
        "omitted_messages": ctx.omitted_messages,
        "oversized_message_ids": ctx.oversized_message_ids,
    }
    if opt_bool(d, "include_customer", False):  # the CRM customer, when the agent asks for it
        conversation = await get_conversation(call.uow, cid)
        reply["customer"] = await lookup_customer(call.uow.crm, call.tenant_id, conversation)
    return reply
