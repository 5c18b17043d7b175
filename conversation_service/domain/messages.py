"""Message rules: gapless seq under concurrent writers, idempotent adds, seq-range pagination."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain import tokens
from conversation_service.domain import validation as v
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.domain.events import ConversationChanged, MessageAdded
from conversation_service.domain.execution import normalize_execution, usage_tokens
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.records import ConversationRecord, MessageRecord
from conversation_service.domain.sources import validate_source, write_sources
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c


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
    return m


@dataclass(slots=True)
class Appended:
    message: MessageRecord
    conversation: ConversationRecord | None  # None when an earlier identical add was found
    created: bool


async def _existing(
    uow: UnitOfWork, tenant_id: str, conversation_id: str, m: NewMessage
) -> MessageRecord | None:
    keys = []
    if m.client_message_id is not None:
        keys.append(M.client_message_id == m.client_message_id)
    if m.id is not None:
        keys.append(M.id == m.id)
    if not keys:
        return None
    row = (
        await uow.conn.execute(
            select(messages).where(
                M.tenant_id == tenant_id, M.conversation_id == conversation_id, or_(*keys)
            )
        )
    ).first()
    return MessageRecord.from_row(row) if row is not None else None


# Built once: a statement object's SQL and cache key are reused on every append (hot path).
# created_at never goes backwards within a conversation, so seq order == time order.
_BUMP = (
    update(conversations)
    .where(C.tenant_id == bindparam("t"), C.id == bindparam("cid"))
    .values(
        last_seq=C.last_seq + 1,
        message_count=C.message_count + 1,
        total_tokens=C.total_tokens + bindparam("used", type_=Integer),
        last_message_at=case(
            (
                and_(C.last_message_at.is_not(None), C.last_message_at > bindparam("now")),
                C.last_message_at,
            ),
            else_=bindparam("now"),
        ),
        updated_at=bindparam("now"),
        version=C.version + 1,
    )
    .returning(*conversations.c)
)
_INSERT = insert(messages).returning(*messages.c)


async def append_message(
    uow: UnitOfWork, tenant_id: str, conversation_id: str, m: NewMessage
) -> tuple[MessageRecord, ConversationRecord]:
    """Append inside an open unit of work: bump the conversation row (which serialises writers
    of one conversation and yields the next seq), then insert. A rollback undoes both."""
    token_count = m.token_count if m.token_count is not None else tokens.count(m.content)
    used = usage_tokens(token_count, m.execution)
    crow = (
        await uow.conn.execute(
            _BUMP, {"t": tenant_id, "cid": conversation_id, "used": used, "now": utcnow()}
        )
    ).first()
    if crow is None:
        raise NotFound(f"conversation {conversation_id} not found")
    conversation = ConversationRecord.from_row(crow)
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": m.id or str(uuid.uuid4()),
        "conversation_id": conversation_id,
        "seq": conversation.last_seq,
        "role": m.role.value,
        "content": m.content,
        "content_type": m.content_type,
        "sender_id": m.sender_id,
        "agent_id": m.agent_id,
        "model_used": m.model_used,
        "token_count": token_count,
        "processing_time_ms": m.processing_time_ms,
        "metadata": m.metadata,
        "sources": m.sources,
        "execution": m.execution,
        "tool_calls": m.tool_calls,
        "tool_call_id": m.tool_call_id,
        "client_message_id": m.client_message_id,
        "created_at": conversation.last_message_at,
    }
    row = (await uow.conn.execute(_INSERT, values)).one()
    message = MessageRecord.from_row(row)
    await write_sources(uow, message)
    uow.add_event(MessageAdded(message, conversation.agent_id, conversation.user_id))
    return message, conversation


async def add_message(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    m: NewMessage,
    *,
    uow: UnitOfWork | None = None,
) -> Appended:
    """Add one message. A retry with the same `client_message_id` (or message id) returns the
    first message and writes nothing. With `uow` it joins the caller's transaction."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    m = validate_new_message(m)
    if m.token_count is None:  # counted before the transaction: no row lock held meanwhile
        m.token_count = await tokens.count_async(m.content)
    for _ in range(3):
        try:
            async with db.transaction(uow) as tx:
                found = await _existing(tx, tenant_id, conversation_id, m)
                if found is not None:
                    return Appended(found, None, False)
                message, conversation = await append_message(tx, tenant_id, conversation_id, m)
                tx.add_event(ConversationChanged(conversation))
            return Appended(message, conversation, True)
        except IntegrityError:
            # A concurrent add with the same key won; the rollback undid our seq bump.
            if uow is not None or (m.client_message_id is None and m.id is None):
                raise
    raise ValidationFailed("message id is already used by another message", field="id")


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


# PostgreSQL: one statement of fixed shape for any number of windows (its SQL and cache key are
# built once); elsewhere an OR of ranges.
_RANGES_PG = (
    select(messages)
    .join(
        func.unnest(
            bindparam("cids", type_=ARRAY(String)),
            bindparam("los", type_=ARRAY(Integer)),
            bindparam("his", type_=ARRAY(Integer)),
        )
        .table_valued("cid", "lo", "hi")
        .render_derived(name="r"),
        and_(
            M.conversation_id == literal_column("r.cid"),
            M.seq.between(literal_column("r.lo"), literal_column("r.hi")),
        ),
    )
    .where(M.tenant_id == bindparam("t"))
    .order_by(M.conversation_id, M.seq)
)


_RANGES_SQL = (
    "SELECT " + ", ".join(f"m.{c.name}" for c in messages.c) + " FROM messages m"
    " JOIN unnest($2::varchar[], $3::int[], $4::int[]) AS r(cid, lo, hi)"
    " ON m.conversation_id = r.cid AND m.seq BETWEEN r.lo AND r.hi"
    " WHERE m.tenant_id = $1 ORDER BY m.conversation_id, m.seq"
)


def _ranges_statement(
    dialect: str, tenant_id: str, wanted: list[tuple[str, int, int]]
) -> tuple[Any, ...]:
    """The statement (and its parameters) reading seq ranges of several conversations."""
    if dialect == "postgresql":
        cids, los, his = (list(x) for x in zip(*wanted, strict=True))
        return (_RANGES_PG, {"t": tenant_id, "cids": cids, "los": los, "his": his})
    ranges = [and_(M.conversation_id == cid, M.seq.between(lo, hi)) for cid, lo, hi in wanted]
    stmt = (
        select(messages)
        .where(M.tenant_id == tenant_id, or_(*ranges))
        .order_by(M.conversation_id, M.seq)
    )
    return (stmt,)


async def message_slices(
    db: Database, tenant_id: str, convs: list[ConversationRecord], window: MessageWindow
) -> list[MessageSlice]:
    """Windows of several conversations' messages in at most two queries (one without a
    `from_timestamp`): the DataLoader batch behind `Conversation.messages`."""
    window = window.validated()
    if not convs:
        return []
    async with db.read() as conn:
        first_seqs: dict[str, int] = {c.id: 1 for c in convs}
        if window.from_timestamp is not None:
            ids = [c.id for c in convs]
            rows = (
                await conn.execute(
                    select(M.conversation_id, func.min(M.seq))
                    .where(
                        M.tenant_id == tenant_id,
                        M.conversation_id.in_(ids),
                        M.created_at >= window.from_timestamp,
                    )
                    .group_by(M.conversation_id)
                )
            ).all()
            found = {r[0]: r[1] for r in rows}
            first_seqs = {c.id: found.get(c.id, c.last_seq + 1) for c in convs}
        bounds = {c.id: _seq_bounds(c, window, first_seqs[c.id]) for c in convs}
        wanted = [(cid, b[0], b[1]) for cid, b in bounds.items() if b[0] <= b[1]]
        by_conv: dict[str, list[MessageRecord]] = {c.id: [] for c in convs}
        if wanted and conn.dialect.driver == "asyncpg":
            # The hottest read of the service: straight on the driver, rows into records.
            raw = await conn.get_raw_connection()
            cids, los, his = (list(x) for x in zip(*wanted, strict=True))
            for r in await raw.driver_connection.fetch(_RANGES_SQL, tenant_id, cids, los, his):  # type: ignore[union-attr]
                by_conv[r["conversation_id"]].append(MessageRecord.from_mapping(r))
        elif wanted:
            rows = (
                await conn.execute(*_ranges_statement(conn.dialect.name, tenant_id, wanted))
            ).all()
            for r in rows:
                by_conv[r.conversation_id].append(MessageRecord.from_row(r))
    return [
        MessageSlice(
            conversation=c,
            items=by_conv[c.id],
            has_next=bounds[c.id][2],
            has_previous=bounds[c.id][3],
            total=bounds[c.id][4],
        )
        for c in convs
    ]


async def list_messages(
    db: Database, tenant_id: str, conversation_id: str, window: MessageWindow
) -> MessageSlice:
    from conversation_service.domain.conversations import get_conversation

    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    window = window.validated()
    conv = await get_conversation(db, tenant_id, conversation_id)
    return (await message_slices(db, tenant_id, [conv], window))[0]


async def messages_between(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    *,
    after_seq: int,
    before_seq: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[MessageRecord]:
    """Stored messages with after_seq < seq < before_seq (and created at/after `since`), in seq
    order: what a subscriber replays after `afterSeq` or fills into a gap."""
    conds = [M.tenant_id == tenant_id, M.conversation_id == conversation_id, M.seq > after_seq]
    if before_seq is not None:
        conds.append(M.seq < before_seq)
    if since is not None:
        conds.append(M.created_at >= since)
    async with db.read() as conn:
        rows = (
            await conn.execute(select(messages).where(*conds).order_by(M.seq).limit(limit))
        ).all()
    return [MessageRecord.from_row(r) for r in rows]


async def recent_messages(
    db: Database,
    tenant_id: str,
    since: datetime,
    *,
    agent_id: str | None = None,
    user_id: str | None = None,
    limit: int = 1000,
) -> list[tuple[MessageRecord, str | None, str | None]]:
    """A tenant's messages created at/after `since` (with their conversation's agent and user),
    oldest first (created_at follows seq within a conversation): a tenant-wide subscriber's
    resynchronisation."""
    conds = [M.tenant_id == tenant_id, M.created_at >= since]
    if agent_id is not None:
        conds.append(C.agent_id == agent_id)
    if user_id is not None:
        conds.append(C.user_id == user_id)
    stmt = (
        select(messages, C.agent_id.label("conv_agent_id"), C.user_id.label("conv_user_id"))
        .join(conversations, and_(C.tenant_id == M.tenant_id, C.id == M.conversation_id))
        .where(*conds)
        .order_by(M.created_at, M.conversation_id, M.seq)
        .limit(limit)
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(MessageRecord.from_row(r), r.conv_agent_id, r.conv_user_id) for r in rows]
