"""Message rules: gapless seq under concurrent writers, idempotent adds, seq-range pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conversation_service.domain import audit, tokens
from conversation_service.domain import validation as v
from conversation_service.domain.analysis import (
    AnalysisFilter,
    MessageAnalysis,
    analysis_columns,
    validate_analysis,
)
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.errors import NotFound, ValidationFailed, WriteConflict
from conversation_service.domain.events import ConversationChanged, MessageAdded, MessageAnnotated
from conversation_service.domain.execution import normalize_execution, usage_tokens
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, MessageRecord
from conversation_service.domain.sources import validate_source


def validate_new_message(m: NewMessage, prefix: str = "") -> NewMessage:
    m.content = v.content(m.content, f"{prefix}content")
    v.text(m.content_type, f"{prefix}content_type", v.MAX_CONTENT_TYPE_CHARS)
    v.identifier(m.sender_id, f"{prefix}sender_id")
    v.identifier(m.agent_id, f"{prefix}agent_id")
    v.identifier(m.model_used, f"{prefix}model_used")
    v.non_negative(m.token_count, f"{prefix}token_count")
    v.non_negative(m.processing_time_ms, f"{prefix}processing_time_ms")
    v.json_object(m.metadata, f"{prefix}metadata")
    if len(m.sources) > v.MAX_SOURCES:
        raise ValidationFailed(
            f"{prefix}sources may hold at most {v.MAX_SOURCES} items", field=f"{prefix}sources"
        )
    for s in m.sources:
        if (
            not isinstance(s, dict)
            or not isinstance(s.get("document_id"), str)
            or not s["document_id"]
        ):
            raise ValidationFailed(
                "every source needs a document_id", field=f"{prefix}sources.document_id"
            )
        validate_source(s, f"{prefix}sources")
    v.json_document(m.sources, f"{prefix}sources")
    m.execution = normalize_execution(m.execution, f"{prefix}execution")
    if m.tool_calls is not None:
        if not isinstance(m.tool_calls, list) or not all(isinstance(t, dict) for t in m.tool_calls):
            raise ValidationFailed(
                f"{prefix}tool_calls must be a list of objects", field=f"{prefix}tool_calls"
            )
        v.json_document(m.tool_calls, f"{prefix}tool_calls")
    v.identifier(m.tool_call_id, f"{prefix}tool_call_id")
    v.identifier(m.client_message_id, f"{prefix}client_message_id")
    if m.id is not None:
        m.id = v.uuid_id(m.id, f"{prefix}id")
    m.analysis = validate_analysis(m.analysis, f"{prefix}analysis")
    return m


@dataclass(slots=True)
class Appended:
    message: MessageRecord
    conversation: ConversationRecord | None  # None when an earlier identical add was found
    created: bool


async def append_message(
    uow: UnitOfWork, conversation_id: str, m: NewMessage
) -> tuple[MessageRecord, ConversationRecord]:
    """Append inside the caller's unit of work: the conversation row is bumped first (which
    serialises writers of one conversation and yields the next seq), then the message and its
    sources are inserted. A rollback undoes all of it."""
    token_count = m.token_count if m.token_count is not None else tokens.count(m.content)
    used = usage_tokens(token_count, m.execution)
    appended = await uow.messages.append(conversation_id, m, token_count, used, uow.now())
    if appended is None:
        raise NotFound(f"conversation {conversation_id} not found")
    message, conversation = appended
    await uow.sources.write(message)
    uow.audit(audit.MESSAGE_ADD, message.id)
    uow.add_event(MessageAdded(message, conversation.agent_id, conversation.user_id))
    return message, conversation


async def add_message(uow: UnitOfWork, conversation_id: str, m: NewMessage) -> Appended:
    """Add one message. A retry with the same `client_message_id` (or message id) returns the
    first message and writes nothing. A concurrent add with the same key makes this a
    retryable WriteConflict: run again, it finds the winner's message."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    m = validate_new_message(m)
    if m.token_count is None:  # counted before the first statement: no row lock held meanwhile
        m.token_count = await tokens.count_async(m.content)
    token_count = m.token_count
    try:
        # one statement where the store can: the key lookup, the bump and the insert
        added = await uow.messages.add(
            conversation_id, m, token_count, usage_tokens(token_count, m.execution), uow.now()
        )
    except WriteConflict as exc:
        if m.client_message_id is None and m.id is None:
            exc.retryable = False
        else:  # a key used by another conversation's message never resolves by retrying
            exc.final = ValidationFailed(
                "message id is already used by another message", field="id"
            )
        raise
    if added is None:
        raise NotFound(f"conversation {conversation_id} not found")
    message, conversation = added
    if conversation is None:
        return Appended(message, None, False)
    await uow.sources.write(message)
    uow.audit(audit.MESSAGE_ADD, message.id)
    uow.add_event(MessageAdded(message, conversation.agent_id, conversation.user_id))
    uow.add_event(ConversationChanged(conversation))
    return Appended(message, conversation, True)


@dataclass(slots=True)
class MessageSlice:
    conversation: ConversationRecord
    items: list[MessageRecord]
    has_next: bool
    has_previous: bool
    total: int


def _seq_bounds(
    conv: ConversationRecord, window: MessageWindow, first_seq: int
) -> tuple[int, int, bool, bool, int]:
    """Seq is gapless (1..last_seq), so any window is an exact seq range: no OFFSET, no COUNT.

    Returns (lo, hi, has_next, has_previous, total) with lo..hi inclusive (empty when lo > hi).
    """
    low = max(first_seq, window.after_seq + 1)
    before = window.before_seq
    high = conv.last_seq if before is None else min(conv.last_seq, before - 1)
    total = max(0, conv.last_seq - first_seq + 1)
    size = window.size
    if window.backward:
        hi = high
        lo = max(low, hi - size + 1)
        return lo, hi, before is not None and before <= conv.last_seq, lo > low, total
    lo = low
    hi = min(high, lo + size - 1)
    return lo, hi, hi < high, window.after is not None and lo > first_seq, total


async def message_slices(
    uow: UnitOfWork, convs: list[ConversationRecord], window: MessageWindow
) -> list[MessageSlice]:
    """Windows of several conversations' messages in at most two queries (one without a
    `from_timestamp`): the DataLoader batch behind `Conversation.messages`."""
    window = window.validated()
    if not convs:
        return []
    first_seqs: dict[str, int] = {c.id: 1 for c in convs}
    if window.from_timestamp is not None:
        found = await uow.messages.first_seqs_since([c.id for c in convs], window.from_timestamp)
        first_seqs = {c.id: found.get(c.id, c.last_seq + 1) for c in convs}
    bounds = {c.id: _seq_bounds(c, window, first_seqs[c.id]) for c in convs}
    wanted = [(cid, b[0], b[1]) for cid, b in bounds.items() if b[0] <= b[1]]
    by_conv = await uow.messages.ranges(wanted)
    return [
        MessageSlice(
            conversation=c,
            items=by_conv.get(c.id, []),
            has_next=bounds[c.id][2],
            has_previous=bounds[c.id][3],
            total=bounds[c.id][4],
        )
        for c in convs
    ]


async def list_messages(
    uow: UnitOfWork,
    conversation_id: str,
    window: MessageWindow,
    analysis: AnalysisFilter | None = None,
) -> MessageSlice:
    """A window of one conversation's messages; with an analysis filter (intent, sentiment
    range) a keyset page by seq over the matching messages only."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    window = window.validated()
    analysis = analysis.validated() if analysis is not None else None
    conv = await uow.conversations.get(conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} not found")
    if analysis is None or analysis.empty:
        return (await message_slices(uow, [conv], window))[0]
    size = window.size
    rows = await uow.messages.analysed(
        conversation_id,
        analysis,
        after_seq=window.after_seq,
        before_seq=window.before_seq,
        since=window.from_timestamp,
        limit=size + 1,
        backward=window.backward,
    )
    more = len(rows) > size
    if window.backward:
        items = rows[1:] if more else rows
        has_next, has_previous = window.before is not None, more
    else:
        items = rows[:size]
        has_next, has_previous = more, window.after is not None
    total = await uow.messages.count_analysed(conversation_id, analysis, window.from_timestamp)
    return MessageSlice(conv, items, has_next, has_previous, total)


async def annotate_message(
    uow: UnitOfWork, message_id: str, analysis: MessageAnalysis
) -> MessageRecord:
    """Replace a message's analysis (an NLP step annotating after the fact); all fields null
    clears it. Subscribers of `messageAnnotated` get the annotated message after commit."""
    message_id = v.uuid_id(message_id, "message_id")
    checked = validate_analysis(analysis, "input")
    found = await uow.messages.annotate(message_id, analysis_columns(checked, uow.now()))
    if found is None:
        raise NotFound(f"message {message_id} not found")
    message, agent_id, user_id = found
    uow.audit("message.annotate", message_id)
    uow.add_event(MessageAnnotated(message, agent_id, user_id))
    return message


async def annotated_since(
    uow: UnitOfWork, since: datetime, conversation_id: str | None = None, limit: int = 1000
) -> list[tuple[MessageRecord, str | None, str | None]]:
    """Annotations committed at/after `since`: an annotation feed's catch-up."""
    return await uow.messages.annotated_since(since, conversation_id, limit)


async def messages_between(
    uow: UnitOfWork,
    conversation_id: str,
    *,
    after_seq: int,
    before_seq: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[MessageRecord]:
    """Stored messages with after_seq < seq < before_seq (and created at/after `since`), in seq
    order: what a subscriber replays after `afterSeq` or fills into a gap."""
    return await uow.messages.between(conversation_id, after_seq, before_seq, since, limit)


async def recent_messages(
    uow: UnitOfWork,
    since: datetime,
    *,
    agent_id: str | None = None,
    user_id: str | None = None,
    limit: int = 1000,
) -> list[tuple[MessageRecord, str | None, str | None]]:
    """A tenant's messages created at/after `since` (with their conversation's agent and user),
    oldest first (created_at follows seq within a conversation): a tenant-wide subscriber's
    resynchronisation."""
    return await uow.messages.recent(since, agent_id, user_id, limit)
