"""CRM synchronisation requests (minimal version until the CRM issue adds real connectors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain import validation as v
from conversation_service.domain.errors import NotFound
from conversation_service.models import conversations

C = conversations.c


async def request_crm_sync(
    db: Database, tenant_id: str, conversation_id: str, *, uow: UnitOfWork | None = None
) -> dict[str, Any]:
    """Queue a sync of the conversation to the tenant's CRM; without a CRM, answer NONE."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    async with db.transaction(uow) as tx:
        found = await tx.conn.scalar(
            select(C.id).where(C.tenant_id == tenant_id, C.id == conversation_id)
        )
    if found is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return {"status": "NONE", "error": "no CRM configured", "conversation_id": conversation_id}
