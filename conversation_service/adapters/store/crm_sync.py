"""The crm_sync table: one sync request/outcome row per conversation, claimed under a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conversation_service.adapters.store.base import Store
from conversation_service.domain.records import Claim, CrmSyncRecord, CrmSyncStatus
from conversation_service.models import crm_sync

S = crm_sync.c


class SqlCrmSyncStore(Store):
    __slots__ = ()

    async def insert_pending(
        self, conversation_id: str, seq: int, now: datetime
    ) -> CrmSyncRecord | None:
        insert: Any = pg_insert if self.dialect == "postgresql" else sqlite_insert
        ins = (
            insert(crm_sync)
            .values(
                tenant_id=self.tenant_id,
                conversation_id=conversation_id,
                status=CrmSyncStatus.PENDING.value,
                requested_seq=seq,
                attempts=0,
                next_attempt_at=now,
                requested_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "conversation_id"])
            .returning(*crm_sync.c)
        )
        conn = await self._session.connection()
        row = (await conn.execute(ins)).first()
        return CrmSyncRecord.from_row(row) if row is not None else None

    async def lock(self, conversation_id: str) -> tuple[CrmSyncRecord, bool]:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(crm_sync)
                .where(S.tenant_id == self.tenant_id, S.conversation_id == conversation_id)
                .with_for_update()
            )
        ).one()
        return CrmSyncRecord.from_row(row), row._mapping["claim_token"] is not None

    async def lock_claim(self, claim: Claim) -> CrmSyncRecord | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(crm_sync)
                .where(
                    S.tenant_id == claim.tenant_id,
                    S.conversation_id == claim.conversation_id,
                    S.claim_token == claim.token,
                )
                .with_for_update()
            )
        ).first()
        return CrmSyncRecord.from_row(row) if row is not None else None

    async def update(self, conversation_id: str, values: dict[str, Any]) -> CrmSyncRecord:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                update(crm_sync)
                .where(S.tenant_id == self.tenant_id, S.conversation_id == conversation_id)
                .values(**values)
                .returning(*crm_sync.c)
            )
        ).one()
        return CrmSyncRecord.from_row(row)

    async def states(self, conversation_ids: list[str]) -> dict[str, CrmSyncRecord]:
        conn = await self._session.connection()
        rows = (
            await conn.execute(
                select(crm_sync).where(
                    S.tenant_id == self.tenant_id, S.conversation_id.in_(conversation_ids)
                )
            )
        ).all()
        return {r.conversation_id: CrmSyncRecord.from_row(r) for r in rows}

    async def claim_due(
        self, limit: int, lease_until: datetime, now: datetime, token: str
    ) -> list[Claim]:
        """PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent runners never take the same row;
        SQLite: writes are serialised (one writer)."""
        due = (
            select(S.tenant_id, S.conversation_id)
            .where(S.status == CrmSyncStatus.PENDING.value, S.next_attempt_at <= now)
            .order_by(S.next_attempt_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(crm_sync)
            .where(tuple_(S.tenant_id, S.conversation_id).in_(due))
            .values(claim_token=token, next_attempt_at=lease_until)
            .returning(S.tenant_id, S.conversation_id, S.last_synced_seq)
        )
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [Claim(r.tenant_id, r.conversation_id, token, r.last_synced_seq) for r in rows]

    async def delete_of(self, conversation_ids: list[str]) -> int:
        """Forget the sync rows of these conversations (an erasure: nothing left to push)."""
        if not conversation_ids:
            return 0
        conn = await self._session.connection()
        done = await conn.execute(
            delete(crm_sync).where(
                S.tenant_id == self.tenant_id, S.conversation_id.in_(conversation_ids)
            )
        )
        return int(done.rowcount or 0)
