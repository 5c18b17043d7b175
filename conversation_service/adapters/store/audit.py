"""The audit_log table: entries written at commit, read newest first by keyset on (at, id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Dialect

from conversation_service.adapters.pg_framing import literal_quoter
from conversation_service.adapters.store.base import Store
from conversation_service.domain.commands import AuditQuery
from conversation_service.domain.records import AuditRecord
from conversation_service.models import audit_log

A = audit_log.c
COLUMNS = ("id", "at", "tenant_id", "actor", "action", "target_id", "request_id")


def _row(r: AuditRecord) -> dict[str, Any]:
    return {name: getattr(r, name) for name in COLUMNS}


def literal_insert(dialect: Dialect, entries: list[AuditRecord]) -> str:
    """The entries as one multi-row INSERT with inline values (PostgreSQL), to ride on the
    transaction's COMMIT (`pg_framing.py`): values are quoted by SQLAlchemy's own literal
    rendering for this server (it knows `standard_conforming_strings`)."""
    quote = literal_quoter(dialect)

    def text(value: str | None) -> str:
        return "NULL" if value is None else quote(value)

    rows = ", ".join(
        f"({text(e.id)}, {quote(e.at.isoformat())}::timestamptz, {text(e.tenant_id)}, "
        f"{text(e.actor)}, {text(e.action)}, {text(e.target_id)}, {text(e.request_id)})"
        for e in entries
    )
    return f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES {rows};"


class SqlAuditStore(Store):
    __slots__ = ()

    async def write(self, entries: list[AuditRecord]) -> None:
        """One multi-row INSERT in the transaction (SQLite, or a transaction not begun yet)."""
        conn = await self._session.connection()
        await conn.execute(insert(audit_log).values([_row(e) for e in entries]))

    async def page(
        self, q: AuditQuery, size: int, after: tuple[datetime, str] | None
    ) -> list[AuditRecord]:
        """Up to `size` entries newest first, after the cursor: one index range scan on
        (tenant_id, [action | actor,] at, id)."""
        conds = [A.tenant_id == self.tenant_id]
        if q.action is not None:
            conds.append(A.action == q.action)
        if q.actor is not None:
            conds.append(A.actor == q.actor)
        if q.from_date is not None:
            conds.append(A.at >= q.from_date)
        if q.to_date is not None:
            conds.append(A.at <= q.to_date)
        if after is not None:
            at, entry_id = after
            conds.append(or_(A.at < at, and_(A.at == at, A.id < entry_id)))
        stmt = (
            select(*(A[name] for name in COLUMNS))
            .where(*conds)
            .order_by(A.at.desc(), A.id.desc())
            .limit(size)
        )
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [AuditRecord(*row) for row in rows]
