"""The message_sources table of one tenant: written with each message, read by document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select

from conversation_service.adapters.store.base import Store
from conversation_service.domain.records import MessageRecord
from conversation_service.models import message_sources, messages

S = message_sources.c
M = messages.c


class SqlSourceStore(Store):
    __slots__ = ()

    async def write(self, message: MessageRecord) -> None:
        """One multi-row insert in the message's transaction."""
        if not message.sources:
            return
        rows: list[dict[str, Any]] = [
            {
                "tenant_id": message.tenant_id,
                "message_id": message.id,
                "position": i,
                "conversation_id": message.conversation_id,
                "document_id": s["document_id"],
                "title": s.get("title"),
                "url": s.get("url"),
                "snippet": s.get("snippet"),
                "score": s.get("score"),
                "metadata": s.get("metadata") or {},
                "created_at": message.created_at,
            }
            for i, s in enumerate(message.sources)
        ]
        conn = await self._session.connection()
        await conn.execute(insert(message_sources), rows)

    async def by_document(
        self, document_id: str, size: int, after: tuple[datetime, str] | None
    ) -> tuple[list[MessageRecord], int]:
        tenant_id = self.tenant_id
        conds = [S.tenant_id == tenant_id, S.document_id == document_id]
        if after is not None:
            ts, mid = after
            conds.append(or_(S.created_at > ts, and_(S.created_at == ts, S.message_id > mid)))
        keys = (
            select(S.created_at, S.message_id)
            .where(*conds)
            .group_by(S.created_at, S.message_id)  # a message citing a document twice counts once
            .order_by(S.created_at, S.message_id)
            .limit(size + 1)
            .subquery()
        )
        stmt = (
            select(messages)
            .join(keys, and_(M.tenant_id == tenant_id, M.id == keys.c.message_id))
            .order_by(keys.c.created_at, keys.c.message_id)
        )
        count = select(func.count(func.distinct(S.message_id))).where(
            S.tenant_id == tenant_id, S.document_id == document_id
        )
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        total = int(await conn.scalar(count) or 0)
        return [MessageRecord.from_row(r) for r in rows], total

    async def delete_for(self, message_ids: list[str]) -> int:
        """Drop the source rows of these messages (messagesBySource no longer finds them)."""
        if not message_ids:
            return 0
        conn = await self._session.connection()
        done = await conn.execute(
            delete(message_sources).where(
                S.tenant_id == self.tenant_id, S.message_id.in_(message_ids)
            )
        )
        return int(done.rowcount or 0)
