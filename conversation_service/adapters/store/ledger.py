"""The worker_actions table: the worker's idempotency ledger, one row per (tenant, action_id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conversation_service.adapters.store.base import Store
from conversation_service.domain.records import Recorded
from conversation_service.models import worker_actions

W = worker_actions.c


class SqlLedgerStore(Store):
    __slots__ = ()

    async def record(
        self,
        action_id: str,
        action_type: str,
        entry_id: str | None,
        conversation_id: str | None,
        result: Recorded,
        now: datetime,
    ) -> bool:
        """One statement: no lookup before the work, because duplicates are rare and the
        caller's rollback undoes whatever they did. On PostgreSQL a concurrent duplicate waits
        for the first one's commit and then sees it."""
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "action_id": action_id,
            "action_type": action_type[:255],
            "conversation_id": conversation_id
            if conversation_id and len(conversation_id) <= 36
            else None,
            "stream_entry_id": entry_id,
            "success": result.success,
            "reply": result.reply,
            "created_at": now,
        }
        insert: Any = pg_insert if self.dialect == "postgresql" else sqlite_insert
        stmt = insert(worker_actions).values(values).on_conflict_do_nothing()
        conn = await self._session.connection()
        done = await conn.execute(stmt.returning(W.action_id))
        return done.first() is not None

    async def lookup(self, action_id: str) -> Recorded | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(W.success, W.reply).where(
                    W.tenant_id == self.tenant_id, W.action_id == action_id
                )
            )
        ).first()
        return Recorded(bool(row.success), row.reply) if row is not None else None

    async def forget_replies(self, conversation_ids: list[str]) -> int:
        """Drop the stored answers of these conversations' actions (they hold message content);
        the rows stay, so a redelivered action is still recognised and not applied again."""
        if not conversation_ids:
            return 0
        conn = await self._session.connection()
        done = await conn.execute(
            update(worker_actions)
            .where(
                W.tenant_id == self.tenant_id,
                W.conversation_id.in_(conversation_ids),
                W.reply.is_not(None),
            )
            .values(reply=null())
        )
        return int(done.rowcount or 0)
