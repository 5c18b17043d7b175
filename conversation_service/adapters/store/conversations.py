"""The conversations table (and its tag index table) of one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from conversation_service.adapters.store.base import Store, conflict
from conversation_service.adapters.store.json_filter import metadata_contains
from conversation_service.adapters.store.json_shapes import messages_statement, page_statement
from conversation_service.domain.commands import ConversationQuery, NewConversation
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.records import ConversationRecord
from conversation_service.domain.shapes import ConversationShape, MessagesShape
from conversation_service.models import conversation_tags, conversations, messages

C = conversations.c
T = conversation_tags.c
M = messages.c
_INSERT = insert(conversations).returning(*conversations.c)  # built once (hot path)


class SqlConversationStore(Store):
    __slots__ = ()

    async def get(self, conversation_id: str) -> ConversationRecord | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(conversations).where(C.tenant_id == self.tenant_id, C.id == conversation_id)
            )
        ).first()
        return ConversationRecord.from_row(row) if row is not None else None

    async def get_many(self, ids: list[str]) -> dict[str, ConversationRecord]:
        if not ids:
            return {}
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(conversations).where(C.tenant_id == self.tenant_id, C.id.in_(ids))
            )
        ).all()
        return {r.id: ConversationRecord.from_row(r) for r in rows}

    async def exists(self, conversation_id: str) -> bool:
        conn = await self._session.connection()
        found = await conn.scalar(
            select(C.id).where(C.tenant_id == self.tenant_id, C.id == conversation_id)
        )
        return found is not None

    async def last_seq(self, conversation_id: str) -> int | None:
        conn = await self._session.connection()
        value = await conn.scalar(
            select(C.last_seq).where(C.tenant_id == self.tenant_id, C.id == conversation_id)
        )
        return int(value) if value is not None else None

    async def sync_facts(self, conversation_id: str) -> tuple[int, dict[str, Any]] | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(C.last_seq, C.crm_references).where(
                    C.tenant_id == self.tenant_id, C.id == conversation_id
                )
            )
        ).first()
        return (int(row.last_seq), row.crm_references or {}) if row is not None else None

    async def insert(
        self, new: NewConversation, conversation_id: str, now: datetime
    ) -> ConversationRecord:
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "id": conversation_id,
            "user_id": new.user_id,
            "agent_id": new.agent_id,
            "session_id": new.session_id,
            "title": new.title,
            "status": new.status.value,
            "tags": new.tags,
            "metadata": new.metadata,
            "participants": new.participants,
            "customer_info": new.customer_info,
            "crm_references": new.crm_references,
            "message_count": 0,
            "total_tokens": 0,
            "last_seq": 0,
            "last_message_at": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        conn = await self._session.connection()
        try:
            row = (await conn.execute(_INSERT, values)).one()
        except IntegrityError as exc:
            raise conflict(exc) from exc
        if new.tags:
            await self._write_tags(conversation_id, new.tags)
        return ConversationRecord.from_row(row)

    async def _write_tags(self, conversation_id: str, tags: list[str]) -> None:
        conn = await self._session.connection()
        await conn.execute(
            insert(conversation_tags),
            [{"tenant_id": self.tenant_id, "conversation_id": conversation_id, "tag": t}
             for t in tags],
        )  # fmt: skip

    async def update(
        self,
        conversation_id: str,
        values: dict[str, Any],
        expected_version: int | None,
        now: datetime,
    ) -> ConversationRecord | None:
        cond = and_(C.tenant_id == self.tenant_id, C.id == conversation_id)
        if expected_version is not None:
            cond = and_(cond, C.version == expected_version)
        stored = {
            k: (v.value if isinstance(v, ConversationStatus) else v) for k, v in values.items()
        }
        stmt = (
            update(conversations)
            .where(cond)
            .values(**stored, updated_at=now, version=C.version + 1)
            .returning(*conversations.c)
        )
        conn = await self._session.connection()
        row = (await conn.execute(stmt)).first()
        return ConversationRecord.from_row(row) if row is not None else None

    async def version_of(self, conversation_id: str) -> int | None:
        conn = await self._session.connection()
        found = await conn.scalar(
            select(C.version).where(C.tenant_id == self.tenant_id, C.id == conversation_id)
        )
        return int(found) if found is not None else None

    async def replace_tags(self, conversation_id: str, tags: list[str]) -> None:
        conn = await self._session.connection()
        await conn.execute(
            delete(conversation_tags).where(
                T.tenant_id == self.tenant_id, T.conversation_id == conversation_id
            )
        )
        if tags:
            await self._write_tags(conversation_id, tags)

    def _filter(self, q: ConversationQuery) -> list[ColumnElement[bool]]:
        tenant_id = self.tenant_id
        conds: list[ColumnElement[bool]] = [C.tenant_id == tenant_id]
        if q.user_id is not None:
            conds.append(C.user_id == q.user_id)
        if q.agent_id is not None:
            conds.append(C.agent_id == q.agent_id)
        if q.session_id is not None:
            conds.append(C.session_id == q.session_id)
        if q.status is not None:
            conds.append(C.status == q.status.value)
        if q.from_date is not None:
            conds.append(C.created_at >= q.from_date)
        if q.to_date is not None:
            conds.append(C.created_at <= q.to_date)
        if q.metadata:
            conds.append(metadata_contains(C.metadata, q.metadata, self.dialect))
        if q.intent is not None:
            conds.append(
                exists().where(
                    M.tenant_id == tenant_id, M.intent == q.intent, M.conversation_id == C.id
                )
            )
        if q.tags:
            matching = (
                select(T.conversation_id)
                .where(T.tenant_id == tenant_id, T.tag.in_(q.tags))
                .group_by(T.conversation_id)
                .having(func.count() == len(q.tags))
            )
            conds.append(C.id.in_(matching))
        if q.any_tags:
            conds.append(
                exists().where(
                    T.tenant_id == tenant_id, T.conversation_id == C.id, T.tag.in_(q.any_tags)
                )
            )
        return conds

    def _page(
        self,
        q: ConversationQuery,
        descending: bool,
        offset: int,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> Select[Any]:
        conds = self._filter(q)
        order = (
            (C.created_at.desc(), C.id.desc()) if descending else (C.created_at.asc(), C.id.asc())
        )
        if after is not None:
            ts, cid = after
            if descending:
                conds.append(or_(C.created_at < ts, and_(C.created_at == ts, C.id < cid)))
            else:
                conds.append(or_(C.created_at > ts, and_(C.created_at == ts, C.id > cid)))
        stmt = select(conversations).where(*conds).order_by(*order)
        if offset:
            stmt = stmt.offset(offset)
        return stmt.limit(limit)

    async def page(
        self,
        q: ConversationQuery,
        *,
        descending: bool,
        offset: int,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[ConversationRecord]:
        stmt = self._page(q, descending, offset, limit, after)
        await self._tag_plans(q)
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [ConversationRecord.from_row(r) for r in rows]

    async def page_json(
        self,
        q: ConversationQuery,
        *,
        descending: bool,
        offset: int,
        limit: int,
        after: tuple[datetime, str] | None,
        shape: ConversationShape,
    ) -> str | None:
        """The page as one JSON array built by PostgreSQL (None elsewhere, or for tag and
        metadata filters)."""
        if self.dialect != "postgresql":
            return None
        statement = page_statement(
            self.tenant_id,
            q,
            descending=descending,
            offset=offset,
            limit=limit,
            after=after,
            shape=shape,
        )
        if statement is None:
            return None
        items = await self._fetchval(*statement)
        return "[" + (items or "") + "]"

    async def messages_json(self, conversation_id: str, shape: MessagesShape) -> str | None:
        if self.dialect != "postgresql":
            return None
        found = await self._fetchval(*messages_statement(self.tenant_id, conversation_id, shape))
        return str(found) if found is not None else None

    async def _fetchval(self, sql: str, args: list[Any]) -> Any:
        """On the driver, in the transaction: the statement is compiled once per structure
        (json_shapes)."""
        driver = await self._session.driver()
        return await driver.fetchval(sql, *args)

    async def _tag_plans(self, q: ConversationQuery) -> None:
        """Tag filters join conversation_tags, whose tags are skewed (one in every
        conversation, one in a few): under row-level security the generic plan of that join
        read a tag's every row per page row (8,274 rows for a page of 20); custom plans probe
        the tag index per conversation. Rides on the transaction's BEGIN when first."""
        if q.tags or q.any_tags:
            await self._session.plan_for_values()

    async def count(self, q: ConversationQuery) -> int:
        stmt = select(func.count()).select_from(conversations).where(*self._filter(q))
        await self._tag_plans(q)
        conn = await self._session.connection()
        return int(await conn.scalar(stmt) or 0)

    async def updated_since(
        self, since: datetime, ids: list[str] | None, limit: int
    ) -> list[ConversationRecord]:
        conds = [C.tenant_id == self.tenant_id, C.updated_at >= since]
        if ids is not None:
            conds.append(C.id.in_(ids))
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(conversations).where(*conds).order_by(C.updated_at).limit(limit)
            )
        ).all()
        return [ConversationRecord.from_row(r) for r in rows]

    async def newest_of_session(
        self, session_id: str, agent_id: str | None
    ) -> ConversationRecord | None:
        stmt = select(conversations).where(
            C.tenant_id == self.tenant_id, C.session_id == session_id
        )
        if agent_id is not None:
            stmt = stmt.where(C.agent_id == agent_id)
        stmt = stmt.order_by(C.created_at.desc(), C.id.desc()).limit(1)
        conn = await self._session.connection()
        row = (await conn.execute(stmt)).first()
        return ConversationRecord.from_row(row) if row is not None else None

    async def active_of_session(
        self, session_id: str, agent_id: str | None
    ) -> list[ConversationRecord]:
        stmt = select(conversations).where(
            C.tenant_id == self.tenant_id,
            C.session_id == session_id,
            C.status == ConversationStatus.ACTIVE.value,
        )
        if agent_id is not None:
            stmt = stmt.where(C.agent_id == agent_id)
        stmt = stmt.order_by(C.created_at, C.id)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()  # no concurrent metadata update lost in between
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [ConversationRecord.from_row(r) for r in rows]

    async def subtract_tokens(
        self, deltas: dict[str, int], now: datetime
    ) -> list[ConversationRecord]:
        """Take erased messages' tokens off their conversations' totals; bumps version and
        updated_at. The rows are locked in id order first (PostgreSQL): writers lock one
        conversation row, erasures theirs in one order, so none of them deadlocks."""
        if not deltas:
            return []
        conn = await self._session.connection()
        if self.dialect == "postgresql":
            await conn.execute(
                select(C.id)
                .where(C.tenant_id == self.tenant_id, C.id.in_(list(deltas)))
                .order_by(C.id)
                .with_for_update()
            )
        rows = await conn.execute(
            update(conversations)
            .where(C.tenant_id == self.tenant_id, C.id.in_(list(deltas)))
            .values(
                total_tokens=C.total_tokens - case(deltas, value=C.id, else_=0),
                updated_at=now,
                version=C.version + 1,
            )
            .returning(*conversations.c)
        )
        return sorted((ConversationRecord.from_row(r) for r in rows), key=lambda c: c.id)

    async def not_archived_created_before(
        self,
        status: ConversationStatus,
        cutoff: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ConversationRecord]:
        """A window of conversations of one status created before `cutoff`, keyset on
        (created_at, id) by the (tenant, status, created_at) index: a conversation idle since
        `cutoff` was created before it, so archiving reads only these, `limit` at a time."""
        conds: list[ColumnElement[bool]] = [
            C.tenant_id == self.tenant_id, C.status == status.value, C.created_at < cutoff,
        ]  # fmt: skip
        if after is not None:
            conds.append(
                or_(C.created_at > after[0], and_(C.created_at == after[0], C.id > after[1]))
            )
        conn = await self._session.connection()
        rows = await conn.execute(
            select(conversations).where(*conds).order_by(C.created_at, C.id).limit(limit)
        )
        return [ConversationRecord.from_row(r) for r in rows]

    async def count_idle(self, cutoff: datetime) -> int:
        """Conversations not archived whose newest message (or creation) is before `cutoff`."""
        conn = await self._session.connection()
        found = await conn.scalar(
            select(func.count())
            .select_from(conversations)
            .where(
                C.tenant_id == self.tenant_id,
                C.status != ConversationStatus.ARCHIVED.value,
                C.created_at < cutoff,
                func.coalesce(C.last_message_at, C.created_at) < cutoff,
            )
        )
        return int(found or 0)

    async def of_subject(
        self, user_id: str | None, customer_email: str | None, ids: list[str]
    ) -> list[ConversationRecord]:
        """Conversations of a user, of a customer e-mail (`customerInfo.email`, any case), or
        named by id; in id order. The e-mail has no index: erasures are rare, and a scan of one
        tenant's conversations is their cost."""
        match: list[ColumnElement[bool]] = []
        if user_id is not None:
            match.append(C.user_id == user_id)
        if customer_email is not None:
            email = func.lower(func.trim(C.customer_info["email"].as_string()))
            match.append(email == customer_email)
        if ids:
            match.append(C.id.in_(ids))
        if not match:
            return []
        conn = await self._session.connection()
        rows = await conn.execute(
            select(conversations).where(C.tenant_id == self.tenant_id, or_(*match)).order_by(C.id)
        )
        return [ConversationRecord.from_row(r) for r in rows]
