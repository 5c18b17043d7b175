"""The idempotency ledger: has this action (tenant, action_id) been applied, and what did it answer?

The record is written inside the action's own transaction, so "applied" and "recorded" commit
together or not at all; a redelivery finds the record and re-sends the stored answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
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
) -> None:
    """Inside the action's transaction; a concurrent duplicate makes the commit fail (PK)."""
    await uow.conn.execute(
        insert(worker_actions).values(
            _values(tenant_id, action_id, action_type, entry_id, conversation_id, result)
        )
    )


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
    try:
        async with db.transaction() as tx:
            await record(tx, tenant_id, action_id, action_type, entry_id, None, result)
        return result
    except IntegrityError:
        async with db.read() as conn:
            found = await lookup(conn, tenant_id, action_id)
        return found or result
