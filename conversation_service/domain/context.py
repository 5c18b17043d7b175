"""An agent's context window of a conversation (minimal version: newest messages, oldest first).

The context issue replaces this module with the full rules (token budget, pinned system messages,
tool-call pairs); the signature and the result type stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from conversation_service.adapters.database import Database
from conversation_service.domain import validation as v
from conversation_service.domain.conversations import get_conversation
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.records import MessageRecord
from conversation_service.models import messages

M = messages.c


@dataclass(slots=True)
class ConversationContextResult:
    conversation_id: str
    messages: list[MessageRecord]  # oldest first
    total_tokens: int
    truncated: bool
    omitted_messages: int
    oversized_message_ids: list[str] = field(default_factory=list)


async def build_context(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    *,
    max_tokens: int | None = None,
    max_messages: int | None = None,
    model: str | None = None,
    include_system: bool = True,
) -> ConversationContextResult:
    v.positive(max_tokens, "max_tokens")
    v.positive(max_messages, "max_messages", 1000)
    conv = await get_conversation(db, tenant_id, conversation_id)
    stmt = select(messages).where(M.tenant_id == tenant_id, M.conversation_id == conv.id)
    if not include_system:
        stmt = stmt.where(M.role != MessageRole.SYSTEM.value)
    stmt = stmt.order_by(M.seq.desc())
    if max_messages is not None:
        stmt = stmt.limit(max_messages)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    picked = [MessageRecord.from_row(r) for r in reversed(rows)]
    # An upper bound when system messages are excluded; the full module counts exactly.
    omitted = max(0, conv.message_count - len(picked)) if max_messages is not None else 0
    return ConversationContextResult(
        conversation_id=conv.id,
        messages=picked,
        total_tokens=sum(m.token_count or 0 for m in picked),
        truncated=omitted > 0,
        omitted_messages=omitted,
        oversized_message_ids=[],
    )
