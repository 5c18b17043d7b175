"""The conversation_state table of one tenant: versioned entries, tombstones, expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from conversation_service.adapters.store.base import Store, conflict
from conversation_service.domain.records import StateRecord
from conversation_service.models import conversation_state, conversations

S = conversation_state.c
C = conversations.c


def _live(now: datetime) -> Any:
    return or_(S.expires_at.is_(None), S.expires_at > now)


class SqlStateStore(Store):
    __slots__ = ()

    def _key(self, conversation_id: str, key: str) -> Any:
        return and_(
            S.tenant_id == self.tenant_id, S.conversation_id == conversation_id, S.key == key
        )

    async def entry_for_update(self, conversation_id: str, key: str) -> StateRecord | None:
        stmt = select(conversation_state).where(self._key(conversation_id, key))
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        conn = await self._session.connection()
        row = (await conn.execute(stmt)).first()
        return StateRecord.from_row(row) if row is not None else None

    async def insert(
        self, conversation_id: str, key: str, values: dict[str, Any], now: datetime
    ) -> StateRecord:
        stmt = insert(conversation_state).values(
            tenant_id=self.tenant_id, conversation_id=conversation_id, key=key, created_at=now,
            **values,
        )  # fmt: skip
        conn = await self._session.connection()
        try:
            row = (await conn.execute(stmt.returning(*conversation_state.c))).one()
        except IntegrityError as exc:
            raise conflict(exc) from exc
        return StateRecord.from_row(row)

    async def update(self, conversation_id: str, key: str, values: dict[str, Any]) -> StateRecord:
        stmt = update(conversation_state).where(self._key(conversation_id, key)).values(**values)
        conn = await self._session.connection()
        row = (await conn.execute(stmt.returning(*conversation_state.c))).one()
        return StateRecord.from_row(row)

    async def live_entry(
        self, conversation_id: str, key: str, now: datetime
    ) -> tuple[bool, StateRecord | None]:
        """One round trip: the conversation (for NOT_FOUND) joined with the live entry, if any."""
        stmt = (
            select(C.id.label("cid"), conversation_state)
            .select_from(conversations)
            .outerjoin(
                conversation_state,
                and_(
                    S.tenant_id == C.tenant_id,
                    S.conversation_id == C.id,
                    S.key == key,
                    _live(now),
                ),
            )
            .where(C.tenant_id == self.tenant_id, C.id == conversation_id)
        )
        conn = await self._session.connection()
        row = (await conn.execute(stmt)).first()
        if row is None:
            return False, None
        return True, (StateRecord.from_row(row) if row.key is not None else None)

    async def live_for(
        self, conversation_ids: list[str], now: datetime
    ) -> dict[str, list[StateRecord]]:
        out: dict[str, list[StateRecord]] = {cid: [] for cid in conversation_ids}
        if not conversation_ids:
            return out
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(conversation_state)
                .where(
                    S.tenant_id == self.tenant_id,
                    S.conversation_id.in_(conversation_ids),
                    _live(now),
                )
                .order_by(S.conversation_id, S.key)
            )
        ).all()
        for r in rows:
            out[r.conversation_id].append(StateRecord.from_row(r))
        return out

    async def entries(self, conversation_id: str, key: str | None) -> list[StateRecord]:
        conds = [S.tenant_id == self.tenant_id, S.conversation_id == conversation_id]
        if key is not None:
            conds.append(S.key == key)
        conn = await self._session.connection()
        rows = (await conn.execute(select(conversation_state).where(*conds).order_by(S.key))).all()
        return [StateRecord.from_row(r) for r in rows]

    async def delete_older_than(self, cutoff: datetime, limit: int) -> list[StateRecord]:
        """Delete up to `limit` entries (live or tombstones) not written since `cutoff`,
        oldest first; returns what they held."""
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(conversation_state)
                .where(S.tenant_id == self.tenant_id, S.updated_at < cutoff)
                .order_by(S.updated_at)
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        keys = [(r.conversation_id, r.key) for r in rows]
        await conn.execute(
            delete(conversation_state).where(
                S.tenant_id == self.tenant_id,
                S.updated_at < cutoff,  # an entry written meanwhile stays
                tuple_(S.conversation_id, S.key).in_(keys),
            )
        )
        return [StateRecord.from_row(r) for r in rows]

    async def count_older_than(self, cutoff: datetime) -> int:
        conn = await self._session.connection()
        found = await conn.scalar(
            select(func.count())
            .select_from(conversation_state)
            .where(S.tenant_id == self.tenant_id, S.updated_at < cutoff)
        )
        return int(found or 0)

    async def delete_of(self, conversation_ids: list[str]) -> list[StateRecord]:
        """Delete every entry (live or tombstone) of these conversations."""
        if not conversation_ids:
            return []
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                delete(conversation_state)
                .where(S.tenant_id == self.tenant_id, S.conversation_id.in_(conversation_ids))
                .returning(*conversation_state.c)
            )
        ).all()
        return [StateRecord.from_row(r) for r in rows]
