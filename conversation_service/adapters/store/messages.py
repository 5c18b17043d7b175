"""The messages table of one tenant: the append (seq from the conversation row) and the reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    JSON,
    Boolean,
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from conversation_service.adapters.store.base import Store, conflict
from conversation_service.domain.analysis import AnalysisFilter, analysis_columns
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.errors import WriteConflict
from conversation_service.domain.records import ConversationRecord, MessageRecord
from conversation_service.models import conversations, messages

#: "Not erased" as the partial index states it: PostgreSQL matches `NOT erased` (and `= false`)
#: to the index predicate, not `IS false`; SQLite matches only the same term.
_LIVE: ColumnElement[bool] = literal_column("NOT messages.erased", Boolean)
_LIVE_INDEX = "INDEXED BY ix_messages_tenant_live_created"

#: What a tombstone keeps: id, seq, role, content type, agent, model, timing, the tool call id
#: and the idempotency key (a retried add still finds it). Everything else is emptied.
TOMBSTONE: dict[str, Any] = {
    "content": "",
    "metadata": {},
    "sources": [],
    "execution": None,
    "tool_calls": None,
    "sender_id": None,
    "token_count": 0,
    "erased": True,
    # the analysis describes the content: erased with it
    "sentiment": None,
    "intent": None,
    "entities": None,
    "analyzed_at": None,
}

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


def _message_values(m: NewMessage, token_count: int) -> dict[str, Any]:
    """The inserted columns a new message brings itself (the store adds tenant, conversation,
    seq and created_at). A new column is one more entry here: both inserts follow."""
    return {
        "id": m.id or str(uuid.uuid4()),
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
    }


def _json_text(value: Any) -> str:
    """What SQLAlchemy's JSON type binds (None is JSON null, as there)."""
    return orjson.dumps(value).decode()


#: Columns whose value the driver gets as JSON text (its jsonb codec takes text).
_JSON_ENCODE = {c.name: _json_text for c in messages.c if isinstance(c.type, JSON)}
_MESSAGE_OUT = tuple(c.name for c in messages.c if c.name != "search_vector")
_CONV_OUT = tuple(c.name for c in conversations.c)


@lru_cache(maxsize=16)
def add_statement(columns: tuple[str, ...], by_client_id: bool, by_id: bool) -> str:
    """The whole `add` as one statement: an earlier message with the same client message id
    or id, else bump the conversation row (its row lock serialises the conversation's writers
    and yields the gapless seq, counters in the same UPDATE) and insert the message. $1 tenant,
    $2 conversation, $3 usage tokens, $4 now, $5/$6 the keys, then `columns` in order. Only
    the keys given are compared (each its own statement: a generic plan of `a = $5 OR b = $6`
    scanned the whole conversation).

    One row back: `created`, the message's columns as `m_*`, the conversation's as `c_*`
    (NULL when an earlier message was found); no row when the conversation does not exist."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    casts = [
        f"${i}::{messages.c[c].type.compile(dialect=pg)}" for i, c in enumerate(columns, start=7)
    ]
    insert_cols = ", ".join(["tenant_id", "conversation_id", "seq", "created_at", *columns])
    m_out = ", ".join(f"{{t}}.{c} AS m_{c}" for c in _MESSAGE_OUT)
    c_out = ", ".join(f"b.{c} AS c_{c}" for c in _CONV_OUT)
    c_null = ", ".join(f"NULL AS c_{c}" for c in _CONV_OUT)
    given = [
        key
        for key, on in (
            ("client_message_id = $5::varchar", by_client_id),
            ("id = $6::varchar", by_id),
        )
        if on
    ]
    absent = [f"${n}::varchar IS NULL" for n, on in ((5, by_client_id), (6, by_id)) if not on]
    keys = " AND ".join([f"({' OR '.join(given) or 'false'})", *absent])
    return f"""
WITH found AS (
  SELECT * FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND {keys} LIMIT 1
), bump AS (
  UPDATE conversations
     SET last_seq = last_seq + 1, message_count = message_count + 1,
         total_tokens = total_tokens + $3::integer,
         last_message_at = CASE WHEN last_message_at IS NOT NULL
                                 AND last_message_at > $4::timestamptz
                                THEN last_message_at ELSE $4::timestamptz END,
         updated_at = $4::timestamptz, version = version + 1
   WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM found)
  RETURNING *
), ins AS (
  INSERT INTO messages ({insert_cols})
  SELECT b.tenant_id, b.id, b.last_seq, b.last_message_at, {", ".join(casts)} FROM bump b
  RETURNING *
)
SELECT true AS created, {m_out.format(t="i")}, {c_out} FROM ins i, bump b
UNION ALL
SELECT false, {m_out.format(t="f")}, {c_null} FROM found f
"""


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

    async def add(
        self, conversation_id: str, m: NewMessage, token_count: int, used: int, now: datetime
    ) -> tuple[MessageRecord, ConversationRecord | None] | None:
        if self.dialect != "postgresql":
            found = await self.find(conversation_id, m.client_message_id, m.id)
            if found is not None:
                return found, None
            return await self.append(conversation_id, m, token_count, used, now)
        # an analysis written with the message is dated with it (`now`: the message's
        # created_at unless the conversation's clock is ahead, see _BUMP)
        values = {**_message_values(m, token_count), **analysis_columns(m.analysis, now)}
        columns = tuple(values)
        args = [self.tenant_id, conversation_id, used, now, m.client_message_id, m.id]
        args.extend(_JSON_ENCODE[c](values[c]) if c in _JSON_ENCODE else values[c] for c in columns)
        driver = await self._session.driver()
        try:
            sql = add_statement(columns, m.client_message_id is not None, m.id is not None)
            row = await driver.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise WriteConflict(f"write conflict: {type(exc).__name__}") from exc
        if row is None:
            return None
        message = MessageRecord.from_mapping({c: row["m_" + c] for c in _MESSAGE_OUT})
        if not row["created"]:
            return message, None
        conversation = ConversationRecord.from_mapping({c: row["c_" + c] for c in _CONV_OUT})
        return message, conversation

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
            **_message_values(m, token_count),
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "seq": conversation.last_seq,
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
            driver = await self._session.driver()  # in the transaction (tenant, role)
            cids, los, his = (list(x) for x in zip(*wanted, strict=True))
            rows = await driver.fetch(_RANGES_SQL, self.tenant_id, cids, los, his)
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

    async def live_ids_older_than(self, cutoff: datetime, limit: int) -> list[str]:
        """The oldest messages not yet erased created before `cutoff` (the partial index on
        live messages: tombstones are not walked)."""
        conn = await self._session.connection()
        rows = await conn.execute(
            select(M.id)
            .where(M.tenant_id == self.tenant_id, M.created_at < cutoff, _LIVE)
            .order_by(M.created_at)
            .limit(limit)
            .with_hint(messages, _LIVE_INDEX, "sqlite")
        )
        return [r[0] for r in rows]

    async def count_live_older_than(self, cutoff: datetime) -> int:
        conn = await self._session.connection()
        found = await conn.scalar(
            select(func.count())
            .select_from(messages)
            .where(M.tenant_id == self.tenant_id, M.created_at < cutoff, _LIVE)
            .with_hint(messages, _LIVE_INDEX, "sqlite")
        )
        return int(found or 0)

    async def live_ids_of(self, conversation_ids: list[str]) -> list[str]:
        if not conversation_ids:
            return []
        conn = await self._session.connection()
        rows = await conn.execute(
            select(M.id).where(
                M.tenant_id == self.tenant_id,
                M.conversation_id.in_(conversation_ids),
                _LIVE,
            )
        )
        return [r[0] for r in rows]

    async def lock_live(self, ids: list[str]) -> list[MessageRecord]:
        """The messages among `ids` that are not erased, locked in id order (PostgreSQL), so
        two erasures of overlapping messages wait for each other instead of deadlocking and
        neither erases (and counts) a message twice. Conversation rows are locked only at the
        end (`subtract_tokens`): a writer of the conversation waits for the last statement of
        an erasure's transaction, not for all of it."""
        if not ids:
            return []
        stmt = (
            select(messages)
            .where(M.tenant_id == self.tenant_id, M.id.in_(ids), _LIVE)
            .order_by(M.id)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        conn = await self._session.connection()
        rows = await conn.execute(stmt)
        return sorted(
            (MessageRecord.from_row(r) for r in rows), key=lambda m: (m.conversation_id, m.seq)
        )

    async def tombstone(self, ids: list[str]) -> list[MessageRecord]:
        """Empty the messages (see TOMBSTONE); PostgreSQL's generated search vector and SQLite's
        FTS trigger follow the content, so the search index drops them in this statement."""
        if not ids:
            return []
        conn = await self._session.connection()
        rows = await conn.execute(
            update(messages)
            .where(M.tenant_id == self.tenant_id, M.id.in_(ids))
            .values(**TOMBSTONE)
            .returning(*messages.c)
        )
        return sorted(
            (MessageRecord.from_row(r) for r in rows), key=lambda m: (m.conversation_id, m.seq)
        )

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
