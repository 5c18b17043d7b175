"""The idempotency ledger: has this action (tenant, action_id) been applied, and what did it answer?

The record is written inside the action's own transaction, so "applied" and "recorded" commit
together or not at all; a redelivery finds the record and re-sends the stored answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain.clock import utcnow
from conversation_service.models import worker_actions

W = worker_actions.c


@dataclass(slots=True)
class Recorded:
    success: bool
    reply: dict[str, Any] | None  # the result data, or the error object when not success


async def lookup(conn: AsyncConnection, tenant_id: str, action_id: str) -> Recorded | None:
    row = (
        await conn.execute(
            select(W.success, W.reply).where(W.tenant_id == tenant_id, W.action_id == action_id)
        )
    ).first()
    return Recorded(bool(row.success), row.reply) if row is not None else None


def _values(
    tenant_id: str,
    action_id: str,
    action_type: str,
    entry_id: str | None,
    conversation_id: str | None,
    result: Recorded,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "action_id": action_id,
        "action_type": action_type[:255],
        "conversation_id": conversation_id
        if conversation_id and len(conversation_id) <= 36
        else None,
        "stream_entry_id": entry_id,
        "success": result.success,
        "reply": result.reply,
        "created_at": utcnow(),
    }


async def record(
    uow: UnitOfWork,
    tenant_id: str,
    action_id: str,
    action_type: str,
    entry_id: str | None,
    conversation_id: str | None,
    result: Recorded,
) -> bool:
    """Inside the action's transaction. False when the action is already recorded (then the
    caller rolls its transaction back); on PostgreSQL a concurrent duplicate waits for the
    first one's commit and then sees it. One statement: no lookup before the work, because
    duplicates are rare and the rollback undoes whatever they did."""
    values = _values(tenant_id, action_id, action_type, entry_id, conversation_id, result)
    stmt: Any
    if uow.dialect == "postgresql":
        stmt = pg_insert(worker_actions).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(worker_actions).values(values).on_conflict_do_nothing()
    done = await uow.conn.execute(stmt.returning(W.action_id))
    return done.first() is not None


async def record_failure(
    db: Database,
    tenant_id: str,
    action_id: str,
    action_type: str,
    entry_id: str | None,
    result: Recorded,
) -> Recorded:
    """A rejected action (validation, not found...) is recorded on its own: it changed nothing,
    but a retry must get the same answer. Returns what is recorded (the first answer wins)."""
    async with db.transaction() as tx:
        if await record(tx, tenant_id, action_id, action_type, entry_id, None, result):
            return result
    async with db.read() as conn:
        found = await lookup(conn, tenant_id, action_id)
    return found or result
