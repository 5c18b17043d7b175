"""The REST shim's JSON shape of stored objects, shared by the REST routes and the worker's replies.

snake_case fields, lowercase enum values, ISO-8601 UTC datetimes, and the ids under both names the
legacy callers read (`id` + `conversation_id`, `id` + `message_id`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def conversation_json(c: ConversationRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "conversation_id": c.id,
        "tenant_id": c.tenant_id,
        "user_id": c.user_id,
        "agent_id": c.agent_id,
        "session_id": c.session_id,
        "title": c.title,
        "status": c.status.value,
        "tags": list(c.tags),
        "metadata": c.metadata,
        "participants": c.participants,
        "customer_info": c.customer_info,
        "crm_references": c.crm_references,
        "message_count": c.message_count,
        "total_tokens": c.total_tokens,
        "last_seq": c.last_seq,
        "last_message_at": _iso(c.last_message_at),
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "version": c.version,
    }


def message_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "message_id": m.id,
        "conversation_id": m.conversation_id,
        "tenant_id": m.tenant_id,
        "seq": m.seq,
        "role": m.role.value,
        "content": m.content,
        "content_type": m.content_type,
        "sender_id": m.sender_id,
        "agent_id": m.agent_id,
        "model_used": m.model_used,
        "token_count": m.token_count,
        "processing_time_ms": m.processing_time_ms,
        "metadata": m.metadata,
        "sources": m.sources,
        "execution": m.execution,
        "tool_calls": m.tool_calls,
        "tool_call_id": m.tool_call_id,
        "client_message_id": m.client_message_id,
        "created_at": _iso(m.created_at),
    }


def state_json(s: StateRecord) -> dict[str, Any]:
    return {
        "conversation_id": s.conversation_id,
        "key": s.key,
        "value": s.value,
        "state_type": s.state_type.value,
        "version": s.version,
        "expires_at": _iso(s.expires_at),
        "updated_at": _iso(s.updated_at),
    }
