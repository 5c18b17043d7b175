"""API keys (`api_keys`). Read by key id without the unit of work's tenant: a key names its
tenant, and it is looked up before any tenant is known (see models/api_key.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, insert, select, update

from conversation_service.adapters.store.base import Store
from conversation_service.domain.api_keys import ApiKeyRecord
from conversation_service.domain.errors import NotFound
from conversation_service.domain.identity import Role
from conversation_service.models import api_keys

K = api_keys.c


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        role=Role(row.role),
        name=row.name,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class SqlApiKeyStore(Store):
    __slots__ = ()

    async def insert(self, record: ApiKeyRecord) -> None:
        conn = await self._session.connection()
        await conn.execute(
            insert(api_keys).values(
                key_id=record.key_id,
                tenant_id=record.tenant_id,
                role=record.role.value,
                name=record.name,
                secret_hash=record.secret_hash,
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        conn = await self._session.connection()
        row = (await conn.execute(select(api_keys).where(K.key_id == key_id))).first()
        return _record(row) if row is not None else None

    async def of_tenant(self, tenant_id: str) -> list[ApiKeyRecord]:
        conn = await self._session.connection()
        stmt = select(api_keys).where(K.tenant_id == tenant_id).order_by(K.created_at, K.key_id)
        return [_record(r) for r in await conn.execute(stmt)]

    async def revoke(self, key_id: str, now: datetime) -> ApiKeyRecord:
        conn = await self._session.connection()
        stmt = (
            update(api_keys)
            .where(K.key_id == key_id, K.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(*api_keys.c)
        )
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("API key not found")
        return _record(row)

    async def touch(self, used: dict[str, datetime]) -> None:
        if not used:
            return
        conn = await self._session.connection()
        at = bindparam("at", type_=K.last_used_at.type)
        stmt = (
            update(api_keys)
            .where(K.key_id == bindparam("kid"))
            .values(
                last_used_at=case(
                    (K.last_used_at.is_(None), at), (K.last_used_at < at, at), else_=K.last_used_at
                )
            )
        )
        await conn.execute(stmt, [{"kid": k, "at": t} for k, t in used.items()])
