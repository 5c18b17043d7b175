"""Turning messages into tombstones, shared by retention and erasure.

A tombstone keeps its id and seq (history stays gapless: `seq` 1..lastSeq, cursors and
`afterSeq` keep working) and loses its content, metadata, sources, tool calls and execution.
`Conversation.messageCount` still counts it (a tombstone is a message of the history);
`totalTokens` stays the sum over what is stored: each tombstone's contribution (its execution's
reported total, else its token count) is taken off, and its `tokenCount` becomes 0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from conversation_service.domain.events import ConversationChanged, MessageErased
from conversation_service.domain.execution import usage_tokens
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, MessageRecord


@dataclass(slots=True)
class Tombstoned:
    messages: list[MessageRecord] = field(default_factory=list)
    conversations: list[ConversationRecord] = field(default_factory=list)
    sources: int = 0


async def tombstone_messages(uow: UnitOfWork, ids: list[str]) -> Tombstoned:
    """Erase the messages among `ids` that are not erased yet, in this unit of work; announces
    `messageErased` for each and `conversationChanged` for each conversation whose counters
    moved."""
    old = await uow.messages.lock_live(ids)
    if not old:
        return Tombstoned()
    erased_ids = [m.id for m in old]
    sources = await uow.sources.delete_for(erased_ids)
    tombstones = await uow.messages.tombstone(erased_ids)
    deltas: dict[str, int] = defaultdict(int)
    for m in old:
        deltas[m.conversation_id] += usage_tokens(m.token_count or 0, m.execution)
    conversations = await uow.conversations.subtract_tokens(dict(deltas), uow.now())
    owners = {c.id: c for c in conversations}
    for m in tombstones:
        conv = owners.get(m.conversation_id)
        uow.add_event(
            MessageErased(m, conv.agent_id if conv else None, conv.user_id if conv else None)
        )
    for c in conversations:
        uow.add_event(ConversationChanged(c))
    return Tombstoned(tombstones, conversations, sources)
