"""The platform's turn payload (`conversation.message.create`) read into the domain's inputs.

The Agent Execution Service sends the turn's user and agent text with a free-form `metadata`
(`mode` simple/advance, the Query Service's RAG answer, the ReAct iterations). Here that becomes
the assistant message's `execution` (the usage is the Query Service answer's `usage`) and
`sources` (its chunk ids), so the detail is queryable and `messagesBySource` finds the turn.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from conversation_service.domain import validation as v
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.worker.envelope import DomainAction
from conversation_service.worker.handlers.fields import opt_dict, opt_str, req_str

#: Namespace of the message ids derived from an action, so a redelivered turn maps to the same ids.
MESSAGE_NS = uuid.UUID("5d0f3c1e-9a4b-4f7e-8b61-2c1e7a9f0b42")
_DETAIL_LIMIT = 48 * 1024
_SNIPPET_CHARS = 1000


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    return None


def _first_str(d: dict[str, Any], *names: str) -> str | None:
    for n in names:
        value = d.get(n)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def sources_from(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    qsr = metadata.get("query_service_response")
    raw = qsr.get("sources") if isinstance(qsr, dict) else metadata.get("sources")
    if not isinstance(raw, list):
        return []
    out: list[dict[str, Any]] = []
    chunks: set[str] = set()
    for i, s in enumerate(raw[: v.MAX_SOURCES]):
        if isinstance(s, str):
            # The Query Service's ChatResponse lists the chunk ids it used (UUID strings): each
            # is a source of its own, found again by `messagesBySource(documentId: <chunk id>)`.
            chunk = s.strip()
            if chunk and len(chunk) <= v.MAX_ID_CHARS and chunk not in chunks:
                chunks.add(chunk)
                out.append({"document_id": chunk, "metadata": {}})
            continue
        if not isinstance(s, dict):
            continue
        raw_meta = s.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        snippet = _first_str(s, "snippet", "content", "text")
        score = s.get("score", s.get("similarity_score", s.get("similarity")))
        out.append(
            {
                "document_id": _first_str(s, "document_id", "doc_id", "id", "chunk_id")
                or _first_str(meta, "document_id")
                or f"source-{i}",
                "title": _first_str(s, "title") or _first_str(meta, "title"),
                "url": _first_str(s, "url") or _first_str(meta, "url", "source"),
                "snippet": snippet[:_SNIPPET_CHARS] if snippet else None,
                "score": float(score) if isinstance(score, int | float) else None,
                "metadata": meta,
            }
        )
    return out


def _fits(value: Any) -> bool:
    return len(orjson.dumps(value)) <= _DETAIL_LIMIT


def _usage(metadata: dict[str, Any], qsr: dict[str, Any]) -> dict[str, Any]:
    """The turn's usage: the Query Service's `usage` (where the platform puts it), else the
    older draft's `metadata.token_usage`."""
    for raw in (qsr.get("usage"), metadata.get("token_usage")):
        if isinstance(raw, dict) and raw:
            return raw
    return {}


def execution_from(action: DomainAction, metadata: dict[str, Any]) -> dict[str, Any]:
    raw_qsr = metadata.get("query_service_response")
    qsr: dict[str, Any] = raw_qsr if isinstance(raw_qsr, dict) else {}
    usage = _usage(metadata, qsr)
    mode = metadata.get("mode") if isinstance(metadata.get("mode"), str) else None
    seconds = metadata.get("execution_time_seconds")
    ms = metadata.get("execution_time_ms")
    execution_ms = _int(ms) if ms is not None else None
    if execution_ms is None and isinstance(seconds, int | float) and not isinstance(seconds, bool):
        execution_ms = round(seconds * 1000)
    if execution_ms is None:
        execution_ms = _int(qsr.get("execution_time_ms"))
    detail: dict[str, Any] = {}
    if isinstance(raw_qsr, dict):
        detail["query_service_response"] = raw_qsr
    if "iterations_detail" in metadata:
        detail["iterations_detail"] = metadata["iterations_detail"]
    if not _fits(detail):
        detail = {"truncated": True}
    return {
        "execution_id": action.task_id,
        "mode": mode,
        "iterations": _int(metadata.get("react_iterations", metadata.get("iterations"))),
        "execution_time_ms": execution_ms,
        "prompt_tokens": _int(usage.get("prompt_tokens")),
        "completion_tokens": _int(usage.get("completion_tokens")),
        "total_tokens": _int(usage.get("total_tokens")),
        "detail": detail,
    }


def _message_ids(action: DomainAction, turn_key: str) -> tuple[str, str]:
    try:
        assistant = str(uuid.UUID(turn_key))
    except ValueError:
        assistant = str(uuid.uuid5(MESSAGE_NS, f"{turn_key}:assistant"))
    return str(uuid.uuid5(MESSAGE_NS, f"{turn_key}:user")), assistant


def turn_from_action(action: DomainAction) -> tuple[NewConversation, NewMessage, NewMessage]:
    data = action.payload
    conversation_id = req_str(data, "conversation_id")
    user_text = req_str(data, "user_message")
    agent_text = req_str(data, "agent_message")
    metadata = opt_dict(data, "metadata") or {}
    turn_key = opt_str(data, "message_id") or action.action_id
    user_id, assistant_id = _message_ids(action, turn_key)
    execution = execution_from(action, metadata)
    kept = {
        k: val
        for k, val in metadata.items()
        if k not in ("query_service_response", "iterations_detail")
    }
    if not _fits(kept):
        kept = {"mode": execution["mode"], "truncated": True}
    common = {"task_id": action.task_id, "turn_timestamp": opt_str(data, "timestamp")}
    model = metadata.get("model") or (action.execution_config or {}).get("model")
    conversation = NewConversation(
        id=conversation_id,
        user_id=action.user_id,
        agent_id=action.agent_id,
        session_id=action.session_id,
    )
    user = NewMessage(
        role=MessageRole.USER,
        content=user_text,
        sender_id=action.user_id,
        metadata=common,
        client_message_id=f"{turn_key}:user",
        id=user_id,
        analysis=MessageAnalysis.of(opt_dict(data, "user_analysis")),
    )
    assistant = NewMessage(
        role=MessageRole.ASSISTANT,
        content=agent_text,
        sender_id=action.agent_id,
        agent_id=action.agent_id,
        model_used=model if isinstance(model, str) else None,
        token_count=execution["completion_tokens"],
        processing_time_ms=execution["execution_time_ms"],
        metadata={**kept, **common},
        sources=sources_from(metadata),
        execution=execution,
        client_message_id=f"{turn_key}:assistant",
        id=assistant_id,
        analysis=MessageAnalysis.of(opt_dict(data, "agent_analysis")),
    )
    return conversation, user, assistant
