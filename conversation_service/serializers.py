"""The REST JSON shape of records: snake_case, lowercase enums, ISO-8601 UTC datetimes.

One shape for every non-GraphQL door (REST responses, worker replies), built from the domain
records with plain dicts so any JSON encoder can write it. The conversation id is given as both
`id` and `conversation_id`, the message id as both `id` and `message_id`, as legacy callers expect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _participant(p: dict[str, Any]) -> dict[str, Any]:
    joined = p.get("joined_at")
    return {
        "id": p["id"],
        "kind": p.get("kind") or "user",
        "display_name": p.get("display_name"),
        "joined_at": _iso(joined) if isinstance(joined, datetime) else joined,
    }


def _source(s: dict[str, Any]) -> dict[str, Any]:
    score = s.get("score")
    return {
        "document_id": s["document_id"],
        "title": s.get("title"),
        "url": s.get("url"),
        "snippet": s.get("snippet"),
        "score": float(score) if isinstance(score, int | float) else None,
        "metadata": s.get("metadata") or {},
    }


_EXECUTION_FIELDS = (
    "execution_id",
    "mode",
    "iterations",
    "execution_time_ms",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "detail",
)


def conversation_json(r: ConversationRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "conversation_id": r.id,
        "tenant_id": r.tenant_id,
        "user_id": r.user_id,
        "agent_id": r.agent_id,
        "session_id": r.session_id,
        "title": r.title,
        "status": r.status.value,
        "tags": r.tags,
        "metadata": r.metadata,
        "participants": [_participant(p) for p in r.participants],
        "customer_info": r.customer_info,
        "crm_references": r.crm_references,
        "message_count": r.message_count,
        "total_tokens": r.total_tokens,
        "last_message_at": _iso(r.last_message_at),
        "last_seq": r.last_seq,
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
        "version": r.version,
    }


def message_json(r: MessageRecord) -> dict[str, Any]:
    execution = r.execution
    return {
        "id": r.id,
        "message_id": r.id,
        "conversation_id": r.conversation_id,
        "seq": r.seq,
        "role": r.role.value,
        "content": r.content,
        "content_type": r.content_type,
        "sender_id": r.sender_id,
        "agent_id": r.agent_id,
        "model_used": r.model_used,
        "token_count": r.token_count,
        "processing_time_ms": r.processing_time_ms,
        "metadata": r.metadata,
        "sources": [_source(s) for s in r.sources],
        "execution": (
            {k: execution.get(k) for k in _EXECUTION_FIELDS} if execution is not None else None
        ),
        "tool_calls": r.tool_calls,
        "tool_call_id": r.tool_call_id,
        "client_message_id": r.client_message_id,
        "created_at": _iso(r.created_at),
        "erased": r.erased,
        "analysis": _analysis(r.analysis),
    }


def _analysis(a: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "sentiment": a["sentiment"],
        "intent": a["intent"],
        "entities": a["entities"],
        "analyzed_at": _iso(a["analyzed_at"]),
    }


def state_json(r: StateRecord) -> dict[str, Any]:
    return {
        "conversation_id": r.conversation_id,
        "key": r.key,
        "value": r.value,
        "state_type": r.state_type.value,
        "version": r.version,
        "expires_at": _iso(r.expires_at),
        "updated_at": _iso(r.updated_at),
    }
