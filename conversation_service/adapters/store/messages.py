"""The messages table of one tenant: the append (seq from the conversation row) and the reads."""

from __future__ import annotations

import uuid
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
from sqlalchemy.sql import ColumnElement

from conversation_service.adapters.store.base import Store, conflict
from conversation_service.domain.analysis import AnalysisFilter, analysis_columns
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.records import ConversationRecord, MessageRecord
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c

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
#: Inlined (not a bind parameter): a generic plan with `role = $3` cannot use the partial index
#: and scanned the whole conversation (10,000 rows for one system message).
_SYSTEM: ColumnElement[str] = literal_column(f"'{MessageRole.SYSTEM.value}'")

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

# The same read straight on asyncpg (the hottest read of the service: rows into records with
# no SQLAlchemy row layer in between).
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


class SqlMessageStore(Store):
    __slots__ = ()

    async def find(
        self, conversation_id: str, client_message_id: str | None, message_id: str | None
    ) -> MessageRecord | None:
        keys = []
        if client_message_id is not None:
            keys.append(M.client_message_id == client_message_id)
        if message_id is not None:
            keys.append(M.id == message_id)
        if not keys:
            return None
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(messages).where(
                    M.tenant_id == self.tenant_id, M.conversation_id == conversation_id, or_(*keys)
                )
            )
        ).first()
        return MessageRecord.from_row(row) if row is not None else None

    async def append(
        self, conversation_id: str, m: NewMessage, token_count: int, used: int, now: datetime
    ) -> tuple[MessageRecord, ConversationRecord] | None:
        """Bump the conversation row (which serialises writers of one conversation and yields
        the next seq), then insert. A rollback undoes both."""
        tenant_id = self.tenant_id
        conn = await self._session.connection()
        crow = (
            await conn.execute(
                _BUMP, {"t": tenant_id, "cid": conversation_id, "used": used, "now": now}
            )
        ).first()
        if crow is None:
            return None
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
            **analysis_columns(m.analysis, conversation.last_message_at),
        }
        try:
            row = (await conn.execute(_INSERT, values)).one()
        except IntegrityError as exc:
            raise conflict(exc) from exc
        return MessageRecord.from_row(row), conversation

    async def first_seqs_since(self, ids: list[str], since: datetime) -> dict[str, int]:
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(M.conversation_id, func.min(M.seq))
                .where(
                    M.tenant_id == self.tenant_id,
                    M.conversation_id.in_(ids),
                    M.created_at >= since,
                )
                .group_by(M.conversation_id)
            )
        ).all()
        return {r[0]: r[1] for r in rows}

    async def ranges(self, wanted: list[tuple[str, int, int]]) -> dict[str, list[MessageRecord]]:
        by_conv: dict[str, list[MessageRecord]] = {cid: [] for cid, _, _ in wanted}
        if not wanted:
            return by_conv
        conn = await self._session.connection()
        if conn.dialect.driver == "asyncpg":
            raw = await conn.get_raw_connection()
            cids, los, his = (list(x) for x in zip(*wanted, strict=True))
            rows = await raw.driver_connection.fetch(_RANGES_SQL, self.tenant_id, cids, los, his)  # type: ignore[union-attr]
            for r in rows:
                by_conv[r["conversation_id"]].append(MessageRecord.from_mapping(r))
            return by_conv
        stmt = _ranges_statement(conn.dialect.name, self.tenant_id, wanted)
        for r in (await conn.execute(*stmt)).all():
            by_conv[r.conversation_id].append(MessageRecord.from_row(r))
        return by_conv

    async def between(
        self,
        conversation_id: str,
        after_seq: int,
        before_seq: int | None,
        since: datetime | None,
        limit: int,
    ) -> list[MessageRecord]:
        conds = [
            M.tenant_id == self.tenant_id,
            M.conversation_id == conversation_id,
            M.seq > after_seq,
        ]
        if before_seq is not None:
            conds.append(M.seq < before_seq)
        if since is not None:
            conds.append(M.created_at >= since)
        conn = await self._session.connection()
        rows = (
            await conn.execute(select(messages).where(*conds).order_by(M.seq).limit(limit))
        ).all()
        return [MessageRecord.from_row(r) for r in rows]

    async def recent(
        self, since: datetime, agent_id: str | None, user_id: str | None, limit: int
    ) -> list[tuple[MessageRecord, str | None, str | None]]:
        conds = [M.tenant_id == self.tenant_id, M.created_at >= since]
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
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [(MessageRecord.from_row(r), r.conv_agent_id, r.conv_user_id) for r in rows]

    async def system(self, conversation_id: str) -> list[MessageRecord]:
        """By the partial index on role = 'system': the role is a constant in the SQL text, so
        even a generic plan of the cached statement can use it."""
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(messages)
                .where(
                    M.tenant_id == self.tenant_id,
                    M.conversation_id == conversation_id,
                    M.role == _SYSTEM,
                )
                .order_by(M.seq)
            )
        ).all()
        return [MessageRecord.from_row(r) for r in rows]

    async def range_newest_first(
        self, conversation_id: str, lo: int, hi: int
    ) -> list[MessageRecord]:
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(messages)
                .where(
                    M.tenant_id == self.tenant_id,
                    M.conversation_id == conversation_id,
                    M.seq.between(lo, hi),
                )
                .order_by(M.seq.desc())
            )
        ).all()
        return [MessageRecord.from_row(r) for r in rows]

    async def annotate(
        self, message_id: str, values: dict[str, Any]
    ) -> tuple[MessageRecord, str | None, str | None] | None:
        """Set the analysis columns of one message; with its conversation's agent and user
        (for subscribers' filters). None when the tenant has no such message."""
        conn = await self._session.connection()
        row = (
            await conn.execute(
                update(messages)
                .where(M.tenant_id == self.tenant_id, M.id == message_id)
                .values(**values)
                .returning(*messages.c)
            )
        ).first()
        if row is None:
            return None
        owner = (
            await conn.execute(
                select(C.agent_id, C.user_id).where(
                    C.tenant_id == self.tenant_id, C.id == row.conversation_id
                )
            )
        ).first()
        agent_id, user_id = (owner[0], owner[1]) if owner is not None else (None, None)
        return MessageRecord.from_row(row), agent_id, user_id

    def _analysis_conds(
        self, conversation_id: str, f: AnalysisFilter, since: datetime | None
    ) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [
            M.tenant_id == self.tenant_id,
            M.conversation_id == conversation_id,
        ]
        if f.intent is not None:
            conds.append(M.intent == f.intent)
        if f.min_sentiment is not None:
            conds.append(M.sentiment >= f.min_sentiment)
        if f.max_sentiment is not None:
            conds.append(M.sentiment <= f.max_sentiment)
        if since is not None:
            conds.append(M.created_at >= since)
        return conds

    async def analysed(
        self,
        conversation_id: str,
        f: AnalysisFilter,
        *,
        after_seq: int,
        before_seq: int | None,
        since: datetime | None,
        limit: int,
        backward: bool,
    ) -> list[MessageRecord]:
        """A keyset page (by seq) of one conversation's messages matching the filter, in seq
        order; `backward` takes the newest `limit` before `before_seq`."""
        conds = self._analysis_conds(conversation_id, f, since)
        conds.append(M.seq > after_seq)
        if before_seq is not None:
            conds.append(M.seq < before_seq)
        order = M.seq.desc() if backward else M.seq.asc()
        conn = await self._session.connection()
        rows = (
            await conn.execute(select(messages).where(*conds).order_by(order).limit(limit))
        ).all()
        found = [MessageRecord.from_row(r) for r in rows]
        return found[::-1] if backward else found

    async def count_analysed(
        self, conversation_id: str, f: AnalysisFilter, since: datetime | None
    ) -> int:
        conn = await self._session.connection()
        found = await conn.scalar(
            select(func.count())
            .select_from(messages)
            .where(*self._analysis_conds(conversation_id, f, since))
        )
        return int(found or 0)

    async def annotated_since(
        self, since: datetime, conversation_id: str | None, limit: int
    ) -> list[tuple[MessageRecord, str | None, str | None]]:
        """Messages annotated (after they were added) at/after `since`, oldest annotation
        first, with their conversation's agent and user: an annotation feed's catch-up."""
        conds = [
            M.tenant_id == self.tenant_id,
            M.analyzed_at >= since,
            M.analyzed_at > M.created_at,
        ]
        if conversation_id is not None:
            conds.append(M.conversation_id == conversation_id)
        stmt = (
            select(messages, C.agent_id.label("conv_agent_id"), C.user_id.label("conv_user_id"))
            .join(conversations, and_(C.tenant_id == M.tenant_id, C.id == M.conversation_id))
            .where(*conds)
            .order_by(M.analyzed_at, M.id)
            .limit(limit)
        )
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [(MessageRecord.from_row(r), r.conv_agent_id, r.conv_user_id) for r in rows]
