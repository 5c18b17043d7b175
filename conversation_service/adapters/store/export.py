"""Streaming reads of whole selections (exports, archives) and their idempotent re-import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy import Table, and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ColumnElement, Select

from conversation_service.adapters.store.base import Store
from conversation_service.domain.commands import Kind, Selection
from conversation_service.domain.enums import ConversationStatus
from conversation_service.models import (
    conversation_state,
    conversation_tags,
    conversations,
    messages,
)

C = conversations.c
M = messages.c
S = conversation_state.c
TABLES: dict[Kind, Table] = {
    "conversation": conversations,
    "message": messages,
    "state": conversation_state,
}


class SqlExportStore(Store):
    __slots__ = ()

    def _selected(self, sel: Selection) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [C.tenant_id == self.tenant_id]
        if sel.user_id is not None:
            conds.append(C.user_id == sel.user_id)
        if sel.customer_email is not None:
            email = C.customer_info["email"].as_string()
            conds.append(func.lower(email) == sel.customer_email.lower())
        if sel.archived_before is not None:
            conds.append(C.status == ConversationStatus.ARCHIVED.value)
            conds.append(func.coalesce(C.last_message_at, C.created_at) < sel.archived_before)
        return conds

    def _statement(self, kind: Kind, sel: Selection) -> Select[Any]:
        conds = self._selected(sel)
        if kind == "conversation":
            return select(conversations).where(*conds).order_by(C.created_at, C.id)
        if kind == "message":
            return (
                select(messages)
                .join(conversations, and_(C.tenant_id == M.tenant_id, C.id == M.conversation_id))
                .where(*conds)
                .order_by(M.conversation_id, M.seq)
            )
        return (
            select(conversation_state)
            .join(conversations, and_(C.tenant_id == S.tenant_id, C.id == S.conversation_id))
            .where(*conds)
            .order_by(S.conversation_id, S.key)
        )

    async def stream_rows(
        self, kind: Kind, sel: Selection, batch: int
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Rows of one kind for the selection from a server-side cursor, `batch` per fetch."""
        conn = await self._session.connection()
        stmt = self._statement(kind, sel).execution_options(yield_per=batch)
        result = await conn.stream(stmt)
        try:
            async for partition in result.mappings().partitions(batch):
                for row in partition:
                    yield row
        finally:
            await result.close()

    async def insert_absent(self, kind: Kind, rows: list[dict[str, Any]]) -> list[str]:
        """Insert the rows that are not stored yet (by primary key); the ids (conversations,
        messages) or conversation ids (state) of those inserted."""
        if not rows:
            return []
        table = TABLES[kind]
        names = {c.name for c in table.c}
        values = [{**{k: r[k] for k in r if k in names}, "tenant_id": self.tenant_id} for r in rows]
        make = pg_insert if self.dialect == "postgresql" else sqlite_insert
        key = table.c.conversation_id if kind == "state" else table.c.id
        stmt = make(table).on_conflict_do_nothing().returning(key)
        conn = await self._session.connection()
        created: list[str] = list((await conn.execute(stmt, values)).scalars().all())
        if kind == "conversation":
            fresh = set(created)
            tagged = [
                {"tenant_id": self.tenant_id, "conversation_id": r["id"], "tag": t}
                for r in values
                if r["id"] in fresh
                for t in r.get("tags") or []
            ]
            if tagged:
                await conn.execute(make(conversation_tags).on_conflict_do_nothing(), tagged)
        return created
