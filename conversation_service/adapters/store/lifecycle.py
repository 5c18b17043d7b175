"""Tables of the data lifecycle: retention policies, erasure receipts, the retention lease, and
the audit purge.

The audit table belongs to the audit log; its purge is written against `audit_log (tenant_id,
at)` and skipped where that table does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, text, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conversation_service.adapters.store.base import Store
from conversation_service.domain.records import ErasureReceiptRecord, RetentionPolicyRecord
from conversation_service.models import (
    conversations,
    erasure_receipts,
    maintenance_leases,
    retention_policies,
)
from conversation_service.models.types import UTCDateTime

P = retention_policies.c
E = erasure_receipts.c
L = maintenance_leases.c
AUDIT_TABLE = "audit_log"
_AUDIT_EXISTS = {
    "postgresql": text("SELECT to_regclass(:name) IS NOT NULL").bindparams(name=AUDIT_TABLE),
    "sqlite": text(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name)"
    ).bindparams(name=AUDIT_TABLE),
}
# Row ids of the next batch (the physical row id: whatever the audit table's key).
# `cutoff` is bound as the models' UTC datetimes are (naive UTC text on SQLite).
_CUTOFF = bindparam("cutoff", type_=UTCDateTime())
_AUDIT_PURGE = {
    "postgresql": text(
        f"DELETE FROM {AUDIT_TABLE} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {AUDIT_TABLE}"
        " WHERE tenant_id = :t AND at < :cutoff LIMIT :n))"
    ).bindparams(_CUTOFF),
    "sqlite": text(
        f"DELETE FROM {AUDIT_TABLE} WHERE rowid IN (SELECT rowid FROM {AUDIT_TABLE}"
        " WHERE tenant_id = :t AND at < :cutoff LIMIT :n)"
    ).bindparams(_CUTOFF),
}
_AUDIT_COUNT = text(
    f"SELECT count(*) FROM {AUDIT_TABLE} WHERE tenant_id = :t AND at < :cutoff"
).bindparams(_CUTOFF)


def _upsert(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _policy(row: Any) -> RetentionPolicyRecord:
    return RetentionPolicyRecord(
        tenant_id=row.tenant_id,
        messages_days=row.messages_days,
        state_days=row.state_days,
        archive_after_days=row.archive_after_days,
        audit_days=row.audit_days,
        updated_at=row.updated_at,
    )


def _receipt(row: Any) -> ErasureReceiptRecord:
    return ErasureReceiptRecord(
        tenant_id=row.tenant_id,
        id=row.id,
        at=row.at,
        subject=row.subject,
        subject_key=row.subject_key,
        actor=row.actor,
        conversations=row.conversations,
        messages=row.messages,
        state_entries=row.state_entries,
        sources=row.sources,
    )


class SqlRetentionStore(Store):
    __slots__ = ()

    async def policy(self) -> RetentionPolicyRecord | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(select(retention_policies).where(P.tenant_id == self.tenant_id))
        ).first()
        return _policy(row) if row is not None else None

    async def save_policy(
        self, values: dict[str, int | None], now: datetime
    ) -> RetentionPolicyRecord:
        """Insert or update the named columns (others keep their value)."""
        stmt = _upsert(self.dialect)(retention_policies).values(
            tenant_id=self.tenant_id, updated_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[P.tenant_id], set_={**values, "updated_at": now}
        ).returning(*retention_policies.c)
        conn = await self._session.connection()
        return _policy((await conn.execute(stmt)).one())

    async def tenants(self) -> list[str]:
        """Every tenant with conversations or a policy (across tenants: the runner's pass)."""
        C = conversations.c
        conn = await self._session.connection()
        rows = await conn.execute(
            union(select(C.tenant_id).distinct(), select(P.tenant_id)).order_by("tenant_id")
        )
        return [r[0] for r in rows]

    async def audit_table_exists(self) -> bool:
        conn = await self._session.connection()
        return bool(await conn.scalar(_AUDIT_EXISTS[self.dialect]))

    async def purge_audit(self, cutoff: datetime, limit: int) -> int:
        """PostgreSQL: the service's role may not delete audit entries (the log is append-only
        for it), so this one statement runs as the connection's own user (the tables' owner),
        still held to the tenant by the forced row-level security; the role is restored at
        once."""
        conn = await self._session.connection()
        params = {"t": self.tenant_id, "cutoff": cutoff, "n": limit}
        if self.dialect != "postgresql":
            return int((await conn.execute(_AUDIT_PURGE["sqlite"], params)).rowcount or 0)
        role = await conn.scalar(text("SELECT current_user"))
        await conn.exec_driver_sql("SET LOCAL ROLE NONE")
        try:
            done = await conn.execute(_AUDIT_PURGE["postgresql"], params)
        finally:
            await conn.execute(text("SELECT set_config('role', :r, true)"), {"r": role})
        return int(done.rowcount or 0)

    async def count_audit(self, cutoff: datetime) -> int:
        conn = await self._session.connection()
        found = await conn.scalar(_AUDIT_COUNT, {"t": self.tenant_id, "cutoff": cutoff})
        return int(found or 0)


class SqlErasureStore(Store):
    __slots__ = ()

    async def insert_receipt(self, r: ErasureReceiptRecord) -> None:
        conn = await self._session.connection()
        await conn.execute(
            erasure_receipts.insert().values(
                tenant_id=self.tenant_id,
                id=r.id,
                at=r.at,
                subject=r.subject,
                subject_key=r.subject_key,
                actor=r.actor,
                conversations=r.conversations,
                messages=r.messages,
                state_entries=r.state_entries,
                sources=r.sources,
            )
        )

    async def receipt(self, receipt_id: str) -> ErasureReceiptRecord | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(erasure_receipts).where(E.tenant_id == self.tenant_id, E.id == receipt_id)
            )
        ).first()
        return _receipt(row) if row is not None else None

    async def latest_of_subject(self, subject_key: str) -> ErasureReceiptRecord | None:
        conn = await self._session.connection()
        row = (
            await conn.execute(
                select(erasure_receipts)
                .where(E.tenant_id == self.tenant_id, E.subject_key == subject_key)
                .order_by(E.at.desc())
                .limit(1)
            )
        ).first()
        return _receipt(row) if row is not None else None


class SqlLeaseStore(Store):
    """Named leases across processes, on the application's clock (`now` passed in)."""

    __slots__ = ()

    async def acquire(
        self, name: str, owner: str, until: datetime, now: datetime, ran_before: datetime | None
    ) -> bool:
        """Take the lease when it is free (never held, expired, or already ours) and, with
        `ran_before`, only if its last complete run finished before that. One statement: a
        concurrent taker waits for this row and then sees it held."""
        stmt = _upsert(self.dialect)(maintenance_leases).values(
            name=name, owner=owner, expires_at=until
        )
        free = or_(L.expires_at.is_(None), L.expires_at <= now, L.owner == owner)
        if ran_before is not None:
            free = and_(free, or_(L.finished_at.is_(None), L.finished_at <= ran_before))
        stmt = stmt.on_conflict_do_update(
            index_elements=[L.name],
            set_={"owner": owner, "expires_at": until},
            where=free,
        ).returning(L.owner)
        conn = await self._session.connection()
        return (await conn.execute(stmt)).first() is not None

    async def renew(self, name: str, owner: str, until: datetime) -> bool:
        """Extend the lease; False when another process holds it now (ours had expired)."""
        conn = await self._session.connection()
        done = await conn.execute(
            update(maintenance_leases)
            .where(L.name == name, L.owner == owner)
            .values(expires_at=until)
        )
        return bool(done.rowcount)

    async def release(self, name: str, owner: str, finished_at: datetime | None) -> None:
        values: dict[str, Any] = {"owner": None, "expires_at": None}
        if finished_at is not None:
            values["finished_at"] = finished_at
        conn = await self._session.connection()
        await conn.execute(
            update(maintenance_leases).where(L.name == name, L.owner == owner).values(**values)
        )

    async def holder(self, name: str, now: datetime) -> str | None:
        conn = await self._session.connection()
        row = (await conn.execute(select(L.owner, L.expires_at).where(L.name == name))).first()
        if row is None or row.owner is None or row.expires_at is None or row.expires_at <= now:
            return None
        return str(row.owner)
